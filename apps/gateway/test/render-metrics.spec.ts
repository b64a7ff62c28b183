// Render metrics (src/observability/render-metrics.ts) through the real gateway, Postgres, Redis
// and BullMQ: the queue-depth gauges follow renders from waiting to admitted to running to
// finished, the worker gauges follow advertisements, and finished renders land in the duration
// histograms by outcome. A pack name of this file's own keeps other renders out of the labels.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import type { Db } from '@likeness/db';
import { Client } from 'pg';
import { WorkerRegistryService } from '../src/workers';
import {
  gql,
  newTenantWithKey,
  sample,
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
let sim: RenderWorkerSim | undefined;
const pack = `metrics-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  gateway = await startGateway({
    RENDER_DISPATCH: 'true',
    RENDER_DISPATCH_INTERVAL_MS: '50',
    RENDER_RECONCILE_INTERVAL_MS: '0',
    WEBHOOK_WORKER: 'false',
    RATE_LIMIT_IP_PER_MINUTE: '1000000',
  });
  db = testDb();
  owner = new Client({ connectionString: process.env['DATABASE_URL'] });
  await owner.connect();
  // As in render-dispatch.spec: renders other files left unfinished must not hold the slots.
  await owner.query(
    `UPDATE renders SET status = 'CANCELED', finished_at = now() WHERE status IN ('QUEUED', 'RUNNING', 'ENCODING')`,
  );
});

afterAll(async () => {
  await sim?.close();
  await gateway?.close();
  await db?.close();
  await owner?.end();
});

async function scrape(): Promise<string> {
  const res = await gateway.app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  return res.body;
}

type Depth = Record<'waiting' | 'admitted' | 'running' | 'encoding', number>;

function depthOf(text: string): Depth {
  const of = (state: string) => sample(text, 'likeness_render_queue_depth', { state, pack });
  return {
    waiting: of('waiting'),
    admitted: of('admitted'),
    running: of('running'),
    encoding: of('encoding'),
  };
}

/** Scrapes until `until` holds for the exposition (or fails with the last one). */
async function scrapeUntil(until: (text: string) => boolean, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await scrape();
    if (until(text)) return text;
    if (Date.now() > deadline) {
      throw new Error(
        `metrics did not get there: depth ${JSON.stringify(depthOf(text))}\n${text
          .split('\n')
          .filter((l) => l.startsWith('likeness_render'))
          .join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const same = (a: Depth, b: Depth): boolean => JSON.stringify(a) === JSON.stringify(b);

it('follows renders through the queue, workers through their heartbeats, and times finished renders', async () => {
  const t = await newTenantWithKey(db, {
    plan: 'enterprise',
    scopes: ['renders:read', 'renders:write'],
  });
  const avatarId = await readyAvatar(db, t.tenantId);
  const audioAssetId = await audioAsset(db, t.tenantId, 1);
  const create = async (): Promise<string> => {
    const res = await gql(gateway.app, {
      token: t.secret,
      query: 'mutation($input: RenderInput!) { createRender(input: $input) { id } }',
      variables: { input: { avatarId, audioAssetId, modelPack: pack } },
    });
    if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
    return (res.body.data?.['createRender'] as { id: string }).id;
  };

  const before = await scrape();
  expect(sample(before, 'likeness_render_workers')).toBe(0);
  expect(sample(before, 'likeness_render_worker_capacity')).toBe(0);
  expect(sample(before, 'likeness_render_pack_workers', { pack })).toBe(0);

  // One worker of capacity 1 that holds each render RUNNING until released.
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  sim = await startRenderWorkerSim({
    redisUrl: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    prefix: gateway.redisPrefix,
    packs: [{ name: pack }],
    concurrency: 1,
    script: async (job: SimJob) => {
      await job.emit({ type: 'render.started', resumedFromClip: 0, clips: 1 });
      await released;
      await job.emit({
        type: 'render.succeeded',
        output: {
          storageKey: `${job.job.mediaPrefix ?? ''}out.mp4`,
          posterKey: `${job.job.mediaPrefix ?? ''}poster.jpg`,
          mime: 'video/mp4',
          bytes: 10,
          sha256: 'd'.repeat(64),
          durationSeconds: 1,
          width: 512,
          height: 512,
          fps: 23,
          frames: 23,
        },
        seed: job.job.seed,
        identityScore: 0.9,
        modelSeconds: 0.1,
      });
    },
  });
  gateway.app.get(WorkerRegistryService).refresh();
  const live = await scrapeUntil((text) => sample(text, 'likeness_render_workers') === 1);
  expect(sample(live, 'likeness_render_worker_capacity')).toBe(1);
  expect(sample(live, 'likeness_render_pack_workers', { pack })).toBe(1);
  expect(sample(live, 'likeness_render_pack_capacity', { pack })).toBe(1);

  // Capacity 1 + the default backlog of 2 in flight: one running, two admitted, one waiting.
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push(await create());
  const queued = await scrapeUntil((text) =>
    same(depthOf(text), { waiting: 1, admitted: 2, running: 1, encoding: 0 }),
  );
  const durationCount = (text: string, outcome: string, name = 'likeness_render_duration') =>
    sample(text, `${name}_seconds_count`, { outcome });
  expect(durationCount(queued, 'succeeded')).toBe(0);

  release();
  for (const id of ids) {
    await waitForRender(gateway.app, t.secret, id, (r) => r.status === 'SUCCEEDED');
  }
  const done = await scrapeUntil((text) =>
    same(depthOf(text), { waiting: 0, admitted: 0, running: 0, encoding: 0 }),
  );
  expect(durationCount(done, 'succeeded')).toBe(4);
  expect(durationCount(done, 'succeeded', 'likeness_render_run')).toBe(4);
  expect(
    sample(done, 'likeness_render_duration_seconds_sum', { outcome: 'succeeded' }),
  ).toBeGreaterThan(0);

  // The worker goes away: the pack is still reported, with nobody to run it.
  await sim.close();
  sim = undefined;
  gateway.app.get(WorkerRegistryService).refresh();
  const gone = await scrapeUntil((text) => sample(text, 'likeness_render_workers') === 0);
  expect(sample(gone, 'likeness_render_pack_capacity', { pack })).toBe(0);
  expect(gone).toContain(`likeness_render_pack_capacity{pack="${pack}"} 0`);

  // Admitted with no worker (the backlog), then cancelled before any start: counted as
  // canceled in the duration, not in the run time.
  const lonely = await create();
  await scrapeUntil((text) =>
    same(depthOf(text), { waiting: 0, admitted: 1, running: 0, encoding: 0 }),
  );
  const cancel = await gql(gateway.app, {
    token: t.secret,
    query: 'mutation($id: ID!) { cancelRender(id: $id) { status } }',
    variables: { id: lonely },
  });
  expect(cancel.body.data?.['cancelRender']).toEqual({ status: 'CANCELED' });
  const after = await scrapeUntil((text) =>
    same(depthOf(text), { waiting: 0, admitted: 0, running: 0, encoding: 0 }),
  );
  expect(durationCount(after, 'canceled')).toBe(1);
  expect(durationCount(after, 'canceled', 'likeness_render_run')).toBe(0);
  expect(durationCount(after, 'succeeded')).toBe(4);
});
