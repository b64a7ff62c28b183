import { WorkerEventOf } from '@likeness/contracts';
import { Redis } from 'ioredis';
import { loadConfig, type AppConfig } from '../src/config/config';
import {
  MAX_DELIVERIES,
  WORKER_EVENTS_CONCURRENCY,
  WORKER_EVENTS_GROUP,
  WorkerEventsService,
} from '../src/workers';
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
const otherRenderId = '5f2d9c1e-7a3b-4c8d-9e0f-1a2b3c4d5e6f';

type Progress = WorkerEventOf<'render.progress'>;

function progress(
  step: number,
  render = renderId,
): Omit<Progress, 'v' | 'run' | 'seq' | 'at' | 'workerId'> {
  return {
    type: 'render.progress',
    tenantId,
    renderId: render,
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

  it("keeps one render's events in order while another render's events go past a slow one", async () => {
    const service = consumer(10_000);
    const log: string[] = [];
    let releaseSlow: () => void = () => undefined;
    const slowReleased = new Promise<void>((resolve) => (releaseSlow = resolve));
    service.on('render.progress', async (event) => {
      const name = `${event.renderId === renderId ? 'a' : 'b'}${event.step}`;
      log.push(`start ${name}`);
      if (name === 'a1') {
        // Blocks render a until render b's events are all done (or gives up: then b waited).
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([slowReleased, new Promise((r) => (timer = setTimeout(r, 5000)))]);
        clearTimeout(timer);
      }
      log.push(`end ${name}`);
      if (name === 'b3') releaseSlow();
    });
    const a = worker.startRun();
    const b = worker.startRun();
    await a.emit(progress(1, renderId));
    await a.emit(progress(2, renderId));
    await b.emit(progress(1, otherRenderId));
    await b.emit(progress(2, otherRenderId));
    await b.emit(progress(3, otherRenderId));
    service.onApplicationBootstrap();
    await service.drain();

    // Render b's events were all handled while a1 was blocked, in their order.
    const endA1 = log.indexOf('end a1');
    expect(log.indexOf('start a1')).toBeLessThan(log.indexOf('start b1'));
    expect(log.indexOf('end b3')).toBeLessThan(endA1);
    expect(log.filter((l) => l.includes(' b'))).toEqual([
      'start b1',
      'end b1',
      'start b2',
      'end b2',
      'start b3',
      'end b3',
    ]);
    // Render a's second event waited for its first.
    expect(log.indexOf('start a2')).toBeGreaterThan(endA1);
  });

  it(`handles at most ${WORKER_EVENTS_CONCURRENCY} events at once, one per render`, async () => {
    const service = consumer(10_000);
    let active = 0;
    let most = 0;
    const handled: string[] = [];
    service.on('render.progress', async (event) => {
      active++;
      most = Math.max(most, active);
      await new Promise((r) => setTimeout(r, 30));
      handled.push(event.renderId);
      active--;
    });
    const renders = Array.from(
      { length: 20 },
      (_, i) => `9a8b7c6d-0000-4000-8000-${String(i).padStart(12, '0')}`,
    );
    for (const render of renders) await worker.startRun().emit(progress(1, render));
    service.onApplicationBootstrap();
    await service.drain();
    expect(handled.sort()).toEqual([...renders].sort());
    expect(most).toBe(WORKER_EVENTS_CONCURRENCY);
  });

  it("leaves a failed event pending and claimable while other renders' events are acknowledged", async () => {
    const service = consumer(60_000); // never claims it back itself during the test
    const seen: string[] = [];
    service.on('render.progress', async (event) => {
      seen.push(`${event.renderId === renderId ? 'a' : 'b'}${event.step}`);
      if (event.renderId === renderId) throw new Error('database unavailable');
    });
    service.onApplicationBootstrap();
    const failedId = await worker.startRun().emit(progress(1, renderId));
    const b = worker.startRun();
    for (let step = 1; step <= 3; step++) await b.emit(progress(step, otherRenderId));
    const key = `${config.redisPrefix}:worker-events`;
    while (seen.length < 4) await new Promise((r) => setTimeout(r, 10));
    for (;;) {
      const [count] = (await redis.xpending(key, WORKER_EVENTS_GROUP)) as [number];
      if (count === 1) break; // b1..b3 acknowledged, a1 not
      await new Promise((r) => setTimeout(r, 10));
    }
    const pending = (await redis.xpending(key, WORKER_EVENTS_GROUP, '-', '+', 10)) as [
      string,
      string,
      number,
      number,
    ][];
    expect(pending.map(([id, owner, , count]) => [id, owner, count])).toEqual([
      [failedId, service.consumerName, 1],
    ]);

    const other = consumer(150);
    const retried: [string, number][] = [];
    other.on('render.progress', async (event, delivery) => {
      retried.push([event.renderId, delivery.deliveries]);
    });
    other.onApplicationBootstrap();
    await other.drain();
    expect(retried).toEqual([[renderId, 2]]);
    expect(seen.sort()).toEqual(['a1', 'b1', 'b2', 'b3']);
  });

  it('on shutdown finishes the running handler and leaves queued entries pending', async () => {
    const service = consumer(60_000);
    const seen: number[] = [];
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    service.on('render.progress', async (event) => {
      seen.push(event.step);
      if (event.step === 1) await released;
    });
    const run = worker.startRun();
    const firstId = await run.emit(progress(1));
    const secondId = await run.emit(progress(2));
    service.onApplicationBootstrap();
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 10));
    const stopping = service.onApplicationShutdown();
    release();
    await stopping;
    expect(seen).toEqual([1]);
    const pending = (await redis.xpending(
      `${config.redisPrefix}:worker-events`,
      WORKER_EVENTS_GROUP,
      '-',
      '+',
      10,
    )) as [string][];
    // The first was acknowledged after its handler resolved; the second was never started.
    expect(pending.map(([id]) => id)).toEqual([secondId]);
    expect(firstId).not.toBe(secondId);
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
