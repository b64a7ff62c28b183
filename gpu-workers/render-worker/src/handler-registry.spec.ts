import { JobName, QueueName } from '@likeness/contracts';
import { UnrecoverableError } from 'bullmq';
import {
  HandlerRegistryError,
  createHandlerRegistry,
  defineHandler,
  servedJobNames,
  servedQueues,
} from './handler-registry';
import type { AnyJobHandler, JobContext } from './handler-registry';
import { avatarPreparePayload, renderPayload } from './testing/payloads';

function ctx(queue: QueueName): JobContext {
  return {
    jobId: '1',
    queue,
    attempt: 1,
    maxAttempts: 1,
    workerId: 'test',
    signal: new AbortController().signal,
    updateProgress: () => Promise.resolve(),
  };
}

function recordingHandlers(calls: unknown[]): AnyJobHandler[] {
  return [
    defineHandler({
      name: JobName.AvatarPrepare,
      handle: (payload) => {
        calls.push(payload);
        return Promise.resolve({ avatarId: payload.avatarId });
      },
    }),
    defineHandler({ name: JobName.Render, handle: () => Promise.resolve('rendered') }),
  ];
}

function registryErrorOf(handlers: readonly AnyJobHandler[]): HandlerRegistryError {
  try {
    createHandlerRegistry(handlers);
  } catch (error) {
    if (error instanceof HandlerRegistryError) return error;
    throw error;
  }
  throw new Error('expected a HandlerRegistryError');
}

describe('served queues', () => {
  it('are render and avatar only: webhook and billing belong to the gateway', () => {
    expect([...servedQueues].sort()).toEqual([QueueName.Avatar, QueueName.Render]);
    expect([...servedJobNames].sort()).toEqual([JobName.AvatarPrepare, JobName.Render]);
  });
});

describe('createHandlerRegistry', () => {
  it('accepts exactly one handler per served job', () => {
    expect(createHandlerRegistry(recordingHandlers([])).jobNames).toEqual(servedJobNames);
  });

  it('refuses a served job without a handler, naming it', () => {
    const error = registryErrorOf(recordingHandlers([]).filter((h) => h.name !== JobName.Render));
    expect(error.problems).toEqual(['no handler for "render"']);
  });

  it('refuses two handlers for one job', () => {
    const error = registryErrorOf([
      ...recordingHandlers([]),
      defineHandler({ name: JobName.Render, handle: () => Promise.resolve() }),
    ]);
    expect(error.problems).toEqual(['two handlers for "render"']);
  });

  it('refuses a handler for a queue it does not serve', () => {
    const error = registryErrorOf([
      ...recordingHandlers([]),
      defineHandler({ name: JobName.WebhookDeliver, handle: () => Promise.resolve() }),
    ]);
    expect(error.problems).toEqual([expect.stringContaining('"webhook.deliver"')]);
  });

  it('reports every problem at once', () => {
    expect(registryErrorOf([]).problems).toHaveLength(servedJobNames.length);
  });
});

describe('dispatch', () => {
  it('validates the payload and runs the handler of the job name', async () => {
    const calls: unknown[] = [];
    const registry = createHandlerRegistry(recordingHandlers(calls));
    await expect(
      registry.dispatch(JobName.AvatarPrepare, avatarPreparePayload, ctx(QueueName.Avatar)),
    ).resolves.toEqual({
      avatarId: avatarPreparePayload.avatarId,
    });
    await expect(
      registry.dispatch(JobName.Render, renderPayload, ctx(QueueName.Render)),
    ).resolves.toBe('rendered');
    expect(calls).toEqual([avatarPreparePayload]);
  });

  it('turns an invalid payload into an UnrecoverableError naming the field, without calling the handler', async () => {
    const calls: unknown[] = [];
    const registry = createHandlerRegistry(recordingHandlers(calls));
    const withoutTenant = { ...avatarPreparePayload, tenantId: undefined };
    const failure = registry.dispatch(JobName.AvatarPrepare, withoutTenant, ctx(QueueName.Avatar));
    await expect(failure).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(failure).rejects.toThrow(/tenantId/);
    expect(calls).toEqual([]);
  });

  it('rejects unknown job names and jobs on the wrong queue as unrecoverable', async () => {
    const registry = createHandlerRegistry(recordingHandlers([]));
    await expect(
      registry.dispatch('avatar.explode', {}, ctx(QueueName.Avatar)),
    ).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(
      registry.dispatch(JobName.Render, renderPayload, ctx(QueueName.Avatar)),
    ).rejects.toThrow(/belongs to the render queue/);
  });

  it('lets a handler error through unchanged, so BullMQ can retry it', async () => {
    const boom = new Error('storage timeout');
    const registry = createHandlerRegistry([
      ...recordingHandlers([]).filter((h) => h.name !== JobName.Render),
      defineHandler({ name: JobName.Render, handle: () => Promise.reject(boom) }),
    ]);
    await expect(
      registry.dispatch(JobName.Render, renderPayload, ctx(QueueName.Render)),
    ).rejects.toBe(boom);
  });
});
