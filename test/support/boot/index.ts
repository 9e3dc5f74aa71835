// Entry point of the boot helpers for scripts outside vitest (scripts/bench-proxy.mjs bundles it with esbuild).
export { BootedStack, bootPrerequisites, DEFAULT_NGINX_BIN, nginxVersion, output, postgresBin, sleep, waitFor, type BootOptions, type HttpResponse } from './stack.js';
export { runningPids } from './process.js';
