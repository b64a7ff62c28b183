// The real avatar.prepare handler: BlazeFace and the identity encoder (model-zoo) in a session
// thread, on photos npm `@vladmandic/face-api` ships in demo/ (group photos; crops of them for
// one face), a real Redis stream for the events and a local object store.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  JobName,
  QueueName,
  WORKER_HEARTBEAT_PREFIX,
  avatarMediaPrefix,
  parseWorkerEvent,
  type JobPayload,
  type WorkerEvent,
} from '@likeness/contracts';
import { LocalDirectoryStorage } from '@likeness/storage';
import { Queue, QueueEvents, UnrecoverableError } from 'bullmq';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { WorkerEventPublisher, startHeartbeat, workerEventsKey } from '../events';
import { createHandlerRegistry } from '../handler-registry';
import { failingRenderHandler } from '../testing/stub-handlers';
import { JobTracker } from '../job-tracker';
import { startWorker } from '../worker';
import { builtinFaceModelFiles, loadFaceModels, type FaceModels } from './face-models';
import { avatarPrepareHandler, prepareAvatar, type AvatarPrepareDeps } from './prepare-avatar';

const redisUrl = process.env['REDIS_URL'] || 'redis://127.0.0.1:6379';
// The converted models are cached by content hash beside the repo's other model caches.
const MODEL_CACHE = path.resolve(__dirname, '../../../../.data');
const tenantId = '7d7c2a4e-9f57-4d5e-8d0c-1b6d3c2f9a10';

let face: FaceModels;
let redis: Redis;
let prefix: string;
let dir: string;
let storage: LocalDirectoryStorage;
let deps: AvatarPrepareDeps;

function demoPhoto(n: number): string {
  return path.join(
    path.dirname(require.resolve('@vladmandic/face-api/package.json')),
    'demo',
    `sample${n}.jpg`,
  );
}

/** sample2.jpg around its one frontal face (the woman on the right). */
function portrait(): Promise<Buffer> {
  return sharp(demoPhoto(2))
    .extract({ left: 1255, top: 0, width: 600, height: 700 })
    .jpeg({ quality: 92 })
    .toBuffer();
}

/** Sky, hills and a sun: no one in it. */
function landscape(): Promise<Buffer> {
  const width = 480;
  const height = 300;
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const hill = y > 190 + 30 * Math.sin(x / 60);
      const sun = Math.hypot(x - 380, y - 70) < 26;
      const rgb = sun
        ? [255, 230, 120]
        : hill
          ? [60, 140 - y / 5, 50]
          : [120 + y / 3, 170 + y / 6, 250];
      pixels.set(rgb.map(Math.round), (y * width + x) * 3);
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg()
    .toBuffer();
}

async function stored(bytes: Buffer): Promise<string> {
  const key = `tenants/${tenantId}/assets/${randomUUID()}/original`;
  await storage.put(key, Readable.from([bytes]));
  return key;
}

function job(
  imageStorageKey: string,
  extra: Partial<JobPayload<typeof JobName.AvatarPrepare>> = {},
): JobPayload<typeof JobName.AvatarPrepare> {
  return {
    v: 1,
    tenantId,
    avatarId: randomUUID(),
    imageStorageKey,
    faceIndex: null,
    modelPack: 'reference',
    ...extra,
  };
}

/** The events appended for one avatar, parsed with the contract. */
async function eventsOf(avatarId: string): Promise<WorkerEvent[]> {
  const entries = await redis.xrange(workerEventsKey(prefix), '-', '+');
  return entries
    .map(([, fields]) => parseWorkerEvent(JSON.parse(fields[1] ?? 'null')))
    .filter((e) => 'avatarId' in e && e.avatarId === avatarId);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

const once = { attempt: 1, maxAttempts: 5 };

beforeAll(async () => {
  face = await loadFaceModels(await builtinFaceModelFiles(MODEL_CACHE), { provider: 'cpu' });
  redis = new Redis(redisUrl);
  prefix = `test-avatar-${randomUUID()}`;
  dir = await mkdtemp(path.join(os.tmpdir(), 'likeness-avatar-worker-'));
  storage = new LocalDirectoryStorage(path.join(dir, 'storage'));
  deps = {
    storage,
    events: new WorkerEventPublisher(redis, { prefix, workerId: 'test-worker' }),
    faceModels: new Map([['reference', face]]),
  };
}, 120_000);

afterAll(async () => {
  await face?.release();
  if (redis) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
  await rm(dir, { recursive: true, force: true });
});

describe('face models', () => {
  it('are the real 128-d identity encoder, named by its file hash, warmed on CPU', () => {
    expect(face.embeddingDim).toBe(128);
    expect(face.embeddingModel).toMatch(/^identity-encoder:sha256-[0-9a-f]{16}$/);
    expect(face.provider).toBe('cpu');
  });
});

describe('avatar.prepare on real photos', () => {
  it('prepares a portrait: one face, a 256 px preview, an L2-normalised 128-d embedding', async () => {
    const payload = job(await stored(await portrait()));
    const result = await prepareAvatar(deps, payload, once);
    const [event, ...more] = await eventsOf(payload.avatarId);
    expect(more).toEqual([]);
    if (event?.type !== 'avatar.prepared')
      throw new Error(`expected avatar.prepared: ${event?.type}`);
    expect(event).toMatchObject({
      tenantId,
      avatarId: payload.avatarId,
      attempt: 1,
      faceIndex: 0,
      facesFound: 1,
      imageWidth: 600,
      imageHeight: 700,
      embedding: { model: face.embeddingModel, dim: 128 },
    });
    expect(result).toMatchObject({ faceIndex: 0, facesFound: 1, previewKey: event.previewKey });
    const values = event.embedding.values;
    expect(values).toHaveLength(128);
    expect(Math.hypot(...values)).toBeCloseTo(1, 4);
    // The face is in the upper middle of the crop, eyes above the mouth.
    const { box, keypoints } = event.face;
    expect(box.x0).toBeGreaterThan(100);
    expect(box.x1).toBeLessThan(500);
    expect(box.y1).toBeLessThan(500);
    expect(keypoints[0]?.y ?? 0).toBeLessThan(keypoints[3]?.y ?? 0);

    expect(event.previewKey.startsWith(avatarMediaPrefix(tenantId, payload.avatarId))).toBe(true);
    expect(event.previewKey).toContain(event.run);
    const preview = await sharp(await readAll(await storage.get(event.previewKey))).metadata();
    expect([preview.format, preview.width, preview.height]).toEqual(['jpeg', 256, 256]);
  });

  it('the same face prepared twice gives the same embedding; another person’s is farther', async () => {
    const a = job(await stored(await portrait()));
    const b = job(await stored(await portrait()));
    await prepareAvatar(deps, a, once);
    await prepareAvatar(deps, b, once);
    const group = job(await stored(await sharp(demoPhoto(1)).jpeg().toBuffer()), { faceIndex: 0 });
    await prepareAvatar(deps, group, once);
    const vector = async (id: string): Promise<number[]> => {
      const [e] = await eventsOf(id);
      if (e?.type !== 'avatar.prepared') throw new Error('expected avatar.prepared');
      return e.embedding.values;
    };
    const [va, vb, vc] = [
      await vector(a.avatarId),
      await vector(b.avatarId),
      await vector(group.avatarId),
    ];
    const cos = (x: number[], y: number[]) => x.reduce((s, v, i) => s + v * (y[i] ?? 0), 0);
    expect(cos(va, vb)).toBeCloseTo(1, 5);
    expect(cos(va, vc)).toBeLessThan(0.95);
  });

  it('a landscape → NO_FACE, not retried, no preview', async () => {
    const payload = job(await stored(await landscape()));
    const error = await rejection(prepareAvatar(deps, payload, once));
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error.message).toMatch(/^NO_FACE/);
    const events = await eventsOf(payload.avatarId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'avatar.failed', reason: 'NO_FACE', willRetry: false });
    expect(events[0]).not.toHaveProperty('faces');
    // Nothing was stored in the avatar's folder.
    expect(
      existsSync(path.join(dir, 'storage', avatarMediaPrefix(tenantId, payload.avatarId))),
    ).toBe(false);
  });

  it('a group photo without faceIndex → SEVERAL_FACES with every face; with one → prepared', async () => {
    const photo = await stored(await sharp(demoPhoto(1)).jpeg().toBuffer());
    const several = job(photo);
    const error = await rejection(prepareAvatar(deps, several, once));
    expect(error).toBeInstanceOf(UnrecoverableError);
    const [failed] = await eventsOf(several.avatarId);
    if (failed?.type !== 'avatar.failed') throw new Error('expected avatar.failed');
    expect(failed.reason).toBe('SEVERAL_FACES');
    expect(failed.willRetry).toBe(false);
    const faces = failed.faces ?? [];
    expect(faces.length).toBeGreaterThanOrEqual(3);
    for (const f of faces) {
      expect(f.keypoints).toHaveLength(6);
      expect(f.box.x1).toBeGreaterThan(f.box.x0);
    }

    const chosen = job(photo, { faceIndex: 2 });
    await prepareAvatar(deps, chosen, once);
    const [prepared] = await eventsOf(chosen.avatarId);
    if (prepared?.type !== 'avatar.prepared') throw new Error('expected avatar.prepared');
    expect(prepared.faceIndex).toBe(2);
    expect(prepared.facesFound).toBe(faces.length);
    expect(prepared.face.box).toEqual(faces[2]?.box);

    const outOfRange = job(photo, { faceIndex: 40 });
    await rejection(prepareAvatar(deps, outOfRange, once));
    expect((await eventsOf(outOfRange.avatarId))[0]).toMatchObject({
      reason: 'FACE_INDEX_OUT_OF_RANGE',
      faces: expect.any(Array),
    });
  });

  it('a face too small → FACE_TOO_SMALL; bytes that are no image → IMAGE_UNUSABLE', async () => {
    const tiny = job(
      await stored(
        await sharp(await portrait())
          .resize(120)
          .jpeg()
          .toBuffer(),
      ),
    );
    await rejection(prepareAvatar(deps, tiny, once));
    expect((await eventsOf(tiny.avatarId))[0]).toMatchObject({ reason: 'FACE_TOO_SMALL' });

    const junk = job(await stored(Buffer.from('this is not a photo at all')));
    const error = await rejection(prepareAvatar(deps, junk, once));
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect((await eventsOf(junk.avatarId))[0]).toMatchObject({
      reason: 'IMAGE_UNUSABLE',
      willRetry: false,
    });
  });

  it('storage trouble and a missing pack are INTERNAL and retried until the last attempt', async () => {
    const missing = job(`tenants/${tenantId}/assets/${randomUUID()}/original`);
    const first = await rejection(prepareAvatar(deps, missing, { attempt: 1, maxAttempts: 3 }));
    expect(first).not.toBeInstanceOf(UnrecoverableError);
    await rejection(prepareAvatar(deps, missing, { attempt: 3, maxAttempts: 3 }));
    expect(
      (await eventsOf(missing.avatarId)).map((e) => [
        e.type,
        'reason' in e && e.reason,
        'willRetry' in e && e.willRetry,
      ]),
    ).toEqual([
      ['avatar.failed', 'INTERNAL', true],
      ['avatar.failed', 'INTERNAL', false],
    ]);
    // Each execution is a run of its own.
    const runs = new Set((await eventsOf(missing.avatarId)).map((e) => e.run));
    expect(runs.size).toBe(2);

    const otherPack = job(await stored(await portrait()), { modelPack: 'fantasytalking-14b' });
    const error = await rejection(prepareAvatar(deps, otherPack, once));
    expect(error).not.toBeInstanceOf(UnrecoverableError);
    expect(error.message).toMatch(/no model pack "fantasytalking-14b"/);
  });
});

describe('the worker process pieces together (BullMQ, heartbeat)', () => {
  it('takes an avatar job from the queue, advertises it while running, reports it', async () => {
    const queue = new Queue(QueueName.Avatar, { connection: { url: redisUrl }, prefix });
    const queueEvents = new QueueEvents(QueueName.Avatar, {
      connection: { url: redisUrl },
      prefix,
    });
    await queueEvents.waitUntilReady();
    const tracker = new JobTracker();
    const seen: string[][] = [];
    const heartbeat = await startHeartbeat(
      redis,
      () => ({
        workerId: 'test-worker',
        provider: face.provider,
        packs: [],
        capacity: 1,
        currentJobs: tracker.current(),
        startedAt: new Date().toISOString(),
      }),
      { prefix, intervalMs: 60_000 },
    );
    tracker.onChange = () => {
      void heartbeat.beat().then(async () => {
        const ad = JSON.parse(
          (await redis.get(`${prefix}:${WORKER_HEARTBEAT_PREFIX}test-worker`)) ?? '{}',
        ) as {
          currentJobs?: { jobId: string }[];
        };
        seen.push((ad.currentJobs ?? []).map((j) => j.jobId));
      });
    };
    const registry = tracker.wrap(
      createHandlerRegistry([avatarPrepareHandler(deps), failingRenderHandler]),
    );
    const worker = await startWorker(
      { redisUrl, concurrency: 1, prefix, workerId: 'test-worker' },
      registry,
    );
    try {
      const payload = job(await stored(await portrait()));
      const added = await queue.add(JobName.AvatarPrepare, payload, {
        jobId: payload.avatarId,
        attempts: 3,
      });
      const result = (await added.waitUntilFinished(queueEvents, 60_000)) as { facesFound: number };
      expect(result.facesFound).toBe(1);
      expect((await eventsOf(payload.avatarId)).map((e) => e.type)).toEqual(['avatar.prepared']);
      await new Promise((r) => setTimeout(r, 100));
      expect(seen).toContainEqual([payload.avatarId]);
      expect(seen.at(-1)).toEqual([]);
    } finally {
      await worker.close();
      await heartbeat.stop();
      await queueEvents.close();
      await queue.close();
    }
  });
});

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
