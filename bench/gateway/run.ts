// `nx run gateway-bench:bench`: the real gateway against a bare Apollo Server, on this machine,
// in one run. See README.md. Loopback only; every load phase is bounded in time.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { createDb, generateApiKeySecret } from '@likeness/db';
import { createTestDatabase, type TestDatabase } from '@likeness/db/testing';

type Result = autocannon.Result;

const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 50);
const DURATION_S = Number(process.env['BENCH_DURATION_S'] ?? 10);
const WARMUP_S = Number(process.env['BENCH_WARMUP_S'] ?? 2);
const QUERY = '{ viewer { kind } }';
/** Extra node flags for the gateway, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it. */
const GATEWAY_NODE_ARGS = (process.env['BENCH_GATEWAY_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 25;

const root = join(__dirname, '..', '..');
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

interface Running {
  port: number;
  child: ChildProcess;
}

type ServerKind = 'apollo' | 'gateway';

/** A port that was free a moment ago (the gateway is told its port rather than choosing). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Starts a server in its own process, so that autocannon (here) does not share its event loop:
 * the gateway exactly as `nx run gateway:serve` / `npm start` run it (apps/gateway/src/main.ts,
 * i.e. createGateway + listen), or the bare Apollo baseline (apollo-server.ts).
 */
async function startServer(kind: ServerKind, env: NodeJS.ProcessEnv): Promise<Running> {
  if (kind === 'apollo') {
    const child = spawn(
      process.execPath,
      ['-r', '@swc-node/register', join(__dirname, 'apollo-server.ts')],
      { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] },
    );
    const port = await waitFor(kind, child, (resolve) =>
      child.once('message', (message: { port: number }) => resolve(message.port)),
    );
    return { port, child };
  }
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [...GATEWAY_NODE_ARGS, '-r', '@swc-node/register', join(root, 'apps/gateway/src/main.ts')],
    {
      cwd: root,
      env: {
        ...env,
        HOST: '127.0.0.1',
        PORT: String(port),
        SWC_NODE_PROJECT: join(root, 'apps/gateway/tsconfig.json'),
      },
      // The gateway logs a JSON line per request on stdout (as in production): discarded.
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  await waitFor(kind, child, (resolve) => {
    let seen = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      seen += chunk.toString();
      if (seen.includes('gateway listening on')) resolve(port);
    });
  });
  return { port, child };
}

function waitFor(
  kind: ServerKind,
  child: ChildProcess,
  listen: (resolve: (port: number) => void) => void,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} did not start in 60 s`)), 60_000);
    listen((port) => {
      clearTimeout(timer);
      resolve(port);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${kind} exited with ${code} before listening`));
    });
  });
}

function stopServer(server: Running): Promise<void> {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null) return resolve();
    const timer = setTimeout(() => server.child.kill('SIGKILL'), 10_000);
    server.child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    server.child.kill('SIGTERM');
  });
}

async function checkAnswer(port: number, headers: Record<string, string>): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query: QUERY }),
  });
  const body = (await res.json()) as { data?: { viewer?: { kind?: string } } };
  if (res.status !== 200 || body.data?.viewer?.kind !== 'API_KEY') {
    throw new Error(`unexpected answer ${res.status} ${JSON.stringify(body)}`);
  }
}

async function load(port: number, headers: Record<string, string>): Promise<Result> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/graphql`,
    method: 'POST',
    headers,
    body: JSON.stringify({ query: QUERY }),
    connections: CONNECTIONS,
    duration: DURATION_S,
    warmup: { connections: CONNECTIONS, duration: WARMUP_S },
  });
  const failed = result.errors + result.timeouts + result.non2xx;
  if (failed > 0) {
    throw new Error(
      `${failed} failed requests (errors ${result.errors}, timeouts ${result.timeouts}, non-2xx ${result.non2xx}): the numbers would mean nothing`,
    );
  }
  return result;
}

async function seed(database: TestDatabase): Promise<string> {
  const db = createDb({ url: database.url, appUrl: database.appUrl });
  try {
    const tenant = await db.tenants.create({
      name: 'Bench tenant',
      slug: `bench-${randomBytes(4).toString('hex')}`,
      plan: 'enterprise',
    });
    const key = generateApiKeySecret('test');
    await db.apiKeys.create(tenant.id, {
      name: 'bench key',
      prefix: key.prefix,
      secretHash: key.secretHash,
      scopes: ['renders:read'],
      expiresAt: null,
    });
    return key.secret;
  } finally {
    await db.close();
  }
}

async function deleteRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}

function row(name: string, r: Result): string {
  return `${name.padEnd(12)} ${r.requests.average.toFixed(0).padStart(9)} ${r.latency.p50
    .toFixed(2)
    .padStart(9)} ${r.latency.p99.toFixed(2).padStart(9)} ${r.requests.total
    .toString()
    .padStart(10)}`;
}

async function main(): Promise<void> {
  const redisPrefix = `bench-${randomBytes(6).toString('hex')}`;
  process.stderr.write('creating a fresh, migrated database …\n');
  const database = await createTestDatabase();
  const started: Running[] = [];
  try {
    const secret = await seed(database);
    const headers = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      authorization: `Bearer ${secret}`,
    };
    const results: Partial<Record<ServerKind, Result>> = {};
    for (const kind of ['apollo', 'gateway'] as const) {
      const server = await startServer(kind, {
        ...process.env,
        NODE_ENV: 'production',
        DATABASE_URL: database.url,
        DATABASE_APP_URL: database.appUrl,
        REDIS_URL: redisUrl,
        REDIS_PREFIX: redisPrefix,
        LOG_LEVEL: 'info',
        URL_SIGNING_SECRET: randomBytes(32).toString('hex'),
        // Limits far above what the load can reach: the benchmark measures their cost, not them.
        RATE_LIMIT_IP_PER_MINUTE: '10000000',
        RATE_LIMIT_API_KEY_PER_MINUTE: '1000000000',
      });
      started.push(server);
      await checkAnswer(server.port, headers);
      process.stderr.write(
        `${kind}: ${WARMUP_S} s warm-up, then ${DURATION_S} s at ${CONNECTIONS} connections …\n`,
      );
      results[kind] = await load(server.port, headers);
      await stopServer(server);
    }
    const apollo = results.apollo as Result;
    const gateway = results.gateway as Result;
    const ratio = gateway.requests.average / apollo.requests.average;
    const lines = [
      '',
      `POST /graphql ${QUERY} · ${CONNECTIONS} connections · ${DURATION_S} s after ${WARMUP_S} s warm-up`,
      `machine: ${cpus().length} cores, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} (1/5/15 min)`,
      '',
      `${'server'.padEnd(12)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'requests'.padStart(10)}`,
      row('apollo', apollo),
      row('gateway', gateway),
      '',
      `gateway / apollo throughput: ${ratio.toFixed(2)}× (target ≥ ${TARGET_RATIO}×) ${ratio >= TARGET_RATIO ? 'met' : 'MISSED'}`,
      `gateway p99: ${gateway.latency.p99.toFixed(2)} ms (target < ${TARGET_P99_MS} ms) ${gateway.latency.p99 < TARGET_P99_MS ? 'met' : 'MISSED'}`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
  } finally {
    await Promise.all(started.map(stopServer));
    await database.drop();
    await deleteRedisPrefix(redisPrefix);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
