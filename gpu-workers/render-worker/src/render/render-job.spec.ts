// The real render handler: the reference pack (model-zoo, built once under .data/models) in
// onnxruntime-node, real BullMQ workers on a real Redis (own key prefix per test), a local object
// store, espeak-ng speech and a face photo from npm `@vladmandic/face-api`. Tiny renders: a
// 128 px picture, 1.5 s of speech (two clips), 2 denoiser steps.
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  JobName,
  QueueName,
  RENDER_CANCEL_CHANNEL,
  WorkerHeartbeatV1,
  parseWorkerEvent,
  renderCancelKey,
  renderJobId,
  renderMediaPrefix,
  type JobPayload,
  type RenderCancelSignal,
  type WorkerEvent,
  type WorkerEventOf,
} from '@likeness/contracts';
import {
  alignFace,
  chooseFace,
  detectFaces,
  embedFace,
  framesForDuration,
  loadRgbImage,
  probeMedia,
  readVideoFrames,
  type ModelPack,
  type RenderProgress,
} from '@likeness/pipeline';
import { makeSpeechWav } from '@likeness/pipeline/testing';
import { LocalDirectoryStorage } from '@likeness/storage';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { builtinFaceModelFiles, loadFaceModels, type FaceModels } from '../avatar/face-models';
import { WorkerEventPublisher, workerEventsKey } from '../events';
import { createHandlerRegistry, defineHandler } from '../handler-registry';
import { startWorker, type RunningWorker } from '../worker';
import { RenderCancelWatcher } from './cancel-watcher';
import { advertisedPack, loadReferencePack } from './packs';
import { Drain, renderHandler, runRender, type RenderDeps } from './render-job';

const redisUrl = process.env['REDIS_URL'] || 'redis://127.0.0.1:6379';
const MODEL_CACHE = path.resolve(__dirname, '../../../../.data');
const tenantId = '7d7c2a4e-9f57-4d5e-8d0c-1b6d3c2f9a10';
const SPEECH_SECONDS = 1.5;

let pack: ModelPack;
let face: FaceModels;
let redis: Redis;
let prefix: string;
let dir: string;
let storage: LocalDirectoryStorage;
let cancels: RenderCancelWatcher;
let queue: Queue;
let queueEvents: QueueEvents;
let photoKey: string;
let audioKey: string;
let avatarFace: NonNullable<JobPayload<typeof JobName.Render>['face']>;
let avatarEmbedding: number[];
/** Pipeline progress per render id (every report, unthrottled). */
const pipelineProgress = new Map<string, RenderProgress[]>();

function demoPhoto(n: number): string {
  return path.join(
    path.dirname(require.resolve('@vladmandic/face-api/package.json')),
    'demo',
    `sample${n}.jpg`,
  );
}

async function put(key: string, bytes: Buffer): Promise<string> {
  await storage.put(key, Readable.from([bytes]));
  return key;
}

function deps(extra: Partial<RenderDeps> = {}): RenderDeps {
  return {
    storage,
    events: new WorkerEventPublisher(redis, { prefix, workerId: 'test-worker' }),
    packs: new Map([[pack.name, pack]]),
    faceModels: new Map([[pack.name, face]]),
    cancels,
    drain: new Drain(),
    workDir: path.join(dir, 'work'),
    progressIntervalMs: 0,
    previewIntervalMs: 0,
    encoder: { preset: 'veryfast' },
    onPipelineProgress: (renderId, p) => {
      const list = pipelineProgress.get(renderId) ?? [];
      list.push(p);
      pipelineProgress.set(renderId, list);
    },
    ...extra,
  };
}

function payload(
  extra: Partial<JobPayload<typeof JobName.Render>> = {},
): JobPayload<typeof JobName.Render> {
  const renderId = extra.renderId ?? randomUUID();
  return {
    v: 1,
    tenantId,
    renderId,
    attempt: 1,
    imageStorageKey: photoKey,
    audioStorageKey: audioKey,
    identityEmbedding: avatarEmbedding,
    prompt: 'A person is talking.',
    motion: { expression: 1, body: 0.5 },
    guidance: { prompt: 5, audio: 5 },
    maxSide: 128,
    fps: 23,
    steps: 2,
    seed: 4242,
    modelPack: 'reference',
    modelPackVersion: pack.version,
    mediaPrefix: renderMediaPrefix(tenantId, renderId),
    face: avatarFace,
    ...extra,
  };
}

/** A BullMQ worker whose avatar handler is never called here. */
function worker(d: RenderDeps): Promise<RunningWorker> {
  return startWorker(
    { redisUrl, concurrency: 1, prefix, workerId: 'test-worker' },
    createHandlerRegistry([
      renderHandler(d),
      defineHandler({
        name: JobName.AvatarPrepare,
        handle: () => Promise.reject(new Error('not in this spec')),
      }),
    ]),
  );
}

function add(p: JobPayload<typeof JobName.Render>, attempts = 3) {
  return queue.add(JobName.Render, p, {
    jobId: renderJobId(p.renderId, p.attempt),
    attempts,
    backoff: { type: 'fixed', delay: 10 },
  });
}

async function eventsOf(renderId: string): Promise<WorkerEvent[]> {
  const entries = await redis.xrange(workerEventsKey(prefix), '-', '+');
  return entries
    .map(([, fields]) => parseWorkerEvent(JSON.parse(fields[1] ?? 'null')))
    .filter((e) => 'renderId' in e && e.renderId === renderId);
}

async function objectsUnder(key: string): Promise<string[]> {
  const root = path.join(dir, 'storage', key);
  try {
    return (await readdir(root, { recursive: true })).map(String).sort();
  } catch {
    return [];
  }
}

function cancelSignal(p: JobPayload<typeof JobName.Render>): RenderCancelSignal {
  return {
    v: 1,
    tenantId: p.tenantId,
    renderId: p.renderId,
    attempt: p.attempt,
    jobId: renderJobId(p.renderId, p.attempt),
    reason: 'CANCELED',
    at: new Date().toISOString(),
  };
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

async function videoFrames(file: string): Promise<string[]> {
  const hashes: string[] = [];
  for await (const frame of readVideoFrames(file)) hashes.push(sha256(frame.data));
  return hashes;
}

beforeAll(async () => {
  [pack, face] = await Promise.all([
    loadReferencePack(MODEL_CACHE, { provider: 'cpu' }),
    builtinFaceModelFiles(MODEL_CACHE).then((files) => loadFaceModels(files, { provider: 'cpu' })),
  ]);
  redis = new Redis(redisUrl);
  prefix = `test-render-${randomUUID()}`;
  dir = await mkdtemp(path.join(os.tmpdir(), 'render-job-'));
  storage = new LocalDirectoryStorage(path.join(dir, 'storage'));
  cancels = await RenderCancelWatcher.start(redis, prefix);
  queue = new Queue(QueueName.Render, { connection: { url: redisUrl }, prefix });
  queueEvents = new QueueEvents(QueueName.Render, { connection: { url: redisUrl }, prefix });
  await queueEvents.waitUntilReady();

  // The avatar as avatar.prepare leaves it: sample2's frontal face, its box and embedding.
  const portrait = await sharp(demoPhoto(2))
    .extract({ left: 1255, top: 0, width: 600, height: 700 })
    .jpeg({ quality: 92 })
    .toBuffer();
  photoKey = await put(`tenants/${tenantId}/assets/${randomUUID()}/original`, portrait);
  const photo = await loadRgbImage(new Uint8Array(portrait));
  const found = chooseFace((await detectFaces(face.detector, photo)).faces);
  avatarFace = { box: found.box, keypoints: found.keypoints };
  avatarEmbedding = Array.from(await embedFace(face.encoder, await alignFace(photo, found)));
  const speech = await makeSpeechWav('Hello there, how are you?', path.join(dir, 'speech.wav'), {
    durationSeconds: SPEECH_SECONDS,
  });
  audioKey = await put(
    `tenants/${tenantId}/assets/${randomUUID()}/original`,
    await readFile(speech.path),
  );
}, 120_000);

afterAll(async () => {
  await queueEvents?.close();
  await queue?.close();
  await cancels?.close();
  if (redis) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
  await Promise.allSettled([pack?.release(), face?.release()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('heartbeat', () => {
  it('advertises the reference pack as the contract and the gateway want it', () => {
    const ad = advertisedPack(pack);
    expect(ad).toEqual({
      name: 'reference',
      version: pack.version,
      capabilities: { identity: true, motion: true, maxSide: 512 },
      fps: 23,
      maxFramesPerClip: 21,
    });
    expect(() =>
      WorkerHeartbeatV1.parse({
        v: 1,
        workerId: 'w',
        provider: 'cpu',
        packs: [ad],
        capacity: 1,
        currentJobs: [],
        startedAt: new Date().toISOString(),
        at: new Date().toISOString(),
      }),
    ).not.toThrow();
  });
});

describe('render job', () => {
  let uninterrupted: { file: string; sha256: string; frames: string[] } | undefined;

  it('renders: ordered events, an MP4 and a poster in the render folder, checkpoints gone', async () => {
    const p = payload();
    const running = await worker(deps());
    try {
      const job = await add(p);
      const result = (await job.waitUntilFinished(queueEvents, 120_000)) as { status: string };
      expect(result.status).toBe('succeeded');
    } finally {
      await running.close();
    }
    const events = await eventsOf(p.renderId);
    expect(new Set(events.map((e) => e.run)).size).toBe(1);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, k) => k));
    expect(events.every((e) => e.attempt === p.attempt && e.workerId === 'test-worker')).toBe(true);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('render.started');
    expect(types.at(-1)).toBe('render.succeeded');
    const started = events[0] as WorkerEventOf<'render.started'>;
    expect(started).toMatchObject({ resumedFromClip: 0, clips: 2, packVersion: pack.version });
    const clipEvents = events.filter(
      (e): e is WorkerEventOf<'render.clip-finished'> => e.type === 'render.clip-finished',
    );
    expect(clipEvents.map((e) => e.clip)).toEqual([0, 1]);
    expect(clipEvents.every((e) => e.checkpointKey.startsWith(p.mediaPrefix ?? '-'))).toBe(true);
    const progress = events.filter(
      (e): e is WorkerEventOf<'render.progress'> => e.type === 'render.progress',
    );
    // `encoding` (status ENCODING at the gateway) only once the last clip is being written.
    expect(progress.filter((e) => e.phase === 'encoding').every((e) => e.clip === 1)).toBe(true);
    const phases = [...new Set(progress.map((e) => e.phase))];
    expect(phases).toEqual([
      'preparing',
      'encoding-audio',
      'denoising',
      'decoding',
      'encoding',
      'uploading',
    ]);
    // Progress never goes back; ends at 1; clip 1 only after clip 0 finished.
    const fractions = progress.map((e) => e.fraction);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(fractions.at(-1)).toBe(1);
    expect(types.indexOf('render.clip-finished')).toBeLessThan(
      events.findIndex(
        (e) => e.type === 'render.progress' && e.clip === 1 && e.phase === 'denoising',
      ),
    );
    const previews = progress.flatMap((e) => (e.previewKey ? [e.previewKey] : []));
    expect(previews.length).toBeGreaterThan(0);
    const preview = await sharp(await readAll(await storage.get(previews[0] as string))).metadata();
    expect(preview.format).toBe('jpeg');
    expect(Math.max(preview.width ?? 0, preview.height ?? 0)).toBeLessThanOrEqual(128);

    const done = events.at(-1) as WorkerEventOf<'render.succeeded'>;
    const { output } = done;
    expect(output.storageKey.startsWith(p.mediaPrefix ?? '-')).toBe(true);
    expect(output.posterKey.startsWith(p.mediaPrefix ?? '-')).toBe(true);
    const file = path.join(dir, 'storage', output.storageKey);
    const bytes = await readFile(file);
    expect(output.bytes).toBe(bytes.length);
    expect(output.sha256).toBe(sha256(bytes));
    const probe = await probeMedia(file);
    const frames = framesForDuration(SPEECH_SECONDS, 23);
    expect(probe.video).toMatchObject({
      codec: 'h264',
      width: output.width,
      height: output.height,
    });
    expect(probe.video?.fps).toBeCloseTo(23, 3);
    expect(probe.video?.frameCount).toBe(frames);
    expect(output.frames).toBe(frames);
    expect(Math.abs((probe.durationSeconds ?? 0) - SPEECH_SECONDS)).toBeLessThanOrEqual(1 / 23);
    expect(Math.abs(output.durationSeconds - SPEECH_SECONDS)).toBeLessThanOrEqual(1 / 23);
    expect(probe.audio?.codec).toBe('aac');
    // 600×700 photo, long side 128 → 112 × 128 (multiples of 16).
    expect([output.width, output.height]).toEqual([112, 128]);
    const poster = await sharp(path.join(dir, 'storage', output.posterKey)).metadata();
    expect([poster.format, poster.width, poster.height]).toEqual(['jpeg', 112, 128]);
    // The avatar's face is still the avatar's face.
    expect(done.identityScore).not.toBeNull();
    expect(done.identityScore as number).toBeGreaterThan(0.8);
    expect(done.seed).toBe(p.seed);
    expect(done.modelSeconds).toBeGreaterThan(0);
    expect(done.packVersion).toBe(pack.version);
    expect((await objectsUnder(`${p.mediaPrefix}checkpoints`)).length).toBe(0);
    uninterrupted = { file, sha256: output.sha256, frames: await videoFrames(file) };
  }, 120_000);

  it('stops on shutdown after a finished clip, goes back to waiting, and another worker resumes it to the same video', async () => {
    expect(uninterrupted).toBeDefined();
    const p = payload();
    const drain = new Drain();
    const first: { worker?: RunningWorker } = {};
    let closing: Promise<void> | undefined;
    const firstDeps = deps({
      drain,
      onPipelineProgress: (renderId, pr) => {
        // Clip 0 checkpointed: SIGTERM now (main.ts's order: close, then drain).
        if (renderId === p.renderId && pr.phase === 'encoding' && pr.clip === 0 && !closing) {
          closing = first.worker?.close();
          drain.request();
        }
      },
    });
    first.worker = await worker(firstDeps);
    const job = await add(p);
    for (let k = 0; k < 600 && !closing; k++) await new Promise((r) => setTimeout(r, 100));
    await closing;
    expect(await job.getState()).toBe('waiting');
    const waiting = await queue.getJob(job.id ?? '');
    expect(waiting?.attemptsMade).toBe(0);
    const firstRun = await eventsOf(p.renderId);
    expect(firstRun.map((e) => e.type)).toContain('render.clip-finished');
    expect(firstRun.map((e) => e.type)).not.toContain('render.failed');
    expect(firstRun.map((e) => e.type)).not.toContain('render.succeeded');
    // The run's last event says so, before the job went back to waiting.
    expect(firstRun.map((e) => e.seq)).toEqual(firstRun.map((_, k) => k));
    expect(firstRun.filter((e) => e.type === 'render.requeued')).toHaveLength(1);
    expect(firstRun.at(-1)).toMatchObject({
      type: 'render.requeued',
      reason: 'worker-shutdown',
      resumableClips: 1,
      clips: 2,
      attempt: p.attempt,
    });
    expect(await objectsUnder(`${p.mediaPrefix}checkpoints`)).toContain('clip-00000.json');

    pipelineProgress.delete(p.renderId);
    const second = await worker(deps());
    try {
      const result = (await job.waitUntilFinished(queueEvents, 120_000)) as {
        status: string;
        resumedClips: number;
      };
      expect(result).toMatchObject({ status: 'succeeded', resumedClips: 1 });
    } finally {
      await second.close();
    }
    const events = await eventsOf(p.renderId);
    const runs = [...new Set(events.map((e) => e.run))];
    expect(runs).toHaveLength(2);
    const secondRun = events.filter((e) => e.run === runs[1]);
    expect(secondRun[0]).toMatchObject({ type: 'render.started', resumedFromClip: 1, seq: 0 });
    // Clip 0 was not computed again: no denoiser step of it in the second run.
    const reports = pipelineProgress.get(p.renderId) ?? [];
    expect(reports.some((r) => r.phase === 'denoising' && r.clip === 1)).toBe(true);
    expect(reports.some((r) => r.phase === 'denoising' && r.clip === 0)).toBe(false);
    expect(
      secondRun
        .filter((e) => e.type === 'render.clip-finished')
        .map((e) => (e as { clip: number }).clip),
    ).toEqual([1]);
    const done = secondRun.at(-1) as WorkerEventOf<'render.succeeded'>;
    expect(done.type).toBe('render.succeeded');
    const file = path.join(dir, 'storage', done.output.storageKey);
    expect(await videoFrames(file)).toEqual(uninterrupted?.frames);
    expect(done.output.sha256).toBe(uninterrupted?.sha256);
  }, 180_000);

  it('resumes after its process was killed with SIGKILL after the first clip, to the same video', async () => {
    expect(uninterrupted).toBeDefined();
    const p = payload();
    const root = path.resolve(__dirname, '../../../..');
    const child = spawn(
      process.execPath,
      [
        '-r',
        '@swc-node/register',
        path.join(__dirname, '../testing/render-child.ts'),
        JSON.stringify({
          redisUrl,
          prefix,
          storageDir: path.join(dir, 'storage'),
          modelCache: MODEL_CACHE,
          workDir: path.join(dir, 'work-child'),
          payload: p,
        }),
      ],
      {
        cwd: root,
        env: { ...process.env, SWC_NODE_PROJECT: 'gpu-workers/render-worker/tsconfig.json' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('clip-saved 0')) resolve();
      });
      child.once('exit', (code) =>
        reject(new Error(`the child exited (${code}) early: ${stderr}`)),
      );
    });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(await objectsUnder(`${p.mediaPrefix}checkpoints`)).toContain('clip-00000.state');

    // BullMQ's stalled-job check would now run the job again: the same payload, a new run.
    const result = await runRender(deps(), p, {
      attempt: 1,
      maxAttempts: 3,
      signal: new AbortController().signal,
    });
    expect(result).toMatchObject({ status: 'succeeded', resumedClips: 1 });
    const events = await eventsOf(p.renderId);
    const runs = [...new Set(events.map((e) => e.run))];
    const rerun = events.filter((e) => e.run === runs.at(-1));
    expect(rerun[0]).toMatchObject({ type: 'render.started', resumedFromClip: 1, clips: 2 });
    expect(
      (pipelineProgress.get(p.renderId) ?? []).some((r) => r.phase === 'denoising' && r.clip === 0),
    ).toBe(false);
    const done = rerun.at(-1) as WorkerEventOf<'render.succeeded'>;
    expect(done.type).toBe('render.succeeded');
    const file = path.join(dir, 'storage', done.output.storageKey);
    expect(await videoFrames(file)).toEqual(uninterrupted?.frames);
    expect(done.output.sha256).toBe(uninterrupted?.sha256);
    expect(await objectsUnder(`${p.mediaPrefix}checkpoints`)).toEqual([]);
  }, 120_000);

  it('confirms a cancel whose key was set before the job started, without rendering', async () => {
    const p = payload();
    await redis.set(`${prefix}:${renderCancelKey(p.renderId)}`, JSON.stringify(cancelSignal(p)));
    const running = await worker(deps());
    try {
      const job = await add(p);
      const result = (await job.waitUntilFinished(queueEvents, 60_000)) as { status: string };
      expect(result.status).toBe('canceled');
      expect(await job.getState()).toBe('completed');
    } finally {
      await running.close();
    }
    expect((await eventsOf(p.renderId)).map((e) => e.type)).toEqual(['render.canceled']);
    expect(pipelineProgress.get(p.renderId)).toBeUndefined();
    expect(await objectsUnder(p.mediaPrefix ?? '-')).toEqual([]);
  }, 60_000);

  it('stops between steps on a published cancel: render.canceled, no output, job completed', async () => {
    const p = payload({ steps: 4 });
    const publisher = redis.duplicate();
    let sent = false;
    const running = await worker(
      deps({
        onPipelineProgress: (renderId, pr) => {
          if (
            renderId === p.renderId &&
            pr.phase === 'denoising' &&
            pr.clip === 1 &&
            pr.step === 1 &&
            !sent
          ) {
            sent = true;
            void publisher.publish(
              `${prefix}:${RENDER_CANCEL_CHANNEL}`,
              JSON.stringify(cancelSignal(p)),
            );
          }
          const list = pipelineProgress.get(renderId) ?? [];
          list.push(pr);
          pipelineProgress.set(renderId, list);
        },
      }),
    );
    try {
      const job = await add(p);
      const result = (await job.waitUntilFinished(queueEvents, 60_000)) as { status: string };
      expect(result.status).toBe('canceled');
      expect(await job.getState()).toBe('completed');
    } finally {
      await running.close();
      await publisher.quit();
    }
    const types = (await eventsOf(p.renderId)).map((e) => e.type);
    expect(types[0]).toBe('render.started');
    expect(types.at(-1)).toBe('render.canceled');
    expect(types).not.toContain('render.succeeded');
    // Signalled in clip 1 (clip 0 checkpointed): it stopped there, steps before the end.
    const finished = (await eventsOf(p.renderId)).filter((e) => e.type === 'render.clip-finished');
    expect(finished.map((e) => (e as { clip: number }).clip)).toEqual([0]);
    const reports = pipelineProgress.get(p.renderId) ?? [];
    expect(reports.some((r) => r.clip === 1 && r.phase === 'decoding')).toBe(false);
    // No video, and nothing to resume from: a canceled render never runs again.
    const left = await objectsUnder(p.mediaPrefix ?? '-');
    expect(left.filter((k) => k.endsWith('.mp4'))).toEqual([]);
    expect(await objectsUnder(`${p.mediaPrefix}checkpoints`)).toEqual([]);
  }, 60_000);

  it('fails bad input at once without retries: a missing audio asset, a photo without a face', async () => {
    const missingAudio = payload({
      audioStorageKey: `tenants/${tenantId}/assets/${randomUUID()}/original`,
    });
    const landscape = await sharp({
      create: { width: 320, height: 240, channels: 3, background: { r: 90, g: 160, b: 230 } },
    })
      .jpeg()
      .toBuffer();
    const noFace = payload({
      imageStorageKey: await put(`tenants/${tenantId}/assets/${randomUUID()}/original`, landscape),
      face: null,
    });
    const running = await worker(deps());
    try {
      for (const [p, field] of [
        [missingAudio, 'audioAssetId'],
        [noFace, 'avatarId'],
      ] as const) {
        const job = await add(p, 3);
        await expect(job.waitUntilFinished(queueEvents, 60_000)).rejects.toThrow(/BAD_INPUT/);
        const failed = await queue.getJob(job.id ?? '');
        expect(await failed?.getState()).toBe('failed');
        expect(failed?.attemptsMade).toBe(1);
        const events = await eventsOf(p.renderId);
        expect(events.map((e) => e.type)).toEqual(['render.failed']);
        expect(events[0]).toMatchObject({
          willRetry: false,
          error: { code: 'BAD_INPUT', field, retryable: false },
        });
        expect(await objectsUnder(p.mediaPrefix ?? '-')).toEqual([]);
      }
    } finally {
      await running.close();
    }
  }, 60_000);

  it('reports infrastructure trouble as willRetry while attempts are left, then INTERNAL', async () => {
    const p = payload({ modelPack: 'not-on-this-worker' });
    const running = await worker(deps());
    try {
      const job = await add(p, 2);
      await expect(job.waitUntilFinished(queueEvents, 60_000)).rejects.toThrow(/no model pack/);
      expect((await queue.getJob(job.id ?? ''))?.attemptsMade).toBe(2);
    } finally {
      await running.close();
    }
    const events = await eventsOf(p.renderId);
    expect(events.map((e) => [e.type, (e as { willRetry?: boolean }).willRetry])).toEqual([
      ['render.failed', true],
      ['render.failed', false],
    ]);
    expect(events.map((e) => (e as WorkerEventOf<'render.failed'>).error.code)).toEqual([
      'INFRASTRUCTURE',
      'INTERNAL',
    ]);
    expect(new Set(events.map((e) => e.run)).size).toBe(2);
  }, 60_000);

  it('fails a job validated against another pack version as infrastructure: retried, then INTERNAL', async () => {
    const p = payload({ modelPackVersion: `${pack.version}-other` });
    const running = await worker(deps());
    try {
      const job = await add(p, 2);
      await expect(job.waitUntilFinished(queueEvents, 60_000)).rejects.toThrow(
        `not ${pack.version}-other`,
      );
      expect((await queue.getJob(job.id ?? ''))?.attemptsMade).toBe(2);
    } finally {
      await running.close();
    }
    const events = await eventsOf(p.renderId);
    expect(
      events.map((e) => [
        e.type,
        (e as WorkerEventOf<'render.failed'>).willRetry,
        (e as WorkerEventOf<'render.failed'>).error.code,
      ]),
    ).toEqual([
      ['render.failed', true, 'INFRASTRUCTURE'],
      ['render.failed', false, 'INTERNAL'],
    ]);
    expect((events[0] as WorkerEventOf<'render.failed'>).error.message).toContain(pack.version);
    expect(pipelineProgress.get(p.renderId)).toBeUndefined();
    expect(await objectsUnder(p.mediaPrefix ?? '-')).toEqual([]);
  }, 60_000);
});

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
