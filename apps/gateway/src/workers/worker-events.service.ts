import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import {
  InvalidWorkerEventError,
  WORKER_EVENTS_STREAM,
  parseWorkerEvent,
  workerEventKey,
} from '@likeness/contracts';
import type { WorkerEvent, WorkerEventOf, WorkerEventType } from '@likeness/contracts';
import { Redis } from 'ioredis';
import { APP_CONFIG, type AppConfig } from '../config/config';

/** The consumer group every gateway replica joins: each event is handled by one replica. */
export const WORKER_EVENTS_GROUP = 'gateway';
/** After this many failed deliveries an event goes to the dead-letter stream. */
export const MAX_DELIVERIES = 10;
/** How long shutdown waits for the events being handled. */
const SHUTDOWN_WAIT_MS = 5000;
/** Handlers running at once on one replica, each for a different subject (render, avatar). */
export const WORKER_EVENTS_CONCURRENCY = 8;
/**
 * Entries one replica holds (read or claimed, not yet finished) at most: beyond that it stops
 * reading and they stay in the stream for other replicas. Small, so no held entry waits long
 * enough to look abandoned.
 */
const MAX_HELD = 32;

export interface WorkerEventDelivery {
  /** The stream entry id (`<ms>-<n>`), unique per append. */
  readonly streamId: string;
  /** 1 on the first delivery, more when an earlier delivery failed or its replica died. */
  readonly deliveries: number;
}

export type WorkerEventHandler<T extends WorkerEventType = WorkerEventType> = (
  event: WorkerEventOf<T>,
  delivery: WorkerEventDelivery,
) => Promise<void>;

type StreamEntry = [id: string, fields: string[]];

/**
 * Consumes the `worker-events` Redis stream the render workers append to (DESIGN.md: workers
 * never write the database; the gateway does all writes). Every replica joins one consumer
 * group, so each event is handled once; an event is acknowledged only after its handler
 * resolved, so a crash or a failing handler leaves it pending, and after `claimIdleMs` another
 * replica (or this one) claims and retries it; after MAX_DELIVERIES it is dead-lettered.
 *
 * Handlers must therefore be idempotent (`workerEventKey` identifies an event) and must not
 * assume order across replicas: two events of one render can be handled concurrently by two
 * replicas. Within one replica, the entries of one subject (a render, an avatar) are handled one
 * at a time in stream order (a promise chain per subject), and those of different subjects
 * concurrently, WORKER_EVENTS_CONCURRENCY at most, so a slow event delays only its own subject.
 */
@Injectable()
export class WorkerEventsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WorkerEventsService.name);
  private readonly handlers = new Map<WorkerEventType, WorkerEventHandler>();
  private readonly key: string;
  private readonly deadKey: string;
  readonly consumerName = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  /** Only the blocking XREADGROUP: every other command goes on `commands`, never behind it. */
  private connection: Redis | undefined;
  private commands: Redis | undefined;
  private loop: Promise<void> | undefined;
  /** Stream ids read or claimed and not finished yet (never claimed again meanwhile). */
  private readonly held = new Set<string>();
  /** The last entry queued per subject: the next one of that subject runs after it. */
  private readonly chains = new Map<string, Promise<void>>();
  private running = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private readonly settleWaiters: (() => void)[] = [];
  private stopped = false;
  private lastTrim = 0;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.key = `${config.redisPrefix}:${WORKER_EVENTS_STREAM}`;
    this.deadKey = `${this.key}:dead`;
  }

  /** Registers the handler of one event type; call from a module's onModuleInit. */
  on<T extends WorkerEventType>(type: T, handler: WorkerEventHandler<T>): void {
    if (this.handlers.has(type)) throw new Error(`two handlers for worker event "${type}"`);
    // Stored by type; `handle` only ever passes an event of that type back to it.
    this.handlers.set(type, handler as unknown as WorkerEventHandler);
  }

  onApplicationBootstrap(): void {
    if (!this.config.workerEvents.consume) return;
    // No offline queue: while Redis is unreachable commands fail at once and the loop retries,
    // instead of piling up (and never settling after a disconnect at shutdown).
    const connect = (): Redis => {
      const redis = new Redis(this.config.redisUrl, {
        maxRetriesPerRequest: null,
        enableOfflineQueue: false,
      });
      redis.on('error', (error: Error) => this.warnThrottled(`connection: ${error.message}`));
      return redis;
    };
    this.connection = connect();
    this.commands = connect();
    this.loop = this.run(this.connection, this.commands);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    // Interrupts a blocking XREADGROUP; the entries being handled finish first (the loop awaits
    // them, then they are acknowledged on `commands`); held ones not started yet stay pending. A command queued while Redis is
    // unreachable never settles after disconnect(), so the wait is bounded: an event left
    // unacknowledged is simply delivered again later.
    this.connection?.disconnect();
    if (this.loop !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.loop,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_WAIT_MS))),
      ]);
      clearTimeout(timer);
    }
    this.commands?.disconnect();
  }

  private lastWarning = { text: '', at: 0 };

  /** Logs a repeating warning (Redis down) at most every 30 s. */
  private warnThrottled(text: string): void {
    const now = Date.now();
    if (text === this.lastWarning.text && now - this.lastWarning.at < 30_000) return;
    this.lastWarning = { text, at: now };
    this.logger.warn(`worker-events consumer: ${text}`);
  }

  /**
   * Resolves once every event appended so far has been handled and acknowledged (by any
   * replica), or rejects after `timeoutMs`. For tests and orderly shutdowns.
   */
  async drain(timeoutMs = 10_000): Promise<void> {
    const redis = new Redis(this.config.redisUrl, { maxRetriesPerRequest: 1 });
    const deadline = Date.now() + timeoutMs;
    try {
      for (;;) {
        const { pending, lag } = await groupState(redis, this.key);
        if (pending === 0 && lag === 0) return;
        if (Date.now() > deadline) {
          throw new Error(`worker events not drained: ${pending} pending, ${lag} not yet read`);
        }
        await sleep(10);
      }
    } finally {
      redis.disconnect();
    }
  }

  private async run(reader: Redis, redis: Redis): Promise<void> {
    let nextClaim = 0;
    const claimEvery = Math.max(50, Math.floor(this.config.workerEvents.claimIdleMs / 2));
    const blockMs = Math.min(1000, claimEvery);
    let groupReady = false;
    while (!this.stopped) {
      if (reader.status !== 'ready' || redis.status !== 'ready') {
        await sleep(50); // connecting, or reconnecting: commands would fail at once
        continue;
      }
      try {
        if (!groupReady) {
          await this.ensureGroup(redis);
          groupReady = true;
        }
        if (Date.now() >= nextClaim) {
          await this.claimStale(redis);
          nextClaim = Date.now() + claimEvery;
        }
        const room = MAX_HELD - this.held.size;
        if (room <= 0) {
          await this.someSettled(blockMs);
          continue;
        }
        const reply = (await reader.xreadgroup(
          'GROUP',
          WORKER_EVENTS_GROUP,
          this.consumerName,
          'COUNT',
          Math.min(20, room),
          'BLOCK',
          blockMs,
          'STREAMS',
          this.key,
          '>',
        )) as [string, StreamEntry[]][] | null;
        for (const [, entries] of reply ?? []) {
          for (const entry of entries) this.dispatch(redis, entry, 1);
        }
        await this.trimMaybe(redis);
      } catch (error) {
        if (this.stopped) break;
        const message = error instanceof Error ? error.message : String(error);
        // The stream or the group vanished (Redis restarted empty, FLUSHALL): create them again.
        if (message.includes('NOGROUP')) groupReady = false;
        else this.warnThrottled(message);
        await sleep(200);
      }
    }
    while (this.chains.size > 0) await Promise.allSettled([...this.chains.values()]);
  }

  /**
   * Queues an entry behind the earlier entries of its subject; it runs once those finished and
   * one of the WORKER_EVENTS_CONCURRENCY slots is free.
   */
  private dispatch(redis: Redis, entry: StreamEntry, deliveries: number): void {
    const [streamId, fields] = entry;
    if (this.held.has(streamId)) return;
    this.held.add(streamId);
    const parsed = parseEntry(fields);
    // Entries that are not events have no subject and no order to keep.
    const subject = 'event' in parsed ? subjectOf(parsed.event) : `entry:${streamId}`;
    const previous = this.chains.get(subject) ?? Promise.resolve();
    const next: Promise<void> = previous
      .then(() => this.withSlot(() => this.handle(redis, streamId, parsed, deliveries)))
      .catch((error: unknown) => {
        // Redis failed (acknowledging, dead-lettering): the entry stays pending and is claimed.
        this.warnThrottled(error instanceof Error ? error.message : String(error));
      })
      .finally(() => {
        this.held.delete(streamId);
        if (this.chains.get(subject) === next) this.chains.delete(subject);
        for (const wake of this.settleWaiters.splice(0)) wake();
      });
    this.chains.set(subject, next);
  }

  private async withSlot(task: () => Promise<void>): Promise<void> {
    if (this.running < WORKER_EVENTS_CONCURRENCY) this.running++;
    else await new Promise<void>((resolve) => this.slotWaiters.push(resolve)); // handed over
    try {
      // Shutting down: what has not started stays pending, for another replica (or a restart).
      if (!this.stopped) await task();
    } finally {
      const waiter = this.slotWaiters.shift();
      if (waiter) waiter();
      else this.running--;
    }
  }

  /** Resolves when a held entry finished, or after `ms`. */
  private someSettled(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.settleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async ensureGroup(redis: Redis): Promise<void> {
    try {
      // From the start of the stream: events appended before the first gateway started count.
      await redis.xgroup('CREATE', this.key, WORKER_EVENTS_GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!(error instanceof Error && error.message.includes('BUSYGROUP'))) throw error;
    }
  }

  /** Takes over events left unacknowledged for claimIdleMs (failed handlers, dead replicas). */
  private async claimStale(redis: Redis): Promise<void> {
    const idle = this.config.workerEvents.claimIdleMs;
    const pending = (await redis.xpending(
      this.key,
      WORKER_EVENTS_GROUP,
      'IDLE',
      idle,
      '-',
      '+',
      100,
    )) as [string, string, number, number][];
    // Entries this replica holds are not abandoned, only waiting for their subject's turn.
    const stale = pending.filter(([id]) => !this.held.has(id));
    if (stale.length === 0) return;
    const counts = new Map(stale.map(([id, , , count]) => [id, count]));
    const claimed = (await redis.xclaim(
      this.key,
      WORKER_EVENTS_GROUP,
      this.consumerName,
      idle,
      ...stale.map(([id]) => id),
    )) as (StreamEntry | null)[];
    for (const entry of claimed) {
      if (entry === null) continue;
      this.dispatch(redis, entry, (counts.get(entry[0]) ?? 0) + 1);
    }
    // Entries trimmed away while pending come back as nulls (Redis 7 drops them from the PEL).
  }

  private async handle(
    redis: Redis,
    streamId: string,
    parsed: ParsedEntry,
    deliveries: number,
  ): Promise<void> {
    const { raw } = parsed;
    if (!('event' in parsed)) {
      await this.deadLetter(redis, streamId, raw, `invalid event: ${parsed.invalid}`);
      return;
    }
    const { event } = parsed;
    const handler = this.handlers.get(event.type);
    if (handler === undefined) {
      await this.deadLetter(redis, streamId, raw, `no handler for "${event.type}"`);
      return;
    }
    try {
      await handler(event, { streamId, deliveries });
      await redis.xack(this.key, WORKER_EVENTS_GROUP, streamId);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (deliveries >= MAX_DELIVERIES) {
        await this.deadLetter(
          redis,
          streamId,
          raw,
          `handler failed ${deliveries} times: ${message}`,
        );
        return;
      }
      this.logger.warn(
        `worker event ${event.type} ${workerEventKey(event)} failed (delivery ${deliveries}), will retry: ${message}`,
      );
    }
  }

  private async deadLetter(
    redis: Redis,
    streamId: string,
    raw: string | undefined,
    reason: string,
  ): Promise<void> {
    this.logger.error(`worker event ${streamId} dead-lettered: ${reason}`);
    await redis.xadd(
      this.deadKey,
      'MAXLEN',
      '~',
      10_000,
      '*',
      'streamId',
      streamId,
      'event',
      raw ?? '',
      'reason',
      reason,
    );
    await redis.xack(this.key, WORKER_EVENTS_GROUP, streamId);
  }

  /** Drops entries every replica is done with, so the stream does not grow without bound. */
  private async trimMaybe(redis: Redis): Promise<void> {
    if (Date.now() - this.lastTrim < 10_000) return;
    this.lastTrim = Date.now();
    const summary = (await redis.xpending(this.key, WORKER_EVENTS_GROUP)) as [
      number,
      string | null,
      string | null,
      unknown,
    ];
    const groups = (await redis.xinfo('GROUPS', this.key)) as unknown[][];
    const ours = groups.map(toRecord).find((g) => g['name'] === WORKER_EVENTS_GROUP);
    const lastDelivered =
      typeof ours?.['last-delivered-id'] === 'string' ? ours['last-delivered-id'] : null;
    const minId = summary[1] ?? lastDelivered;
    if (minId !== null && minId !== '0-0') await redis.xtrim(this.key, 'MINID', minId);
  }
}

/** Pending (delivered, not acknowledged) and lag (not yet delivered) of the gateway group. */
export async function groupState(
  redis: Redis,
  key: string,
): Promise<{ pending: number; lag: number }> {
  let groups: unknown[][];
  try {
    groups = (await redis.xinfo('GROUPS', key)) as unknown[][];
  } catch (error) {
    if (error instanceof Error && error.message.includes('no such key'))
      return { pending: 0, lag: 0 };
    throw error;
  }
  const ours = groups.map(toRecord).find((g) => g['name'] === WORKER_EVENTS_GROUP);
  if (ours === undefined) {
    const length = await redis.xlen(key);
    return { pending: 0, lag: length };
  }
  const pending = Number(ours['pending'] ?? 0);
  if (ours['lag'] !== null && ours['lag'] !== undefined)
    return { pending, lag: Number(ours['lag']) };
  // Redis reports no lag after deletions in the stream: look for an entry past the last delivered.
  const last = String(ours['last-delivered-id'] ?? '0-0');
  const after = await redis.xrange(key, `(${last}`, '+', 'COUNT', 1);
  return { pending, lag: after.length };
}

type ParsedEntry =
  { raw: string | undefined; event: WorkerEvent } | { raw: string | undefined; invalid: string };

function parseEntry(fields: string[]): ParsedEntry {
  const raw = fieldValue(fields, 'event');
  try {
    return { raw, event: parseWorkerEvent(JSON.parse(raw ?? 'null')) };
  } catch (error) {
    const invalid =
      error instanceof InvalidWorkerEventError || error instanceof SyntaxError
        ? error.message
        : String(error);
    return { raw, invalid };
  }
}

/** What a worker event is about: its events are handled in stream order. */
function subjectOf(event: WorkerEvent): string {
  return 'renderId' in event ? `render:${event.renderId}` : `avatar:${event.avatarId}`;
}

function toRecord(pairs: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) out[String(pairs[i])] = pairs[i + 1];
  return out;
}

function fieldValue(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
