// The bench's render worker, in its own process (forked by run.ts): a real BullMQ Worker on the
// `render` queue (libs/contracts names, the gateway's REDIS_PREFIX) that parses each job as
// RenderJobV1, advertises itself with a heartbeat (pack, capacity) and reports through the
// worker-events stream like gpu-workers/render-worker — but does no model work. It tells the
// orchestrator the wall-clock moment each processor starts. Environment: REDIS_URL,
// REDIS_PREFIX, BENCH_WORKER_CAPACITY.
import { randomUUID } from 'node:crypto';
import {
  JobName,
  QueueName,
  WORKER_EVENTS_STREAM,
  WORKER_HEARTBEAT_PREFIX,
  WorkerHeartbeatV1,
  parseJobPayload,
  parseWorkerEvent,
  type JobPayload,
  type WorkerEventInput,
} from '@likeness/contracts';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { wallMs, type FromWorker, type ToWorker } from './common';

type RenderJob = JobPayload<typeof JobName.Render>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type RenderEventInput = DistributiveOmit<WorkerEventInput, 'tenantId' | 'renderId' | 'attempt'>;

const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const prefix = process.env['REDIS_PREFIX'] ?? '';
const capacity = Number(process.env['BENCH_WORKER_CAPACITY'] ?? 16);
const workerId = `bench-${randomUUID().slice(0, 8)}`;
const streamKey = `${prefix}:${WORKER_EVENTS_STREAM}`;
const heartbeatKey = `${prefix}:${WORKER_HEARTBEAT_PREFIX}${workerId}`;
const startedAt = new Date().toISOString();
const HEARTBEAT_TTL_MS = 15_000;
/** Far more steps than the bench sends: every progress event carries a fresh step number. */
const TOTAL_STEPS = 1_000_000;

const redis = new Redis(redisUrl);
let mode: 'quick' | 'hold' = 'quick';

function send(message: FromWorker): void {
  process.send?.(message);
}

/** The advertisement gpu-workers/render-worker writes: the reference pack, this capacity. */
async function advertise(currentJobs: number): Promise<void> {
  const body = WorkerHeartbeatV1.parse({
    v: 1,
    workerId,
    provider: 'cpu',
    packs: [
      {
        name: 'reference',
        version: '1.0.0',
        capabilities: { identity: true, motion: true, maxSide: 512 },
        fps: 23,
        maxFramesPerClip: 33,
      },
    ],
    capacity,
    currentJobs: [...held.values()]
      .slice(0, currentJobs)
      .map((h) => ({ queue: QueueName.Render, jobId: h.jobId, since: h.since })),
    startedAt,
    at: new Date().toISOString(),
  });
  await redis.set(heartbeatKey, JSON.stringify(body), 'PX', HEARTBEAT_TTL_MS);
}

interface Run {
  job: RenderJob;
  jobId: string;
  since: string;
  emit(event: RenderEventInput): Promise<void>;
  step: number;
  finish: () => void;
}

const held = new Map<string, Run>();

function startRun(job: RenderJob, jobId: string): Omit<Run, 'finish'> {
  const run = randomUUID();
  let seq = 0;
  return {
    job,
    jobId,
    since: new Date().toISOString(),
    step: 0,
    emit: async (input) => {
      const event = parseWorkerEvent({
        ...input,
        tenantId: job.tenantId,
        renderId: job.renderId,
        attempt: job.attempt,
        v: 1,
        run,
        seq: seq++,
        workerId,
        at: new Date().toISOString(),
      });
      await redis.xadd(streamKey, '*', 'event', JSON.stringify(event));
    },
  };
}

function succeeded(job: RenderJob): RenderEventInput {
  return {
    type: 'render.succeeded',
    output: {
      storageKey: `${job.mediaPrefix ?? ''}output.mp4`,
      posterKey: `${job.mediaPrefix ?? ''}poster.jpg`,
      mime: 'video/mp4',
      bytes: 1000,
      sha256: 'b'.repeat(64),
      durationSeconds: 1,
      width: job.maxSide,
      height: job.maxSide,
      fps: job.fps,
      frames: job.fps,
    },
    seed: job.seed,
    identityScore: 0.9,
    modelSeconds: 0,
  };
}

async function processor(bullJob: Job): Promise<void> {
  const at = wallMs();
  const job = parseJobPayload(JobName.Render, bullJob.data);
  send({
    type: 'start',
    renderId: job.renderId,
    at,
    jobTimestamp: bullJob.timestamp,
    processedOn: bullJob.processedOn ?? NaN,
  });
  const base = startRun(job, bullJob.id ?? '');
  await base.emit({ type: 'render.started', resumedFromClip: 0, clips: 1 });
  if (mode === 'quick') {
    await base.emit(succeeded(job));
    return;
  }
  await new Promise<void>((finish) => {
    held.set(job.renderId, { ...base, finish });
    send({ type: 'held', renderId: job.renderId });
  });
}

async function progress(message: Extract<ToWorker, { type: 'progress' }>): Promise<void> {
  const run = held.get(message.renderId);
  if (!run) throw new Error(`render ${message.renderId} is not held`);
  const sends: [number, number][] = [];
  for (let i = 0; i < message.count; i++) {
    if (i > 0 && message.intervalMs > 0) {
      await new Promise((r) => setTimeout(r, message.intervalMs));
    }
    const step = ++run.step;
    const sentAt = wallMs();
    await run.emit({
      type: 'render.progress',
      phase: 'denoising',
      clip: 0,
      clips: 1,
      step,
      totalSteps: TOTAL_STEPS,
      fraction: step / TOTAL_STEPS,
      etaSeconds: null,
    });
    sends.push([step, sentAt]);
  }
  send({ type: 'sent', token: message.token, renderId: message.renderId, sends });
}

async function finish(renderIds: readonly string[]): Promise<void> {
  for (const id of renderIds) {
    const run = held.get(id);
    if (!run) continue;
    held.delete(id);
    await run.emit(succeeded(run.job));
    run.finish();
  }
}

async function main(): Promise<void> {
  await advertise(0);
  const heartbeat = setInterval(() => void advertise(held.size).catch(() => undefined), 3000);
  const worker = new Worker(QueueName.Render, processor, {
    connection: { url: redisUrl, maxRetriesPerRequest: null },
    prefix,
    concurrency: capacity,
    name: workerId,
  });
  worker.on('error', (error) => send({ type: 'error', message: String(error) }));
  await worker.waitUntilReady();

  const stop = async (): Promise<void> => {
    clearInterval(heartbeat);
    await finish([...held.keys()]);
    await worker.close();
    await redis.del(heartbeatKey);
    await redis.quit();
    process.exit(0);
  };
  process.on('message', (message: ToWorker) => {
    const fail = (error: unknown) => send({ type: 'error', message: String(error) });
    switch (message.type) {
      case 'mode':
        mode = message.mode;
        break;
      case 'progress':
        progress(message).catch(fail);
        break;
      case 'finish':
        finish(message.renderIds).catch(fail);
        break;
      case 'stop':
        stop().catch(fail);
        break;
    }
  });
  process.on('disconnect', () => void stop());
  send({ type: 'ready', workerId });
}

main().catch((error: unknown) => {
  process.stderr.write(`bench worker: ${String(error)}\n`);
  process.exit(1);
});
