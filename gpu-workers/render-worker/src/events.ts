import { randomUUID } from 'node:crypto';
import {
  WORKER_EVENTS_STREAM,
  WORKER_HEARTBEAT_PREFIX,
  WorkerHeartbeatV1,
  parseWorkerEvent,
} from '@likeness/contracts';
import type { WorkerEvent, WorkerEventInput, WorkerHeartbeat } from '@likeness/contracts';
import type { Redis } from 'ioredis';

/** Stream key of worker events under a BullMQ-style prefix (`likeness:worker-events`). */
export function workerEventsKey(prefix: string): string {
  return `${prefix}:${WORKER_EVENTS_STREAM}`;
}

/** Key of one worker's advertisement. */
export function heartbeatKey(prefix: string, workerId: string): string {
  return `${prefix}:${WORKER_HEARTBEAT_PREFIX}${workerId}`;
}

export interface EventPublisherOptions {
  prefix: string;
  workerId: string;
  /**
   * Approximate cap on the stream's length (XADD MAXLEN ~). The gateway acknowledges and trims
   * what it consumed; this cap only bounds memory if no gateway runs for a long time.
   */
  maxLen?: number;
  /** Clock, for tests. */
  now?: () => Date;
}

/** Events of one run of one job: a fresh run id and a sequence counter starting at 0. */
export interface RunEvents {
  readonly run: string;
  /** Validates and appends an event; resolves with the stream entry id once Redis has it. */
  emit(event: WorkerEventInput): Promise<string>;
}

/**
 * Appends worker events to the `worker-events` stream. An event that does not match the
 * contract throws before it reaches Redis (a worker bug must not poison the gateway's consumer);
 * a Redis failure rejects, so the handler fails and BullMQ retries the job.
 */
export class WorkerEventPublisher {
  private readonly key: string;
  private readonly maxLen: number;
  private readonly now: () => Date;

  constructor(
    private readonly redis: Redis,
    private readonly options: EventPublisherOptions,
  ) {
    this.key = workerEventsKey(options.prefix);
    this.maxLen = options.maxLen ?? 1_000_000;
    this.now = options.now ?? (() => new Date());
  }

  /** Starts a run: call once each time the worker begins executing a job. */
  startRun(): RunEvents {
    const run = randomUUID();
    let seq = 0;
    return {
      run,
      emit: async (input) => {
        const event: WorkerEvent = parseWorkerEvent({
          ...input,
          v: 1,
          run,
          seq,
          workerId: this.options.workerId,
          at: this.now().toISOString(),
        });
        seq += 1;
        const id = await this.redis.xadd(
          this.key,
          'MAXLEN',
          '~',
          this.maxLen,
          '*',
          'event',
          JSON.stringify(event),
        );
        if (id === null) throw new Error(`XADD to ${this.key} returned no id`);
        return id;
      },
    };
  }
}

export interface HeartbeatOptions {
  prefix: string;
  /** How often the advertisement is renewed (default 5 s); it expires after 3 intervals. */
  intervalMs?: number;
  onError?: (error: unknown) => void;
}

export interface Heartbeat {
  /** Writes the advertisement now (e.g. right after the current job changed). */
  beat(): Promise<void>;
  /** Stops renewing and deletes the advertisement. */
  stop(): Promise<void>;
}

/**
 * Advertises the worker (provider, packs, capacity, current jobs) under
 * `<prefix>:workers:<id>` with a TTL, so a worker that dies disappears on its own.
 */
export async function startHeartbeat(
  redis: Redis,
  describe: () => Omit<WorkerHeartbeat, 'v' | 'at'>,
  options: HeartbeatOptions,
): Promise<Heartbeat> {
  const intervalMs = options.intervalMs ?? 5000;
  const beat = async (): Promise<void> => {
    const body = WorkerHeartbeatV1.parse({ ...describe(), v: 1, at: new Date().toISOString() });
    await redis.set(
      heartbeatKey(options.prefix, body.workerId),
      JSON.stringify(body),
      'PX',
      intervalMs * 3,
    );
  };
  await beat();
  const timer = setInterval(() => {
    beat().catch((error: unknown) => options.onError?.(error));
  }, intervalMs);
  timer.unref();
  return {
    beat,
    async stop() {
      clearInterval(timer);
      await redis.del(heartbeatKey(options.prefix, describe().workerId));
    },
  };
}
