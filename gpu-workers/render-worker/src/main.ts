#!/usr/bin/env node
import pino from 'pino';
import { ConfigError, loadConfig } from './config';
import { HandlerRegistryError, createHandlerRegistry } from './handler-registry';
import { createDefaultHandlers } from './handlers';
import { startWorker } from './worker';

const logger = pino({ name: 'render-worker' });

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const registry = createHandlerRegistry(createDefaultHandlers());
  const worker = await startWorker(config, registry, {
    info: (fields, message) => logger.info(fields, message),
    error: (fields, message) => logger.error(fields, message),
  });
  logger.info(
    {
      workerId: config.workerId,
      executionProvider: config.executionProvider,
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
    worker.close().then(
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
