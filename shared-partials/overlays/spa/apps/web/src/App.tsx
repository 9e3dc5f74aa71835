import { useCallback, useEffect, useState } from 'react';
import { HEALTH_PATH, probe, READY_PATH, type ProbeResult } from './api.ts';

const REFRESH_MS = 15_000;

interface Health {
  live: ProbeResult;
  ready: ProbeResult;
  checkedAt: Date;
}

/** The readiness body's per-dependency results, e.g. {"postgres": "ok", "redis": "failed"}. */
function checksOf(body: unknown): Array<[string, string]> {
  if (typeof body !== 'object' || body === null || !('checks' in body)) return [];
  const checks = (body as { checks: unknown }).checks;
  if (typeof checks !== 'object' || checks === null) return [];
  return Object.entries(checks).map(([name, value]) => [name, typeof value === 'string' ? value : JSON.stringify(value)]);
}

function Status({ result }: { result: ProbeResult }) {
  const label = result.status === null ? 'unreachable' : result.ok ? 'ok' : `HTTP ${result.status}`;
  return (
    <span className={`badge ${result.ok ? 'ok' : 'bad'}`} title={result.error}>
      {label} · {result.ms} ms
    </span>
  );
}

export function App({ apiOrigin }: { apiOrigin: string }) {
  const [health, setHealth] = useState<Health | null>(null);

  const refresh = useCallback(async () => {
    const [live, ready] = await Promise.all([probe(apiOrigin, HEALTH_PATH), probe(apiOrigin, READY_PATH)]);
    setHealth({ live, ready, checkedAt: new Date() });
  }, [apiOrigin]);

  useEffect(() => {
    void refresh();
    const timer = setInterval(() => void refresh(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [refresh]);

  return (
    <main>
      <h1>API status</h1>
      <p className="muted">
        API at <code>{apiOrigin || window.location.origin}</code>
      </p>
      {health === null ? (
        <p>Checking…</p>
      ) : (
        <>
          <table>
            <tbody>
              <tr>
                <th>Liveness</th>
                <td><code>{HEALTH_PATH}</code></td>
                <td><Status result={health.live} /></td>
              </tr>
              <tr>
                <th>Readiness</th>
                <td><code>{READY_PATH}</code></td>
                <td><Status result={health.ready} /></td>
              </tr>
              {checksOf(health.ready.body).map(([name, value]) => (
                <tr key={name}>
                  <th className="check">{name}</th>
                  <td />
                  <td><span className={`badge ${value === 'ok' ? 'ok' : 'bad'}`}>{value}</span></td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="muted">
            Checked {health.checkedAt.toLocaleTimeString()} · <button onClick={() => void refresh()}>Check now</button>
          </p>
        </>
      )}
    </main>
  );
}
