// The CLI runs from source through @swc-node/register (as scripts/ and CI call it).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { testDatabaseUrls } from './testing';

const run = promisify(execFile);
const repoRoot = path.resolve(__dirname, '../../..');

async function cli(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const clean = { ...process.env, DATABASE_URL: undefined, DATABASE_APP_URL: undefined, ...env };
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['-r', '@swc-node/register', 'libs/db/src/cli.ts', ...args],
      { cwd: repoRoot, env: clean, timeout: 120_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

it('names each missing or invalid variable', async () => {
  const result = await cli(['seed'], { LIKENESS_ADMIN_EMAIL: 'not-an-email' });
  expect(result.code).toBe(1);
  expect(result.stderr).toContain('DATABASE_URL: is required');
  expect(result.stderr).toContain('LIKENESS_ADMIN_EMAIL: must be an email address');
  expect(result.stderr).toContain('LIKENESS_ADMIN_PASSWORD: is required');
  expect(result.stderr).toContain('LIKENESS_DATA_DIR: is required');
});

it('migrate is a no-op on the migrated test database and seed prints the demo credentials', async () => {
  const { url, appUrl } = testDatabaseUrls();
  const migrated = await cli(['migrate'], { DATABASE_URL: url });
  expect(migrated).toMatchObject({
    code: 0,
    stdout: expect.stringContaining('migrations applied: 0'),
  });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'likeness-cli-'));
  try {
    const env = {
      DATABASE_URL: url,
      DATABASE_APP_URL: appUrl,
      LIKENESS_ADMIN_EMAIL: 'cli-admin@example.test',
      LIKENESS_ADMIN_PASSWORD: 'long enough password',
      LIKENESS_DATA_DIR: dataDir,
    };
    const seeded = await cli(['seed'], env);
    expect(seeded.code).toBe(0);
    const printed = JSON.parse(seeded.stdout) as { apiKey: { secret: string } };
    expect((await readFile(path.join(dataDir, 'demo-api-key'), 'utf8')).trim()).toBe(
      printed.apiKey.secret,
    );
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
