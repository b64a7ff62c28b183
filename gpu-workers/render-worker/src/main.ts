#!/usr/bin/env node
import path from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { createObjectStorage } from '@likeness/storage';
import { builtinFaceModelFiles, loadFaceModels } from './avatar/face-models';
import { ConfigError, loadConfig } from './config';
import { WorkerEventPublisher, startHeartbeat } from './events';
import { HandlerRegistryError, createHandlerRegistry } from './handler-registry';
import { createDefaultHandlers } from './handlers';
import { JobTracker } from './job-tracker';
import { RenderCancelWatcher } from './render/cancel-watcher';
import { advertisedPack, loadReferencePack } from './render/packs';
import { Drain } from './render/render-job';
import { startWorker } from './worker';

const logger = pino({ name: 'render-worker' });

/**
 * The pack whose face stages model-zoo builds (the reference pack's `faceDetector` and
 * `identityEncoder`) and whose render stages this worker loads; avatars and renders of other
 * packs wait for a worker that has them.
 */
const REFERENCE_PACK = 'reference';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const startedAt = new Date().toISOString();
  const storage = createObjectStorage(config.storage, config.dataDir);

  // Models first, warmed: a worker takes jobs only once it can run them at full speed.
  const loadStarted = performance.now();
  const face = await loadFaceModels(await builtinFaceModelFiles(config.dataDir), {
    provider: config.executionProvider,
  });
  logger.info(
    {
      provider: face.provider,
      providerNote: face.providerNote,
      embeddingModel: face.embeddingModel,
      embeddingDim: face.embeddingDim,
      ms: Math.round(performance.now() - loadStarted),
    },
    'face models loaded and warmed',
  );
  const packStarted = performance.now();
  const pack = await loadReferencePack(config.dataDir, {
    provider: config.executionProvider,
    logger: {
      info: (fields, message) => logger.info(fields, message),
      warn: (fields, message) => logger.warn(fields, message),
    },
  });
  if (pack.name !== REFERENCE_PACK) {
    throw new Error(`the built-in pack is called "${pack.name}", expected "${REFERENCE_PACK}"`);
  }
  logger.info(
    {
      pack: pack.name,
      version: pack.version,
      provider: pack.provider,
      providerNote: pack.providerFallbackReason,
      ms: Math.round(performance.now() - packStarted),
    },
    'model pack loaded and warmed',
  );
  const providerNote = face.providerNote ?? pack.providerFallbackReason;
  const provider = face.provider === 'cuda' && pack.provider === 'cuda' ? 'cuda' : 'cpu';

  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
  redis.on('error', (error: Error) => logger.warn({ err: error.message }, 'redis'));
  const events = new WorkerEventPublisher(redis, {
    prefix: config.prefix,
    workerId: config.workerId,
  });
  const cancels = await RenderCancelWatcher.start(redis, config.prefix);
  const drain = new Drain();
  const faceModels = new Map([[REFERENCE_PACK, face]]);
  const tracker = new JobTracker();
  const registry = tracker.wrap(
    createHandlerRegistry(
      createDefaultHandlers({
        avatar: {
          storage,
          events,
          faceModels,
          log: (fields, message) => logger.info(fields, message),
        },
        render: {
          storage,
          events,
          packs: new Map([[pack.name, pack]]),
          faceModels,
          cancels,
          drain,
          workDir: path.resolve(config.dataDir, 'tmp', 'render-worker'),
          log: (fields, message) => logger.info(fields, message),
        },
      }),
    ),
  );
  const heartbeat = await startHeartbeat(
    redis,
    () => ({
      workerId: config.workerId,
      provider,
      ...(providerNote !== undefined ? { providerNote } : {}),
      packs: [advertisedPack(pack)],
      // One render at a time per GPU (or CPU): WORKER_CONCURRENCY, default 1.
      capacity: config.concurrency,
      currentJobs: tracker.current(),
      startedAt,
    }),
    {
      prefix: config.prefix,
      onError: (error) => logger.warn({ err: String(error) }, 'heartbeat failed'),
    },
  );
  tracker.onChange = () => {
    heartbeat.beat().catch((error: unknown) => logger.warn({ err: String(error) }, 'heartbeat'));
  };
  const worker = await startWorker(config, registry, {
    info: (fields, message) => logger.info(fields, message),
    error: (fields, message) => logger.error(fields, message),
  });
  logger.info(
    {
      workerId: config.workerId,
      executionProvider: provider,
      pack: `${pack.name}@${pack.version}`,
      prefix: config.prefix,
    },
    'render worker ready',
  );

  // First signal: stop taking jobs; renders stop after their current clip's checkpoint and go
  // back to the waiting list (another worker resumes them), avatars finish; then exit. A second
  // signal exits at once (the jobs' locks expire and BullMQ's stalled check re-runs them).
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal, exiting without waiting for running jobs');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'closing: running renders stop after their current clip');
    const close = async (): Promise<void> => {
      // close() first: the worker must stop fetching before a render goes back to the queue.
      const closing = worker.close();
      drain.request();
      await closing;
      await heartbeat.stop();
      await cancels.close();
      await Promise.allSettled([face.release(), pack.release()]);
      await redis.quit();
    };
    close().then(
      () => {
        logger.info('closed');
        process.exitCode = 0;
      },
      (error: unknown) => {
        logger.error(
          { err: error instanceof Error ? error.message : String(error) },
          'close failed',
        );
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof HandlerRegistryError) {
    logger.fatal(
      { problems: error instanceof ConfigError ? error.issues : error.problems },
      error.message,
    );
    process.exitCode = 2;
    return;
  }
  logger.fatal(
    { err: error instanceof Error ? error.stack : String(error) },
    'render worker failed to start',
  );
  process.exitCode = 1;
});
