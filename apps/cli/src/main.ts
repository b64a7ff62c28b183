#!/usr/bin/env node
import { runCli } from './cli';

runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`likeness: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
