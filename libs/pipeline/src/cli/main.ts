#!/usr/bin/env node
// `likeness-pipeline render …` (bin: libs/pipeline/bin/likeness-pipeline.cjs). SIGINT/SIGTERM
// cancel the render between steps; the partial MP4 is deleted.
import { runPipelineCli } from './render-command';

const controller = new AbortController();
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping after this step (again to quit at once)\n`);
    controller.abort();
  });
}

runPipelineCli(process.argv.slice(2), {
  env: process.env,
  cwd: process.cwd(),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stderrIsTTY: process.stderr.isTTY === true,
  stderrStream: process.stderr,
  signal: controller.signal,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`likeness-pipeline: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
