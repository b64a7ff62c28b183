// avatar.prepare on this machine's CPU: the real handler (storage read, BlazeFace, alignment,
// identity embedding, preview, event) on a one-face portrait and on face-api's 1920 px group
// photos, plus where the time goes. Prints numbers; asserts nothing (the specs do).
//   npx nx run render-worker:bench-avatar        (BENCH_RUNS=5 runs per photo; needs Redis)
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { alignFace, chooseFace, detectFaces, embedFace, loadRgbImage } from '@likeness/pipeline';
import { LocalDirectoryStorage } from '@likeness/storage';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { builtinFaceModelFiles, loadFaceModels } from '../src/avatar/face-models';
import { prepareAvatar } from '../src/avatar/prepare-avatar';
import { facePreview } from '../src/avatar/preview';
import { WorkerEventPublisher } from '../src/events';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);
const tenantId = '7d7c2a4e-9f57-4d5e-8d0c-1b6d3c2f9a10';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await fn();
  return [value, performance.now() - start];
}

function demoPhoto(n: number): string {
  return path.join(
    path.dirname(require.resolve('@vladmandic/face-api/package.json')),
    'demo',
    `sample${n}.jpg`,
  );
}

async function main(): Promise<void> {
  console.log(`CPU: ${cpus()[0]?.model} × ${cpus().length}, onnxruntime-node CPU provider`);
  const dataDir = path.resolve(__dirname, '../../../.data');
  const [files, filesMs] = await timed(() => builtinFaceModelFiles(dataDir));
  const [face, loadMs] = await timed(() => loadFaceModels(files, { provider: 'cpu' }));
  console.log(
    `face models: files ${filesMs.toFixed(0)} ms (convert + write, or hash check), sessions + warm-up ${loadMs.toFixed(0)} ms; ${face.embeddingModel}, ${face.embeddingDim}-d`,
  );
  const dir = await mkdtemp(path.join(tmpdir(), 'likeness-avatar-bench-'));
  const storage = new LocalDirectoryStorage(path.join(dir, 'storage'));
  const redis = new Redis(process.env['REDIS_URL'] || 'redis://127.0.0.1:6379');
  const prefix = `bench-avatar-${randomUUID().slice(0, 8)}`;
  const deps = {
    storage,
    events: new WorkerEventPublisher(redis, { prefix, workerId: 'bench' }),
    faceModels: new Map([['reference', face]]),
  };
  const photos: { name: string; bytes: Buffer }[] = [
    {
      name: 'portrait 600×700',
      bytes: await sharp(demoPhoto(2))
        .extract({ left: 1255, top: 0, width: 600, height: 700 })
        .jpeg({ quality: 92 })
        .toBuffer(),
    },
    ...[1, 2, 3, 4, 5, 6].map((n) => ({ name: `sample${n} 1920 px`, bytes: Buffer.alloc(0) })),
  ];
  for (let n = 1; n <= 6; n++) {
    const photo = photos[n];
    if (photo) photo.bytes = await sharp(demoPhoto(n)).jpeg({ quality: 92 }).toBuffer();
  }
  try {
    console.log(`\nprepareAvatar, median of ${RUNS} runs (faceIndex 0 on group photos):`);
    console.log('photo              total   decode  detect  align  embed  preview  (ms)');
    for (const photo of photos) {
      const key = `tenants/${tenantId}/assets/${randomUUID()}/original`;
      await storage.put(key, Readable.from([photo.bytes]));
      const totals: number[] = [];
      const parts: number[][] = [[], [], [], [], []];
      for (let r = 0; r < RUNS; r++) {
        const [, total] = await timed(() =>
          prepareAvatar(
            deps,
            {
              v: 1,
              tenantId,
              avatarId: randomUUID(),
              imageStorageKey: key,
              faceIndex: photo.name.startsWith('portrait') ? null : 0,
              modelPack: 'reference',
            },
            { attempt: 1, maxAttempts: 1 },
          ),
        );
        totals.push(total);
        const [image, decode] = await timed(() => loadRgbImage(new Uint8Array(photo.bytes)));
        const [found, detect] = await timed(() => detectFaces(face.detector, image));
        const chosen = chooseFace(found.faces, photo.name.startsWith('portrait') ? undefined : 0);
        const [chip, align] = await timed(() => alignFace(image, chosen));
        const [, embed] = await timed(() => embedFace(face.encoder, chip));
        const [, preview] = await timed(() => facePreview(image, chosen));
        [decode, detect, align, embed, preview].forEach((ms, i) => parts[i]?.push(ms));
      }
      console.log(
        `${photo.name.padEnd(18)} ${median(totals).toFixed(0).padStart(5)}  ` +
          parts.map((p) => median(p).toFixed(0).padStart(6)).join(' '),
      );
    }
  } finally {
    await face.release();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
