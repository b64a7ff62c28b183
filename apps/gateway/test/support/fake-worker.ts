// A stand-in for a render worker in gateway specs: it advertises itself the way
// gpu-workers/render-worker does (heartbeat key with a TTL) and appends contract-valid events
// to the worker-events stream. (Apps may not import gpu-workers, so this repeats the two
// Redis calls; both sides are checked against libs/contracts.)
import { randomUUID } from 'node:crypto';
import {
  WORKER_EVENTS_STREAM,
  WORKER_HEARTBEAT_PREFIX,
  WorkerHeartbeatV1,
  parseWorkerEvent,
} from '@likeness/contracts';
import type { WorkerEvent, WorkerEventInput, WorkerHeartbeat } from '@likeness/contracts';
import { Redis } from 'ioredis';

export interface FakeWorkerPack {
  name: string;
  version?: string;
  identity?: boolean;
  motion?: boolean;
  maxSide?: number;
  fps?: number;
  maxFramesPerClip?: number;
}

export interface FakeWorker {
  readonly workerId: string;
  /** Every event its runs appended, in order (to deliver one again in duplicate tests). */
  readonly emitted: WorkerEvent[];
  /** Writes (or renews) the advertisement. */
  advertise(changes?: Partial<Pick<WorkerHeartbeat, 'currentJobs' | 'capacity'>>): Promise<void>;
  /** Starts a run (fresh run id, seq from 0) and returns its emitter. */
  startRun(): { run: string; emit(event: WorkerEventInput): Promise<string> };
  /** Appends a raw entry, valid or not (for malformed-event tests). */
  appendRaw(fields: Record<string, string>): Promise<string>;
  /** Removes the advertisement and closes the connection. */
  close(): Promise<void>;
}

export async function startFakeWorker(
  redisUrl: string,
  prefix: string,
  options: {
    workerId?: string;
    packs?: FakeWorkerPack[];
    provider?: 'cpu' | 'cuda';
    ttlMs?: number;
  } = {},
): Promise<FakeWorker> {
  const redis = new Redis(redisUrl);
  const workerId = options.workerId ?? `fake-${randomUUID().slice(0, 8)}`;
  const startedAt = new Date().toISOString();
  const streamKey = `${prefix}:${WORKER_EVENTS_STREAM}`;
  const heartbeatKey = `${prefix}:${WORKER_HEARTBEAT_PREFIX}${workerId}`;
  let state: Pick<WorkerHeartbeat, 'currentJobs' | 'capacity'> = { currentJobs: [], capacity: 1 };
  const packs = (options.packs ?? [{ name: 'reference' }]).map((p) => ({
    name: p.name,
    version: p.version ?? '1.0.0',
    capabilities: {
      identity: p.identity ?? true,
      motion: p.motion ?? true,
      maxSide: p.maxSide ?? 512,
    },
    fps: p.fps ?? 23,
    maxFramesPerClip: p.maxFramesPerClip ?? 33,
  }));

  const emitted: WorkerEvent[] = [];
  const worker: FakeWorker = {
    workerId,
    emitted,
    async advertise(changes = {}) {
      state = { ...state, ...changes };
      const body = WorkerHeartbeatV1.parse({
        v: 1,
        workerId,
        provider: options.provider ?? 'cpu',
        packs,
        ...state,
        startedAt,
        at: new Date().toISOString(),
      });
      await redis.set(heartbeatKey, JSON.stringify(body), 'PX', options.ttlMs ?? 15_000);
    },
    startRun() {
      const run = randomUUID();
      let seq = 0;
      return {
        run,
        emit: async (input) => {
          const event = parseWorkerEvent({
            ...input,
            v: 1,
            run,
            seq: seq++,
            workerId,
            at: new Date().toISOString(),
          });
          emitted.push(event);
          return (await redis.xadd(streamKey, '*', 'event', JSON.stringify(event))) ?? '';
        },
      };
    },
    async appendRaw(fields) {
      return (await redis.xadd(streamKey, '*', ...Object.entries(fields).flat())) ?? '';
    },
    async close() {
      await redis.del(heartbeatKey);
      await redis.quit();
    },
  };
  await worker.advertise();
  return worker;
}
