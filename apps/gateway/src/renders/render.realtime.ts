import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  renderFromSnapshot,
  type Db,
  type JsonValue,
  type Render as RenderRow,
  type RenderEvent as RenderEventRow,
} from '@likeness/db';
import { DB } from '../infra/infra.module';
import { EventBus } from '../realtime';
import type { RenderEvent } from './render.model';
import { isFinished, toRenderNode } from './render-view';

/** What crosses replicas on Redis pub/sub: one RenderEvent row. */
export interface RenderEventMessage {
  tenantId: string;
  renderId: string;
  sequence: number;
  type: string;
  at: string;
  payload: JsonValue;
}

export const renderTopic = (renderId: string): string => `render:${renderId}`;
export const tenantRendersTopic = (tenantId: string): string => `renders:${tenantId}`;

/** How often a renderUpdated stream looks for events whose publication was lost. */
const POLL_MS = 10_000;
const REPLAY_PAGE = 1000;
const FINAL_TYPES = new Set(['render.succeeded', 'render.failed', 'render.canceled']);

function messageOf(event: RenderEventRow): RenderEventMessage {
  return {
    tenantId: event.tenantId,
    renderId: event.renderId,
    sequence: event.sequence,
    type: event.type,
    at: event.createdAt.toISOString(),
    payload: event.payload,
  };
}

/**
 * RenderEvents to GraphQL subscribers on every replica. Every committed change publishes its
 * row on `render:<id>` and `renders:<tenantId>` (EventBus, Redis pub/sub). Postgres stays the
 * source of truth: a subscriber subscribes first, then replays the rows it missed, and fills
 * any gap between the last sequence it delivered and a live one from the rows too — so events
 * arrive in sequence order without gaps or duplicates, even when two replicas publish
 * consecutive events of one render in the opposite order, or a publication is lost.
 */
@Injectable()
export class RenderRealtime {
  private readonly logger = new Logger(RenderRealtime.name);

  constructor(
    private readonly bus: EventBus,
    @Inject(DB) private readonly db: Db,
  ) {}

  /** Publishes a committed event; never throws (subscribers recover from the rows). */
  async publish(event: RenderEventRow): Promise<void> {
    const message = messageOf(event);
    try {
      await Promise.all([
        this.bus.publish(renderTopic(event.renderId), message),
        this.bus.publish(tenantRendersTopic(event.tenantId), message),
      ]);
    } catch (error) {
      this.logger.warn(
        `could not publish ${event.type} of render ${event.renderId}: ${String(error)}`,
      );
    }
  }

  /**
   * One render's events after `afterSequence` (0: all of them; null: only the latest, as the
   * current state), then live ones; ends after the final event (succeeded, failed, canceled).
   */
  async renderEvents(
    tenantId: string,
    renderId: string,
    afterSequence: number | null,
  ): Promise<AsyncIterableIterator<RenderEvent>> {
    const stream = new OrderedRenderStream(
      (renderId, after) => this.rows(tenantId, renderId, after),
      (message) => this.toNode(message),
      true,
    );
    await stream.start(this.bus, renderTopic(renderId), {
      renderId,
      startAfter: afterSequence ?? 0,
      load: async () => {
        if (afterSequence !== null) return this.rows(tenantId, renderId, afterSequence);
        const last = await this.db.renders.lastEvent(tenantId, renderId);
        return last ? [messageOf(last)] : [];
      },
    });
    stream.pollEvery(POLL_MS, renderId);
    return stream;
  }

  /** Every event of the tenant's renders from now on, in order per render. */
  async tenantEvents(tenantId: string): Promise<AsyncIterableIterator<RenderEvent>> {
    const stream = new OrderedRenderStream(
      (renderId, after) => this.rows(tenantId, renderId, after),
      (message) => this.toNode(message),
      false,
    );
    await stream.start(this.bus, tenantRendersTopic(tenantId));
    return stream;
  }

  private async rows(
    tenantId: string,
    renderId: string,
    after: number,
  ): Promise<RenderEventMessage[]> {
    const out: RenderEventMessage[] = [];
    for (let from = after; ;) {
      const page = await this.db.renders.listEvents(tenantId, renderId, from, REPLAY_PAGE);
      out.push(...page.map(messageOf));
      if (page.length < REPLAY_PAGE) return out;
      from = page[page.length - 1]?.sequence ?? from;
    }
  }

  private async toNode(message: RenderEventMessage): Promise<RenderEvent | null> {
    let row: RenderRow | null = renderFromSnapshot(message.payload);
    // Events written without a snapshot (none by this module) show the render as it is now.
    row ??= await this.db.renders.findById(message.tenantId, message.renderId);
    if (!row) return null;
    return {
      sequence: message.sequence,
      type: message.type,
      at: new Date(message.at),
      render: toRenderNode(row),
    };
  }
}

type Fetch = (renderId: string, after: number) => Promise<RenderEventMessage[]>;

/**
 * An async iterator of RenderEvents in sequence order per render. Live messages and replays
 * are processed one at a time (a promise chain), so the order in which they arrive cannot
 * reorder what is delivered. `return()` unsubscribes at once, even while waiting.
 */
class OrderedRenderStream implements AsyncIterableIterator<RenderEvent> {
  private readonly ready: RenderEvent[] = [];
  private readonly waiters: ((result: IteratorResult<RenderEvent>) => void)[] = [];
  private readonly last = new Map<string, number>();
  private chain: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  private failure: unknown;

  constructor(
    private readonly fetch: Fetch,
    private readonly toNode: (message: RenderEventMessage) => Promise<RenderEvent | null>,
    private readonly endAfterFinal: boolean,
  ) {}

  /**
   * Subscribes; once Redis confirmed it, `replay.load` runs and what it returns is delivered
   * before any live message (all of them wait behind it), and afterwards nothing at or below
   * `replay.startAfter` is delivered.
   */
  async start(
    bus: EventBus,
    topic: string,
    replay?: {
      renderId: string;
      startAfter: number;
      load: () => Promise<RenderEventMessage[]>;
    },
  ): Promise<void> {
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    this.chain = gate;
    if (replay) {
      this.enqueue(async () => {
        for (const message of await replay.load()) await this.deliver(message);
        if (!this.last.has(replay.renderId)) this.last.set(replay.renderId, replay.startAfter);
      });
    }
    try {
      this.unsubscribe = await bus.subscribe<RenderEventMessage>(topic, (message) =>
        this.enqueue(() => this.onLive(message)),
      );
    } finally {
      open();
    }
  }

  /** Looks for events whose publication was lost (a final event would otherwise never come). */
  pollEvery(ms: number, renderId: string): void {
    this.timer = setInterval(() => {
      this.enqueue(async () => {
        const after = this.last.get(renderId);
        if (after === undefined) return;
        for (const message of await this.fetch(renderId, after)) await this.deliver(message);
      });
    }, ms);
    this.timer.unref();
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(async () => {
      if (this.ended) return;
      try {
        await task();
      } catch (error) {
        this.fail(error);
      }
    });
  }

  private async onLive(message: RenderEventMessage): Promise<void> {
    const last = this.last.get(message.renderId);
    if (last !== undefined) {
      if (message.sequence <= last) return; // already delivered (replay, or published twice)
      if (message.sequence > last + 1) {
        // Published out of order by two replicas, or a publication was lost: the rows have it.
        for (const missed of await this.fetch(message.renderId, last)) {
          if (missed.sequence < message.sequence) await this.deliver(missed);
        }
      }
    }
    await this.deliver(message);
  }

  private async deliver(message: RenderEventMessage): Promise<void> {
    const last = this.last.get(message.renderId);
    if (this.ended || (last !== undefined && message.sequence <= last)) return;
    this.last.set(message.renderId, message.sequence);
    const node = await this.toNode(message);
    if (node) this.push(node);
    if (FINAL_TYPES.has(message.type) || (node && isFinished(node.render.status))) {
      if (this.endAfterFinal) this.finish();
      else this.last.delete(message.renderId);
    }
  }

  private push(node: RenderEvent): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter({ value: node, done: false });
    else this.ready.push(node);
  }

  /** Ends the stream after what is ready has been read. */
  private finish(): void {
    this.ended = true;
    this.stop();
    for (const waiter of this.waiters.splice(0)) waiter({ value: undefined, done: true });
  }

  private fail(error: unknown): void {
    this.failure = error;
    this.finish();
  }

  private stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer) clearInterval(this.timer);
  }

  next(): Promise<IteratorResult<RenderEvent>> {
    const value = this.ready.shift();
    if (value) return Promise.resolve({ value, done: false });
    if (this.failure !== undefined) {
      const error = this.failure;
      this.failure = undefined;
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  return(): Promise<IteratorResult<RenderEvent>> {
    this.ready.length = 0;
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<RenderEvent>> {
    this.return().catch(() => undefined);
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<RenderEvent> {
    return this;
  }
}
