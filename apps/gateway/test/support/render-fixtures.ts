// Rows a render needs, made directly in the database (avatars READY without a worker, audio
// assets with a probed duration), and a graphql-ws subscriber that collects events.
import { randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Db } from '@likeness/db';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { gql } from './gateway-harness';

export async function readyAvatar(
  db: Db,
  tenantId: string,
  status: 'READY' | 'PROCESSING' | 'FAILED' = 'READY',
): Promise<string> {
  const image = await db.assets.create(tenantId, {
    kind: 'IMAGE',
    mime: 'image/png',
    bytes: 1000,
    sha256: randomBytes(32).toString('hex'),
    storageKey: `tenants/${tenantId}/assets/${randomBytes(8).toString('hex')}/original`,
    probe: { width: 512, height: 512 },
  });
  const avatar = await db.avatars.create(tenantId, {
    name: 'Ada',
    imageAssetId: image.id,
    consentAttestation: 'She agreed.',
    consentAt: new Date(),
    modelPack: 'reference',
  });
  if (status !== 'PROCESSING') {
    await db.avatars.update(tenantId, avatar.id, {
      status,
      faceBox: { x0: 100, y0: 80, x1: 300, y1: 330 },
      keypoints: [1, 2, 3, 4, 5, 6].map((i) => ({ x: 100 + i * 20, y: 150 + i * 10 })),
    });
  }
  if (status === 'READY') {
    await db.avatars.setEmbedding(tenantId, avatar.id, { model: 'test', vector: [0.6, 0.8, 0] });
  }
  return avatar.id;
}

export async function audioAsset(
  db: Db,
  tenantId: string,
  seconds: number,
  kind: 'AUDIO' | 'IMAGE' = 'AUDIO',
): Promise<string> {
  const asset = await db.assets.create(tenantId, {
    kind,
    mime: kind === 'AUDIO' ? 'audio/wav' : 'image/png',
    bytes: 2000,
    sha256: randomBytes(32).toString('hex'),
    storageKey: `tenants/${tenantId}/assets/${randomBytes(8).toString('hex')}/original`,
    probe:
      kind === 'AUDIO'
        ? { durationSeconds: seconds, sampleRate: 16000, channels: 1 }
        : { width: 64, height: 64 },
  });
  return asset.id;
}

export const RENDER_FIELDS = `id status seed modelPack modelPackVersion attempts queuePosition
  createdAt startedAt finishedAt cancelRequestedAt identityScore frames audioSeconds
  quote { amountCents currency } cost { amountCents currency }
  input { avatarId audioAssetId prompt motion { expression body } guidance { prompt audio }
          maxSide fps steps seed modelPack priority }
  progress { phase clip clips step totalSteps fraction etaSeconds preview { url expiresAt } }
  output { assetId url expiresAt durationSeconds width height fps frames bytes }
  error { code message field ourFault }
  avatar { id name }`;

export interface RenderJson {
  id: string;
  status: string;
  seed: number;
  attempts: number;
  queuePosition: number | null;
  cancelRequestedAt: string | null;
  identityScore: number | null;
  quote: { amountCents: number; currency: string };
  cost: { amountCents: number; currency: string } | null;
  input: Record<string, unknown>;
  progress: Record<string, unknown> | null;
  output: Record<string, unknown> | null;
  error: { code: string; message: string; field: string | null; ourFault: boolean } | null;
  avatar: { id: string };
  [key: string]: unknown;
}

export async function createRender(
  app: NestFastifyApplication,
  token: string,
  input: Record<string, unknown>,
  idempotencyKey?: string,
) {
  return gql(app, {
    token,
    query: `mutation($input: RenderInput!, $key: String) {
      createRender(input: $input, idempotencyKey: $key) { ${RENDER_FIELDS} } }`,
    variables: { input, ...(idempotencyKey !== undefined ? { key: idempotencyKey } : {}) },
  });
}

export async function getRender(
  app: NestFastifyApplication,
  token: string,
  id: string,
): Promise<RenderJson | null> {
  const res = await gql(app, {
    token,
    query: `query($id: ID!) { render(id: $id) { ${RENDER_FIELDS} } }`,
    variables: { id },
  });
  if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
  return (res.body.data?.['render'] as RenderJson | null) ?? null;
}

/** Polls `render(id)` until `until` holds (or fails after `timeoutMs`). */
export async function waitForRender(
  app: NestFastifyApplication,
  token: string,
  id: string,
  until: (r: RenderJson) => boolean,
  timeoutMs = 20_000,
): Promise<RenderJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const render = await getRender(app, token, id);
    if (render && until(render)) return render;
    if (Date.now() > deadline) {
      throw new Error(`render ${id} did not get there: ${JSON.stringify(render)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface EventJson {
  sequence: number;
  type: string;
  render: { id: string; status: string; progress: { step: number; phase: string } | null };
}

export interface Subscriber {
  readonly events: EventJson[];
  readonly errors: unknown[];
  /** Resolves when the server completes the subscription (after the final event). */
  readonly completed: Promise<void>;
  /** Resolves once `predicate` holds for the events received. */
  waitFor(predicate: (events: EventJson[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export function wsUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/, 'ws').replace('[::1]', '127.0.0.1') + '/graphql';
}

export function subscribe(
  url: string,
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
): Subscriber {
  const client: Client = createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { authorization: token },
  });
  const events: EventJson[] = [];
  const errors: unknown[] = [];
  let done: () => void = () => undefined;
  const completed = new Promise<void>((resolve) => (done = resolve));
  client.subscribe<Record<string, EventJson>>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors) errors.push(...result.errors);
        const value = result.data ? Object.values(result.data)[0] : undefined;
        if (value) events.push(value);
      },
      error: (error) => {
        errors.push(error);
        done();
      },
      complete: () => done(),
    },
  );
  return {
    events,
    errors,
    completed,
    async waitFor(predicate, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(events)) {
        if (Date.now() > deadline) {
          throw new Error(`subscription did not get there: ${JSON.stringify({ events, errors })}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: async () => {
      await client.dispose();
    },
  };
}

export const RENDER_UPDATED = `subscription($id: ID!, $after: Int) {
  renderUpdated(id: $id, afterSequence: $after) {
    sequence type render { id status progress { step phase } } } }`;
