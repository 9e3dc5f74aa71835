'use client';
// Asks the API from the browser, cross-origin through nginx: proves TLS, DNS and CORS (the API
// allows the web origin only). The URL comes from the server at request time, not from the build.
import { useEffect, useState } from 'react';

type State = 'checking' | 'ok' | 'failed';

export function ApiStatus({ url }: { url: string }) {
  const [state, setState] = useState<State>('checking');

  useEffect(() => {
    const controller = new AbortController();
    fetch(url, { cache: 'no-store', signal: controller.signal }).then(
      (res) => setState(res.ok ? 'ok' : 'failed'),
      () => {
        if (!controller.signal.aborted) setState('failed');
      },
    );
    return () => controller.abort();
  }, [url]);

  return (
    <p>
      <code>GET {url}</code>: <strong data-state={state}>{state}</strong>
    </p>
  );
}
