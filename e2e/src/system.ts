// The whole platform as separate real processes for the render specs: a Redis server of its own
// (so a spec can restart it empty without disturbing anything else on the machine), the gateway
// and render workers exactly as `npm start` runs them, sharing one data directory (storage).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { freePort, ROOT } from './support';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function tsProcess(
  entry: string,
  tsconfig: string,
  env: NodeJS.ProcessEnv,
  args: string[] = [],
): ChildProcess {
  return spawn(process.execPath, ['-r', '@swc-node/register', entry, ...args], {
    cwd: ROOT,
    env: { ...process.env, SWC_NODE_PROJECT: tsconfig, FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** A child process whose output is kept (for failure messages) and which can be waited for. */
export class Proc {
  output = '';
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.output)) {
      if (!this.running) throw new Error(`${this.name} exited early:\n${this.tail()}`);
      if (Date.now() > deadline) {
        throw new Error(`${this.name}: no ${pattern} within ${timeoutMs} ms:\n${this.tail()}`);
      }
      await sleep(50);
    }
  }

  tail(chars = 6000): string {
    return this.output.slice(-chars);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) this.child.kill(signal);
    await this.exited;
  }
}

/** redis-server on a free loopback port, keeping nothing on disk (a restart comes back empty). */
export class PrivateRedis {
  private proc?: Proc;

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.up();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        ...['--port', String(this.port), '--bind', '127.0.0.1'],
        ...['--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = new Proc('redis', child);
    await this.proc.waitForOutput(/Ready to accept connections/, 20_000);
  }

  /** Kills it (SIGKILL) and starts it again on the same port, empty. */
  async restartEmpty(): Promise<void> {
    await this.proc?.kill('SIGKILL');
    await this.up();
  }

  async stop(): Promise<void> {
    await this.proc?.kill('SIGKILL');
  }
}

export interface SystemOptions {
  dataDir: string;
  redisUrl: string;
  prefix: string;
  /** Extra gateway variables. */
  gatewayEnv?: NodeJS.ProcessEnv;
}

/**
 * The shared environment of gateway and workers. The reference pack is built once per machine
 * under the repository's `.data/models` and shared through a symlink, so each spec's fresh data
 * directory does not rebuild it.
 */
export async function prepareDataDir(dataDir: string): Promise<void> {
  const shared = path.join(ROOT, '.data', 'models');
  await mkdir(shared, { recursive: true });
  await symlink(shared, path.join(dataDir, 'models'), 'dir').catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  });
}

export async function startGateway(options: SystemOptions): Promise<{ proc: Proc; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = new Proc(
    'gateway',
    tsProcess('apps/gateway/src/main.ts', 'apps/gateway/tsconfig.json', {
      LIKENESS_DATA_DIR: options.dataDir,
      REDIS_URL: options.redisUrl,
      REDIS_PREFIX: options.prefix,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      ...options.gatewayEnv,
    }),
  );
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (!proc.running) throw new Error(`gateway exited early:\n${proc.tail()}`);
    if (Date.now() > deadline) throw new Error(`gateway not ready in 90 s:\n${proc.tail()}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return { proc, url };
}

export async function startWorker(options: SystemOptions, id: string): Promise<Proc> {
  const proc = new Proc(
    id,
    tsProcess('gpu-workers/render-worker/src/main.ts', 'gpu-workers/render-worker/tsconfig.json', {
      LIKENESS_DATA_DIR: options.dataDir,
      REDIS_URL: options.redisUrl,
      BULLMQ_PREFIX: options.prefix,
      WORKER_ID: id,
      WORKER_CONCURRENCY: '1',
      EXECUTION_PROVIDER: 'cpu',
    }),
  );
  await proc.waitForOutput(/render worker ready/, 240_000);
  return proc;
}

export interface GraphqlAnswer<T> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string; field?: string } }[];
}

export async function graphql<T = Record<string, unknown>>(
  url: string,
  token: string | null,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphqlAnswer<T>> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GraphqlAnswer<T>;
}

/** Like `graphql`, but throws on errors and returns the data. */
export async function gql<T = Record<string, unknown>>(
  url: string,
  token: string | null,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<T> {
  const answer = await graphql<T>(url, token, query, variables);
  if (answer.errors?.length || !answer.data) {
    throw new Error(`GraphQL error: ${JSON.stringify(answer.errors)}`);
  }
  return answer.data;
}

/** POST /v1/assets with the raw bytes; returns the asset id. */
export async function upload(url: string, token: string, bytes: Buffer): Promise<string> {
  const res = await fetch(`${url}/v1/assets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  const body = (await res.json()) as { id?: string; asset?: { id: string } };
  const id = body.id ?? body.asset?.id;
  if (res.status >= 300 || !id)
    throw new Error(`upload failed ${res.status}: ${JSON.stringify(body)}`);
  return id;
}

export interface RenderEventJson {
  sequence: number;
  type: string;
  render: { id: string; status: string };
}

/** A graphql-ws subscription that keeps what it got. */
export class Subscription {
  readonly events: RenderEventJson[] = [];
  readonly errors: unknown[] = [];
  readonly completed: Promise<void>;
  private readonly client: Client;

  constructor(url: string, token: string, query: string, variables: Record<string, unknown>) {
    this.client = createClient({
      url: `${url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: token },
    });
    let done: () => void = () => undefined;
    this.completed = new Promise<void>((resolve) => (done = resolve));
    this.client.subscribe<Record<string, RenderEventJson>>(
      { query, variables },
      {
        next: (result) => {
          if (result.errors) this.errors.push(...result.errors);
          const value = result.data ? Object.values(result.data)[0] : undefined;
          if (value) this.events.push(value);
        },
        error: (error) => {
          this.errors.push(error);
          done();
        },
        complete: () => done(),
      },
    );
  }

  async waitFor(predicate: (events: RenderEventJson[]) => boolean, timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.events)) {
      if (Date.now() > deadline) {
        throw new Error(
          `subscription did not get there in ${timeoutMs} ms: ${JSON.stringify({
            events: this.events.map((e) => `${e.sequence}:${e.type}`),
            errors: this.errors,
          })}`,
        );
      }
      await sleep(50);
    }
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }
}

export const RENDER_UPDATED = `subscription($id: ID!, $after: Int) {
  renderUpdated(id: $id, afterSequence: $after) { sequence type render { id status } } }`;

export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}
