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
}

main().catch((err: unknown) => {
  process.stderr.write(
    `gateway failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
