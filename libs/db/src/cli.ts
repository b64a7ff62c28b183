// node -r @swc-node/register libs/db/src/cli.ts migrate|seed|check-drift|check-generated|generate
import { z } from 'zod';
import { DEFAULT_APP_PASSWORD } from './config';
import { createDb } from './db';
import { checkMigrationsMatchSchema } from './drift/drift';
import { checkGeneratedClient, generateClient } from './drift/generated-client';
import { migrate } from './migrate/migrate';
import { seedDemo } from './seed';

const COMMANDS = ['migrate', 'seed', 'check-drift', 'check-generated', 'generate'] as const;
type Command = (typeof COMMANDS)[number];

const postgresUrl = z
  .string({ error: 'is required' })
  .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgresql:// URL');

const baseEnv = z.object({
  DATABASE_URL: postgresUrl,
  DATABASE_APP_URL: postgresUrl.optional(),
  DATABASE_APP_PASSWORD: z.string().min(1).optional(),
});
const seedEnv = baseEnv.extend({
  LIKENESS_ADMIN_EMAIL: z.email({ error: 'must be an email address' }),
  LIKENESS_ADMIN_PASSWORD: z
    .string({ error: 'is required' })
    .min(8, 'must be at least 8 characters'),
  LIKENESS_DATA_DIR: z.string({ error: 'is required' }).min(1),
});

function parseEnv<S extends z.ZodType>(schema: S): z.infer<S> {
  const result = schema.safeParse(process.env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
  throw new CliError(`invalid environment:\n${lines.join('\n')}`);
}

class CliError extends Error {}

const log = (message: string): void => {
  process.stdout.write(`${message}\n`);
};

async function main(command: Command): Promise<void> {
  switch (command) {
    case 'migrate': {
      const env = parseEnv(baseEnv);
      const { applied } = await migrate({
        url: env.DATABASE_URL,
        appPassword: env.DATABASE_APP_PASSWORD,
        log,
      });
      log(`migrations applied: ${applied.length}`);
      return;
    }
    case 'seed': {
      const env = parseEnv(seedEnv);
      const db = createDb({
        url: env.DATABASE_URL,
        appUrl: env.DATABASE_APP_URL,
        appPassword: env.DATABASE_APP_PASSWORD ?? DEFAULT_APP_PASSWORD,
      });
      try {
        const seeded = await seedDemo(db, {
          adminEmail: env.LIKENESS_ADMIN_EMAIL,
          adminPassword: env.LIKENESS_ADMIN_PASSWORD,
          dataDir: env.LIKENESS_DATA_DIR,
        });
        log(JSON.stringify(seeded));
      } finally {
        await db.close();
      }
      return;
    }
    case 'check-drift': {
      const env = parseEnv(baseEnv);
      const problems = await checkMigrationsMatchSchema({ adminUrl: env.DATABASE_URL });
      if (problems.length > 0)
        throw new CliError(
          `schema.prisma and prisma/migrations disagree:\n  ${problems.join('\n  ')}`,
        );
      log('schema.prisma and prisma/migrations agree');
      return;
    }
    case 'check-generated': {
      const differences = await checkGeneratedClient();
      if (differences.length > 0) {
        throw new CliError(
          `libs/db/src/generated is stale; run \`npx nx run db:generate\`:\n  ${differences.join('\n  ')}`,
        );
      }
      log('generated Prisma client is up to date');
      return;
    }
    case 'generate':
      await generateClient();
      log('generated libs/db/src/generated');
      return;
  }
}

const command = process.argv[2];
if (!COMMANDS.includes(command as Command)) {
  process.stderr.write(`usage: cli.ts ${COMMANDS.join('|')}\n`);
  process.exit(2);
}
main(command as Command).catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof CliError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
