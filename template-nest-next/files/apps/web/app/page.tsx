import { apiReadiness, API_PATHS } from '@/lib/api';
import { runtimeConfig } from '@/lib/config';
import { ApiStatus } from './api-status';

// Rendered on every request (runtimeConfig() opts out of prerendering): the API's state now.
export default async function Home() {
  const config = await runtimeConfig();
  const api = await apiReadiness(config.apiInternalUrl);

  return (
    <main>
      <h1>It works</h1>
      <section>
        <h2>API, from this server</h2>
        <p>
          <code>GET {config.apiInternalUrl}{API_PATHS.ready}</code>:{' '}
          <strong data-state={api.ok ? 'ok' : 'failed'}>{api.status === null ? 'unreachable' : `${api.status} ${api.ok ? 'ready' : 'not ready'}`}</strong>
        </p>
        {Object.keys(api.checks).length > 0 && (
          <ul>
            {Object.entries(api.checks).map(([name, status]) => (
              <li key={name}>
                {name}: {status}
              </li>
            ))}
          </ul>
        )}
        {api.error && <p className="error">{api.error}</p>}
      </section>
      <section>
        <h2>API, from your browser</h2>
        <ApiStatus url={`${config.apiOrigin}${API_PATHS.health}`} />
      </section>
    </main>
  );
}
