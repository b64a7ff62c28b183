import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { printGatewaySchema } from './print-schema';

/** `nx run gateway:schema`: regenerates apps/gateway/schema.graphql from the code. */
async function main(): Promise<void> {
  const target = join(__dirname, '..', '..', 'schema.graphql');
  writeFileSync(target, await printGatewaySchema());
  process.stderr.write(`wrote ${target}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
