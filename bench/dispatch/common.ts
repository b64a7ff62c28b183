// What run.ts and its child processes (worker.ts, subscribers.ts) share: the IPC messages,
// one wall clock with sub-millisecond resolution, and percentiles.
import { performance } from 'node:perf_hooks';

/**
 * Milliseconds since the epoch with sub-millisecond resolution. Every process of the bench runs
 * on this machine, so the clocks of the orchestrator, the worker and the subscribers agree.
 */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Orchestrator → bench worker. */
export type ToWorker =
  /** quick: started then succeeded at once; hold: started, then wait for `finish`. */
  | { type: 'mode'; mode: 'quick' | 'hold' }
  /** Emit `count` render.progress events for the held render, `intervalMs` apart (0: at once). */
  | { type: 'progress'; token: number; renderId: string; count: number; intervalMs: number }
  /** Emit render.succeeded for held renders and let their jobs complete. */
  | { type: 'finish'; renderIds: string[] }
  | { type: 'stop' };

/** Bench worker → orchestrator. */
export type FromWorker =
  | { type: 'ready'; workerId: string }
  /** The processor of a render job started (`at`), and what BullMQ recorded of the job. */
  | { type: 'start'; renderId: string; at: number; jobTimestamp: number; processedOn: number }
  /** A held render's render.started is on the stream. */
  | { type: 'held'; renderId: string }
  /** Progress events emitted: [step, wall ms just before XADD]. */
  | { type: 'sent'; token: number; renderId: string; sends: [number, number][] }
  | { type: 'error'; message: string };

/** Orchestrator → subscriber process. */
export type ToSubscribers =
  /** Opens one graphql-ws socket per token (connection_init acknowledged), `parallel` at once. */
  | { type: 'connect'; url: string; tokens: string[]; parallel: number; timeoutMs: number }
  /**
   * Subscribes `renderUpdated(id)` on the sockets, the i-th socket to `renderIds[i]`; a
   * subscription counts once its first event (the latest, replayed) arrived.
   */
  | { type: 'subscribe'; renderIds: string[]; parallel: number; timeoutMs: number }
  /** Send what was received since the last report (and forget it). */
  | { type: 'report' }
  | { type: 'close' };

/** Subscriber process → orchestrator. */
export type FromSubscribers =
  | { type: 'done'; ok: number; failed: number; firstError: string | null; ms: number }
  /** Receive times (wall ms) of progress deliveries by `<renderId>:<step>`. */
  | {
      type: 'report';
      received: Record<string, number[]>;
      errors: number;
      firstError: string | null;
    }
  | { type: 'closed' };

/** Nearest-rank percentile of sorted values (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? NaN;
}

export function sortedCopy(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

export function median(values: readonly number[]): number {
  return percentile(sortedCopy(values), 50);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
