import { WorkerEventOf } from '@likeness/contracts';
import { Redis } from 'ioredis';
import { loadConfig, type AppConfig } from '../src/config/config';
import { MAX_DELIVERIES, WorkerEventsService } from '../src/workers';
import { startFakeWorker, type FakeWorker } from './support/fake-worker';
import {
  GQL_JSON,
  deleteRedisPrefix,
  newTenantWithKey,
  startGateway,
  testDb,
  testEnv,
  type TestGateway,
} from './support/gateway-harness';

const tenantId = '7d7c2a4e-9f57-4d5e-8d0c-1b6d3c2f9a10';
const renderId = '0b1e8f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b';

type Progress = WorkerEventOf<'render.progress'>;

function progress(step: number): Omit<Progress, 'v' | 'run' | 'seq' | 'at' | 'workerId'> {
  return {
    type: 'render.progress',
    tenantId,
    renderId,
    attempt: 1,
    phase: 'denoising',
    clip: 0,
    clips: 1,
    step,
    totalSteps: 50,
    fraction: step / 50,
    etaSeconds: 50 - step,
  };
}

describe('worker events consumer (real Redis)', () => {
  let config: AppConfig;
  let redis: Redis;
  let worker: FakeWorker;
  const services: WorkerEventsService[] = [];

  function consumer(claimIdleMs?: number): WorkerEventsService {
    const service = new WorkerEventsService(
      claimIdleMs === undefined
        ? config
        : { ...config, workerEvents: { ...config.workerEvents, claimIdleMs } },
    );
    services.push(service);
    return service;
  }

  beforeEach(async () => {
    config = loadConfig(testEnv({ WORKER_EVENTS_CLAIM_IDLE_MS: '150' }));
    redis = new Redis(config.redisUrl);
    worker = await startFakeWorker(config.redisUrl, config.redisPrefix);
  });

  afterEach(async () => {
    await Promise.all(services.splice(0).map((s) => s.onApplicationShutdown()));
    await worker.close();
    await redis.quit();
    await deleteRedisPrefix(config.redisUrl, config.redisPrefix);
  });

  it('hands every event to its handler in stream order, including events from before it started', async () => {
    const run = worker.startRun();
    await run.emit(progress(1)); // appended before any gateway consumed
    const service = consumer();
    const seen: [number, number, number][] = [];
    service.on('render.progress', async (event, delivery) => {
      seen.push([event.step, event.seq, delivery.deliveries]);
    });
    service.onApplicationBootstrap();
    await run.emit(progress(2));
    await run.emit(progress(3));
    await service.drain();
    expect(seen).toEqual([
      [1, 0, 1],
      [2, 1, 1],
      [3, 2, 1],
    ]);
  });

  it('retries a failing handler after the claim interval and acknowledges once it succeeds', async () => {
    const service = consumer();
    const deliveries: number[] = [];
    service.on('render.progress', async (_event, delivery) => {
      deliveries.push(delivery.deliveries);
      if (deliveries.length < 3) throw new Error('database unavailable');
    });
    service.onApplicationBootstrap();
    await worker.startRun().emit(progress(5));
    await service.drain();
    expect(deliveries).toEqual([1, 2, 3]);
  });

  it('dead-letters malformed events, events without a handler and events that keep failing', async () => {
    const service = consumer();
    let attempts = 0;
    service.on('render.progress', async () => {
      attempts++;
      throw new Error('always broken');
    });
    service.onApplicationBootstrap();
    await worker.appendRaw({ event: '{"type":"render.progress"' });
    await worker.appendRaw({ event: JSON.stringify({ type: 'render.progress', tenantId }) });
    await worker.startRun().emit({ type: 'render.canceled', tenantId, renderId, attempt: 1 });
    await worker.startRun().emit(progress(7));
    await service.drain(20_000);

    const dead = await redis.xrange(`${config.redisPrefix}:worker-events:dead`, '-', '+');
    const reasons = dead.map(([, fields]) => fields[fields.indexOf('reason') + 1] ?? '');
    expect(reasons).toEqual([
      expect.stringMatching(/^invalid event: .*JSON/),
      expect.stringMatching(/^invalid event: .*renderId/),
      'no handler for "render.canceled"',
      `handler failed ${MAX_DELIVERIES} times: always broken`,
    ]);
    expect(attempts).toBe(MAX_DELIVERIES);
  }, 30_000);

  it('shares events between replicas: each is handled exactly once', async () => {
    const handled: string[] = [];
    // A long claim interval: with 150 ms a loaded machine lets a batch's last entries sit idle
    // long enough for the other replica to claim them (at least once, not exactly once).
    for (const service of [consumer(10_000), consumer(10_000)]) {
      service.on('render.progress', async (event) => {
        handled.push(`${event.step}`);
        await new Promise((r) => setTimeout(r, 2));
      });
      service.onApplicationBootstrap();
    }
    const run = worker.startRun();
    for (let step = 0; step < 40; step++) await run.emit(progress(step));
    await services[0]?.drain();
    expect(handled.sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: 40 }, (_, i) => `${i}`),
    );
  });

  it('takes over an event whose replica stopped answering before acknowledging it', async () => {
    let release: () => void = () => undefined;
    const stuck = consumer();
    const stuckSeen: number[] = [];
    stuck.on('render.progress', (event) => {
      stuckSeen.push(event.step);
      return new Promise<void>((resolve) => (release = resolve)); // a replica hung mid-handler
    });
    stuck.onApplicationBootstrap();
    await worker.startRun().emit(progress(9));
    while (stuckSeen.length === 0) await new Promise((r) => setTimeout(r, 10));

    const healthy = consumer();
    const healthySeen: [number, number][] = [];
    healthy.on('render.progress', async (event, delivery) => {
      healthySeen.push([event.step, delivery.deliveries]);
    });
    healthy.onApplicationBootstrap();
    await healthy.drain();
    expect(healthySeen).toEqual([[9, 2]]);
    release();
  });

  it('recovers when the stream and its group vanish (Redis restarted empty)', async () => {
    const service = consumer();
    const seen: number[] = [];
    service.on('render.progress', async (event) => {
      seen.push(event.step);
    });
    service.onApplicationBootstrap();
    const run = worker.startRun();
    await run.emit(progress(1));
    await service.drain();
    await redis.del(`${config.redisPrefix}:worker-events`);
    await run.emit(progress(2));
    await service.drain();
    expect(seen).toEqual([1, 2]);
  });

  it('refuses two handlers for one event type', () => {
    const service = consumer();
    service.on('render.failed', async () => undefined);
    expect(() => service.on('render.failed', async () => undefined)).toThrow(/two handlers/);
  });
});

describe('modelPacks (real gateway)', () => {
  let gw: TestGateway;
  const workers: FakeWorker[] = [];
  let secret: string;

  beforeAll(async () => {
    gw = await startGateway({ WORKER_EVENTS_CONSUME: 'false' });
    const db = testDb();
    ({ secret } = await newTenantWithKey(db, { scopes: ['renders:read'] }));
    await db.close();
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
  });

  afterAll(async () => {
    await gw.close();
  });

  async function modelPacks(): Promise<unknown> {
    await new Promise((r) => setTimeout(r, 1100)); // past the registry's 1 s cache
    const res = await gw.app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { authorization: `Bearer ${secret}`, accept: GQL_JSON },
      payload: {
        query:
          '{ modelPacks { name version fps maxFramesPerClip workers providers capabilities { identity motion maxSide } } }',
      },
    });
    expect(res.statusCode).toBe(200);
    return (res.json() as { data: { modelPacks: unknown } }).data.modelPacks;
  }

  it('lists the packs live workers advertise, merged across workers, and forgets dead workers', async () => {
    expect(await modelPacks()).toEqual([]);
    const url = testEnv()['REDIS_URL'] ?? '';
    workers.push(
      await startFakeWorker(url, gw.redisPrefix, { provider: 'cpu' }),
      await startFakeWorker(url, gw.redisPrefix, {
        provider: 'cuda',
        packs: [
          { name: 'reference' },
          { name: 'fantasytalking', maxSide: 768, fps: 23, maxFramesPerClip: 81, motion: false },
        ],
        ttlMs: 2500,
      }),
    );
    expect(await modelPacks()).toEqual([
      {
        name: 'fantasytalking',
        version: '1.0.0',
        fps: 23,
        maxFramesPerClip: 81,
        workers: 1,
        providers: ['cuda'],
        capabilities: { identity: true, motion: false, maxSide: 768 },
      },
      {
        name: 'reference',
        version: '1.0.0',
        fps: 23,
        maxFramesPerClip: 33,
        workers: 2,
        providers: ['cpu', 'cuda'],
        capabilities: { identity: true, motion: true, maxSide: 512 },
      },
    ]);
    // The second worker's advertisement expires (it stopped renewing): only the first remains.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await modelPacks()).toEqual([
      expect.objectContaining({ name: 'reference', workers: 1, providers: ['cpu'] }),
    ]);
  });
});
