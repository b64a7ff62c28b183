// Prisma 7 reads its settings from here. Only `prisma generate` (and validate/format) is used:
// the database is built by our own SQL migration runner (docs/decisions/0001-migrations.md),
// so there is no `migrations` or `datasource` block for the CLI to act on.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
});
