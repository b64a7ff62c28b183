import { z } from 'zod';
import { CliError } from '../errors';
import type { GraphQLClient } from '../graphql-client';
import { formatTable } from '../format';

export const VIEWER_QUERY =
  'query Viewer { viewer { kind tenant { id name plan status } apiKey { id name prefix scopes } } }';

/** What `viewer` returns for this query; checked so a gateway change shows up as a clear error. */
const viewerSchema = z.object({
  kind: z.string(),
  tenant: z
    .object({ id: z.string(), name: z.string(), plan: z.string(), status: z.string() })
    .nullable(),
  apiKey: z
    .object({ id: z.string(), name: z.string(), prefix: z.string(), scopes: z.array(z.string()) })
    .nullable(),
});
export type Viewer = z.infer<typeof viewerSchema>;

export async function fetchViewer(client: GraphQLClient): Promise<Viewer> {
  const data = await client.request<{ viewer?: unknown }>(VIEWER_QUERY);
  const parsed = viewerSchema.safeParse(data.viewer);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `viewer.${i.path.join('.')}`).join(', ');
    throw new CliError(
      'api',
      `unexpected viewer from ${client.endpoint} (${where})`,
      'BAD_RESPONSE',
    );
  }
  return parsed.data;
}

export function formatViewer(viewer: Viewer): string {
  const rows: [string, string][] = [['Kind', viewer.kind]];
  if (viewer.tenant) {
    rows.push(
      ['Tenant', `${viewer.tenant.name} (${viewer.tenant.id})`],
      ['Plan', viewer.tenant.plan],
      ['Status', viewer.tenant.status],
    );
  } else {
    rows.push(['Tenant', '(none: platform-wide)']);
  }
  if (viewer.apiKey) {
    rows.push(
      ['API key', `${viewer.apiKey.name} (${viewer.apiKey.prefix}…, ${viewer.apiKey.id})`],
      ['Scopes', viewer.apiKey.scopes.length > 0 ? viewer.apiKey.scopes.join(', ') : '(none)'],
    );
  }
  return formatTable(rows);
}
