// A stand-in for the render workers in gateway specs: a real BullMQ Worker on the `render`
// queue (same prefix as the gateway) that validates each job against the contract, reports
// through contract-valid worker events (fake-worker.ts: XADD + heartbeat) and honours cancel
// signals the way the real worker must (libs/contracts render-cancel.ts).
import {
  JobName,
  QueueName,
  RENDER_CANCEL_CHANNEL,
  RENDER_CANCEL_REASON,
  RenderCancelSignalV1,
  parseJobPayload,
  renderCancelKey,
  type JobPayload,
  type WorkerEventInput,
} from '@likeness/contracts';
import { WaitingError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { startFakeWorker, type FakeWorker, type FakeWorkerPack } from './fake-worker';

export type RenderJob = JobPayload<typeof JobName.Render>;

export interface SimJob {
  readonly job: RenderJob;
  readonly jobId: string;
  /** Emits a render event of this job's run (ids, attempt filled in). */
  emit(
    event: DistributiveOmit<WorkerEventInput, 'tenantId' | 'renderId' | 'attempt'>,
  ): Promise<void>;
  /** Aborted by a cancel signal (reason RENDER_CANCEL_REASON) or the worker closing. */
  readonly signal: AbortSignal;
  /** True when a cancel was requested for this render (checked at start and on abort). */
  canceled(): boolean;
  /** This run's id (fake-worker's `emitted` holds its events). */
  readonly run: string;
  /**
   * Puts the job back in the waiting list the way a worker shutting down does
   * (`moveToWait` + WaitingError, no attempt spent); the script must let the rejection through.
   */
  requeue(): Promise<never>;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export type SimScript = (sim: SimJob) => Promise<void>;

export interface RenderWorkerSim {
  readonly fake: FakeWorker;
  /** Render jobs in the order this pool started them. */
  readonly started: RenderJob[];
  close(): Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Steps of denoising, checking for a cancel between steps, then encoding and success. */
export function happyPath(
  options: { steps?: number; stepMs?: number; identityScore?: number } = {},
) {
  const steps = options.steps ?? 3;
  return async (sim: SimJob): Promise<void> => {
    await sim.emit({ type: 'render.started', resumedFromClip: 0, clips: 1 });
    for (let step = 1; step <= steps; step++) {
      if (options.stepMs) await sleep(options.stepMs);
      if (sim.signal.aborted) {
        if (sim.canceled()) await sim.emit({ type: 'render.canceled' });
        return;
      }
      await sim.emit({
        type: 'render.progress',
        phase: 'denoising',
        clip: 0,
        clips: 1,
        step,
        totalSteps: steps,
        fraction: (step / steps) * 0.9,
        etaSeconds: steps - step,
        previewKey: `${sim.job.mediaPrefix ?? ''}preview-${step}.jpg`,
      });
    }
    await sim.emit({
      type: 'render.progress',
      phase: 'encoding',
      clip: 0,
      clips: 1,
      step: steps,
      totalSteps: steps,
      fraction: 0.95,
      etaSeconds: 0,
    });
    const frames = 46;
    await sim.emit({
      type: 'render.succeeded',
      output: {
        storageKey: `${sim.job.mediaPrefix ?? ''}output.mp4`,
        posterKey: `${sim.job.mediaPrefix ?? ''}poster.jpg`,
        mime: 'video/mp4',
        bytes: 123_456,
        sha256: 'a'.repeat(64),
        durationSeconds: frames / sim.job.fps,
        width: sim.job.maxSide,
        height: sim.job.maxSide,
        fps: sim.job.fps,
        frames,
      },
      seed: sim.job.seed,
      identityScore: options.identityScore ?? 0.93,
      modelSeconds: 1.5,
    });
  };
}

export async function startRenderWorkerSim(options: {
  redisUrl: string;
  prefix: string;
  concurrency?: number;
  packs?: FakeWorkerPack[];
  script?: SimScript;
  workerId?: string;
}): Promise<RenderWorkerSim> {
  const concurrency = options.concurrency ?? 1;
  const fake = await startFakeWorker(options.redisUrl, options.prefix, {
    ...(options.workerId ? { workerId: options.workerId } : {}),
    ...(options.packs ? { packs: options.packs } : {}),
  });
  await fake.advertise({ capacity: concurrency });
  const renew = setInterval(() => void fake.advertise().catch(() => undefined), 3000);
  const redis = new Redis(options.redisUrl);
  const subscriber = new Redis(options.redisUrl);
  const started: RenderJob[] = [];
  const script = options.script ?? happyPath();
  const canceledJobs = new Set<string>();

  const worker = new Worker(
    QueueName.Render,
    async (bullJob: Job, token?: string, signal?: AbortSignal) => {
      const job = parseJobPayload(JobName.Render, bullJob.data);
      started.push(job);
      const run = fake.startRun();
      const jobId = bullJob.id ?? '';
      const cancelKey = `${options.prefix}:${renderCancelKey(job.renderId)}`;
      let canceled = (await redis.get(cancelKey)) !== null;
      const sim: SimJob = {
        job,
        jobId,
        signal: signal ?? new AbortController().signal,
        canceled: () => canceled || canceledJobs.has(jobId),
        run: run.run,
        requeue: async () => {
          await bullJob.moveToWait(token);
          throw new WaitingError();
        },
        emit: async (event) => {
          await run.emit({
            ...event,
            tenantId: job.tenantId,
            renderId: job.renderId,
            attempt: job.attempt,
          } as WorkerEventInput);
        },
      };
      if (canceled) {
        await sim.emit({ type: 'render.canceled' });
        return;
      }
      await script(sim);
      canceled = canceled || signal?.reason === RENDER_CANCEL_REASON;
    },
    {
      connection: { url: options.redisUrl, maxRetriesPerRequest: null },
      prefix: options.prefix,
      concurrency,
      name: fake.workerId,
    },
  );
  worker.on('error', () => undefined);
  await subscriber.subscribe(`${options.prefix}:${RENDER_CANCEL_CHANNEL}`);
  subscriber.on('message', (_channel: string, message: string) => {
    const parsed = RenderCancelSignalV1.safeParse(JSON.parse(message));
    if (!parsed.success || parsed.data.jobId === null) return;
    canceledJobs.add(parsed.data.jobId);
    worker.cancelJob(parsed.data.jobId, RENDER_CANCEL_REASON);
  });
  await worker.waitUntilReady();

  return {
    fake,
    started,
    close: async () => {
      clearInterval(renew);
      await worker.close();
      await subscriber.quit();
      await redis.quit();
      await fake.close();
    },
  };
}
