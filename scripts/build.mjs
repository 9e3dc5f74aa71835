// Bundles the CLI and its devDependencies into one ESM file, so the published
// package has no runtime dependencies (as create-vite does).
import { rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { build } from 'esbuild';

// CVS_OUTFILE lets parallel work build its own copy inside the package (templates are found from it).
const outfile = process.env.CVS_OUTFILE ?? 'dist/index.js';
// --clean (used by prepack) drops old chunks so the tarball holds only this build.
if (process.argv.includes('--clean')) rmSync(dirname(outfile), { recursive: true, force: true });

await build({
  entryPoints: ['index.ts'],
  outdir: dirname(outfile),
  entryNames: basename(outfile, '.js'),
  // Code only some runs need (EJS rendering, prompts) goes in chunks loaded on demand,
  // so `--help` and error paths start fast.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
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
