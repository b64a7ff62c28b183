import 'reflect-metadata';
import { ConfigError, loadConfig } from './config/config';
import { createGateway } from './bootstrap';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const app = await createGateway(config);
  await app.listen({ port: config.port, host: config.host });
  process.stderr.write(
    `gateway listening on http://${config.host}:${config.port} (GraphQL at /graphql)\n`,
  );

  // Graceful stop: stop accepting, let in-flight requests finish, close pools, exit 0. Further
  // signals (Ctrl-C reaches the whole process group, then npm start sends SIGTERM) are ignored;
  // a close that hangs past the grace period exits with 1.
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`gateway: ${signal} received, shutting down\n`);
    const timer = setTimeout(() => {
      process.stderr.write('gateway: shutdown took too long, exiting\n');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    timer.unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`gateway: error while shutting down: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

const SHUTDOWN_GRACE_MS = 10_000;

main().catch((err: unknown) => {
  process.stderr.write(
    `gateway failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
