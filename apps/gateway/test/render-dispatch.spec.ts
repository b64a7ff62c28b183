// The fair scheduler and the reconciler, through the real gateway, Postgres, Redis and BullMQ,
// with a simulated worker pool (support/render-worker-sim.ts).
import 'reflect-metadata';
import { QueueName, renderJobId } from '@likeness/contracts';
import type { Db } from '@likeness/db';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Client } from 'pg';
import { RenderDispatcher, RenderReconciler } from '../src/renders';
import { WorkerRegistryService } from '../src/workers';
import { startFakeWorker } from './support/fake-worker';
import {
  deleteRedisPrefix,
  gql,
  newTenantWithKey,
  startGateway,
  testDb,
  type TestGateway,
} from './support/gateway-harness';
import { audioAsset, readyAvatar, waitForRender } from './support/render-fixtures';
import {
  startRenderWorkerSim,
  type RenderWorkerSim,
  type SimJob,
} from './support/render-worker-sim';

let gateway: TestGateway;
let db: Db;
let owner: Client;
const sims: RenderWorkerSim[] = [];

beforeAll(async () => {
  gateway = await startGateway({
    RENDER_DISPATCH: 'true',
    // Passes follow kicks (a render queued, a slot freed); no periodic pass, so none runs
    // unasked while a test checks admission at creation.
    RENDER_DISPATCH_INTERVAL_MS: '60000',
    // Reconciler passes are run by the tests themselves (RenderReconciler.reconcile).
    RENDER_RECONCILE_INTERVAL_MS: '0',
    RENDER_WORKER_LOST_SECONDS: '1',
    WORKER_EVENTS_CLAIM_IDLE_MS: '500',
    WEBHOOK_WORKER: 'false',
    RATE_LIMIT_IP_PER_MINUTE: '1000000',
  });
  db = testDb();
  owner = new Client({ connectionString: process.env['DATABASE_URL'] });
  await owner.connect();
  // Workers of the reference pack were seen before (they scale to zero between tests).
  await db.modelPacks.remember([
    {
      name: 'reference',
      version: '1.0.0',
      capabilities: { identity: true, motion: true, maxSide: 512 },
      fps: 23,
      maxFramesPerClip: 33,
    },
  ]);
  // Renders other test files left unfinished in the shared database must not hold slots here
  // (the admitter counts every tenant's; render specs assume they are the only dispatcher).
  await owner.query(
    `UPDATE renders SET status = 'CANCELED', finished_at = now() WHERE status IN ('QUEUED', 'RUNNING', 'ENCODING')`,
  );
});

afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await gateway?.close();
  await db?.close();
  await owner?.end();
});

const redisUrl = (): string => process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

async function sim(
  options: Partial<Parameters<typeof startRenderWorkerSim>[0]> = {},
): Promise<RenderWorkerSim> {
  const started = await startRenderWorkerSim({
    redisUrl: redisUrl(),
    prefix: gateway.redisPrefix,
    ...options,
  });
  sims.push(started);
  gateway.app.get(WorkerRegistryService).refresh(); // visible now, not within a second
  return started;
}

async function tenant(plan: string, audioSeconds = 1) {
  const t = await newTenantWithKey(db, { plan, scopes: ['renders:read', 'renders:write'] });
  return {
    ...t,
    avatarId: await readyAvatar(db, t.tenantId),
    audioId: await audioAsset(db, t.tenantId, audioSeconds),
  };
}

type Tenant = Awaited<ReturnType<typeof tenant>>;

async function create(t: Tenant, extra: Record<string, unknown> = {}): Promise<{ id: string }> {
  const res = await gql(gateway.app, {
    token: t.secret,
    query: 'mutation($input: RenderInput!) { createRender(input: $input) { id status } }',
    variables: { input: { avatarId: t.avatarId, audioAssetId: t.audioId, ...extra } },
  });
  if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
  return res.body.data?.['createRender'] as { id: string };
}

/** Started, then succeeded at once: a worker as fast as the gateway lets it be. */
async function quick(sim: SimJob): Promise<void> {
  await sim.emit({ type: 'render.started', resumedFromClip: 0, clips: 1 });
  await sim.emit({
    type: 'render.succeeded',
    output: {
      storageKey: `${sim.job.mediaPrefix ?? ''}out.mp4`,
      posterKey: `${sim.job.mediaPrefix ?? ''}poster.jpg`,
      mime: 'video/mp4',
      bytes: 10,
      sha256: 'c'.repeat(64),
      durationSeconds: 1,
      width: 512,
      height: 512,
      fps: 23,
      frames: 23,
    },
    seed: sim.job.seed,
    identityScore: 0.9,
    modelSeconds: 0.1,
  });
}

async function statusCounts(tenantIds: string[]): Promise<Map<string, number>> {
  const rows = await owner.query<{ status: string; n: string }>(
    'SELECT status, count(*) AS n FROM renders WHERE tenant_id = ANY($1) GROUP BY status',
    [tenantIds],
  );
  return new Map(rows.rows.map((r) => [r.status, Number(r.n)]));
}

async function until(check: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('fair dispatch', () => {
  it('starts every render of four small tenants before the 60th of a tenant that queued 200 first', async () => {
    const a = await tenant('pro');
    const small = await Promise.all(['b', 'c', 'd', 'e'].map(() => tenant('pro')));
    const began = Date.now();
    for (let i = 0; i < 200; i += 20) {
      await Promise.all(Array.from({ length: 20 }, () => create(a)));
    }
    for (let i = 0; i < 10; i++) await Promise.all(small.map((t) => create(t)));
    const submitted = Date.now() - began;

    const pool = await sim({ concurrency: 2, script: quick });
    const smallIds = small.map((t) => t.tenantId);
    await until(
      async () => (await statusCounts(smallIds)).get('SUCCEEDED') === 40,
      240_000,
      'the small tenants’ 40 renders',
    );
    const order = pool.started.map((job) => job.tenantId);
    const aStarts = order.flatMap((id, i) => (id === a.tenantId ? [i] : []));
    const lastSmall = Math.max(...order.flatMap((id, i) => (smallIds.includes(id) ? [i] : [])));
    console.log(
      `fairness: 240 renders submitted in ${submitted} ms; the small tenants' last start was start #${lastSmall + 1}, after ${aStarts.filter((i) => i < lastSmall).length} of A's; 40 small renders done in ${Date.now() - began - submitted} ms`,
    );
    expect(aStarts.length).toBeGreaterThanOrEqual(1);
    expect(lastSmall).toBeLessThan(aStarts[59] ?? Number.POSITIVE_INFINITY);
    // Not vacuous: A did get started meanwhile, and B–E never waited behind all of A.
    expect(aStarts.filter((i) => i < lastSmall).length).toBeLessThan(60);
    expect(aStarts.filter((i) => i < lastSmall).length).toBeGreaterThan(0);

    await sims.splice(0).reduce((p, s) => p.then(() => s.close()), Promise.resolve());
    await owner.query(
      `UPDATE renders SET status = 'CANCELED', finished_at = now() WHERE tenant_id = $1 AND status IN ('QUEUED', 'RUNNING', 'ENCODING')`,
      [a.tenantId],
    );
    const queue = new Queue(QueueName.Render, {
      connection: { url: redisUrl() },
      prefix: gateway.redisPrefix,
    });
    await queue.drain(true);
    await queue.close();
  }, 300_000);

  it('keeps a tenant within its plan’s concurrency even when workers are idle', async () => {
    const t = await tenant('starter'); // 2 at a time
    let running = 0;
    let most = 0;
    await sim({
      concurrency: 6,
      script: async (job) => {
        if (job.job.tenantId !== t.tenantId) return quick(job);
        running++;
        most = Math.max(most, running);
        // Long enough that a second render of the tenant surely overlaps.
        await new Promise((r) => setTimeout(r, 2000));
        running--;
        await quick(job);
      },
    });
    const ids = (await Promise.all(Array.from({ length: 5 }, () => create(t)))).map((r) => r.id);
    for (const id of ids) {
      await waitForRender(gateway.app, t.secret, id, (r) => r.status === 'SUCCEEDED', 60_000);
    }
    expect(most).toBe(2);
  }, 120_000);

  it('admits a tenant’s renders by priority, then age', async () => {
    const t = await tenant('free'); // 1 at a time
    const first = await create(t); // admitted at once
    const normal = await create(t);
    const urgent = await create(t, { priority: 5 });
    const later = await create(t, { priority: -5 });
    const pool = await sim({ script: quick });
    await waitForRender(gateway.app, t.secret, later.id, (r) => r.status === 'SUCCEEDED', 60_000);
    expect(pool.started.filter((j) => j.tenantId === t.tenantId).map((j) => j.renderId)).toEqual([
      first.id,
      urgent.id,
      normal.id,
      later.id,
    ]);
  }, 120_000);
});

/** The snapshot the render's first event (`render.queued`) recorded: the render as created. */
async function queuedSnapshot(renderId: string): Promise<Record<string, unknown>> {
  const { rows } = await owner.query<{ type: string; payload: Record<string, unknown> }>(
    'SELECT type, payload FROM render_events WHERE render_id = $1 AND sequence = 1',
    [renderId],
  );
  expect(rows[0]?.type).toBe('render.queued');
  return rows[0]?.payload ?? {};
}

async function admittedAt(renderId: string): Promise<Date | null> {
  const { rows } = await owner.query<{ admitted_at: Date | null }>(
    'SELECT admitted_at FROM renders WHERE id = $1',
    [renderId],
  );
  return rows[0]?.admitted_at ?? null;
}

/** A sim script that holds each render RUNNING until `release()`. */
function holding(): { script: (job: SimJob) => Promise<void>; release(): void } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  return {
    script: async (job) => {
      await job.emit({ type: 'render.started', resumedFromClip: 0, clips: 1 });
      await released;
      await quick(job);
    },
    release: () => release(),
  };
}

describe('admission at creation', () => {
  it('admits a render in its creating transaction when nothing waits and there is room', async () => {
    const t = await tenant('pro');
    const pool = await sim({ script: quick });
    await gateway.app.get(RenderDispatcher).idle(); // no pass holds the admitter's lock
    const { id } = await create(t);
    // Recorded in the same transaction as the row: a pass could only have admitted it later.
    const snapshot = await queuedSnapshot(id);
    expect(snapshot['admittedAt']).toEqual(expect.any(String));
    expect(snapshot['attempts']).toBe(1);
    await waitForRender(gateway.app, t.secret, id, (r) => r.status === 'SUCCEEDED', 30_000);
    const job = pool.started.find((j) => j.renderId === id);
    expect(job && renderJobId(job.renderId, job.attempt)).toBe(renderJobId(id, 1));
    expect(job?.audioStorageKey).toMatch(/^tenants\//);
    expect(job?.imageStorageKey).toMatch(/^tenants\//);
    // One sequence of events from 1, no gaps, one queued event.
    const { rows } = await owner.query<{ sequence: number; type: string }>(
      'SELECT sequence, type FROM render_events WHERE render_id = $1 ORDER BY sequence',
      [id],
    );
    expect(rows.map((r) => r.sequence)).toEqual(rows.map((_, i) => i + 1));
    expect(rows.filter((r) => r.type === 'render.queued')).toHaveLength(1);
    expect(rows[rows.length - 1]?.type).toBe('render.succeeded');
  }, 60_000);

  it('leaves the render to a pass while another tenant’s render waits', async () => {
    const hold = holding();
    await sim({ concurrency: 4, script: hold.script });
    const f = await tenant('free'); // 1 at a time
    await gateway.app.get(RenderDispatcher).idle();
    const first = await create(f);
    const second = await create(f); // waits: the plan's concurrency
    expect((await queuedSnapshot(first.id))['admittedAt']).toEqual(expect.any(String));
    expect((await queuedSnapshot(second.id))['admittedAt']).toBeNull();

    const p = await tenant('pro');
    const other = await create(p);
    // Not admitted at creation (a render waits), yet the pass admits it past the waiting one.
    expect((await queuedSnapshot(other.id))['admittedAt']).toBeNull();
    await until(async () => (await admittedAt(other.id)) !== null, 10_000, 'the pass');
    expect(await admittedAt(second.id)).toBeNull();
    hold.release();
    await waitForRender(gateway.app, f.secret, second.id, (r) => r.status === 'SUCCEEDED', 30_000);
    await waitForRender(gateway.app, p.secret, other.id, (r) => r.status === 'SUCCEEDED', 30_000);
  }, 60_000);

  it('does not wait for the admitter’s lock: a render created while it is held is admitted by the pass’s retry', async () => {
    const t = await tenant('pro');
    await sim({ script: quick });
    const holder = new Client({ connectionString: process.env['DATABASE_URL'] });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(7310524105)');
      const { id } = await create(t); // would hang here if creation waited for the lock
      expect((await queuedSnapshot(id))['admittedAt']).toBeNull();
      expect(await admittedAt(id)).toBeNull();
      await new Promise((r) => setTimeout(r, 50));
      await holder.query('COMMIT');
      // No periodic pass in this file: the kick's pass, which met the lock, tried again.
      await waitForRender(gateway.app, t.secret, id, (r) => r.status === 'SUCCEEDED', 30_000);
    } finally {
      await holder.end();
    }
  }, 60_000);

  it('a pass with nothing waiting does not take the admitter’s lock', async () => {
    await owner.query(
      `UPDATE renders SET status = 'CANCELED', finished_at = now() WHERE status IN ('QUEUED', 'RUNNING', 'ENCODING')`,
    );
    const dispatcher = gateway.app.get(RenderDispatcher);
    await dispatcher.idle();
    const holder = new Client({ connectionString: process.env['DATABASE_URL'] });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(7310524105)');
      // Nothing waits: done without the lock (so it cannot keep a creation from admitting).
      expect(await dispatcher.pass()).toMatchObject({ idle: true, locked: true, admitted: 0 });
      // Something waits: the pass needs the lock, finds it held, and says so.
      const f = await tenant('free');
      await create(f);
      await create(f);
      expect(await dispatcher.pass()).toMatchObject({ locked: false, admitted: 0 });
      expect(await dispatcher.pass()).not.toHaveProperty('idle');
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
      await owner.query(
        `UPDATE renders SET status = 'CANCELED', finished_at = now() WHERE status IN ('QUEUED', 'RUNNING', 'ENCODING')`,
      );
    }
  }, 60_000);

  it('admits at creation only within the capacity and the tenant’s free slots', async () => {
    const t = await tenant('pro');
    const builds: unknown[] = [];
    const built = () => ({
      controls: {},
      seed: 1,
      modelPack: 'reference',
      modelPackVersion: '1.0.0',
      inputHash: 'h'.repeat(64),
      audioSeconds: 1,
      frames: 23,
    });
    const createQueued = (admit: Parameters<Db['renders']['createQueued']>[2]['admit']) =>
      db.renders.createQueued(
        t.tenantId,
        { avatarId: t.avatarId, audioAssetId: t.audioId },
        {
          monthStart: new Date(Date.UTC(2000, 0, 1)),
          build: (found) => {
            builds.push(found);
            return built();
          },
          guard: () => ({ billedSeconds: 1, quotedCents: 1 }),
          ...(admit ? { admit } : {}),
        },
      );
    // Each case alone: a render left waiting (of any tenant) would keep it from admission anyway.
    await owner.query(
      `UPDATE renders SET status = 'CANCELED', finished_at = now() WHERE status IN ('QUEUED', 'RUNNING', 'ENCODING')`,
    );
    const clear = () =>
      owner.query(
        `UPDATE renders SET status = 'CANCELED', finished_at = now() WHERE tenant_id = $1 AND status IN ('QUEUED', 'RUNNING', 'ENCODING')`,
        [t.tenantId],
      );
    const seen: unknown[] = [];
    const cases = [
      undefined,
      { capacity: 0, freeSlots: () => 5 },
      {
        capacity: 1000,
        freeSlots: (tenant: unknown) => {
          seen.push(tenant);
          return 0;
        },
      },
    ];
    for (const admit of cases) {
      const r = await createQueued(admit);
      // Without `admit`, at capacity, without a free slot: created waiting, no job to add.
      expect(r.created && r.dispatch).toBeNull();
      expect(r.created && r.render.admittedAt).toBeNull();
      await clear();
    }
    // build saw the tenant's avatar and audio asset as they are.
    expect(builds[0]).toEqual({
      avatar: { status: 'READY' },
      audio: { kind: 'AUDIO', probe: { durationSeconds: 1, sampleRate: 16000, channels: 1 } },
    });
    // A build that refuses writes nothing.
    const before = await statusCounts([t.tenantId]);
    await expect(
      db.renders.createQueued(
        t.tenantId,
        { avatarId: t.avatarId, audioAssetId: t.avatarId },
        {
          monthStart: new Date(),
          build: (found) => {
            throw new Error(`no audio: ${JSON.stringify(found.audio)}`);
          },
          guard: () => ({ billedSeconds: 1, quotedCents: 1 }),
        },
      ),
    ).rejects.toThrow('no audio: null');
    expect(await statusCounts([t.tenantId])).toEqual(before);
    // The slots were asked with the tenant's plan, status and renders in flight.
    expect(seen).toEqual([{ plan: 'pro', status: 'ACTIVE', inFlight: 0 }]);
    const roomy = await createQueued({ capacity: 1000, freeSlots: () => 1 });
    expect(roomy.created).toBe(true);
    if (!roomy.created) return;
    expect(roomy.render.admittedAt).toEqual(expect.any(Date));
    expect(roomy.render.attempts).toBe(1);
    expect(roomy.dispatch).toMatchObject({
      render: { id: roomy.render.id },
      avatarDeleted: false,
      imageStorageKey: expect.stringMatching(/^tenants\//),
      audioStorageKey: expect.stringMatching(/^tenants\//),
      faceBox: { x0: 100, y0: 80, x1: 300, y1: 330 },
    });
    await owner.query(`UPDATE renders SET status = 'CANCELED', finished_at = now() WHERE id = $1`, [
      roomy.render.id,
    ]);
  }, 60_000);
});

describe('reconciler', () => {
  it('adds a job again when Redis lost it, and the render then runs', async () => {
    const t = await tenant('starter');
    const render = await create(t);
    const queue = new Queue(QueueName.Render, {
      connection: { url: redisUrl() },
      prefix: gateway.redisPrefix,
    });
    try {
      await until(
        async () => (await queue.getJob(renderJobId(render.id, 1))) !== undefined,
        10_000,
        'the job',
      );
      // Redis restarted empty: every key of the render queue is gone.
      await deleteRedisPrefix(redisUrl(), `${gateway.redisPrefix}:${QueueName.Render}`);
      expect(await queue.getJob(renderJobId(render.id, 1))).toBeUndefined();
      const report = await gateway.app.get(RenderReconciler).reconcile();
      expect(report).toMatchObject({ ran: true });
      expect(report.readded).toBeGreaterThanOrEqual(1);
      expect(await queue.getJobState(renderJobId(render.id, 1))).toBe('waiting');
    } finally {
      await queue.close();
    }
    await sim({ script: quick });
    const done = await waitForRender(
      gateway.app,
      t.secret,
      render.id,
      (r) => r.status === 'SUCCEEDED',
    );
    expect(done.attempts).toBe(1);
  });

  it('fails a render past its deadline, for free, and drops its job', async () => {
    const t = await tenant('starter');
    const render = await create(t);
    const queue = new Queue(QueueName.Render, {
      connection: { url: redisUrl() },
      prefix: gateway.redisPrefix,
    });
    await until(
      async () => (await queue.getJob(renderJobId(render.id, 1))) !== undefined,
      10_000,
      'the job',
    );
    await owner.query(
      `UPDATE renders SET deadline_at = now() - interval '1 second' WHERE id = $1`,
      [render.id],
    );
    const report = await gateway.app.get(RenderReconciler).reconcile();
    expect(report.failed).toBeGreaterThanOrEqual(1);
    const failed = await waitForRender(
      gateway.app,
      t.secret,
      render.id,
      (r) => r.status === 'FAILED',
    );
    expect(failed).toMatchObject({
      error: { code: 'DEADLINE_EXCEEDED', ourFault: true },
      cost: { amountCents: 0 },
    });
    expect(await queue.getJob(renderJobId(render.id, 1))).toBeUndefined();
    await queue.close();
  });

  it('runs a render again when its worker died mid-render and no worker noticed', async () => {
    const t = await tenant('starter');
    // A worker that starts the render and then dies: no heartbeat, no lock renewal.
    const ghost = await startFakeWorker(redisUrl(), gateway.redisPrefix, { workerId: 'ghost-1' });
    let took: () => void = () => undefined;
    const taken = new Promise<void>((resolve) => (took = resolve));
    const doomed = new Worker(
      QueueName.Render,
      async (job) => {
        await ghost.startRun().emit({
          type: 'render.started',
          tenantId: job.data.tenantId,
          renderId: job.data.renderId,
          attempt: job.data.attempt,
          resumedFromClip: 0,
          clips: 1,
        });
        took();
        await new Promise(() => undefined); // hangs until the process "dies"
      },
      {
        connection: { url: redisUrl(), maxRetriesPerRequest: null },
        prefix: gateway.redisPrefix,
        lockDuration: 1000,
        name: 'ghost-1',
      },
    );
    doomed.on('error', () => undefined);
    const render = await create(t);
    await taken;
    await waitForRender(gateway.app, t.secret, render.id, (r) => r.status === 'RUNNING');
    await doomed.close(true);
    await ghost.close();
    await new Promise((r) => setTimeout(r, 2500)); // its lock and "last event" age past 1 s
    const report = await gateway.app.get(RenderReconciler).reconcile();
    expect(report.requeued).toBeGreaterThanOrEqual(1);
    await sim({ script: quick });
    const done = await waitForRender(
      gateway.app,
      t.secret,
      render.id,
      (r) => r.status === 'SUCCEEDED',
    );
    expect(done.attempts).toBe(2);
    const events = await db.renders.listEvents(t.tenantId, render.id);
    expect(events.map((e) => e.type)).toEqual([
      'render.queued',
      'render.started',
      'render.requeued',
      'render.started',
      'render.succeeded',
    ]);
    expect((await db.renders.findById(t.tenantId, render.id))?.attempts).toBe(2);
  });

  it('runs a render again when its job failed without a word from the worker', async () => {
    const t = await tenant('starter');
    const silent = new Worker(
      QueueName.Render,
      async () => {
        throw new UnrecoverableError('crashed before reporting');
      },
      { connection: { url: redisUrl(), maxRetriesPerRequest: null }, prefix: gateway.redisPrefix },
    );
    silent.on('error', () => undefined);
    const render = await create(t);
    const queue = new Queue(QueueName.Render, {
      connection: { url: redisUrl() },
      prefix: gateway.redisPrefix,
    });
    try {
      await until(
        async () => (await queue.getJobState(renderJobId(render.id, 1))) === 'failed',
        10_000,
        'the failed job',
      );
    } finally {
      await silent.close();
      await queue.close();
    }
    const reconciler = gateway.app.get(RenderReconciler);
    expect((await reconciler.reconcile()).requeued).toBe(0); // its report may still be on its way
    const later = new Date(Date.now() + 5 * 60_000);
    expect((await reconciler.reconcile(later)).requeued).toBeGreaterThanOrEqual(1);
    expect((await db.renders.listEvents(t.tenantId, render.id)).map((e) => e.type)).toEqual([
      'render.queued',
      'render.requeued',
    ]);
    await sim({ script: quick });
    await waitForRender(gateway.app, t.secret, render.id, (r) => r.status === 'SUCCEEDED');
  });
});
