import type { QueueName } from '@likeness/contracts';
import { WaitingError, Worker } from 'bullmq';
import type { Job } from 'bullmq';
import type { WorkerConfig } from './config';
import { servedQueues } from './handler-registry';
import type { HandlerRegistry, JobContext } from './handler-registry';

/** Where the worker reports what happens to jobs; `main.ts` passes a JSON logger. */
export interface WorkerLogger {
  info(fields: Readonly<Record<string, unknown>>, message: string): void;
  error(fields: Readonly<Record<string, unknown>>, message: string): void;
}

const silentLogger: WorkerLogger = { info: () => undefined, error: () => undefined };

export interface RunningWorker {
  readonly queues: readonly QueueName[];
  /** Stops taking jobs, lets running ones finish, then closes the Redis connections. */
  close(): Promise<void>;
}

type WorkerSettings = Pick<WorkerConfig, 'redisUrl' | 'concurrency' | 'prefix' | 'workerId'>;

/** One BullMQ Worker per served queue, all sharing the registry; resolves once all are connected. */
export async function startWorker(
  config: WorkerSettings,
  registry: HandlerRegistry,
  logger: WorkerLogger = silentLogger,
): Promise<RunningWorker> {
  const workers = servedQueues.map((queue) => {
    const worker = new Worker(
      queue,
      (job: Job, token?: string, signal?: AbortSignal) =>
        registry.dispatch(
          job.name,
          job.data,
          contextOf(job, queue, config.workerId, token, signal),
        ),
      {
        // BullMQ creates (and on close, quits) its own clients from these options.
        connection: { url: config.redisUrl, maxRetriesPerRequest: null },
        prefix: config.prefix,
        concurrency: config.concurrency,
        name: config.workerId,
      },
    );
    worker.on('completed', (job) =>
      logger.info({ queue, jobId: job.id, job: job.name }, 'job completed'),
    );
    worker.on('failed', (job, error) =>
      logger.error(
        {
          queue,
          jobId: job?.id,
          job: job?.name,
          attemptsMade: job?.attemptsMade,
          err: error.message,
        },
        'job failed',
      ),
    );
    worker.on('error', (error) => logger.error({ queue, err: error.message }, 'worker error'));
    return worker;
  });

  const closeAll = async (): Promise<void> => {
    await Promise.all(workers.map((worker) => worker.close()));
  };
  try {
    await Promise.all(workers.map((worker) => worker.waitUntilReady()));
  } catch (error) {
    await closeAll();
    throw error;
  }
  logger.info(
    { queues: servedQueues, concurrency: config.concurrency, workerId: config.workerId },
    'worker started',
  );

  let closing: Promise<void> | undefined;
  return {
    queues: servedQueues,
    close: () => {
      closing ??= closeAll();
      return closing;
    },
  };
}

function contextOf(
  job: Job,
  queue: QueueName,
  workerId: string,
  token: string | undefined,
  signal: AbortSignal | undefined,
): JobContext {
  return {
    jobId: job.id ?? '(no id)',
    queue,
    attempt: job.attemptsMade + 1,
    maxAttempts: Math.max(1, job.opts.attempts ?? 1),
    workerId,
    signal: signal ?? new AbortController().signal,
    updateProgress: (progress) => job.updateProgress(progress),
    requeue: async () => {
      await job.moveToWait(token);
      throw new WaitingError();
    },
  };
}
