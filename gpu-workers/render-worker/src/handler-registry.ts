import {
  InvalidJobPayloadError,
  JobName,
  QueueName,
  allJobNames,
  parseJobPayload,
  queueOfJob,
} from '@likeness/contracts';
import type { JobPayload } from '@likeness/contracts';
import { UnrecoverableError } from 'bullmq';

/**
 * The queues this worker consumes. `webhook` and `billing` belong to the gateway: the worker
 * never writes the database nor talks to partners (DESIGN.md, request flow step 5).
 */
export const servedQueues: readonly QueueName[] = [QueueName.Render, QueueName.Avatar];

/** Job names of the served queues: each must have exactly one handler. */
export const servedJobNames: readonly JobName[] = allJobNames.filter((name) =>
  servedQueues.includes(queueOfJob[name]),
);

/** What a handler may know about the job it runs, without touching BullMQ directly. */
export interface JobContext {
  readonly jobId: string;
  readonly queue: QueueName;
  /** 1 for the first run; grows when BullMQ retries the job. */
  readonly attempt: number;
  /** The job's attempts budget: when `attempt` equals it, a failure is final. */
  readonly maxAttempts: number;
  readonly workerId: string;
  /** Aborted when the worker is closing or the job is cancelled. */
  readonly signal: AbortSignal;
  updateProgress(progress: Readonly<Record<string, unknown>> | number): Promise<void>;
  /**
   * Puts the job back in the waiting list without spending an attempt (BullMQ's documented
   * `job.moveToWait(token)` + `WaitingError`), for a worker that is shutting down: the returned
   * promise always rejects with the WaitingError, which the handler must let through.
   */
  requeue?(): Promise<never>;
}

export interface JobHandler<N extends JobName = JobName> {
  readonly name: N;
  handle(payload: JobPayload<N>, ctx: JobContext): Promise<unknown>;
}

/** A handler for any one job name, typed so `handle` gets that job's payload. */
export type AnyJobHandler = { [N in JobName]: JobHandler<N> }[JobName];

/** Helper that keeps the payload type tied to the name at the definition site. */
export function defineHandler<N extends JobName>(handler: JobHandler<N>): JobHandler<N> {
  return handler;
}

export class HandlerRegistryError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`refusing to start the worker: ${problems.join('; ')}`);
    this.name = 'HandlerRegistryError';
  }
}

export interface HandlerRegistry {
  readonly jobNames: readonly JobName[];
  /**
   * Validates the payload and runs the job's handler. Input that can never succeed (an unknown
   * job name, a job on the wrong queue, an invalid payload) throws an UnrecoverableError so
   * BullMQ fails it at once instead of retrying it.
   */
  dispatch(jobName: string, data: unknown, ctx: JobContext): Promise<unknown>;
}

function isJobName(name: string): name is JobName {
  return (allJobNames as readonly string[]).includes(name);
}

/** Builds the registry, or throws HandlerRegistryError listing every missing, duplicate or foreign handler. */
export function createHandlerRegistry(handlers: readonly AnyJobHandler[]): HandlerRegistry {
  const byName = new Map<JobName, AnyJobHandler>();
  const problems: string[] = [];
  for (const handler of handlers) {
    if (!servedJobNames.includes(handler.name)) {
      problems.push(
        `handler for "${handler.name}", a job of the ${queueOfJob[handler.name]} queue this worker does not serve`,
      );
    } else if (byName.has(handler.name)) {
      problems.push(`two handlers for "${handler.name}"`);
    } else {
      byName.set(handler.name, handler);
    }
  }
  for (const name of servedJobNames) {
    if (!byName.has(name)) problems.push(`no handler for "${name}"`);
  }
  if (problems.length > 0) throw new HandlerRegistryError(problems);

  return {
    jobNames: [...servedJobNames],
    async dispatch(jobName, data, ctx) {
      if (!isJobName(jobName)) throw new UnrecoverableError(`unknown job name "${jobName}"`);
      if (queueOfJob[jobName] !== ctx.queue) {
        throw new UnrecoverableError(
          `job "${jobName}" belongs to the ${queueOfJob[jobName]} queue, not ${ctx.queue}`,
        );
      }
      const handler = byName.get(jobName);
      if (!handler) throw new UnrecoverableError(`job "${jobName}" is not served by this worker`);
      return runHandler(handler, data, ctx);
    },
  };
}

function runHandler<N extends JobName>(
  handler: JobHandler<N>,
  data: unknown,
  ctx: JobContext,
): Promise<unknown> {
  let payload: JobPayload<N>;
  try {
    payload = parseJobPayload(handler.name, data);
  } catch (error) {
    if (error instanceof InvalidJobPayloadError) throw new UnrecoverableError(error.message);
    throw error;
  }
  return handler.handle(payload, ctx);
}
