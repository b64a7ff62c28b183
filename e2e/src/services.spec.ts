// scripts/services.sh, the part of npm start / npm test that finds Postgres and Redis. The
// branch that installs and starts them under .data/ needs the system services stopped, so it is
// exercised by hand (docs/architecture.md); these cover choosing, checking and failing clearly.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { ROOT } from './support';

function services(
  env: NodeJS.ProcessEnv,
  ...args: string[]
): Promise<{ code: number | null; out: string }> {
  const child = spawn('bash', ['scripts/services.sh', ...args], {
    cwd: ROOT,
    env: { ...process.env, LIKENESS_SERVICES_OWNER: 'e2e', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

describe('scripts/services.sh', () => {
  let dataDir: string;
  const databaseUrl = process.env['DATABASE_URL'] as string;
  const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'likeness-services-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('uses the given URLs, checks pgvector, writes services.env and starts nothing', async () => {
    const env = { LIKENESS_DATA_DIR: dataDir, DATABASE_URL: databaseUrl, REDIS_URL: redisUrl };
    const up = await services(env, 'up');
    expect(up.code).toBe(0);
    expect(up.out).toContain('pgvector ok');
    const written = await readFile(path.join(dataDir, 'services.env'), 'utf8');
    expect(written).toContain(`export DATABASE_URL='${databaseUrl}'`);
    expect(written).toContain(`export REDIS_URL='${redisUrl}'`);
    expect(await readdir(path.join(dataDir, 'run'))).toEqual([]);

    const status = await services(env, 'status');
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/postgres .* up, pgvector available/);
    expect(status.out).toMatch(/redis .* up/);

    expect((await services(env, 'down')).code).toBe(0);
  });

  it.each([
    ['DATABASE_URL', { DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:1/x' }],
    ['REDIS_URL', { REDIS_URL: 'redis://127.0.0.1:1' }],
  ])('exits 3 and says what to do when %s does not answer', async (variable, bad) => {
    const res = await services(
      { LIKENESS_DATA_DIR: dataDir, DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, ...bad },
      'up',
    );
    expect(res.code).toBe(3);
    expect(res.out).toContain(`${variable} is set but the server does not answer`);
    expect(res.out).toContain('docker compose -f deploy/compose.yaml up -d');
    expect(res.out).not.toContain('secret');
  });

  it('rejects an unknown command with a usage line', async () => {
    const res = await services({ LIKENESS_DATA_DIR: dataDir }, 'sideways');
    expect(res.code).toBe(2);
    expect(res.out).toMatch(/usage: .*up\|down\|status/);
  });
});
