// `npm start` itself (scripts/start.sh), against this run's database: it must print working
// credentials, and leave nothing running when stopped by Ctrl-C (SIGINT to the whole process
// group) or by SIGTERM to the script alone (a process manager).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, ROOT } from './support';

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  url: string;
  apiKey: string;
}

const groups: number[] = [];

async function npmStart(dataDir: string): Promise<Started> {
  const port = await freePort();
  const child = spawn('bash', ['scripts/start.sh'], {
    cwd: ROOT,
    // Own process group, so the test can send Ctrl-C's SIGINT to all of it.
    detached: true,
    env: {
      ...process.env,
      LIKENESS_DATA_DIR: dataDir,
      PORT: String(port),
      LIKENESS_ADMIN_EMAIL: 'admin@npm-start.test',
      LIKENESS_ADMIN_PASSWORD: 'a long enough password',
      FORCE_COLOR: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid) groups.push(child.pid);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const deadline = Date.now() + 90_000;
  while (!out.includes('Press Ctrl-C to stop.')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`npm start did not come up:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const apiKey = /Demo API key\s+(lk_test_\S+)/.exec(out)?.[1];
  if (!apiKey) throw new Error(`no API key in the banner:\n${out}`);
  return { child, output: () => out, exited, url: `http://127.0.0.1:${port}`, apiKey };
}

async function viewerTenantName(url: string, apiKey: string): Promise<unknown> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ query: '{ viewer { tenant { name } } }' }),
  });
  return ((await res.json()) as { data?: { viewer?: { tenant?: { name?: string } } } }).data?.viewer
    ?.tenant?.name;
}

describe('npm start', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'likeness-npm-start-'));
  });
  afterAll(async () => {
    // Whatever a failed test left running (the gateway is in the script's process group).
    for (const pid of groups) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  it('prints a working demo API key and stops everything on Ctrl-C', async () => {
    const started = await npmStart(dataDir);
    expect(started.output()).toMatch(/Platform admin\s+admin@npm-start\.test/);
    expect(await viewerTenantName(started.url, started.apiKey)).toBe('Demo');

    process.kill(-(started.child.pid as number), 'SIGINT');
    await started.exited;
    expect(started.output()).toContain('likeness: stopped.');
    await expect(fetch(`${started.url}/healthz`)).rejects.toThrow();
  });

  it('keeps the same demo key across restarts and stops the gateway when only the script gets SIGTERM', async () => {
    const first = await npmStart(dataDir);
    const key = first.apiKey;
    first.child.kill('SIGTERM');
    await first.exited;
    await expect(fetch(`${first.url}/healthz`)).rejects.toThrow();

    const second = await npmStart(dataDir);
    expect(second.apiKey).toBe(key);
    second.child.kill('SIGTERM');
    await second.exited;
    await expect(fetch(`${second.url}/healthz`)).rejects.toThrow();
  });
});
