// `nx run gateway-bench:bench`: the real gateway against a bare Apollo Server, on this machine,
// in one run. See README.md. Loopback only; every load phase is bounded in time.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
/** Seconds of measured load per server, split over the rounds. */
const DURATION_S = Number(process.env['BENCH_DURATION_S'] ?? 12);
/**
 * Warm-up per server, in requests rather than seconds: the JIT needs work done, and a busy
 * machine does less of it per second (the gateway has far more code to optimise than Apollo).
 */
const WARMUP_REQUESTS = Number(process.env['BENCH_WARMUP_REQUESTS'] ?? 10_000);
/**
 * The servers take turns (apollo, gateway; then gateway, apollo; …), so that a change in what
 * the rest of the machine is doing falls on both alike instead of on whichever ran second.
 */
const ROUNDS = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? 3));
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
 * CPU seconds (user + system, all threads) a process has used so far, from /proc (Linux, whose
 * clock tick for these fields is 1/100 s); null elsewhere.
 */
function cpuSeconds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
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

/** One load run, and the server's CPU seconds meanwhile (null where /proc is missing). */
type Measured = Result & { cpuS: number | null };

async function load(
  server: Running,
  headers: Record<string, string>,
  /** Seconds, or a number of requests. */
  length: number | { amount: number },
): Promise<Measured> {
  const cpuBefore = cpuSeconds(server.child.pid);
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}/graphql`,
    method: 'POST',
    headers,
    body: JSON.stringify({ query: QUERY }),
    connections: CONNECTIONS,
    ...(typeof length === 'number' ? { duration: length } : length),
  });
  const failed = result.errors + result.timeouts + result.non2xx;
  if (failed > 0) {
    throw new Error(
      `${failed} failed requests (errors ${result.errors}, timeouts ${result.timeouts}, non-2xx ${result.non2xx}): the numbers would mean nothing`,
    );
  }
  const cpuAfter = cpuSeconds(server.child.pid);
  return {
    ...result,
    cpuS: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore,
  };
}

/**
 * Several rounds of one server: requests/s over all of them, median p50, worst p99, and the
 * server's CPU time per request (µs), which a busy machine disturbs far less than the rest.
 */
interface Summary {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  cpuUsPerRequest: number | null;
}

function summarize(rounds: readonly Measured[]): Summary {
  const requests = rounds.reduce((n, r) => n + r.requests.total, 0);
  const seconds = rounds.reduce((n, r) => n + r.duration, 0);
  const p50s = rounds.map((r) => r.latency.p50).sort((a, b) => a - b);
  const cpu = rounds.every((r) => r.cpuS !== null)
    ? rounds.reduce((n, r) => n + (r.cpuS ?? 0), 0)
    : null;
  return {
    rps: requests / seconds,
    p50: p50s[Math.floor(p50s.length / 2)] ?? 0,
    p99: Math.max(...rounds.map((r) => r.latency.p99)),
    requests,
    cpuUsPerRequest: cpu === null ? null : (cpu * 1e6) / requests,
  };
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

function row(name: string, r: Summary): string {
  const cpu = r.cpuUsPerRequest === null ? '-' : r.cpuUsPerRequest.toFixed(0);
  return [
    name.padEnd(12),
    r.rps.toFixed(0).padStart(9),
    r.p50.toFixed(2).padStart(9),
    r.p99.toFixed(2).padStart(9),
    r.requests.toString().padStart(10),
    cpu.padStart(12),
  ].join(' ');
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
    const env = {
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
    };
    const servers = {} as Record<ServerKind, Running>;
    for (const kind of ['apollo', 'gateway'] as const) {
      servers[kind] = await startServer(kind, env);
      started.push(servers[kind]);
      await checkAnswer(servers[kind].port, headers);
      process.stderr.write(
        `${kind}: warm-up, ${WARMUP_REQUESTS} requests at ${CONNECTIONS} connections …\n`,
      );
      await load(servers[kind], headers, { amount: WARMUP_REQUESTS });
    }
    const roundS = Math.max(1, Math.round(DURATION_S / ROUNDS));
    const rounds: Record<ServerKind, Measured[]> = { apollo: [], gateway: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order: ServerKind[] = round % 2 === 0 ? ['apollo', 'gateway'] : ['gateway', 'apollo'];
      for (const kind of order) {
        process.stderr.write(`round ${round + 1}/${ROUNDS}: ${kind} for ${roundS} s …\n`);
        const result = await load(servers[kind], headers, roundS);
        rounds[kind].push(result);
        process.stderr.write(
          `  ${(result.requests.total / result.duration).toFixed(0)} req/s, p99 ${result.latency.p99} ms, ${result.cpuS === null ? '-' : ((result.cpuS * 1e6) / result.requests.total).toFixed(0)} CPU µs/req\n`,
        );
      }
    }
    const apollo = summarize(rounds.apollo);
    const gateway = summarize(rounds.gateway);
    const ratio = gateway.rps / apollo.rps;
    const cpuRatio =
      apollo.cpuUsPerRequest !== null && gateway.cpuUsPerRequest !== null
        ? apollo.cpuUsPerRequest / gateway.cpuUsPerRequest
        : null;
    const perRound = rounds.gateway
      .map((g, i) => (g.requests.total / (rounds.apollo[i]?.requests.total ?? NaN)).toFixed(2))
      .join(' ');
    const lines = [
      '',
      `POST /graphql ${QUERY} · ${CONNECTIONS} connections · ${ROUNDS} rounds of ${roundS} s per server after ${WARMUP_REQUESTS} warm-up requests each`,
      `machine: ${cpus().length} cores, load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} (1/5/15 min)`,
      '',
      `${'server'.padEnd(12)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'requests'.padStart(10)} ${'CPU µs/req'.padStart(12)}`,
      row('apollo', apollo),
      row('gateway', gateway),
      '(p50: median of the rounds; p99: the worst round)',
      '',
      `gateway / apollo throughput: ${ratio.toFixed(2)}× (rounds: ${perRound}) (target ≥ ${TARGET_RATIO}×) ${ratio >= TARGET_RATIO ? 'met' : 'MISSED'}`,
      `gateway p99: ${gateway.p99.toFixed(2)} ms (target < ${TARGET_P99_MS} ms) ${gateway.p99 < TARGET_P99_MS ? 'met' : 'MISSED'}`,
      cpuRatio === null
        ? 'CPU time per request: not measured (no /proc)'
        : `CPU time per request, apollo / gateway: ${cpuRatio.toFixed(2)}× (the throughput ratio a core of their own each would give)`,
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
