// Where the API lives is decided per deployment, not per build: nginx serves /config.json
// next to the static files, so the same build runs on any domain.
//   /config.json  {"apiOrigin": "https://api.example.com"}
export interface RuntimeConfig {
  /** Origin the API is called at, without a trailing slash; '' means this page's origin. */
  apiOrigin: string;
}

function isRuntimeConfig(value: unknown): value is RuntimeConfig {
  return typeof value === 'object' && value !== null && typeof (value as RuntimeConfig).apiOrigin === 'string';
}

/** The stack's layout when /config.json is missing: web at example.com (or www.), API at api.example.com. */
function conventionalApiOrigin(): string {
  return `${location.protocol}//api.${location.hostname.replace(/^www\./, '')}`;
}

export async function loadRuntimeConfig(): Promise<RuntimeConfig> {
  // The dev server proxies the API on its own origin (vite.config.ts).
  if (import.meta.env.DEV) return { apiOrigin: '' };
  try {
    const response = await fetch('/config.json', { cache: 'no-store' });
    // A missing file may come back as index.html (SPA fallback): json() then throws.
    const body: unknown = response.ok ? await response.json() : undefined;
    if (isRuntimeConfig(body)) return { apiOrigin: body.apiOrigin.replace(/\/+$/, '') };
  } catch {
    // Fall through to the convention.
  }
  return { apiOrigin: conventionalApiOrigin() };
}
