#!/usr/bin/env node
// Entry point: `npm create vps-stack@latest` runs the bundled copy of this file.
import { run } from './src/cli/main.js';

process.exitCode = await run({
  argv: process.argv.slice(2),
  env: process.env,
  cwd: process.cwd(),
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
});
