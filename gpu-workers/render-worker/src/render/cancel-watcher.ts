import {
  RENDER_CANCEL_CHANNEL,
  RenderCancelSignalV1,
  renderCancelKey,
  type RenderCancelSignal,
} from '@likeness/contracts';
import type { Redis } from 'ioredis';

type Listener = (signal: RenderCancelSignal) => void;

/**
 * The gateway's cancel signals for the renders this worker runs (libs/contracts
 * `render-cancel.ts`): the key `<prefix>:render-cancel:<renderId>`, read when a render starts and
 * between clips, and the `<prefix>:render-cancel` channel, heard on one subscriber connection of
 * the worker's own and passed to whoever watches that render.
 */
export class RenderCancelWatcher {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly channel: string;

  private constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly prefix: string,
  ) {
    this.channel = `${prefix}:${RENDER_CANCEL_CHANNEL}`;
  }

  /** Subscribes (on a duplicate of `redis`) before resolving, so no signal sent after it is missed. */
  static async start(redis: Redis, prefix: string): Promise<RenderCancelWatcher> {
    const subscriber = redis.duplicate();
    const watcher = new RenderCancelWatcher(redis, subscriber, prefix);
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === watcher.channel) watcher.deliver(message);
    });
    // A transient error is ioredis's to reconnect from (it re-subscribes); the key check between
    // clips covers a signal published while it was away.
    subscriber.on('error', () => undefined);
    await subscriber.subscribe(watcher.channel);
    return watcher;
  }

  /** The stored signal for this render, if the gateway has asked for it to stop. */
  async stored(renderId: string): Promise<RenderCancelSignal | null> {
    const raw = await this.redis.get(`${this.prefix}:${renderCancelKey(renderId)}`);
    if (raw === null) return null;
    return parse(raw);
  }

  /** Calls `listener` for each signal published for `renderId`, until the returned function runs. */
  watch(renderId: string, listener: Listener): () => void {
    let set = this.listeners.get(renderId);
    if (!set) {
      set = new Set();
      this.listeners.set(renderId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(renderId);
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.subscriber.quit().catch(() => this.subscriber.disconnect());
  }

  private deliver(message: string): void {
    const signal = parse(message);
    if (!signal) return;
    for (const listener of this.listeners.get(signal.renderId) ?? []) listener(signal);
  }
}

function parse(raw: string): RenderCancelSignal | null {
  try {
    const result = RenderCancelSignalV1.safeParse(JSON.parse(raw));
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}
