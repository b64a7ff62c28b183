#!/usr/bin/env node
import { MANIFEST_FILE } from '@likeness/contracts';
import { validatePackDir } from './pack-dir';

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

/** `validate-pack <pack-dir>`: 0 when the pack is valid, 1 when it has problems, 2 on usage errors. */
export async function runValidatePack(args: readonly string[], io: Output): Promise<number> {
  const [dir, ...rest] = args;
  if (dir === undefined || dir === '--help' || dir === '-h' || rest.length > 0) {
    io.err(
      `usage: validate-pack <pack-dir>   (a folder holding ${MANIFEST_FILE} and its ONNX files)`,
    );
    return 2;
  }
  const result = await validatePackDir(dir);
  if (result.ok) {
    const m = result.manifest;
    io.out(
      `ok: ${m.name}@${m.version}: ${Object.keys(m.stages).length} stages, ${m.fps} fps, ` +
        `up to ${m.maxFramesPerClip} frames per clip, max side ${m.capabilities.maxSide}`,
    );
    return 0;
  }
  io.err(`${dir}: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}`);
  for (const problem of result.problems) io.err(`  ${problem.path}: ${problem.message}`);
  return 1;
}

if (require.main === module) {
  runValidatePack(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(
        `validate-pack failed: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
