import { randomUUID } from 'node:crypto';
import { JobName, QueueName } from '@likeness/contracts';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { createHandlerRegistry, defineHandler } from './handler-registry';
import type { JobContext } from './handler-registry';
import { failingRenderHandler } from './testing/stub-handlers';
import { startWorker } from './worker';
import type { RunningWorker } from './worker';
import { avatarPreparePayload, renderPayload } from './testing/payloads';

// Medium tier: a real Redis, shared with other runs, so every test gets its own key prefix.
const redisUrl = process.env['REDIS_URL'] || 'redis://127.0.0.1:6379';
const connection = { url: redisUrl };

interface Harness {
  prefix: string;
  queues: Record<'render' | 'avatar', Queue>;
  events: Record<'render' | 'avatar', QueueEvents>;
  close(): Promise<void>;
}

async function harness(): Promise<Harness> {
  const prefix = `test-render-worker-${randomUUID()}`;
  const queues = {
    render: new Queue(QueueName.Render, { connection, prefix }),
    avatar: new Queue(QueueName.Avatar, { connection, prefix }),
  };
  const events = {
    render: new QueueEvents(QueueName.Render, { connection, prefix }),
    avatar: new QueueEvents(QueueName.Avatar, { connection, prefix }),
  };
  await Promise.all(Object.values(events).map((e) => e.waitUntilReady()));
  return {
    prefix,
    queues,
    events,
    async close() {
      await Promise.all([...Object.values(queues), ...Object.values(events)].map((c) => c.close()));
      const redis = new Redis(redisUrl);
      try {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
          if (keys.length > 0) await redis.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        await redis.quit();
      }
    },
  };
}

describe('startWorker (real Redis)', () => {
  let h: Harness;
  let worker: RunningWorker | undefined;
  const received: { payload: unknown; ctx: Pick<JobContext, 'queue' | 'attempt' | 'workerId'> }[] =
    [];

  const registry = createHandlerRegistry([
    defineHandler({
      name: JobName.AvatarPrepare,
      handle: (payload, ctx) => {
        received.push({
          payload,
          ctx: { queue: ctx.queue, attempt: ctx.attempt, workerId: ctx.workerId },
        });
        return Promise.resolve({ prepared: payload.avatarId });
      },
    }),
    defineHandler({
      name: JobName.Render,
      handle: async (payload, ctx) => {
        await ctx.updateProgress({ phase: 'denoise', step: 1 });
        return { rendered: payload.renderId };
      },
    }),
  ]);

  beforeEach(async () => {
    received.length = 0;
    h = await harness();
    worker = await startWorker(
      { redisUrl, concurrency: 2, prefix: h.prefix, workerId: 'test-worker' },
      registry,
    );
  });

  afterEach(async () => {
    await worker?.close();
    await h.close();
  });

  it('consumes both served queues and hands handlers the validated payload', async () => {
    expect(worker?.queues).toEqual([QueueName.Render, QueueName.Avatar]);
    const avatarJob = await h.queues.avatar.add(JobName.AvatarPrepare, avatarPreparePayload);
    const renderJob = await h.queues.render.add(JobName.Render, renderPayload);

    await expect(avatarJob.waitUntilFinished(h.events.avatar, 10_000)).resolves.toEqual({
      prepared: avatarPreparePayload.avatarId,
    });
    await expect(renderJob.waitUntilFinished(h.events.render, 10_000)).resolves.toEqual({
      rendered: renderPayload.renderId,
    });
    expect(received).toEqual([
      {
        payload: avatarPreparePayload,
        ctx: { queue: QueueName.Avatar, attempt: 1, workerId: 'test-worker' },
      },
    ]);
    expect((await h.queues.render.getJob(renderJob.id ?? ''))?.progress).toEqual({
      phase: 'denoise',
      step: 1,
    });
  });

  it('fails an invalid payload once, without retries, even with attempts: 3', async () => {
    const withoutTenant = { ...avatarPreparePayload, tenantId: undefined };
    const job = await h.queues.avatar.add(JobName.AvatarPrepare, withoutTenant, {
      attempts: 3,
      backoff: { type: 'fixed', delay: 10 },
    });

    await expect(job.waitUntilFinished(h.events.avatar, 10_000)).rejects.toThrow(/tenantId/);
    const failed = await h.queues.avatar.getJob(job.id ?? '');
    expect(await failed?.getState()).toBe('failed');
    expect(failed?.attemptsMade).toBe(1);
    expect(failed?.failedReason).toMatch(/invalid payload for job avatar\.prepare: tenantId/);
    expect(received).toEqual([]);
  });

  it('retries a handler failure that is not unrecoverable', async () => {
    // Contrast with the test above: ordinary errors do use the attempts budget.
    await worker?.close();
    const attempts: number[] = [];
    const flaky = createHandlerRegistry([
      failingRenderHandler,
      defineHandler({
        name: JobName.AvatarPrepare,
        handle: (_payload, ctx) => {
          attempts.push(ctx.attempt);
          return ctx.attempt < 2
            ? Promise.reject(new Error('storage timeout'))
            : Promise.resolve('ok');
        },
      }),
    ]);
    worker = await startWorker(
      { redisUrl, concurrency: 1, prefix: h.prefix, workerId: 'test-worker' },
      flaky,
    );
    const job = await h.queues.avatar.add(JobName.AvatarPrepare, avatarPreparePayload, {
      attempts: 3,
      backoff: { type: 'fixed', delay: 10 },
    });
    await expect(job.waitUntilFinished(h.events.avatar, 10_000)).resolves.toBe('ok');
    expect(attempts).toEqual([1, 2]);
    expect((await h.queues.avatar.getJob(job.id ?? ''))?.attemptsMade).toBe(2);
  });

  it('fails a job at once when its handler throws an UnrecoverableError', async () => {
    await worker?.close();
    worker = await startWorker(
      { redisUrl, concurrency: 1, prefix: h.prefix, workerId: 'test-worker' },
      createHandlerRegistry([
        defineHandler({ name: JobName.AvatarPrepare, handle: () => Promise.resolve('ok') }),
        failingRenderHandler,
      ]),
    );
    const job = await h.queues.render.add(JobName.Render, renderPayload, { attempts: 3 });
    await expect(job.waitUntilFinished(h.events.render, 10_000)).rejects.toThrow(/StubRender/);
    expect((await h.queues.render.getJob(job.id ?? ''))?.attemptsMade).toBe(1);
  });

  it('close() resolves and the worker takes no more jobs', async () => {
    await expect(worker?.close()).resolves.toBeUndefined();
    const job = await h.queues.avatar.add(JobName.AvatarPrepare, avatarPreparePayload);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await job.getState()).toBe('waiting');
    expect(received).toEqual([]);
  });
});
