// What `npm start` does, as separate real processes: migrate and seed through the db CLI, the
// gateway as its own Node process, and the `likeness` CLI talking to it over HTTP.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { collect, freePort, type Ran, ROOT } from './support';

function tsProcess(entry: string, tsconfig: string, env: NodeJS.ProcessEnv, args: string[] = []) {
  return spawn(process.execPath, ['-r', '@swc-node/register', entry, ...args], {
    cwd: ROOT,
    env: { ...process.env, SWC_NODE_PROJECT: tsconfig, FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const dbCli = (env: NodeJS.ProcessEnv, ...args: string[]) =>
  collect(tsProcess('libs/db/src/cli.ts', 'tsconfig.json', env, args));
const likeness = (env: NodeJS.ProcessEnv, ...args: string[]) =>
  collect(tsProcess('apps/cli/src/main.ts', 'apps/cli/tsconfig.json', env, args));

async function waitForReady(url: string, child: ChildProcess, logs: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`gateway exited early:\n${logs()}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gateway not ready within 60 s:\n${logs()}`);
}

describe('the platform as npm start runs it', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let gateway: ChildProcess;
  let gatewayExit: Promise<Ran>;
  let gatewayLogs = '';
  let url: string;
  let seeded: {
    admin: { email: string };
    tenant: { id: string; name: string };
    apiKey: { secret: string };
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'likeness-e2e-'));
    env = {
      LIKENESS_DATA_DIR: dataDir,
      LIKENESS_ADMIN_EMAIL: 'admin@e2e.test',
      LIKENESS_ADMIN_PASSWORD: 'correct horse battery',
    };
    // The global setup already migrated this run's database: a second migrate applies nothing.
    const migrated = await dbCli(env, 'migrate');
    expect(migrated).toMatchObject({ code: 0 });
    expect(migrated.stdout).toContain('migrations applied: 0');

    const seed = await dbCli(env, 'seed');
    expect(seed.code).toBe(0);
    seeded = JSON.parse(seed.stdout);

    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    gateway = tsProcess('apps/gateway/src/main.ts', 'apps/gateway/tsconfig.json', {
      ...env,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
    });
    gatewayExit = collect(gateway);
    gateway.stdout?.on('data', (d: Buffer) => (gatewayLogs += d.toString()));
    gateway.stderr?.on('data', (d: Buffer) => (gatewayLogs += d.toString()));
    await waitForReady(url, gateway, () => gatewayLogs);
  });

  afterAll(async () => {
    if (gateway?.exitCode === null) gateway.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('seeds once: a second seed returns the same tenant and key, and the key file is private', async () => {
    const again = await dbCli(env, 'seed');
    expect(again.code).toBe(0);
    const second = JSON.parse(again.stdout);
    expect(second.tenant.id).toBe(seeded.tenant.id);
    expect(second.apiKey.secret).toBe(seeded.apiKey.secret);
    const keyFile = path.join(dataDir, 'demo-api-key');
    expect((await readFile(keyFile, 'utf8')).trim()).toBe(seeded.apiKey.secret);
    expect((await stat(keyFile)).mode & 0o077).toBe(0);
  });

  it('answers /healthz and /readyz with both dependencies checked', async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      checks: { postgres: { status: 'ok' }, redis: { status: 'ok' } },
    });
  });

  it('answers viewer for the demo API key over HTTP', async () => {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${seeded.apiKey.secret}`,
      },
      body: JSON.stringify({ query: '{ viewer { kind tenant { id name plan status } } }' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      data: {
        viewer: {
          kind: 'API_KEY',
          tenant: { id: seeded.tenant.id, name: 'Demo', plan: 'free', status: 'ACTIVE' },
        },
      },
    });
  });

  it('serves the likeness CLI: whoami with the demo key, exit code 3 for a wrong key', async () => {
    const ok = await likeness(
      { LIKENESS_API_URL: url, LIKENESS_API_KEY: seeded.apiKey.secret },
      'whoami',
      '--json',
    );
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      kind: 'API_KEY',
      tenant: { id: seeded.tenant.id, name: 'Demo' },
    });

    const wrongKey = `${seeded.apiKey.secret.slice(0, -4)}AAAA`;
    const denied = await likeness({ LIKENESS_API_URL: url, LIKENESS_API_KEY: wrongKey }, 'whoami');
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(/UNAUTHENTICATED/);
    expect(denied.stderr).not.toContain(wrongKey);
  });

  it('stops cleanly on SIGTERM and lets go of its port', async () => {
    gateway.kill('SIGTERM');
    const exited = await gatewayExit;
    expect(exited.code).toBe(0);
    expect(exited.stderr).toContain('SIGTERM received, shutting down');
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});

describe('gateway configuration', () => {
  it('refuses to start with a clear message naming each bad variable', async () => {
    const ran = await collect(
      tsProcess('apps/gateway/src/main.ts', 'apps/gateway/tsconfig.json', {
        DATABASE_URL: 'mysql://nope',
        PORT: 'eighty',
      }),
    );
    expect(ran.code).toBe(2);
    expect(ran.stderr).toContain('Invalid gateway configuration');
    expect(ran.stderr).toMatch(/DATABASE_URL: must be a postgresql:\/\/ URL/);
    expect(ran.stderr).toMatch(/PORT: /);
  });
});
