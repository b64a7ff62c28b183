// CI's guarantee that prisma/schema.prisma, prisma/migrations and the committed client agree.
import { readFile } from 'node:fs/promises';
import { testDatabaseUrls } from '../testing';
import { DEFAULT_SCHEMA_PATH, checkDrift, checkMigrationsMatchSchema } from './drift';
import { checkGeneratedClient } from './generated-client';

const { url } = testDatabaseUrls();
let schema: string;

beforeAll(async () => {
  schema = await readFile(DEFAULT_SCHEMA_PATH, 'utf8');
});

function edit(from: string, to: string): string {
  expect(schema).toContain(from);
  return schema.replace(from, to);
}

it('the migrations, applied to an empty database, build exactly schema.prisma', async () => {
  expect(await checkMigrationsMatchSchema({ adminUrl: url })).toEqual([]);
});

it('reports a field added to schema.prisma without a migration', async () => {
  const changed = edit(
    '  stripeCustomerId String?      @map("stripe_customer_id")',
    '  stripeCustomerId String?      @map("stripe_customer_id")\n  billingEmail     String?      @map("billing_email")',
  );
  const problems = await checkDrift({ url, schema: changed });
  expect(problems).toEqual([
    'Tenant.billingEmail (tenants.billing_email): column tenants.billing_email is missing in the database',
  ]);
});

it('reports changed types, nullability, enums, indexes, relations and removed fields', async () => {
  const changed = [
    [
      '  costCents        Int?         @map("cost_cents")',
      '  costCents        BigInt?      @map("cost_cents")',
    ],
    ['  mime       String\n', '  mime       String?\n'],
    ['  CANCELED\n', '  CANCELED\n  EXPIRED\n'],
    ['  @@index([status, queuedAt])\n', ''],
    ['  @@unique([renderId, sequence])', '  @@unique([renderId, sequence, type])'],
    ['  prefix        String\n', ''],
    [
      '@relation(fields: [endpointId], references: [id], onDelete: Cascade)',
      '@relation(fields: [endpointId], references: [id], onDelete: Restrict)',
    ],
  ].reduce((text, [from = '', to = '']) => {
    expect(text).toContain(from);
    return text.replace(from, to);
  }, schema);
  const problems = (await checkDrift({ url, schema: changed })).join('\n');
  expect(problems).toContain(
    'Render.costCents (renders.cost_cents): type is int4 in the database, schema wants int8',
  );
  expect(problems).toContain(
    'Asset.mime (assets.mime): column is NOT NULL in the database, schema wants NULL',
  );
  expect(problems).toContain('enum RenderStatus: value EXPIRED is missing from type render_status');
  expect(problems).toContain(
    'index renders(status, queued_at) exists in the database but not in the schema',
  );
  expect(problems).toContain(
    'unique index render_events(render_id, sequence, type) is missing in the database',
  );
  expect(problems).toContain(
    'model ApiKey: column api_keys.prefix exists in the database but not in the schema',
  );
  expect(problems).toContain(
    'WebhookDelivery.endpoint: foreign key webhook_deliveries(endpoint_id) -> webhook_endpoints(id)',
  );
});

it('reports a new model and the vector column', async () => {
  const changed =
    edit('  embedding Unsupported("vector")', '  embedding Unsupported("vector")?') +
    '\nmodel Extra {\n  id Int @id\n  @@map("extras")\n}\n';
  const problems = await checkDrift({ url, schema: changed });
  expect(problems).toEqual(
    expect.arrayContaining([
      'model Extra: table extras is missing in the database',
      'IdentityEmbedding.embedding (identity_embeddings.embedding): column is NOT NULL in the database, schema wants NULL',
    ]),
  );
});

it('the committed generated client matches a fresh `prisma generate`', async () => {
  expect(await checkGeneratedClient()).toEqual([]);
});
