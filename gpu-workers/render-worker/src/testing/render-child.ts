// A render handler in a process of its own, for the spec that kills it with SIGKILL after its
// first clip (render-job.spec.ts). Argument: JSON { redisUrl, prefix, storageDir, modelCache,
// workDir, payload }. Prints `clip-saved <n>` once clip n's checkpoint is stored, then holds the
// render for a while, so the kill lands in the middle of the next clip.
import { LocalDirectoryStorage } from '@likeness/storage';
import { Redis } from 'ioredis';
import { builtinFaceModelFiles, loadFaceModels } from '../avatar/face-models';
import { WorkerEventPublisher } from '../events';
import { RenderCancelWatcher } from '../render/cancel-watcher';
import { loadReferencePack } from '../render/packs';
import { Drain, runRender } from '../render/render-job';

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as {
    redisUrl: string;
    prefix: string;
    storageDir: string;
    modelCache: string;
    workDir: string;
    payload: Parameters<typeof runRender>[1];
  };
  const [pack, face] = await Promise.all([
    loadReferencePack(args.modelCache, { provider: 'cpu' }),
    builtinFaceModelFiles(args.modelCache).then((f) => loadFaceModels(f, { provider: 'cpu' })),
  ]);
  const redis = new Redis(args.redisUrl);
  const hold = new Int32Array(new SharedArrayBuffer(4));
  await runRender(
    {
      storage: new LocalDirectoryStorage(args.storageDir),
      events: new WorkerEventPublisher(redis, { prefix: args.prefix, workerId: 'doomed-worker' }),
      packs: new Map([[pack.name, pack]]),
      faceModels: new Map([[pack.name, face]]),
      cancels: await RenderCancelWatcher.start(redis, args.prefix),
      drain: new Drain(),
      workDir: args.workDir,
      progressIntervalMs: 0,
      encoder: { preset: 'veryfast' },
      onPipelineProgress: (_id, p) => {
        if (p.phase === 'encoding' && p.step === p.steps && p.clip < p.clips - 1) {
          process.stdout.write(`clip-saved ${p.clip}\n`);
          // Blocks this thread (the render) until the parent's SIGKILL arrives.
          Atomics.wait(hold, 0, 0, 30_000);
        }
      },
    },
    args.payload,
    { attempt: 1, maxAttempts: 3, signal: new AbortController().signal },
  );
  process.stdout.write('finished\n');
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
