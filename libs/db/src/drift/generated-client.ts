// The generated Prisma client is committed (libs/db/src/generated); these keep it honest.
// Prisma 7's CLI wants a schema-engine binary even for `generate`, which never runs it:
// PRISMA_SCHEMA_ENGINE_BINARY pointing at any existing file keeps it from downloading one.
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO_ROOT = path.resolve(__dirname, '../../../..');
export const GENERATED_DIR = path.join(REPO_ROOT, 'libs/db/src/generated');
const PRISMA_CLI = path.join(REPO_ROOT, 'node_modules/prisma/build/index.js');

async function prismaGenerate(
  cwd: string,
  schemaPath: string,
  placeholderEngine: string,
): Promise<void> {
  await run(process.execPath, [PRISMA_CLI, 'generate', '--schema', schemaPath], {
    cwd,
    env: {
      ...process.env,
      PRISMA_SCHEMA_ENGINE_BINARY: placeholderEngine,
      PRISMA_HIDE_UPDATE_MESSAGE: '1',
      CHECKPOINT_DISABLE: '1',
      PRISMA_GENERATE_NO_HINTS: '1',
    },
    timeout: 120_000,
  });
}

async function withScratch<T>(
  fn: (dir: string, placeholderEngine: string) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'likeness-prisma-'));
  try {
    const placeholderEngine = path.join(dir, 'schema-engine-placeholder');
    await writeFile(placeholderEngine, '');
    return await fn(dir, placeholderEngine);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `prisma generate` for the repository (writes libs/db/src/generated). */
export async function generateClient(): Promise<void> {
  await withScratch((_dir, engine) =>
    prismaGenerate(REPO_ROOT, path.join(REPO_ROOT, 'prisma/schema.prisma'), engine),
  );
}

async function listFiles(root: string, dir = root): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) =>
      e.isDirectory()
        ? listFiles(root, path.join(dir, e.name))
        : Promise.resolve([path.relative(root, path.join(dir, e.name))]),
    ),
  );
  return nested.flat().sort();
}

/**
 * Regenerates into a scratch copy of the repository layout and compares file by file with the
 * committed client. Returns the differing paths (empty = up to date).
 */
export async function checkGeneratedClient(): Promise<string[]> {
  return withScratch(async (dir, engine) => {
    const schemaCopy = path.join(dir, 'prisma/schema.prisma');
    await mkdir(path.dirname(schemaCopy), { recursive: true });
    await writeFile(schemaCopy, await readFile(path.join(REPO_ROOT, 'prisma/schema.prisma')));
    await prismaGenerate(dir, schemaCopy, engine);
    const fresh = path.join(dir, 'libs/db/src/generated');
    const [want, have] = await Promise.all([
      listFiles(fresh),
      listFiles(GENERATED_DIR).catch((): string[] => []),
    ]);
    const differences: string[] = [];
    for (const file of want) {
      if (!have.includes(file)) {
        differences.push(`${file}: missing from the committed client`);
        continue;
      }
      const [a, b] = await Promise.all([
        readFile(path.join(fresh, file)),
        readFile(path.join(GENERATED_DIR, file)),
      ]);
      if (!a.equals(b)) differences.push(`${file}: differs from a fresh \`prisma generate\``);
    }
    for (const file of have)
      if (!want.includes(file))
        differences.push(`${file}: not produced by \`prisma generate\` any more`);
    return differences;
  });
}
