#!/usr/bin/env node
import { buildReferencePack, ensureReferencePack } from './reference/pack';

export interface Output {
  out(line: string): void;
  err(line: string): void;
}

const USAGE =
  'usage: build-pack [--out DIR | --data-dir DIR]\n' +
  '  --out DIR       write the reference pack into DIR (created; its files are overwritten)\n' +
  '  --data-dir DIR  build it once under DIR/models/reference-<hash>/ and reuse it afterwards\n' +
  '                  (default: $LIKENESS_DATA_DIR, else ./.data)\n' +
  'Prints the pack folder as the last line on stdout.';

/** `build-pack`: 0 when the pack is in place, 1 when building failed, 2 on usage errors. */
export async function runBuildPack(
  args: readonly string[],
  io: Output,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let out: string | undefined;
  let dataDir: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    const value = args[i + 1];
    if ((flag === '--out' || flag === '--data-dir') && value !== undefined && value !== '') {
      if (flag === '--out') out = value;
      else dataDir = value;
      i++;
    } else {
      io.err(
        flag === '--help' || flag === '-h'
          ? USAGE
          : `unknown or incomplete option ${flag}\n${USAGE}`,
      );
      return 2;
    }
  }
  if (out !== undefined && dataDir !== undefined) {
    io.err(`--out and --data-dir exclude each other\n${USAGE}`);
    return 2;
  }
  const started = Date.now();
  if (out !== undefined) {
    const pack = await buildReferencePack(out);
    io.err(`built ${pack.manifest.name}@${pack.manifest.version} in ${Date.now() - started} ms`);
    io.out(pack.dir);
    return 0;
  }
  const pack = await ensureReferencePack(dataDir ?? env['LIKENESS_DATA_DIR'] ?? '.data');
  io.err(
    `${pack.built ? 'built' : 'reused'} ${pack.manifest.name}@${pack.manifest.version} ` +
      `in ${Date.now() - started} ms`,
  );
  io.out(pack.dir);
  return 0;
}

if (require.main === module) {
  runBuildPack(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(
        `build-pack failed: ${error instanceof Error ? error.message : String(error)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
