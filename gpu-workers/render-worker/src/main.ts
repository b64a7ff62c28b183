#!/usr/bin/env node
import { Redis } from 'ioredis';
import pino from 'pino';
import { builtinFaceModelFiles, loadFaceModels } from './avatar/face-models';
import { ConfigError, loadConfig } from './config';
import { WorkerEventPublisher, startHeartbeat } from './events';
import { HandlerRegistryError, createHandlerRegistry } from './handler-registry';
import { createDefaultHandlers } from './handlers';
import { JobTracker } from './job-tracker';
import { createObjectStorage } from './storage';
import { startWorker } from './worker';

const logger = pino({ name: 'render-worker' });

/**
 * The pack whose face stages model-zoo builds (the reference pack's `faceDetector` and
 * `identityEncoder`); avatars of other packs wait for a worker that has them.
 */
const REFERENCE_PACK = 'reference';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const startedAt = new Date().toISOString();
  const storage = createObjectStorage(config);

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

  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
  redis.on('error', (error: Error) => logger.warn({ err: error.message }, 'redis'));
  const events = new WorkerEventPublisher(redis, {
    prefix: config.prefix,
    workerId: config.workerId,
  });
  const tracker = new JobTracker();
  const registry = tracker.wrap(
    createHandlerRegistry(
      createDefaultHandlers({
        avatar: {
          storage,
          events,
          faceModels: new Map([[REFERENCE_PACK, face]]),
          log: (fields, message) => logger.info(fields, message),
        },
      }),
    ),
  );
  const heartbeat = await startHeartbeat(
    redis,
    () => ({
      workerId: config.workerId,
      provider: face.provider,
      ...(face.providerNote !== undefined ? { providerNote: face.providerNote } : {}),
      // Render packs are advertised once the render pipeline is wired in (handlers.ts).
      packs: [],
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
      executionProvider: face.provider,
      prefix: config.prefix,
    },
    'render worker ready',
  );

  // First signal: finish the running jobs and exit; a second one exits at once.
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal, exiting without waiting for running jobs');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'closing: waiting for running jobs');
    const close = async (): Promise<void> => {
      await worker.close();
      await heartbeat.stop();
      await face.release();
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
