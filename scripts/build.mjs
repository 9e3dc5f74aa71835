// Bundles the CLI and its devDependencies into one ESM file, so the published
// package has no runtime dependencies (as create-vite does).
import { build } from 'esbuild';

await build({
  entryPoints: ['index.ts'],
  // CVS_OUTFILE lets parallel work build its own copy inside the package (templates are found from it).
  outfile: process.env.CVS_OUTFILE ?? 'dist/index.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  minify: true,
  legalComments: 'external',
  // Bundled CommonJS dependencies (ejs, prompts) call require() for Node builtins.
  banner: { js: "import { createRequire as __cvsRequire } from 'node:module'; const require = __cvsRequire(import.meta.url);" },
  logLevel: 'warning',
});
