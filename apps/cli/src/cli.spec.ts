import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { closedPortUrl, startFakeGateway } from './testing/fake-gateway';
import type { FakeGateway, RecordedRequest } from './testing/fake-gateway';

const GOOD_KEY = 'lk_test_good';
const viewer = {
  kind: 'API_KEY',
  tenant: { id: 'ten_7d7c2a4e', name: 'Acme Studios', plan: 'PRO', status: 'ACTIVE' },
  apiKey: {
    id: 'key_0b1e8f3a',
    name: 'ci',
    prefix: 'lk_test_good',
    scopes: ['renders:write', 'avatars:read'],
  },
};

/** Answers like the gateway: the viewer for the good key, 401 UNAUTHENTICATED otherwise. */
function gatewayAnswer(request: RecordedRequest) {
  if (request.headers.authorization === `Bearer ${GOOD_KEY}`) {
    return { status: 200, body: JSON.stringify({ data: { viewer } }) };
  }
  return {
    status: 401,
    body: JSON.stringify({
      errors: [
        {
          message: 'Invalid or revoked API key',
          extensions: { code: 'UNAUTHENTICATED', requestId: 'req-42' },
        },
      ],
    }),
  };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawns the real CLI entry point, the way a partner's shell would run it. */
function runCli(args: string[], env: Record<string, string>): Promise<Run> {
  const root = join(__dirname, '../../..');
  const child = spawn(
    process.execPath,
    ['-r', '@swc-node/register', join(__dirname, 'main.ts'), ...args],
    {
      cwd: root,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        SWC_NODE_PROJECT: join(__dirname, '../tsconfig.json'),
        ...env,
      },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

jest.setTimeout(30_000);

describe('likeness whoami (spawned against a real HTTP server)', () => {
  let gateway: FakeGateway;
  beforeAll(async () => {
    gateway = await startFakeGateway(gatewayAnswer);
  });
  afterAll(() => gateway.close());
  beforeEach(() => {
    gateway.requests.length = 0;
  });

  it('prints the viewer as a table and exits 0', async () => {
    const run = await runCli(['whoami'], {
      LIKENESS_API_URL: gateway.url,
      LIKENESS_API_KEY: GOOD_KEY,
    });
    expect(run).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'Kind     API_KEY',
        'Tenant   Acme Studios (ten_7d7c2a4e)',
        'Plan     PRO',
        'Status   ACTIVE',
        'API key  ci (lk_test_good…, key_0b1e8f3a)',
        'Scopes   renders:write, avatars:read',
        '',
      ].join('\n'),
    });
  });

  it('sends one GraphQL-over-HTTP POST with the Bearer key and the viewer query', async () => {
    await runCli(['whoami'], { LIKENESS_API_URL: `${gateway.url}/`, LIKENESS_API_KEY: GOOD_KEY });
    expect(gateway.requests).toHaveLength(1);
    const [request] = gateway.requests;
    expect(request).toMatchObject({
      method: 'POST',
      url: '/graphql',
      headers: {
        authorization: `Bearer ${GOOD_KEY}`,
        accept: 'application/graphql-response+json, application/json',
        'content-type': 'application/json',
      },
    });
    expect(request?.body).toEqual({
      query: expect.stringMatching(
        /viewer \{ kind tenant \{ id name plan status \} apiKey \{ id name prefix scopes \} \}/,
      ),
      variables: {},
    });
  });

  it('--json prints the viewer as JSON; --api-key overrides the environment', async () => {
    const run = await runCli(['--api-key', GOOD_KEY, 'whoami', '--json'], {
      LIKENESS_API_URL: gateway.url,
      LIKENESS_API_KEY: 'lk_test_stale',
    });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(viewer);
  });

  it('shows the API error code and message and exits 3', async () => {
    const run = await runCli(['whoami'], {
      LIKENESS_API_URL: gateway.url,
      LIKENESS_API_KEY: 'lk_test_revoked',
    });
    expect(run).toEqual({
      code: 3,
      stdout: '',
      stderr: 'error: UNAUTHENTICATED: Invalid or revoked API key (request id req-42)\n',
    });
  });

  it('names the URL and exits 4 when nothing listens', async () => {
    const url = await closedPortUrl();
    const run = await runCli(['whoami'], { LIKENESS_API_URL: url, LIKENESS_API_KEY: GOOD_KEY });
    expect(run.code).toBe(4);
    expect(run.stderr).toBe(
      `error: cannot reach the Likeness API at ${url}/graphql: ECONNREFUSED\n`,
    );
  });

  it('exits 2 without an API key, without calling the API', async () => {
    const run = await runCli(['whoami'], { LIKENESS_API_URL: gateway.url });
    expect(run).toEqual({
      code: 2,
      stdout: '',
      stderr: 'error: no API key: pass --api-key or set LIKENESS_API_KEY\n',
    });
    expect(gateway.requests).toHaveLength(0);
  });

  it('exits 2 on usage errors: unknown command, unknown option, bad URL, no command', async () => {
    const env = { LIKENESS_API_URL: gateway.url, LIKENESS_API_KEY: GOOD_KEY };
    const unknownCommand = await runCli(['whoareyou'], env);
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toMatch(/unknown command 'whoareyou'/);
    const unknownOption = await runCli(['whoami', '--yaml'], env);
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toMatch(/unknown option '--yaml'/);
    const badUrl = await runCli(['whoami'], { ...env, LIKENESS_API_URL: 'ftp://example.com' });
    expect(badUrl).toMatchObject({
      code: 2,
      stderr: 'error: invalid API URL "ftp://example.com": must be http:// or https://\n',
    });
    const noCommand = await runCli([], env);
    expect(noCommand.code).toBe(2);
    expect(noCommand.stderr).toMatch(/Usage: likeness/);
    expect(gateway.requests).toHaveLength(0);
  });

  it('--help exits 0', async () => {
    const run = await runCli(['--help'], {});
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/whoami/);
  });
});
