import { randomUUID } from 'node:crypto';
import { InvalidWorkerEventError, WorkerHeartbeatV1, parseWorkerEvent } from '@likeness/contracts';
import { Redis } from 'ioredis';
import { WorkerEventPublisher, heartbeatKey, startHeartbeat, workerEventsKey } from './events';

const redisUrl = process.env['REDIS_URL'] || 'redis://127.0.0.1:6379';
const tenantId = '7d7c2a4e-9f57-4d5e-8d0c-1b6d3c2f9a10';
const renderId = '0b1e8f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b';

describe('worker events and heartbeat (real Redis)', () => {
  let redis: Redis;
  let prefix: string;

  beforeEach(() => {
    redis = new Redis(redisUrl);
    prefix = `test-worker-events-${randomUUID()}`;
  });

  afterEach(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  async function streamEvents(): Promise<unknown[]> {
    const entries = await redis.xrange(workerEventsKey(prefix), '-', '+');
    return entries.map(([, fields]) => JSON.parse(fields[1] ?? 'null') as unknown);
  }

  it('appends validated events in order, numbered per run', async () => {
    const publisher = new WorkerEventPublisher(redis, { prefix, workerId: 'w1' });
    const first = publisher.startRun();
    await first.emit({
      type: 'render.started',
      tenantId,
      renderId,
      attempt: 1,
      resumedFromClip: 0,
      clips: 2,
    });
    await first.emit({ type: 'render.canceled', tenantId, renderId, attempt: 1 });
    const second = publisher.startRun();
    await second.emit({
      type: 'render.started',
      tenantId,
      renderId,
      attempt: 1,
      resumedFromClip: 1,
      clips: 2,
    });

    const events = (await streamEvents()).map((e) => parseWorkerEvent(e));
    expect(events.map((e) => [e.type, e.seq, e.run])).toEqual([
      ['render.started', 0, first.run],
      ['render.canceled', 1, first.run],
      ['render.started', 0, second.run],
    ]);
    expect(first.run).not.toBe(second.run);
    expect(events.every((e) => e.workerId === 'w1')).toBe(true);
  });

  it('refuses an event that breaks the contract and writes nothing', async () => {
    const publisher = new WorkerEventPublisher(redis, { prefix, workerId: 'w1' });
    const run = publisher.startRun();
    await expect(
      run.emit({
        type: 'render.progress',
        tenantId,
        renderId,
        attempt: 1,
        phase: 'denoising',
        clip: 0,
        clips: 1,
        step: 1,
        totalSteps: 30,
        fraction: 2,
        etaSeconds: null,
      }),
    ).rejects.toBeInstanceOf(InvalidWorkerEventError);
    expect(await streamEvents()).toEqual([]);
  });

  it('advertises the worker with a TTL and removes the advertisement on stop', async () => {
    const startedAt = new Date().toISOString();
    let currentJobs: { queue: string; jobId: string; since: string }[] = [];
    const hb = await startHeartbeat(
      redis,
      () => ({
        workerId: 'w9',
        provider: 'cpu',
        packs: [],
        capacity: 1,
        currentJobs,
        startedAt,
      }),
      { prefix, intervalMs: 1000 },
    );
    const key = heartbeatKey(prefix, 'w9');
    const first = WorkerHeartbeatV1.parse(JSON.parse((await redis.get(key)) ?? 'null'));
    expect(first.currentJobs).toEqual([]);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(2000);
    expect(ttl).toBeLessThanOrEqual(3000);

    currentJobs = [{ queue: 'render', jobId: '42', since: startedAt }];
    await hb.beat();
    const second = WorkerHeartbeatV1.parse(JSON.parse((await redis.get(key)) ?? 'null'));
    expect(second.currentJobs.map((j) => j.jobId)).toEqual(['42']);

    await hb.stop();
    expect(await redis.exists(key)).toBe(0);
  });
});
