#!/usr/bin/env node
// Entry point: `npm create vps-stack@latest` runs the bundled copy of this file.
import { run } from './src/cli/main.js';

// A reader that goes away (`… | head`) must not abort a run half-way: finish the work, drop the output.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

process.exitCode = await run({
  argv: process.argv.slice(2),
  env: process.env,
  cwd: process.cwd(),
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
});
