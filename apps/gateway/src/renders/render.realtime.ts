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

/** How often a render's subscribers look for events whose publication was lost. */
export const RENDER_POLL_MS = 10_000;
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
 *
 * Per replica, not per subscriber: a render's `renderUpdated` subscribers share one poll for
 * lost events (one query per RENDER_POLL_MS, from the lowest sequence any of them delivered),
 * and a published message is converted to its GraphQL node once (the parsed message is shared
 * by every listener of its topic). Each stream still takes only its own tenant's events.
 */
@Injectable()
export class RenderRealtime {
  private readonly logger = new Logger(RenderRealtime.name);
  /** Nodes of messages being delivered, by message object (live ones are shared). */
  private readonly nodes = new WeakMap<RenderEventMessage, Promise<RenderEvent | null>>();
  /** The shared poll of each render with subscribers on this replica, by `tenant:render`. */
  private readonly polls = new Map<string, RenderPoll>();
  /** How often each render's shared poll runs (tests shorten it). */
  pollMs = RENDER_POLL_MS;
  /** Rows and nodes for every stream (one object, not two closures per subscriber). */
  private readonly source: StreamSource = {
    rows: (tenantId, renderId, after) => this.rows(tenantId, renderId, after),
    node: (message) => this.node(message),
  };

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
    const stream = new OrderedRenderStream(tenantId, this.source, true);
    await stream.start(this.bus, renderTopic(renderId), {
      renderId,
      startAfter: afterSequence ?? 0,
      load: () => this.replay(tenantId, renderId, afterSequence),
    });
    this.watch(tenantId, renderId, stream);
    return stream;
  }

  /** Every event of the tenant's renders from now on, in order per render. */
  async tenantEvents(tenantId: string): Promise<AsyncIterableIterator<RenderEvent>> {
    const stream = new OrderedRenderStream(tenantId, this.source, false);
    await stream.start(this.bus, tenantRendersTopic(tenantId));
    return stream;
  }

  /** What a renderUpdated stream delivers before live events (see `renderEvents`). */
  private async replay(
    tenantId: string,
    renderId: string,
    afterSequence: number | null,
  ): Promise<RenderEventMessage[]> {
    if (afterSequence !== null) return this.rows(tenantId, renderId, afterSequence);
    const last = await this.db.renders.lastEvent(tenantId, renderId);
    return last ? [messageOf(last)] : [];
  }

  /** Adds a stream to its render's shared poll (started by the first, stopped by the last). */
  private watch(tenantId: string, renderId: string, stream: OrderedRenderStream): void {
    const key = `${tenantId}:${renderId}`;
    const poll = this.polls.get(key) ?? this.startPoll(key, tenantId, renderId);
    poll.streams.add(stream);
    stream.onStop(() => this.unwatch(poll, stream));
  }

  private startPoll(key: string, tenantId: string, renderId: string): RenderPoll {
    const poll: RenderPoll = { key, streams: new Set(), running: false, timer: undefined };
    poll.timer = setInterval(() => void this.pollOnce(tenantId, renderId, poll), this.pollMs);
    poll.timer.unref();
    this.polls.set(key, poll);
    return poll;
  }

  private unwatch(poll: RenderPoll, stream: OrderedRenderStream): void {
    poll.streams.delete(stream);
    if (poll.streams.size === 0 && this.polls.get(poll.key) === poll) {
      clearInterval(poll.timer);
      this.polls.delete(poll.key);
    }
  }

  /**
   * One query for all of a render's subscribers: the rows after the lowest sequence any of them
   * delivered; each stream takes those after its own. A failed query is retried next time.
   */
  private async pollOnce(tenantId: string, renderId: string, poll: RenderPoll): Promise<void> {
    if (poll.running) return;
    let after: number | undefined;
    for (const stream of poll.streams) {
      const last = stream.lastDelivered(renderId);
      if (last !== undefined && (after === undefined || last < after)) after = last;
    }
    if (after === undefined) return; // all still replaying
    poll.running = true;
    try {
      const missed = await this.rows(tenantId, renderId, after);
      if (missed.length === 0) return;
      for (const stream of poll.streams) stream.offer(missed);
    } catch (error) {
      this.logger.warn(`could not poll the events of render ${renderId}: ${String(error)}`);
    } finally {
      poll.running = false;
    }
  }

  private node(message: RenderEventMessage): Promise<RenderEvent | null> {
    let node = this.nodes.get(message);
    if (!node) {
      node = this.toNode(message);
      this.nodes.set(message, node);
    }
    return node;
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

/** Where streams read rows (their own tenant's only) and get a message's node. */
interface StreamSource {
  rows(tenantId: string, renderId: string, after: number): Promise<RenderEventMessage[]>;
  node(message: RenderEventMessage): Promise<RenderEvent | null>;
}

interface RenderPoll {
  /** `tenant:render`, its key in `polls`. */
  readonly key: string;
  readonly streams: Set<OrderedRenderStream>;
  running: boolean;
  timer: NodeJS.Timeout | undefined;
}

type Waiter = (result: IteratorResult<RenderEvent>) => void;

/**
 * An async iterator of RenderEvents in sequence order per render. Live messages and replays
 * are processed one at a time (a promise chain), so the order in which they arrive cannot
 * reorder what is delivered. `return()` unsubscribes at once, even while waiting.
 *
 * Thousands are open at once, each for as long as its subscription: what one keeps is small
 * (the last sequence of its first render in fields, of others in a map made when needed; one
 * waiter in a field, as its consumer asks for one event at a time; queues only while needed).
 */
class OrderedRenderStream implements AsyncIterableIterator<RenderEvent> {
  /** Events delivered and not yet read (none while the consumer waits). */
  private ready: RenderEvent[] | undefined;
  /** The consumer waiting for the next event, and any who asked after it. */
  private waiter: Waiter | undefined;
  private moreWaiters: Waiter[] | undefined;
  /** Last sequence delivered: of one render in fields, of any others in the map. */
  private firstRender: string | undefined;
  private firstLast = 0;
  private otherLast: Map<string, number> | undefined;
  private chain: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;
  private stopped: (() => void) | undefined;
  private ended = false;
  private failure: unknown;

  constructor(
    /** Messages of any other tenant are dropped (never delivered, never converted). */
    private readonly tenantId: string,
    private readonly source: StreamSource,
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
    this.chain = new Promise<void>((resolve) => (open = resolve));
    if (replay) this.enqueueReplay(replay.renderId, replay.startAfter, replay.load);
    try {
      this.unsubscribe = await bus.subscribe<RenderEventMessage>(topic, this.onMessage);
    } finally {
      open();
    }
  }

  /** The last sequence delivered of a render; undefined while its replay is still running. */
  lastDelivered(renderId: string): number | undefined {
    if (renderId === this.firstRender) return this.firstLast;
    return this.otherLast?.get(renderId);
  }

  /**
   * Rows found by a poll (events whose publication was lost: a final event would otherwise
   * never come), in sequence order, taken like live messages: those already delivered are
   * skipped, and a gap before them (the poll started after another subscriber's last sequence)
   * is filled from this stream's own rows.
   */
  offer(messages: readonly RenderEventMessage[]): void {
    this.enqueue(async () => {
      for (const message of messages) await this.onLive(message);
    });
  }

  /** Calls `listener` once the stream stopped (at once if it already has). */
  onStop(listener: () => void): void {
    if (this.ended) {
      listener();
      return;
    }
    const before = this.stopped;
    this.stopped = before
      ? () => {
          before();
          listener();
        }
      : listener;
  }

  /** The listener on the topic (a field: its closure keeps nothing of `start`). */
  private readonly onMessage = (message: RenderEventMessage): void =>
    this.enqueue(() => this.onLive(message));

  private enqueueReplay(
    renderId: string,
    startAfter: number,
    load: () => Promise<RenderEventMessage[]>,
  ): void {
    this.enqueue(async () => {
      for (const message of await load()) await this.deliver(message);
      if (this.lastDelivered(renderId) === undefined) this.setLast(renderId, startAfter);
    });
  }

  private setLast(renderId: string, sequence: number): void {
    if (this.firstRender === undefined || this.firstRender === renderId) {
      this.firstRender = renderId;
      this.firstLast = sequence;
      this.otherLast?.delete(renderId);
    } else {
      (this.otherLast ??= new Map()).set(renderId, sequence);
    }
  }

  private forgetLast(renderId: string): void {
    if (renderId === this.firstRender) {
      this.firstRender = undefined;
      this.firstLast = 0;
    } else {
      this.otherLast?.delete(renderId);
    }
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
    if (message.tenantId !== this.tenantId) return;
    const last = this.lastDelivered(message.renderId);
    if (last !== undefined) {
      if (message.sequence <= last) return; // already delivered (replay, or published twice)
      if (message.sequence > last + 1) {
        // Published out of order by two replicas, or a publication was lost: the rows have it.
        for (const missed of await this.source.rows(this.tenantId, message.renderId, last)) {
          if (missed.sequence < message.sequence) await this.deliver(missed);
        }
      }
    }
    await this.deliver(message);
  }

  private async deliver(message: RenderEventMessage): Promise<void> {
    const last = this.lastDelivered(message.renderId);
    if (this.ended || message.tenantId !== this.tenantId) return;
    if (last !== undefined && message.sequence <= last) return;
    this.setLast(message.renderId, message.sequence);
    const node = await this.source.node(message);
    if (node) this.push(node);
    if (FINAL_TYPES.has(message.type) || (node && isFinished(node.render.status))) {
      if (this.endAfterFinal) this.finish();
      else this.forgetLast(message.renderId);
    }
  }

  private push(node: RenderEvent): void {
    const waiter = this.takeWaiter();
    if (waiter) waiter({ value: node, done: false });
    else (this.ready ??= []).push(node);
  }

  private takeWaiter(): Waiter | undefined {
    const waiter = this.waiter;
    this.waiter = this.moreWaiters?.shift();
    if (this.moreWaiters?.length === 0) this.moreWaiters = undefined;
    return waiter;
  }

  /** Ends the stream after what is ready has been read. */
  private finish(): void {
    this.ended = true;
    this.stop();
    for (let waiter = this.takeWaiter(); waiter; waiter = this.takeWaiter()) {
      waiter({ value: undefined, done: true });
    }
  }

  private fail(error: unknown): void {
    this.failure = error;
    this.finish();
  }

  private stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    const stopped = this.stopped;
    this.stopped = undefined;
    stopped?.();
  }

  next(): Promise<IteratorResult<RenderEvent>> {
    const value = this.ready?.shift();
    if (this.ready?.length === 0) this.ready = undefined;
    if (value) return Promise.resolve({ value, done: false });
    if (this.failure !== undefined) {
      const error = this.failure;
      this.failure = undefined;
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      if (this.waiter) (this.moreWaiters ??= []).push(resolve);
      else this.waiter = resolve;
    });
  }

  return(): Promise<IteratorResult<RenderEvent>> {
    this.ready = undefined;
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
