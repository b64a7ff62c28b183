// `nx run dispatch-bench:bench`: how fast the real gateway dispatches renders and fans out their
// events, on this machine. See README.md. Loopback only; every phase is bounded in time.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { createDb, generateApiKeySecret, type Db } from '@likeness/db';
import { createTestDatabase } from '@likeness/db/testing';
import {
  median,
  percentile,
  sleep,
  sortedCopy,
  wallMs,
  type FromSubscribers,
  type FromWorker,
  type ToSubscribers,
  type ToWorker,
} from './common';

const env = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number ≥ 0`);
  return value;
};

function phases(value: string | undefined): ReadonlySet<number> {
  if (value === undefined || value.trim() === '') return new Set([1, 2, 3]);
  const list = value.split(',').map((p) => Number(p.trim()));
  if (list.some((p) => ![1, 2, 3].includes(p))) {
    throw new Error('BENCH_PHASES must be a comma-separated list of 1, 2 and 3');
  }
  return new Set(list);
}

const TENANTS = Math.max(1, env('BENCH_TENANTS', 5));
const WARMUP_RENDERS = env('BENCH_WARMUP_RENDERS', 30);
const SEQUENTIAL_RENDERS = env('BENCH_RENDERS', 200);
const CONCURRENT_RENDERS = env('BENCH_CONCURRENT_RENDERS', 200);
const CONCURRENCY = Math.max(1, env('BENCH_CONCURRENCY', 8));
const WORKER_CAPACITY = Math.max(1, env('BENCH_WORKER_CAPACITY', 32));
const EVENT_RENDERS = Math.max(1, env('BENCH_EVENT_RENDERS', 10));
const EVENT_SUBSCRIBERS = Math.max(1, env('BENCH_EVENT_SUBSCRIBERS', 5));
const EVENT_COUNT = Math.max(1, env('BENCH_EVENT_COUNT', 30));
const EVENT_INTERVAL_MS = env('BENCH_EVENT_INTERVAL_MS', 250);
const SUBSCRIPTIONS = env('BENCH_SUBSCRIPTIONS', 5000);
const SUBSCRIBER_PROCESSES = Math.max(1, env('BENCH_SUBSCRIBER_PROCESSES', 4));
const FANOUT_EVENTS = Math.max(1, env('BENCH_FANOUT_EVENTS', 20));
const IDLE_SECONDS = Math.max(1, env('BENCH_IDLE_SECONDS', 10));
/** Which phases run (BENCH_PHASES=3: only the 5,000 subscriptions); all three by default. */
const PHASES = phases(process.env['BENCH_PHASES']);
/** Extra node flags for the gateway, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`. */
const GATEWAY_NODE_ARGS = (process.env['BENCH_GATEWAY_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
/**
 * The gateway listens for the inspector on a loopback port of its choosing, so phase 3 can ask
 * V8 for a full garbage collection before reading the heap (BENCH_GATEWAY_INSPECT=false: off).
 */
const GATEWAY_INSPECT = process.env['BENCH_GATEWAY_INSPECT'] !== 'false';

const TARGET_START_P50_MS = 20;
const TARGET_START_P99_MS = 60;
const TARGET_EVENT_P99_MS = 30;
const TARGET_KB_PER_SUBSCRIPTION = 40;

const root = join(__dirname, '..', '..');
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
/** Runs a command with the open-files limit raised to the hard limit (exec keeps the pid). */
const RAISE_NOFILE = ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh'];

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

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** Resident set size of a process in KiB (/proc, Linux), or NaN. */
function rssKb(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** CPU seconds (user + system, all threads) a process has used, from /proc; NaN elsewhere. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

function bounded<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not done in ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/** The gateway exactly as `npm start` runs it (apps/gateway/src/main.ts), in its own process. */
async function startGateway(
  gatewayEnv: NodeJS.ProcessEnv,
): Promise<{ port: number; child: ChildProcess; inspector: string | null }> {
  const port = await freePort();
  let inspector: string | null = null;
  const child = spawn(
    'sh',
    [
      ...RAISE_NOFILE,
      process.execPath,
      ...(GATEWAY_INSPECT ? ['--inspect=127.0.0.1:0'] : []),
      ...GATEWAY_NODE_ARGS,
      '-r',
      '@swc-node/register',
      join(root, 'apps/gateway/src/main.ts'),
    ],
    {
      cwd: root,
      env: {
        ...gatewayEnv,
        HOST: '127.0.0.1',
        PORT: String(port),
        SWC_NODE_PROJECT: join(root, 'apps/gateway/tsconfig.json'),
      },
      // One JSON log line per request on stdout, as in production: discarded.
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  await bounded(
    'gateway start',
    60_000,
    new Promise<void>((resolve, reject) => {
      let seen = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        // Warnings and errors only (info lines of Nest's own logging are noise here).
        for (const line of chunk.toString().split('\n')) {
          if (
            line.trim() !== '' &&
            !/^\{"level":(10|20|30),/.test(line) &&
            !/^(Debugger |For help, see)/.test(line)
          ) {
            process.stderr.write(`gateway: ${line}\n`);
          }
        }
        seen += chunk.toString();
        inspector ??= /Debugger listening on (ws:\/\/\S+)/.exec(seen)?.[1] ?? null;
        if (seen.includes('gateway listening on')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
    }),
  );
  return { port, child, inspector };
}

/**
 * After a full garbage collection (through the inspector, HeapProfiler.collectGarbage): the
 * V8 heap in use, KiB (Runtime.getHeapUsage). NaN without an inspector.
 */
async function heapAfterGcKb(inspector: string | null): Promise<number> {
  if (inspector === null) return NaN;
  const socket = new WebSocket(inspector);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    let id = 0;
    const call = (method: string) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const mine = ++id;
        const onMessage = (data: WebSocket.RawData) => {
          const message = JSON.parse(data.toString()) as {
            id?: number;
            result?: Record<string, unknown>;
            error?: unknown;
          };
          if (message.id !== mine) return;
          socket.off('message', onMessage);
          if (message.error) reject(new Error(JSON.stringify(message.error)));
          else resolve(message.result ?? {});
        };
        socket.on('message', onMessage);
        socket.send(JSON.stringify({ id: mine, method }));
      });
    await call('HeapProfiler.collectGarbage');
    const usage = await call('Runtime.getHeapUsage');
    return Number(usage['usedSize']) / 1024;
  } finally {
    socket.close();
  }
}

interface BenchTenant {
  tenantId: string;
  secret: string;
  avatarId: string;
  audioAssetId: string;
}

/** Enterprise tenants, each with an API key, a READY avatar and a 1 s audio asset (rows only). */
async function seed(db: Db): Promise<BenchTenant[]> {
  const out: BenchTenant[] = [];
  for (let i = 0; i < TENANTS; i++) {
    const tenant = await db.tenants.create({
      name: `Bench tenant ${i}`,
      slug: `bench-${randomBytes(4).toString('hex')}`,
      plan: 'enterprise',
    });
    const key = generateApiKeySecret('test');
    await db.apiKeys.create(tenant.id, {
      name: 'bench key',
      prefix: key.prefix,
      secretHash: key.secretHash,
      scopes: ['renders:read', 'renders:write'],
      expiresAt: null,
    });
    const storage = (what: string) =>
      `tenants/${tenant.id}/assets/${randomBytes(8).toString('hex')}/${what}`;
    const image = await db.assets.create(tenant.id, {
      kind: 'IMAGE',
      mime: 'image/png',
      bytes: 1000,
      sha256: randomBytes(32).toString('hex'),
      storageKey: storage('original'),
      probe: { width: 512, height: 512 },
    });
    const avatar = await db.avatars.create(tenant.id, {
      name: 'Bench',
      imageAssetId: image.id,
      consentAttestation: 'Benchmark fixture.',
      consentAt: new Date(),
      modelPack: 'reference',
    });
    await db.avatars.update(tenant.id, avatar.id, {
      status: 'READY',
      faceBox: { x0: 100, y0: 80, x1: 300, y1: 330 },
      keypoints: [1, 2, 3, 4, 5, 6].map((k) => ({ x: 100 + k * 20, y: 150 + k * 10 })),
    });
    await db.avatars.setEmbedding(tenant.id, avatar.id, { model: 'bench', vector: [0.6, 0.8, 0] });
    const audio = await db.assets.create(tenant.id, {
      kind: 'AUDIO',
      mime: 'audio/wav',
      bytes: 2000,
      sha256: randomBytes(32).toString('hex'),
      storageKey: storage('original'),
      probe: { durationSeconds: 1, sampleRate: 16000, channels: 1 },
    });
    out.push({
      tenantId: tenant.id,
      secret: key.secret,
      avatarId: avatar.id,
      audioAssetId: audio.id,
    });
  }
  return out;
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

/** The bench worker process and what it reports. */
class BenchWorker {
  readonly starts = new Map<string, Extract<FromWorker, { type: 'start' }>>();
  private readonly startWaiters = new Map<string, () => void>();
  private readonly heldWaiters = new Map<string, () => void>();
  private readonly held = new Set<string>();
  private readonly sentWaiters = new Map<
    number,
    (m: Extract<FromWorker, { type: 'sent' }>) => void
  >();
  private nextToken = 1;
  readonly errors: string[] = [];

  private constructor(readonly child: ChildProcess) {
    child.on('message', (message: FromWorker) => {
      switch (message.type) {
        case 'start':
          this.starts.set(message.renderId, message);
          this.startWaiters.get(message.renderId)?.();
          break;
        case 'held':
          this.held.add(message.renderId);
          this.heldWaiters.get(message.renderId)?.();
          break;
        case 'sent':
          this.sentWaiters.get(message.token)?.(message);
          break;
        case 'error':
          this.errors.push(message.message);
          process.stderr.write(`bench worker: ${message.message}\n`);
          break;
        case 'ready':
          break;
      }
    });
  }

  static async start(prefix: string): Promise<BenchWorker> {
    const child = fork(join(__dirname, 'worker.ts'), [], {
      cwd: root,
      execArgv: ['-r', '@swc-node/register'],
      env: {
        ...process.env,
        REDIS_URL: redisUrl,
        REDIS_PREFIX: prefix,
        BENCH_WORKER_CAPACITY: String(WORKER_CAPACITY),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await bounded(
      'bench worker start',
      60_000,
      new Promise<void>((resolve, reject) => {
        child.on('message', (m: FromWorker) => m.type === 'ready' && resolve());
        child.once('exit', (code) => reject(new Error(`bench worker exited with ${code}`)));
      }),
    );
    return new BenchWorker(child);
  }

  send(message: ToWorker): void {
    this.child.send(message);
  }

  waitStart(renderId: string): Promise<void> {
    if (this.starts.has(renderId)) return Promise.resolve();
    return bounded(
      `start of render ${renderId}`,
      30_000,
      new Promise<void>((resolve) => this.startWaiters.set(renderId, resolve)),
    ).finally(() => this.startWaiters.delete(renderId));
  }

  waitHeld(renderId: string): Promise<void> {
    if (this.held.has(renderId)) return Promise.resolve();
    return bounded(
      `held render ${renderId}`,
      30_000,
      new Promise<void>((resolve) => this.heldWaiters.set(renderId, resolve)),
    ).finally(() => this.heldWaiters.delete(renderId));
  }

  /** Progress events of a held render; resolves with their send times by step. */
  progress(renderId: string, count: number, intervalMs: number): Promise<Map<number, number>> {
    const token = this.nextToken++;
    const done = new Promise<Extract<FromWorker, { type: 'sent' }>>((resolve) =>
      this.sentWaiters.set(token, resolve),
    );
    this.send({ type: 'progress', token, renderId, count, intervalMs });
    return bounded(`progress of ${renderId}`, 60_000 + count * intervalMs, done)
      .then((m) => new Map(m.sends))
      .finally(() => this.sentWaiters.delete(token));
  }
}

/** A subscriber process. */
class Subscribers {
  private readonly listeners: ((m: FromSubscribers) => void)[] = [];

  private constructor(readonly child: ChildProcess) {
    child.on('message', (message: FromSubscribers) => {
      for (const listener of this.listeners.splice(0)) listener(message);
    });
  }

  static start(): Subscribers {
    return new Subscribers(
      fork(join(__dirname, 'subscribers.ts'), [], {
        cwd: root,
        execPath: 'sh',
        execArgv: [...RAISE_NOFILE, process.execPath, '-r', '@swc-node/register'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
  }

  private ask<T extends FromSubscribers['type']>(
    message: ToSubscribers,
    type: T,
    ms: number,
  ): Promise<Extract<FromSubscribers, { type: T }>> {
    return bounded(
      `subscribers: ${message.type}`,
      ms,
      new Promise((resolve) => {
        const listen = (m: FromSubscribers) => {
          if (m.type === type) resolve(m as Extract<FromSubscribers, { type: T }>);
          else this.listeners.push(listen);
        };
        this.listeners.push(listen);
        this.child.send(message);
      }),
    );
  }

  connect(url: string, tokens: string[], parallel: number) {
    const timeoutMs = 120_000;
    return this.ask(
      { type: 'connect', url, tokens, parallel, timeoutMs },
      'done',
      timeoutMs + 10_000,
    );
  }

  subscribe(renderIds: string[], parallel: number) {
    const timeoutMs = 120_000;
    return this.ask(
      { type: 'subscribe', renderIds, parallel, timeoutMs },
      'done',
      timeoutMs + 10_000,
    );
  }

  report() {
    return this.ask({ type: 'report' }, 'report', 30_000);
  }

  async close(): Promise<void> {
    await this.ask({ type: 'close' }, 'closed', 30_000).catch(() => undefined);
    await stop(this.child);
  }
}

function stats(values: readonly number[]): string {
  const sorted = sortedCopy(values);
  const f = (v: number) => v.toFixed(1).padStart(7);
  return `p50 ${f(percentile(sorted, 50))}  p90 ${f(percentile(sorted, 90))}  p99 ${f(percentile(sorted, 99))}  max ${f(sorted[sorted.length - 1] ?? NaN)}  (n=${sorted.length})`;
}

function verdict(value: number, target: number): string {
  return value <= target ? 'met' : 'MISSED';
}

interface Created {
  id: string;
  tenant: BenchTenant;
  /** Wall ms just before the request was sent, and when its answer was read. */
  sentAt: number;
  answeredAt: number;
}

async function main(): Promise<void> {
  // Results go to stdout as they come (a failing later phase keeps the earlier figures).
  const print = (line = '') => process.stdout.write(`${line}\n`);
  const redisPrefix = `bench-${randomBytes(6).toString('hex')}`;
  process.stderr.write('creating a fresh, migrated database …\n');
  const database = await createTestDatabase();
  const db = createDb({ url: database.url, appUrl: database.appUrl });
  const children: ChildProcess[] = [];
  const subscriberProcesses: Subscribers[] = [];
  let worker: BenchWorker | undefined;
  try {
    const tenants = await seed(db);
    worker = await BenchWorker.start(redisPrefix);
    children.push(worker.child);
    const gateway = await startGateway({
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: database.url,
      DATABASE_APP_URL: database.appUrl,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: redisPrefix,
      LOG_LEVEL: 'info',
      URL_SIGNING_SECRET: randomBytes(32).toString('hex'),
      RATE_LIMIT_IP_PER_MINUTE: '10000000',
      RATE_LIMIT_API_KEY_PER_MINUTE: '1000000000',
    });
    children.push(gateway.child);
    const gatewayPid = gateway.child.pid;
    const httpUrl = `http://127.0.0.1:${gateway.port}/graphql`;
    const wsUrl = `ws://127.0.0.1:${gateway.port}/graphql`;
    const dispatchInterval = process.env['RENDER_DISPATCH_INTERVAL_MS'] ?? '1000 (default)';

    const createRender = async (tenant: BenchTenant): Promise<Created> => {
      const body = JSON.stringify({
        query: 'mutation($input: RenderInput!) { createRender(input: $input) { id } }',
        variables: { input: { avatarId: tenant.avatarId, audioAssetId: tenant.audioAssetId } },
      });
      const sentAt = wallMs();
      const res = await fetch(httpUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json',
          authorization: `Bearer ${tenant.secret}`,
        },
        body,
      });
      const json = (await res.json()) as {
        data?: { createRender?: { id: string } };
        errors?: unknown[];
      };
      const answeredAt = wallMs();
      const id = json.data?.createRender?.id;
      if (res.status !== 200 || !id) {
        throw new Error(`createRender answered ${res.status} ${JSON.stringify(json)}`);
      }
      return { id, tenant, sentAt, answeredAt };
    };

    // The gateway sees the worker's advertisement (its registry caches reads for a second).
    await bounded(
      'worker visible to the gateway',
      30_000,
      (async () => {
        for (;;) {
          const res = await fetch(httpUrl, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${tenants[0]?.secret ?? ''}`,
            },
            body: JSON.stringify({ query: '{ modelPacks { name workers } }' }),
          });
          const json = (await res.json()) as { data?: { modelPacks?: { workers: number }[] } };
          if ((json.data?.modelPacks?.[0]?.workers ?? 0) > 0) return;
          await sleep(200);
        }
      })(),
    );

    print('');
    print(
      `machine: ${cpus().length} cores, load average ${load()} (1/5/15 min) at the start; RENDER_DISPATCH_INTERVAL_MS ${dispatchInterval}`,
    );

    // ---- Phase 1: createRender → worker start -------------------------------------------
    if (PHASES.has(1)) {
      worker.send({ type: 'mode', mode: 'quick' });
      const one = async (tenant: BenchTenant): Promise<Created> => {
        const created = await createRender(tenant);
        await worker?.waitStart(created.id);
        return created;
      };
      process.stderr.write(`phase 1: ${WARMUP_RENDERS} warm-up renders …\n`);
      for (let i = 0; i < WARMUP_RENDERS; i++)
        await one(tenants[i % tenants.length] as BenchTenant);

      const measureStarts = async (label: string, created: Created[], cpuS: number, ms: number) => {
        const latency: number[] = [];
        const answer: number[] = [];
        // Admitted by a pass (after the row was created) …
        const segments = {
          request: [] as number[],
          toAdmit: [] as number[],
          pass: [] as number[],
          pickup: [] as number[],
        };
        // … or in the creating transaction (admittedAt, taken before it, ≤ createdAt).
        const atCreation = {
          request: [] as number[],
          toJob: [] as number[],
          pickup: [] as number[],
        };
        const byTenant = new Map<string, Created[]>();
        for (const c of created)
          byTenant.set(c.tenant.tenantId, [...(byTenant.get(c.tenant.tenantId) ?? []), c]);
        const rows = new Map<string, { createdAt: Date; admittedAt: Date | null }>();
        for (const [tenantId, list] of byTenant) {
          for (const r of await db.renders.findByIds(
            tenantId,
            list.map((c) => c.id),
          ))
            rows.set(r.id, r);
        }
        for (const c of created) {
          const start = worker?.starts.get(c.id);
          const row = rows.get(c.id);
          if (!start || !row) continue;
          latency.push(start.at - c.sentAt);
          answer.push(c.answeredAt - c.sentAt);
          const createdAt = row.createdAt.getTime();
          const admittedAt = row.admittedAt?.getTime() ?? NaN;
          if (admittedAt <= createdAt) {
            atCreation.request.push(createdAt - c.sentAt);
            atCreation.toJob.push(start.jobTimestamp - createdAt);
            atCreation.pickup.push(start.at - start.jobTimestamp);
            continue;
          }
          segments.request.push(createdAt - c.sentAt);
          segments.toAdmit.push(admittedAt - createdAt);
          segments.pass.push(start.jobTimestamp - admittedAt);
          segments.pickup.push(start.at - start.jobTimestamp);
        }
        const sorted = sortedCopy(latency);
        print(`  ${label}: createRender → worker start (ms)  ${stats(latency)}`);
        print(
          `    p50 ${verdict(percentile(sorted, 50), TARGET_START_P50_MS)} (target ≤ ${TARGET_START_P50_MS} ms), p99 ${verdict(percentile(sorted, 99), TARGET_START_P99_MS)} (target ≤ ${TARGET_START_P99_MS} ms); ${(created.length / (ms / 1000)).toFixed(0)} renders/s, gateway CPU ${((cpuS * 1000) / created.length).toFixed(1)} ms per render`,
        );
        print(`    createRender answered (ms)                ${stats(answer)}`);
        const p99 = (values: number[]) => percentile(sortedCopy(values), 99).toFixed(1);
        print(
          `    where the time goes, medians (ms; row times are the gateway's clock as written, ms resolution):`,
        );
        if (atCreation.request.length > 0) {
          print(
            `      ${atCreation.request.length} admitted in their creating transaction: request → render row created ${median(atCreation.request).toFixed(1)} · row → job added (event, commit, job) ${median(atCreation.toJob).toFixed(1)} · job added → processor start (BullMQ) ${median(atCreation.pickup).toFixed(1)}`,
          );
          print(
            `        p99: ${p99(atCreation.request)} · ${p99(atCreation.toJob)} · ${p99(atCreation.pickup)}`,
          );
        }
        if (segments.request.length > 0) {
          print(
            `      ${segments.request.length} admitted by a pass: request → render row created ${median(segments.request).toFixed(1)} · row → admitted (commit, kick, pass start) ${median(segments.toAdmit).toFixed(1)} · admitted → job added (admission pass) ${median(segments.pass).toFixed(1)} · job added → processor start (BullMQ) ${median(segments.pickup).toFixed(1)}`,
          );
          print(
            `        p99: ${p99(segments.request)} · ${p99(segments.toAdmit)} · ${p99(segments.pass)} · ${p99(segments.pickup)}`,
          );
        }
      };

      /**
       * Samples the gateway's own queue-depth gauges (GET /metrics) while a phase runs: whether
       * renders waited for the admitter (waiting) or for capacity (in flight at the limit).
       */
      const sampleQueue = () => {
        const seen = { waiting: 0, inFlight: 0, samples: 0 };
        let stopped = false;
        const loop = (async () => {
          while (!stopped) {
            const text = await (await fetch(`http://127.0.0.1:${gateway.port}/metrics`)).text();
            const sum = (states: string[]) =>
              text
                .split('\n')
                .filter((l) =>
                  states.some((st) => l.startsWith(`likeness_render_queue_depth{state="${st}"`)),
                )
                .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
            seen.waiting = Math.max(seen.waiting, sum(['waiting']));
            seen.inFlight = Math.max(seen.inFlight, sum(['admitted', 'running', 'encoding']));
            seen.samples++;
            await sleep(500);
          }
        })();
        return async () => {
          stopped = true;
          await loop;
          return `    queue (gateway /metrics every 0.5 s, ${seen.samples} samples): at most ${seen.waiting} waiting in Postgres, ${seen.inFlight} in flight (admission limit: capacity ${WORKER_CAPACITY} + backlog 2)`;
        };
      };

      print('');
      print(
        `1. createRender → worker start: ${tenants.length} enterprise tenants, a worker of capacity ${WORKER_CAPACITY} doing no model work, ${WARMUP_RENDERS} warm-up renders first`,
      );
      {
        process.stderr.write(`phase 1: ${SEQUENTIAL_RENDERS} sequential renders …\n`);
        const queue = sampleQueue();
        const cpu0 = cpuSeconds(gatewayPid);
        const t0 = wallMs();
        const created: Created[] = [];
        await bounded(
          'sequential renders',
          120_000,
          (async () => {
            for (let i = 0; i < SEQUENTIAL_RENDERS; i++) {
              created.push(await one(tenants[i % tenants.length] as BenchTenant));
            }
          })(),
        );
        await measureStarts(
          `sequential (${SEQUENTIAL_RENDERS})`,
          created,
          cpuSeconds(gatewayPid) - cpu0,
          wallMs() - t0,
        );
        print(await queue());
      }
      {
        process.stderr.write(
          `phase 1: ${CONCURRENT_RENDERS} renders, ${CONCURRENCY} at a time …\n`,
        );
        const queue = sampleQueue();
        const cpu0 = cpuSeconds(gatewayPid);
        const t0 = wallMs();
        const created: Created[] = [];
        let next = 0;
        await bounded(
          'concurrent renders',
          120_000,
          Promise.all(
            Array.from({ length: CONCURRENCY }, async (_, lane) => {
              while (next < CONCURRENT_RENDERS) {
                next++;
                created.push(await one(tenants[lane % tenants.length] as BenchTenant));
              }
            }),
          ),
        );
        await measureStarts(
          `${CONCURRENCY} at a time (${CONCURRENT_RENDERS})`,
          created,
          cpuSeconds(gatewayPid) - cpu0,
          wallMs() - t0,
        );
        print(await queue());
      }
      {
        // Every render's final event applied before phase 2 (its events would queue behind them).
        const t0 = wallMs();
        await bounded(
          'phase 1 renders finishing',
          120_000,
          (async () => {
            for (;;) {
              const text = await (await fetch(`http://127.0.0.1:${gateway.port}/metrics`)).text();
              const busy = text
                .split('\n')
                .filter((l) => /^likeness_render_queue_depth\{/.test(l))
                .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
              if (busy === 0) return;
              await sleep(250);
            }
          })(),
        );
        print(
          `  every render finished in the gateway ${((wallMs() - t0) / 1000).toFixed(1)} s after the last start (until its worker events were applied); load average ${load()}`,
        );
      }
    }

    // ---- Phase 2: worker event → subscriber -----------------------------------------------
    worker.send({ type: 'mode', mode: 'hold' });
    const holdRenders = async (n: number): Promise<Created[]> => {
      const list: Created[] = [];
      for (let i = 0; i < n; i++) {
        const created = await createRender(tenants[i % tenants.length] as BenchTenant);
        await worker?.waitHeld(created.id);
        list.push(created);
      }
      return list;
    };
    const latencies = (
      sends: Map<string, Map<number, number>>,
      received: Record<string, number[]>,
    ): { values: number[]; lastPerEvent: number[] } => {
      const values: number[] = [];
      const lastPerEvent: number[] = [];
      for (const [renderId, steps] of sends) {
        for (const [step, sentAt] of steps) {
          const times = received[`${renderId}:${step}`] ?? [];
          for (const at of times) values.push(at - sentAt);
          if (times.length > 0) lastPerEvent.push(Math.max(...times) - sentAt);
        }
      }
      return { values, lastPerEvent };
    };
    const merge = (into: Record<string, number[]>, from: Record<string, number[]>) => {
      for (const [key, times] of Object.entries(from)) (into[key] ??= []).push(...times);
    };

    const eventRun = async (
      nRenders: number,
      perRender: number,
      count: number,
      intervalMs: number,
    ) => {
      print(
        `  ${nRenders} running render(s) × ${perRender} renderUpdated subscriber(s) (graphql-ws, one socket each), ${count} render.progress per render ${intervalMs} ms apart (${((nRenders * 1000) / Math.max(1, intervalMs)).toFixed(0)} events/s):`,
      );
      const w = worker;
      if (!w) throw new Error('no bench worker');
      const renders = await bounded('phase 2 renders', 60_000, holdRenders(nRenders));
      const subscribers = Subscribers.start();
      subscriberProcesses.push(subscribers);
      const pairs = renders.flatMap((r) =>
        Array.from({ length: perRender }, () => ({ token: r.tenant.secret, renderId: r.id })),
      );
      for (const step of [
        () =>
          subscribers.connect(
            wsUrl,
            pairs.map((p) => p.token),
            10,
          ),
        () =>
          subscribers.subscribe(
            pairs.map((p) => p.renderId),
            10,
          ),
      ]) {
        const done = await step();
        if (done.failed > 0)
          throw new Error(`${done.failed} subscribers failed: ${done.firstError}`);
      }
      const cpu0 = cpuSeconds(gatewayPid);
      const sends = new Map<string, Map<number, number>>();
      await Promise.all(
        renders.map(async (r) => {
          sends.set(r.id, await w.progress(r.id, count, intervalMs));
        }),
      );
      const expected = nRenders * perRender * count;
      const received: Record<string, number[]> = {};
      let errors = 0;
      const deadline = Date.now() + 15_000;
      for (;;) {
        const report = await subscribers.report();
        merge(received, report.received);
        errors += report.errors;
        const n = Object.values(received).reduce((sum, t) => sum + t.length, 0);
        if (n >= expected || Date.now() > deadline) break;
        await sleep(250);
      }
      const { values } = latencies(sends, received);
      const sorted = sortedCopy(values);
      print(`    event → subscriber (ms)  ${stats(values)}`);
      print(
        `      p99 ${verdict(percentile(sorted, 99), TARGET_EVENT_P99_MS)} (target ≤ ${TARGET_EVENT_P99_MS} ms); delivered ${values.length}/${expected}, errors ${errors}; gateway CPU ${(((cpuSeconds(gatewayPid) - cpu0) * 1000) / (nRenders * count)).toFixed(2)} ms per event; load average ${load()}`,
      );
      await subscribers.close();
      subscriberProcesses.splice(subscriberProcesses.indexOf(subscribers), 1);
      w.send({ type: 'finish', renderIds: renders.map((r) => r.id) });
    };
    if (PHASES.has(2)) {
      print('');
      print('2. worker event → subscriber (worker XADD → graphql-ws message read by the client)');
      await eventRun(1, 1, Math.min(EVENT_COUNT, 20), 200);
      await eventRun(EVENT_RENDERS, EVENT_SUBSCRIBERS, EVENT_COUNT, EVENT_INTERVAL_MS);
    }

    // ---- Phase 3: many subscriptions on one gateway process ---------------------------------
    if (SUBSCRIPTIONS > 0 && PHASES.has(3)) {
      print('');
      print(
        `3. ${SUBSCRIPTIONS} concurrent graphql-ws subscriptions (renderUpdated of one running render, one socket each, ${SUBSCRIBER_PROCESSES} client processes)`,
      );
      const [render] = await bounded('phase 3 render', 60_000, holdRenders(1));
      if (!render) throw new Error('no render for phase 3');
      await sleep(2000);
      /** Median of 5 readings: RSS (KiB, /proc) and V8 heap used (KiB, the gateway's /metrics). */
      const heapUsedKb = async (): Promise<number> => {
        const text = await (await fetch(`http://127.0.0.1:${gateway.port}/metrics`)).text();
        return Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? NaN) / 1024;
      };
      const memory = async (): Promise<{
        rss: number;
        heap: number;
        gcHeap: number;
        gcRss: number;
      }> => {
        const rss: number[] = [];
        const heap: number[] = [];
        for (let i = 0; i < 5; i++) {
          rss.push(rssKb(gatewayPid));
          heap.push(await heapUsedKb());
          await sleep(400);
        }
        const gcHeap = await heapAfterGcKb(gateway.inspector);
        await sleep(500);
        return { rss: median(rss), heap: median(heap), gcHeap, gcRss: rssKb(gatewayPid) };
      };
      const before = await memory();
      const perProcess = Math.ceil(SUBSCRIPTIONS / SUBSCRIBER_PROCESSES);
      const counts = Array.from({ length: SUBSCRIBER_PROCESSES }, (_, i) =>
        Math.max(0, Math.min(perProcess, SUBSCRIPTIONS - i * perProcess)),
      );
      const processes = counts.map(() => Subscribers.start());
      subscriberProcesses.push(...processes);
      const all = async (
        step: (p: Subscribers, n: number) => Promise<Extract<FromSubscribers, { type: 'done' }>>,
      ) => {
        const t0 = wallMs();
        const results = await Promise.all(processes.map((p, i) => step(p, counts[i] ?? 0)));
        const ok = results.reduce((s, r) => s + r.ok, 0);
        const failed = results.reduce((s, r) => s + r.failed, 0);
        const error = results.find((r) => r.firstError)?.firstError ?? '';
        return { ok, failed, error, seconds: (wallMs() - t0) / 1000 };
      };
      const sockets = await all((p, n) =>
        p.connect(
          wsUrl,
          Array.from({ length: n }, () => render.tenant.secret),
          20,
        ),
      );
      await sleep(2000);
      const connected = await memory();
      const subscribed = await all((p, n) =>
        p.subscribe(
          Array.from({ length: n }, () => render.id),
          20,
        ),
      );
      const ok = subscribed.ok;
      await sleep(2000);
      const after = await memory();
      // RSS after a full GC when the inspector is there (the heap left by phases 1-2 and the
      // garbage of subscribing make the plain readings swing by hundreds of MiB), else plain.
      const afterGc = Number.isFinite(after.gcHeap);
      const kbPer = afterGc
        ? (after.gcRss - before.gcRss) / Math.max(1, ok)
        : (after.rss - before.rss) / Math.max(1, ok);
      const perSocket = (a: number, b: number, n: number) => ((b - a) / Math.max(1, n)).toFixed(1);
      print(
        `  ${sockets.ok} sockets connected in ${sockets.seconds.toFixed(1)} s (failed ${sockets.failed}${sockets.failed > 0 ? `: ${sockets.error}` : ''}), ${ok} subscribed in ${subscribed.seconds.toFixed(1)} s (failed ${subscribed.failed}${subscribed.failed > 0 ? `: ${subscribed.error}` : ''})`,
      );
      print(
        `  gateway RSS ${(before.rss / 1024).toFixed(0)} MiB before, ${(connected.rss / 1024).toFixed(0)} MiB with the sockets, ${(after.rss / 1024).toFixed(0)} MiB with the subscriptions (no GC forced)`,
      );
      print(
        `    RSS: socket ${perSocket(before.rss, connected.rss, sockets.ok)} KB, subscription on it ${perSocket(connected.rss, after.rss, ok)} KB; V8 heap used ${(before.heap / 1024).toFixed(0)} → ${(connected.heap / 1024).toFixed(0)} → ${(after.heap / 1024).toFixed(0)} MiB: socket ${perSocket(before.heap, connected.heap, sockets.ok)} KB, subscription ${perSocket(connected.heap, after.heap, ok)} KB (not after a full GC)`,
      );
      print(
        `    V8 heap after a full GC: ${(before.gcHeap / 1024).toFixed(0)} → ${(connected.gcHeap / 1024).toFixed(0)} → ${(after.gcHeap / 1024).toFixed(0)} MiB: socket ${perSocket(before.gcHeap, connected.gcHeap, sockets.ok)} KB, subscription ${perSocket(connected.gcHeap, after.gcHeap, ok)} KB, together ${perSocket(before.gcHeap, after.gcHeap, ok)} KB (retained JS objects; RSS adds buffers and the heap's slack)`,
      );
      print(
        `    RSS right after those GCs: ${(before.gcRss / 1024).toFixed(0)} → ${(connected.gcRss / 1024).toFixed(0)} → ${(after.gcRss / 1024).toFixed(0)} MiB: ${perSocket(before.gcRss, after.gcRss, ok)} KB per subscribed socket`,
      );
      print(
        `  RSS per subscription (one socket each${afterGc ? ', after full GCs' : ''}): ${kbPer.toFixed(1)} KB (target ≤ ${TARGET_KB_PER_SUBSCRIPTION} KB) ${verdict(kbPer, TARGET_KB_PER_SUBSCRIPTION)}`,
      );
      // What holding them costs with nothing happening (each subscription polls its rows).
      const idleCpu0 = cpuSeconds(gatewayPid);
      const idleT0 = wallMs();
      await sleep(IDLE_SECONDS * 1000);
      const idleCpu = (cpuSeconds(gatewayPid) - idleCpu0) / ((wallMs() - idleT0) / 1000);
      print(
        `  gateway CPU while they idle: ${(idleCpu * 100).toFixed(0)} % of a core (${IDLE_SECONDS} s, no events)`,
      );

      const w = worker;
      const fanOut = async (count: number, intervalMs: number) => {
        const cpu0 = cpuSeconds(gatewayPid);
        const sends = new Map([[render.id, await w.progress(render.id, count, intervalMs)]]);
        const expected = ok * count;
        const received: Record<string, number[]> = {};
        const sent = sends.get(render.id) ?? new Map<number, number>();
        let errors = 0;
        const deadline = Date.now() + 60_000;
        for (;;) {
          for (const p of subscriberProcesses) {
            const report = await p.report();
            merge(received, report.received);
            errors += report.errors;
          }
          let n = 0;
          for (const step of sent.keys()) n += received[`${render.id}:${step}`]?.length ?? 0;
          if (n >= expected || Date.now() > deadline) break;
          await sleep(250);
        }
        const firstSend = [...sent.values()].reduce((a, b) => Math.min(a, b), Infinity);
        // This run's steps only (late deliveries of the previous run are not counted).
        let lastReceive = -Infinity;
        for (const step of sent.keys()) {
          for (const at of received[`${render.id}:${step}`] ?? [])
            lastReceive = Math.max(lastReceive, at);
        }
        const { values, lastPerEvent } = latencies(sends, received);
        const seconds = (lastReceive - firstSend) / 1000;
        print(
          `  ${count} events ${intervalMs > 0 ? `${intervalMs} ms apart` : 'back to back'}: delivered ${values.length}/${expected} (errors ${errors}) in ${seconds.toFixed(2)} s → ${(values.length / seconds).toFixed(0)} deliveries/s; gateway CPU ${(((cpuSeconds(gatewayPid) - cpu0) * 1e6) / Math.max(1, values.length)).toFixed(0)} µs per delivery`,
        );
        print(`    event → subscriber (ms)          ${stats(values)}`);
        print(`    event → its last subscriber (ms) ${stats(lastPerEvent)}`);
      };
      await bounded(
        'fan-out, paced',
        120_000,
        fanOut(Math.max(1, Math.floor(FANOUT_EVENTS / 4)), 2000),
      );
      await bounded('fan-out, burst', 120_000, fanOut(FANOUT_EVENTS, 0));
      print(`  load average ${load()}`);
      await Promise.all(subscriberProcesses.splice(0).map((p) => p.close()));
      worker.send({ type: 'finish', renderIds: [render.id] });
    }
    print('');
  } finally {
    await Promise.all(subscriberProcesses.map((p) => p.close()));
    if (worker) worker.send({ type: 'stop' });
    await Promise.all(children.map((c) => stop(c)));
    await db.close();
    await database.drop();
    await deleteRedisPrefix(redisPrefix);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
