// Renders through the real gateway (two replicas on real ports, one Postgres, one Redis) and a
// simulated worker pool that consumes the BullMQ render queue and reports contract-valid events.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { WorkerEvent } from '@likeness/contracts';
import type { Db } from '@likeness/db';
import { Readable } from 'node:stream';
import type { ObjectStorage } from '@likeness/storage';
import { Client } from 'pg';
import { OBJECT_STORAGE } from '../src/assets/object-storage.provider';
import { createGateway } from '../src/bootstrap';
import { loadConfig } from '../src/config/config';
import { WorkerEventsService, WorkerRegistryService } from '../src/workers';
import {
  deleteRedisPrefix,
  gql,
  newTenantWithKey,
  testDb,
  testEnv,
} from './support/gateway-harness';
import {
  RENDER_UPDATED,
  audioAsset,
  createRender,
  getRender,
  readyAvatar,
  subscribe,
  waitForRender,
  wsUrl,
  type RenderJson,
  type Subscriber,
} from './support/render-fixtures';
import { happyPath, startRenderWorkerSim, type RenderWorkerSim } from './support/render-worker-sim';

const env = testEnv({
  HOST: '127.0.0.1',
  RENDER_DISPATCH: 'true',
  RENDER_DISPATCH_INTERVAL_MS: '50',
  RENDER_RECONCILE_INTERVAL_MS: '500',
  WORKER_EVENTS_CLAIM_IDLE_MS: '500',
  WEBHOOK_WORKER: 'false',
  RATE_LIMIT_IP_PER_MINUTE: '100000',
});
const config = loadConfig(env);
const replicas: NestFastifyApplication[] = [];
const urls: string[] = [];
const subscribers: Subscriber[] = [];
const sims: RenderWorkerSim[] = [];
let db: Db;
let owner: Client;

beforeAll(async () => {
  db = testDb();
  owner = new Client({ connectionString: process.env['DATABASE_URL'] });
  await owner.connect();
  for (let i = 0; i < 2; i++) {
    // Replica 0 handles the worker events (in stream order per render, so each test knows
    // exactly which events are recorded); replica 1 serves subscribers and requests. Handling
    // by several replicas at once is covered by render-transitions.spec.ts (order-tolerant
    // decisions).
    const app = await createGateway(
      i === 0 ? config : loadConfig({ ...env, WORKER_EVENTS_CONSUME: 'false' }),
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    replicas.push(app);
    urls.push(wsUrl(await app.getUrl()));
  }
});

const tenants: { tenantId: string; secret: string }[] = [];

afterEach(async () => {
  // Nothing of one test keeps a worker of the next busy.
  for (const t of tenants.splice(0)) {
    const open = await owner.query<{ id: string }>(
      `SELECT id FROM renders WHERE tenant_id = $1 AND status IN ('QUEUED', 'RUNNING', 'ENCODING')`,
      [t.tenantId],
    );
    for (const r of open.rows) await cancel(t.secret, r.id);
  }
  await Promise.all(sims.splice(0).map((s) => s.close()));
  await Promise.all(subscribers.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  await Promise.all(replicas.map((a) => a.close()));
  await db?.close();
  await owner?.end();
  await deleteRedisPrefix(config.redisUrl, config.redisPrefix);
});

const app = (i = 0): NestFastifyApplication => replicas[i] as NestFastifyApplication;

async function sim(
  options: Partial<Parameters<typeof startRenderWorkerSim>[0]> = {},
): Promise<RenderWorkerSim> {
  const started = await startRenderWorkerSim({
    redisUrl: config.redisUrl,
    prefix: config.redisPrefix,
    ...options,
  });
  sims.push(started);
  // The registry reuses what it read for a second: make the new worker visible now.
  for (const replica of replicas) replica.get(WorkerRegistryService).refresh();
  return started;
}

async function tenant(plan = 'starter', extra: { spendCapCents?: number } = {}) {
  const t = await newTenantWithKey(db, { plan, scopes: ['renders:read', 'renders:write'] });
  if (extra.spendCapCents !== undefined) {
    await owner.query('UPDATE api_keys SET spend_cap_cents = $1 WHERE id = $2', [
      extra.spendCapCents,
      t.apiKeyId,
    ]);
  }
  tenants.push(t);
  const avatarId = await readyAvatar(db, t.tenantId);
  const audioId = await audioAsset(db, t.tenantId, 2);
  return { ...t, avatarId, audioId };
}

function created(res: Awaited<ReturnType<typeof createRender>>): RenderJson {
  if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
  return res.body.data?.['createRender'] as RenderJson;
}

async function drainEvents(): Promise<void> {
  await app().get(WorkerEventsService).drain(20_000);
}

describe('render lifecycle', () => {
  it('goes QUEUED → RUNNING → ENCODING → SUCCEEDED with every event in order on another replica, records output, score, cost and usage once', async () => {
    await sim();
    const t = await tenant('starter');
    await db.withTenant(
      t.tenantId,
      (tx) =>
        tx.$executeRaw`INSERT INTO webhook_endpoints (tenant_id, url, event_types, secret)
        VALUES (${t.tenantId}::uuid, 'https://example.test/hook',
                ARRAY['render.succeeded', 'render.updated'], 'enc')`,
    );
    const render = created(
      await createRender(app(0), t.secret, { avatarId: t.avatarId, audioAssetId: t.audioId }),
    );
    expect(render).toMatchObject({
      status: 'QUEUED',
      attempts: 0,
      quote: { amountCents: 20, currency: 'USD' }, // starter: 2 s × 10 cents
      cost: null,
      frames: 46,
      input: { prompt: 'A person is talking.', steps: 30, fps: 23, maxSide: 512, priority: 0 },
    });
    expect(render.seed).toEqual(expect.any(Number));
    // Subscribed on the other replica, from the start.
    const sub = subscribe(urls[1] as string, t.secret, RENDER_UPDATED, { id: render.id, after: 0 });
    subscribers.push(sub);
    await sub.completed;
    expect(sub.errors).toEqual([]);
    const types = sub.events.map((e) => e.type);
    expect(types).toEqual([
      'render.queued',
      'render.started',
      'render.progress',
      'render.progress',
      'render.progress',
      'render.encoding',
      'render.succeeded',
    ]);
    expect(sub.events.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(sub.events.map((e) => e.render.status)).toEqual([
      'QUEUED',
      'RUNNING',
      'RUNNING',
      'RUNNING',
      'RUNNING',
      'ENCODING',
      'SUCCEEDED',
    ]);
    expect(sub.events.map((e) => e.render.progress?.step ?? null)).toEqual([
      null,
      0,
      1,
      2,
      3,
      3,
      null,
    ]);

    const done = (await getRender(app(1), t.secret, render.id)) as RenderJson;
    expect(done).toMatchObject({
      status: 'SUCCEEDED',
      attempts: 1,
      identityScore: 0.93,
      cost: { amountCents: 20, currency: 'USD' },
      error: null,
      progress: null,
      queuePosition: null,
      avatar: { id: t.avatarId },
      output: { durationSeconds: 2, width: 512, height: 512, fps: 23, frames: 46, bytes: 123456 },
    });
    const output = done.output as { url: string; expiresAt: string; assetId: string };
    expect(output.url).toMatch(
      new RegExp(`/v1/assets/${output.assetId}/content\\?expires=\\d+&sig=[A-Za-z0-9_-]{43}$`),
    );
    expect(new Date(output.expiresAt).getTime()).toBeGreaterThan(Date.now());
    const asset = await db.assets.findById(t.tenantId, output.assetId);
    expect(asset).toMatchObject({
      kind: 'VIDEO',
      storageKey: `tenants/${t.tenantId}/renders/${render.id}/output.mp4`,
    });

    // The same success delivered again (at least once delivery) changes nothing.
    await drainEvents();
    const usage = await owner.query<{ quantity: string; unit: string }>(
      'SELECT quantity, unit FROM usage_events WHERE render_id = $1',
      [render.id],
    );
    expect(usage.rows).toEqual([{ quantity: '2.000000', unit: 'video_second' }]);
    const hooks = await owner.query<{ event_type: string }>(
      'SELECT event_type FROM webhook_deliveries WHERE tenant_id = $1 ORDER BY created_at, event_type',
      [t.tenantId],
    );
    expect(hooks.rows.map((r) => r.event_type)).toEqual([
      'render.updated',
      'render.updated',
      'render.succeeded',
    ]);
  });

  it('shows a render its worker requeued on shutdown as QUEUED (still admitted, same attempt) until the next run starts it; duplicates and stale events change nothing', async () => {
    const t = await tenant('starter');
    await db.withTenant(
      t.tenantId,
      (tx) =>
        tx.$executeRaw`INSERT INTO webhook_endpoints (tenant_id, url, event_types, secret)
        VALUES (${t.tenantId}::uuid, 'https://example.test/hook',
                ARRAY['render.succeeded', 'render.updated'], 'enc')`,
    );
    const runs = new Map<string, number>();
    let whileRequeued: RenderJson | undefined;
    const pool: { sim?: RenderWorkerSim } = {};
    const again = async (event: WorkerEvent | undefined): Promise<void> => {
      // The same event delivered once more (at least once delivery).
      await pool.sim?.fake.appendRaw({ event: JSON.stringify(event) });
    };
    pool.sim = await sim({
      script: async (job) => {
        if (job.job.tenantId !== t.tenantId) return happyPath()(job);
        const n = (runs.get(job.job.renderId) ?? 0) + 1;
        runs.set(job.job.renderId, n);
        const fake = pool.sim?.fake;
        const ofRun = (run: string) => (fake?.emitted ?? []).filter((e) => e.run === run);
        if (n === 1) {
          await job.emit({
            type: 'render.started',
            resumedFromClip: 0,
            clips: 2,
            packVersion: '1.0.0',
          });
          await job.emit({
            type: 'render.progress',
            phase: 'decoding',
            clip: 0,
            clips: 2,
            step: 3,
            totalSteps: 3,
            fraction: 0.4,
            etaSeconds: 3,
          });
          await job.emit({
            type: 'render.clip-finished',
            clip: 0,
            clips: 2,
            checkpointKey: `${job.job.mediaPrefix ?? ''}checkpoints/clip-00000.json`,
          });
          await job.emit({
            type: 'render.requeued',
            reason: 'worker-shutdown',
            resumableClips: 1,
            clips: 2,
          });
          await again(ofRun(job.run).at(-1));
          // The job stays active until the gateway applied the requeue (the worker's order).
          for (let k = 0; k < 400; k++) {
            const types = (await db.renders.listEvents(t.tenantId, job.job.renderId)).map(
              (e) => e.type,
            );
            if (types.includes('render.requeued')) break;
            await new Promise((r) => setTimeout(r, 50));
          }
          whileRequeued = (await getRender(app(1), t.secret, job.job.renderId)) ?? undefined;
          return job.requeue();
        }
        await job.emit({
          type: 'render.started',
          resumedFromClip: 1,
          clips: 2,
          packVersion: '1.0.0',
        });
        // The first run's requeue and start again, and a zombie progress of it (a newer seq).
        const [firstRun] = [...new Set((fake?.emitted ?? []).map((e) => e.run))];
        const old = ofRun(firstRun ?? '-');
        await again(old.at(-1));
        await again(old[0]);
        await again({ ...(old[1] as WorkerEvent), seq: 99 } as WorkerEvent);
        await job.emit({
          type: 'render.progress',
          phase: 'encoding',
          clip: 1,
          clips: 2,
          step: 3,
          totalSteps: 3,
          fraction: 0.95,
          etaSeconds: 0,
        });
        await job.emit({
          type: 'render.succeeded',
          output: {
            storageKey: `${job.job.mediaPrefix ?? ''}output.mp4`,
            posterKey: `${job.job.mediaPrefix ?? ''}poster.jpg`,
            mime: 'video/mp4',
            bytes: 1000,
            sha256: 'c'.repeat(64),
            durationSeconds: 2,
            width: 512,
            height: 512,
            fps: 23,
            frames: 46,
          },
          seed: job.job.seed,
          identityScore: 0.9,
          modelSeconds: 1,
          packVersion: '1.0.0',
        });
      },
    });
    const render = created(
      await createRender(app(0), t.secret, { avatarId: t.avatarId, audioAssetId: t.audioId }),
    );
    const sub = subscribe(urls[1] as string, t.secret, RENDER_UPDATED, { id: render.id, after: 0 });
    subscribers.push(sub);
    await sub.completed;
    expect(sub.errors).toEqual([]);
    expect(sub.events.map((e) => [e.type, e.render.status])).toEqual([
      ['render.queued', 'QUEUED'],
      ['render.started', 'RUNNING'],
      ['render.progress', 'RUNNING'],
      ['render.clip-finished', 'RUNNING'],
      ['render.requeued', 'QUEUED'],
      ['render.started', 'RUNNING'],
      ['render.encoding', 'ENCODING'],
      ['render.succeeded', 'SUCCEEDED'],
    ]);
    // After clip 0: clip 1 from its first phase, not "decoding, step 3" of the clip before.
    expect(sub.events[3]?.render.progress).toEqual({ phase: 'DENOISING', step: 0 });
    expect(sub.events[4]?.render.progress).toBeNull();
    expect(whileRequeued).toMatchObject({ status: 'QUEUED', attempts: 1, progress: null });

    // One admission throughout: the same job (attempt 1) ran twice, told the validated version.
    const pool0 = pool.sim;
    const jobs = (pool0?.started ?? []).filter((j) => j.renderId === render.id);
    expect(jobs.map((j) => [j.attempt, j.modelPackVersion])).toEqual([
      [1, '1.0.0'],
      [1, '1.0.0'],
    ]);
    const done = (await getRender(app(1), t.secret, render.id)) as RenderJson;
    // `attempts` counts worker runs: two, of one admission.
    expect(done).toMatchObject({ status: 'SUCCEEDED', attempts: 2, modelPackVersion: '1.0.0' });
    const asset = await db.assets.findById(
      t.tenantId,
      (done.output as { assetId: string }).assetId,
    );
    expect(asset?.probe).toMatchObject({ modelPackVersion: '1.0.0' });
    const stored = await db.renders.listEvents(t.tenantId, render.id);
    expect(stored.map((e) => e.type)).toEqual(sub.events.map((e) => e.type));
    const hooks = await owner.query<{ event_type: string }>(
      'SELECT event_type FROM webhook_deliveries WHERE tenant_id = $1 ORDER BY created_at, event_type',
      [t.tenantId],
    );
    // render.updated for started, requeued, started again and encoding.
    expect(hooks.rows.map((r) => r.event_type)).toEqual([
      'render.updated',
      'render.updated',
      'render.updated',
      'render.updated',
      'render.succeeded',
    ]);
  });

  it('replays exactly what a reconnecting subscriber missed (afterSequence), then goes live without gaps or duplicates', async () => {
    let release: () => void = () => undefined;
    const paused = new Promise<void>((resolve) => (release = resolve));
    await sim({
      script: async (job) => {
        await job.emit({ type: 'render.started', resumedFromClip: 0, clips: 2 });
        for (let step = 1; step <= 40; step++) {
          if (step === 5) await paused;
          await job.emit({
            type: 'render.progress',
            phase: 'denoising',
            clip: step > 20 ? 1 : 0,
            clips: 2,
            step: step > 20 ? step - 20 : step,
            totalSteps: 20,
            fraction: step / 41,
            etaSeconds: 40 - step,
          });
        }
        await happyPath({ steps: 0 })(job);
      },
    });
    const t = await tenant('starter');
    const render = created(
      await createRender(app(0), t.secret, { avatarId: t.avatarId, audioAssetId: t.audioId }),
    );
    const first = subscribe(urls[0] as string, t.secret, RENDER_UPDATED, {
      id: render.id,
      after: 0,
    });
    await first.waitFor((events) => events.length >= 6); // queued, started, steps 1–4
    await first.close();
    const seen = first.events.map((e) => e.sequence);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);

    release(); // the worker goes on while nobody listens …
    await new Promise((r) => setTimeout(r, 30));
    // … and the subscriber comes back on the other replica while events keep coming.
    const second = subscribe(urls[1] as string, t.secret, RENDER_UPDATED, {
      id: render.id,
      after: 6,
    });
    subscribers.push(second);
    await second.completed;
    const resumed = second.events.map((e) => e.sequence);
    const total = resumed[resumed.length - 1] as number;
    expect(resumed).toEqual(Array.from({ length: total - 6 }, (_, i) => i + 7));
    expect(second.events.at(-1)?.type).toBe('render.succeeded');
    const stored = await db.renders.listEvents(t.tenantId, render.id);
    expect(stored.map((e) => e.sequence)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  });

  it('serves the latest preview frame of a running render through a signed link', async () => {
    const t = await tenant('starter');
    await sim({
      script: async (job) => {
        if (job.job.tenantId !== t.tenantId) return happyPath()(job);
        await job.emit({ type: 'render.started', resumedFromClip: 0, clips: 1 });
        await job.emit({
          type: 'render.progress',
          phase: 'denoising',
          clip: 0,
          clips: 1,
          step: 1,
          totalSteps: 2,
          fraction: 0.5,
          etaSeconds: 1,
          previewKey: `${job.job.mediaPrefix ?? ''}preview-1.jpg`,
        });
        while (!job.signal.aborted) await new Promise((r) => setTimeout(r, 20));
        await job.emit({ type: 'render.canceled' });
      },
    });
    const render = created(
      await createRender(app(0), t.secret, { avatarId: t.avatarId, audioAssetId: t.audioId }),
    );
    const storage = app(0).get<ObjectStorage>(OBJECT_STORAGE);
    const key = `tenants/${t.tenantId}/renders/${render.id}/preview-1.jpg`;
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);
    await storage.put(key, Readable.from([jpeg]));
    try {
      const running = await waitForRender(
        app(1),
        t.secret,
        render.id,
        (r) => (r.progress as { preview: unknown } | null)?.preview != null,
      );
      const preview = (running.progress as { preview: { url: string; expiresAt: string } }).preview;
      const url = new URL(preview.url);
      expect(url.pathname).toBe(`/v1/renders/${render.id}/preview`);
      const ok = await app(1).inject({ method: 'GET', url: url.pathname + url.search });
      expect(ok.statusCode).toBe(200);
      expect(ok.headers['content-type']).toBe('image/jpeg');
      expect(ok.rawPayload.equals(jpeg)).toBe(true);
      const forged = url.search.replace(/sig=([A-Za-z0-9_-])/, (_m, c: string) =>
        c === 'A' ? 'sig=B' : 'sig=A',
      );
      expect((await app(1).inject({ method: 'GET', url: url.pathname + forged })).statusCode).toBe(
        403,
      );
      // A preview's signature opens nothing else.
      const asAsset = `/v1/assets/${render.id}/content${url.search}`;
      expect((await app(1).inject({ method: 'GET', url: asAsset })).statusCode).toBe(403);
    } finally {
      await storage.delete(key);
    }
  });

  it('starts a subscriber without afterSequence at the latest event', async () => {
    const t = await tenant('starter');
    const render = created(
      await createRender(app(0), t.secret, { avatarId: t.avatarId, audioAssetId: t.audioId }),
    );
    const sub = subscribe(urls[0] as string, t.secret, RENDER_UPDATED, { id: render.id });
    subscribers.push(sub);
    await sub.waitFor((events) => events.length >= 1);
    expect(sub.events[0]).toMatchObject({ sequence: 1, type: 'render.queued' });
    await cancel(t.secret, render.id);
    await sub.completed;
    expect(sub.events.map((e) => [e.sequence, e.type])).toEqual([
      [1, 'render.queued'],
      [2, 'render.canceled'],
    ]);
  });

  it('delivers rendersUpdated for the tenant’s renders only', async () => {
    const a = await tenant('starter');
    const b = await tenant('starter');
    const sub = subscribe(
      urls[1] as string,
      a.secret,
      'subscription { rendersUpdated { sequence type render { id status } } }',
    );
    subscribers.push(sub);
    await new Promise((r) => setTimeout(r, 200)); // the subscription is live a moment later
    const ra = created(
      await createRender(app(0), a.secret, { avatarId: a.avatarId, audioAssetId: a.audioId }),
    );
    const rb = created(
      await createRender(app(0), b.secret, { avatarId: b.avatarId, audioAssetId: b.audioId }),
    );
    await cancel(a.secret, ra.id);
    await cancel(b.secret, rb.id);
    await sub.waitFor((events) => events.some((e) => e.type === 'render.canceled'));
    await new Promise((r) => setTimeout(r, 200));
    expect(sub.events.map((e) => [e.render.id, e.sequence, e.type])).toEqual([
      [ra.id, 1, 'render.queued'],
      [ra.id, 2, 'render.canceled'],
    ]);
  });
});

async function cancel(token: string, id: string, i = 0) {
  const res = await gql(app(i), {
    token,
    query: `mutation($id: ID!) { cancelRender(id: $id) { id status cancelRequestedAt cost { amountCents } } }`,
    variables: { id },
  });
  return res;
}

describe('idempotency', () => {
  it('returns the same render for the same key and input, also to parallel requests', async () => {
    const t = await tenant('starter');
    const input = { avatarId: t.avatarId, audioAssetId: t.audioId, steps: 12 };
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => createRender(app(i % 2), t.secret, input, 'order-17')),
    );
    const ids = new Set(answers.map((a) => created(a).id));
    expect(ids.size).toBe(1);
    const again = created(await createRender(app(0), t.secret, input, 'order-17'));
    expect(again.id).toBe([...ids][0]);
    expect(again.seed).toBe(created(answers[0] as (typeof answers)[number]).seed);
    const rows = await owner.query('SELECT id FROM renders WHERE tenant_id = $1', [t.tenantId]);
    expect(rows.rowCount).toBe(1);
  });

  it('is CONFLICT for the same key with another input; other keys are independent', async () => {
    const t = await tenant('starter');
    const input = { avatarId: t.avatarId, audioAssetId: t.audioId };
    created(await createRender(app(0), t.secret, input, 'k-1'));
    const conflict = await createRender(app(0), t.secret, { ...input, steps: 10 }, 'k-1');
    expect(conflict.body.errors?.[0]?.extensions).toMatchObject({
      code: 'CONFLICT',
      field: 'idempotencyKey',
    });
    const other = created(await createRender(app(0), t.secret, input, 'k-2'));
    expect(other.id).not.toBe(undefined);
  });
});

describe('quotas', () => {
  it('never lets parallel creates exceed the monthly video seconds (free: 60 s)', async () => {
    const t = await tenant('free');
    const audio10 = await audioAsset(db, t.tenantId, 10);
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        createRender(app(i % 2), t.secret, { avatarId: t.avatarId, audioAssetId: audio10 }),
      ),
    );
    const ok = answers.filter((a) => !a.body.errors);
    const refused = answers.filter((a) => a.body.errors);
    expect(ok).toHaveLength(6);
    expect(refused).toHaveLength(6);
    for (const r of refused) {
      expect(r.status).toBe(402);
      expect(r.body.errors?.[0]?.extensions).toMatchObject({
        code: 'QUOTA_EXCEEDED',
        reason: 'monthlyVideoSeconds',
      });
    }
    const sum = await owner.query<{ s: string }>(
      'SELECT sum(billed_seconds)::text AS s FROM renders WHERE tenant_id = $1',
      [t.tenantId],
    );
    expect(sum.rows[0]?.s).toBe('60');
    // A cancelled render gives its seconds back.
    const first = ok[0]?.body.data?.['createRender'] as RenderJson;
    await cancel(t.secret, first.id);
    created(await createRender(app(0), t.secret, { avatarId: t.avatarId, audioAssetId: audio10 }));
  });

  it('refuses audio longer than the plan allows per render, naming the field', async () => {
    const t = await tenant('free');
    const long = await audioAsset(db, t.tenantId, 16);
    const res = await createRender(app(0), t.secret, { avatarId: t.avatarId, audioAssetId: long });
    expect(res.body.errors?.[0]?.extensions).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      field: 'audioAssetId',
      reason: 'maxAudioSeconds',
    });
  });

  it('keeps an API key within its spend cap under parallel creates', async () => {
    const t = await tenant('starter', { spendCapCents: 50 }); // 2 s renders cost 20 cents
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        createRender(app(0), t.secret, { avatarId: t.avatarId, audioAssetId: t.audioId }),
      ),
    );
    expect(answers.filter((a) => !a.body.errors)).toHaveLength(2);
    for (const r of answers.filter((a) => a.body.errors)) {
      expect(r.body.errors?.[0]?.extensions).toMatchObject({ code: 'SPEND_CAP_EXCEEDED' });
    }
  });
});

describe('estimateRender', () => {
  const ESTIMATE = `query($input: RenderInput!) { estimateRender(input: $input) {
    modelPack fps frames videoSeconds billedSeconds price { amountCents currency }
    queuePosition etaSeconds allowed refusal { code limit field } workersAvailable } }`;

  it('prices a render and places it in the queue without creating anything', async () => {
    const t = await tenant('starter');
    const audio = await audioAsset(db, t.tenantId, 3.5);
    const res = await gql(app(0), {
      token: t.secret,
      query: ESTIMATE,
      variables: { input: { avatarId: t.avatarId, audioAssetId: audio } },
    });
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.['estimateRender']).toMatchObject({
      modelPack: 'reference',
      fps: 23,
      frames: 81, // ceil(3.5 × 23)
      videoSeconds: 81 / 23,
      billedSeconds: 4,
      price: { amountCents: 40, currency: 'USD' },
      allowed: true,
      refusal: null,
    });
    const estimate = res.body.data?.['estimateRender'] as { queuePosition: number };
    expect(estimate.queuePosition).toBeGreaterThanOrEqual(1);
    const rows = await owner.query('SELECT 1 FROM renders WHERE tenant_id = $1', [t.tenantId]);
    expect(rows.rowCount).toBe(0);
  });

  it('says when createRender would be refused, and validates like it', async () => {
    const t = await tenant('free');
    const long = await audioAsset(db, t.tenantId, 16);
    const refused = await gql(app(0), {
      token: t.secret,
      query: ESTIMATE,
      variables: { input: { avatarId: t.avatarId, audioAssetId: long } },
    });
    expect(refused.body.data?.['estimateRender']).toMatchObject({
      allowed: false,
      refusal: { code: 'QUOTA_EXCEEDED', limit: 'maxAudioSeconds', field: 'audioAssetId' },
    });
    const invalid = await gql(app(0), {
      token: t.secret,
      query: ESTIMATE,
      variables: { input: { avatarId: t.avatarId, audioAssetId: t.audioId, steps: 0 } },
    });
    expect(invalid.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'steps',
    });
  });
});

describe('cancelRender', () => {
  it('cancels a waiting render at once and for free; a second cancel returns it; others are untouched', async () => {
    const t = await tenant('starter');
    const render = created(
      await createRender(app(0), t.secret, { avatarId: t.avatarId, audioAssetId: t.audioId }),
    );
    const res = await cancel(t.secret, render.id, 1);
    expect(res.body.data?.['cancelRender']).toMatchObject({
      status: 'CANCELED',
      cost: { amountCents: 0 },
    });
    expect((await cancel(t.secret, render.id)).body.data?.['cancelRender']).toMatchObject({
      status: 'CANCELED',
    });
    const row = await db.renders.findById(t.tenantId, render.id);
    expect(row).toMatchObject({ billedSeconds: 0, costCents: 0 });
  });

  it('stops a running render between steps: cancel requested, then CANCELED when the worker confirms', async () => {
    const t = await tenant('starter');
    const slow = happyPath({ steps: 200, stepMs: 20 });
    const fast = happyPath();
    const pool = await sim({
      script: (job) => (job.job.tenantId === t.tenantId ? slow(job) : fast(job)),
    });
    const render = created(
      await createRender(app(0), t.secret, { avatarId: t.avatarId, audioAssetId: t.audioId }),
    );
    await waitForRender(app(0), t.secret, render.id, (r) => (r.progress?.['step'] as number) >= 2);
    const res = await cancel(t.secret, render.id, 1);
    expect(res.body.data?.['cancelRender']).toMatchObject({ status: 'RUNNING' });
    expect((res.body.data?.['cancelRender'] as RenderJson).cancelRequestedAt).not.toBeNull();
    const done = await waitForRender(app(0), t.secret, render.id, (r) => r.status !== 'RUNNING');
    expect(done).toMatchObject({ status: 'CANCELED', cost: { amountCents: 0 }, output: null });
    const events = await db.renders.listEvents(t.tenantId, render.id);
    const progress = events.filter((e) => e.type === 'render.progress').length;
    expect(progress).toBeLessThan(150); // it stopped long before its 200 steps
    expect(events.map((e) => e.type)).toContain('render.cancel-requested');
    expect(events.at(-1)?.type).toBe('render.canceled');
    expect(pool.started.map((j) => j.renderId)).toContain(render.id);
  });

  it('is CONFLICT for a finished render and NOT_FOUND for another tenant’s', async () => {
    await sim();
    const t = await tenant('starter');
    const other = await tenant('starter');
    const render = created(
      await createRender(app(0), t.secret, { avatarId: t.avatarId, audioAssetId: t.audioId }),
    );
    await waitForRender(app(0), t.secret, render.id, (r) => r.status === 'SUCCEEDED');
    expect((await cancel(t.secret, render.id)).body.errors?.[0]?.extensions).toMatchObject({
      code: 'CONFLICT',
    });
    expect((await cancel(other.secret, render.id)).body.errors?.[0]?.extensions).toMatchObject({
      code: 'NOT_FOUND',
    });
    expect(await getRender(app(0), other.secret, render.id)).toBeNull();
    const foreign = subscribe(urls[0] as string, other.secret, RENDER_UPDATED, { id: render.id });
    subscribers.push(foreign);
    await foreign.completed;
    expect(foreign.events).toEqual([]);
    expect(JSON.stringify(foreign.errors)).toContain('NOT_FOUND');
  });
});

describe('bad input', () => {
  it.each<[string, Record<string, unknown>, string, string]>([
    ['motion above 1', { motion: { expression: 1.5 } }, 'BAD_USER_INPUT', 'motion.expression'],
    ['motion below 0', { motion: { body: -0.1 } }, 'BAD_USER_INPUT', 'motion.body'],
    ['negative prompt guidance', { guidance: { prompt: -1 } }, 'BAD_USER_INPUT', 'guidance.prompt'],
    ['absurd audio guidance', { guidance: { audio: 25 } }, 'BAD_USER_INPUT', 'guidance.audio'],
    ['maxSide not a multiple of 16', { maxSide: 500 }, 'BAD_USER_INPUT', 'maxSide'],
    ['maxSide too small', { maxSide: 32 }, 'BAD_USER_INPUT', 'maxSide'],
    ['maxSide above the pack', { maxSide: 1024 }, 'UNSUPPORTED_BY_MODEL', 'maxSide'],
    ['no steps', { steps: 0 }, 'BAD_USER_INPUT', 'steps'],
    ['too many steps', { steps: 101 }, 'BAD_USER_INPUT', 'steps'],
    ['fps 0', { fps: 0 }, 'BAD_USER_INPUT', 'fps'],
    ['fps the pack cannot do', { fps: 30 }, 'UNSUPPORTED_BY_MODEL', 'fps'],
    ['negative seed', { seed: -1 }, 'BAD_USER_INPUT', 'seed'],
    ['unknown pack', { modelPack: 'nope' }, 'BAD_USER_INPUT', 'modelPack'],
    ['malformed pack name', { modelPack: 'Bad Name!' }, 'BAD_USER_INPUT', 'modelPack'],
    [
      'motion on a pack without it',
      { modelPack: 'still', motion: { expression: 0.5 } },
      'UNSUPPORTED_BY_MODEL',
      'motion',
    ],
    ['priority out of range', { priority: 11 }, 'BAD_USER_INPUT', 'priority'],
    ['prompt too long', { prompt: 'x'.repeat(2001) }, 'BAD_USER_INPUT', 'prompt'],
    ['avatar not a uuid', { avatarId: 'not-a-uuid' }, 'BAD_USER_INPUT', 'avatarId'],
    ['unknown avatar', { avatarId: randomUUID() }, 'BAD_USER_INPUT', 'avatarId'],
    ['unknown audio', { audioAssetId: randomUUID() }, 'BAD_USER_INPUT', 'audioAssetId'],
  ])('%s', async (_label, change, code, field) => {
    // A live worker with a pack without motion, so the capability checks have both kinds.
    await sim({ packs: [{ name: 'reference' }, { name: 'still', motion: false }] });
    const t = await tenant('starter');
    const res = await createRender(app(0), t.secret, {
      avatarId: t.avatarId,
      audioAssetId: t.audioId,
      ...change,
    });
    expect(res.body.errors?.[0]?.extensions).toMatchObject({ code, field });
    const rows = await owner.query('SELECT 1 FROM renders WHERE tenant_id = $1', [t.tenantId]);
    expect(rows.rowCount).toBe(0);
  });

  it('refuses avatars that are not READY, another tenant’s avatar and audio, non-audio assets and bad keys', async () => {
    const t = await tenant('starter');
    const other = await tenant('starter');
    const processing = await readyAvatar(db, t.tenantId, 'PROCESSING');
    const failed = await readyAvatar(db, t.tenantId, 'FAILED');
    const image = await audioAsset(db, t.tenantId, 0, 'IMAGE');
    const cases: [Record<string, unknown>, string | undefined, string][] = [
      [{ avatarId: processing }, undefined, 'avatarId'],
      [{ avatarId: failed }, undefined, 'avatarId'],
      [{ avatarId: other.avatarId }, undefined, 'avatarId'],
      [{ audioAssetId: other.audioId }, undefined, 'audioAssetId'],
      [{ audioAssetId: image }, undefined, 'audioAssetId'],
      [{}, '', 'idempotencyKey'],
      [{}, 'k'.repeat(256), 'idempotencyKey'],
    ];
    for (const [change, key, field] of cases) {
      const res = await createRender(
        app(0),
        t.secret,
        { avatarId: t.avatarId, audioAssetId: t.audioId, ...change },
        key,
      );
      expect({ field, extensions: res.body.errors?.[0]?.extensions }).toMatchObject({
        field,
        extensions: { code: 'BAD_USER_INPUT', field },
      });
    }
    const rows = await owner.query('SELECT 1 FROM renders WHERE tenant_id = $1', [t.tenantId]);
    expect(rows.rowCount).toBe(0);
  });

  it('accepts a pack whose workers scaled to zero (seen before) and queues the render', async () => {
    const pool = await sim({ packs: [{ name: 'sleepy', version: '2.0.0', maxSide: 256 }] });
    const t = await tenant('starter');
    // Seen while its worker was live …
    const first = created(
      await createRender(app(0), t.secret, {
        avatarId: t.avatarId,
        audioAssetId: t.audioId,
        modelPack: 'sleepy',
      }),
    );
    expect(first.input).toMatchObject({ modelPack: 'sleepy', maxSide: 256 });
    sims.splice(sims.indexOf(pool), 1);
    await pool.close();
    for (const replica of replicas) replica.get(WorkerRegistryService).refresh();
    await cancel(t.secret, first.id);
    // … and still accepted with no worker, validated against what it advertised.
    const res = await createRender(app(1), t.secret, {
      avatarId: t.avatarId,
      audioAssetId: t.audioId,
      modelPack: 'sleepy',
      maxSide: 512,
    });
    expect(res.body.errors?.[0]?.extensions).toMatchObject({
      code: 'UNSUPPORTED_BY_MODEL',
      field: 'maxSide',
    });
    const queued = created(
      await createRender(app(1), t.secret, {
        avatarId: t.avatarId,
        audioAssetId: t.audioId,
        modelPack: 'sleepy',
      }),
    );
    expect(queued).toMatchObject({ status: 'QUEUED', modelPackVersion: '2.0.0' });
  });
});

describe('listing', () => {
  it('pages the tenant’s renders newest first and filters by status', async () => {
    const t = await tenant('starter');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(
        created(
          await createRender(app(0), t.secret, { avatarId: t.avatarId, audioAssetId: t.audioId }),
        ).id,
      );
    }
    await cancel(t.secret, ids[1] as string);
    const LIST = `query($first: Int, $after: String, $status: RenderStatus) {
      renders(first: $first, after: $after, status: $status) {
        nodes { id status } pageInfo { hasNextPage endCursor } } }`;
    const page1 = await gql(app(0), { token: t.secret, query: LIST, variables: { first: 2 } });
    const p1 = page1.body.data?.['renders'] as {
      nodes: { id: string }[];
      pageInfo: { hasNextPage: boolean; endCursor: string };
    };
    expect(p1.nodes.map((n) => n.id)).toEqual([ids[2], ids[1]]);
    expect(p1.pageInfo.hasNextPage).toBe(true);
    const page2 = await gql(app(0), {
      token: t.secret,
      query: LIST,
      variables: { first: 2, after: p1.pageInfo.endCursor },
    });
    expect(
      (page2.body.data?.['renders'] as { nodes: { id: string }[] }).nodes.map((n) => n.id),
    ).toEqual([ids[0]]);
    const canceled = await gql(app(0), {
      token: t.secret,
      query: LIST,
      variables: { status: 'CANCELED' },
    });
    expect(
      (canceled.body.data?.['renders'] as { nodes: { id: string }[] }).nodes.map((n) => n.id),
    ).toEqual([ids[1]]);
  });
});
