// Avatars through the real gateway (in-process), a fresh Postgres (+pgvector) and the real
// Redis. The worker is simulated with contract-valid events (support/fake-worker.ts) and a
// preview file written to the same storage, as gpu-workers/render-worker does.
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { Client } from 'pg';
import sharp from 'sharp';
import {
  JobName,
  QueueName,
  avatarPreviewKey,
  parseWorkerEvent,
  type DetectedFaceV1,
  type WorkerEventInput,
} from '@likeness/contracts';
import type { Db } from '@likeness/db';
import { LocalDirectoryStorage } from '@likeness/storage';
import { AvatarSweeper } from '../src/avatars/avatar.sweeper';
import { AvatarRealtime } from '../src/avatars/avatar.realtime';
import { AVATAR_PREPARE_ATTEMPTS } from '../src/avatars/avatar.queue';
import { INTERNAL_FAILURE_MESSAGE } from '../src/avatars/avatar-preparation.events';
import { WorkerEventsService } from '../src/workers';
import { startFakeWorker, type FakeWorker } from './support/fake-worker';
import {
  gql,
  newTenantWithKey,
  startGateway,
  testDb,
  type TestGateway,
} from './support/gateway-harness';

const run = promisify(execFile);
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const SCOPES = ['assets:read', 'assets:write', 'avatars:read', 'avatars:write'];
const DIM = 128;

let dataDir: string;
let gateway: TestGateway;
let db: Db;
let owner: Client;
let worker: FakeWorker;
let queue: Queue;
let storage: LocalDirectoryStorage;
let jpeg: Buffer;
let wav: Buffer;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'likeness-avatars-'));
  gateway = await startGateway({
    LIKENESS_DATA_DIR: dataDir,
    // Sweeps run when a test asks, and look at every PROCESSING avatar.
    AVATAR_SWEEP_INTERVAL_MS: '0',
    AVATAR_SWEEP_GRACE_MS: '0',
    WORKER_EVENTS_CLAIM_IDLE_MS: '200',
    RATE_LIMIT_IP_PER_MINUTE: '1000000',
    RATE_LIMIT_API_KEY_PER_MINUTE: '1000000',
  });
  db = testDb();
  owner = new Client({ connectionString: process.env['DATABASE_URL'] });
  await owner.connect();
  worker = await startFakeWorker(redisUrl, gateway.redisPrefix);
  queue = new Queue(QueueName.Avatar, {
    connection: { url: redisUrl },
    prefix: gateway.redisPrefix,
  });
  storage = new LocalDirectoryStorage(path.join(dataDir, 'storage'));
  jpeg = await sharp({
    create: { width: 640, height: 480, channels: 3, background: { r: 200, g: 150, b: 120 } },
  })
    .jpeg()
    .toBuffer();
  const wavFile = path.join(dataDir, 'tone.wav');
  await run('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=duration=1', wavFile]);
  wav = await readFile(wavFile);
});

afterAll(async () => {
  await worker?.close();
  await queue?.close();
  await gateway?.close();
  await db?.close();
  await owner?.end();
  await rm(dataDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Helpers

const AVATAR_FIELDS = `id name status faceIndex modelPack createdAt updatedAt
  consent { attestation at }
  face { box { x0 y0 x1 y1 } keypoints { x y } }
  failure { reason message field faces { index score box { x0 y0 x1 y1 } keypoints { x y } } }
  image { id kind sha256 }
  preview { id kind mime width height sha256 }
  identityEmbedding { model dim }`;

interface AvatarNode {
  id: string;
  name: string;
  status: 'PROCESSING' | 'READY' | 'FAILED';
  faceIndex: number | null;
  modelPack: string;
  consent: { attestation: string; at: string };
  face: { box: Record<string, number>; keypoints: { x: number; y: number }[] } | null;
  failure: {
    reason: string;
    message: string;
    field: string | null;
    faces: { index: number; score: number; box: Record<string, number> }[] | null;
  } | null;
  image: { id: string; kind: string; sha256: string };
  preview: { id: string; kind: string; mime: string; width: number; height: number } | null;
  identityEmbedding: { model: string; dim: number } | null;
}

async function tenant(scopes = SCOPES) {
  return newTenantWithKey(db, { scopes });
}

async function upload(secret: string, body: Buffer): Promise<{ id: string; sha256: string }> {
  const res = await gateway.app.inject({
    method: 'POST',
    url: '/v1/assets',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/octet-stream' },
    payload: body,
  });
  expect(res.statusCode).toBe(201);
  return res.json<{ id: string; sha256: string }>();
}

function call(secret: string, query: string, variables: Record<string, unknown> = {}) {
  return gql(gateway.app, { query, variables, token: secret });
}

const CREATE = `mutation($input: CreateAvatarInput!) { createAvatar(input: $input) { ${AVATAR_FIELDS} } }`;
const GET = `query($id: ID!) { avatar(id: $id) { ${AVATAR_FIELDS} } }`;

async function create(
  secret: string,
  imageAssetId: string,
  extra: Record<string, unknown> = {},
): Promise<AvatarNode> {
  const res = await call(secret, CREATE, {
    input: {
      name: 'Ada',
      imageAssetId,
      consent: { attestation: 'Ada agreed in writing on 2026-01-02.' },
      ...extra,
    },
  });
  expect(res.body.errors).toBeUndefined();
  return (res.body.data as { createAvatar: AvatarNode }).createAvatar;
}

async function get(secret: string, id: string): Promise<AvatarNode | null> {
  const res = await call(secret, GET, { id });
  expect(res.body.errors).toBeUndefined();
  return (res.body.data as { avatar: AvatarNode | null }).avatar;
}

function drain(): Promise<void> {
  return gateway.app.get(WorkerEventsService).drain();
}

function face(x: number, size = 120): DetectedFaceV1 {
  return {
    box: { x0: x, y0: 100, x1: x + size, y1: 100 + size },
    keypoints: [
      { x: x + 35, y: 140 },
      { x: x + 85, y: 140 },
      { x: x + 60, y: 170 },
      { x: x + 60, y: 195 },
      { x: x + 5, y: 150 },
      { x: x + 115, y: 150 },
    ],
    score: 0.93,
  };
}

function unit(direction: number[]): number[] {
  const v = Array.from({ length: DIM }, (_, i) => direction[i] ?? 0);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

async function storePreview(tenantId: string, avatarId: string, runId: string): Promise<string> {
  const key = avatarPreviewKey(tenantId, avatarId, runId);
  const bytes = await sharp({
    create: { width: 256, height: 256, channels: 3, background: { r: 180, g: 120, b: 100 } },
  })
    .jpeg({ quality: 85 })
    .toBuffer();
  await storage.put(key, Readable.from([bytes]));
  return key;
}

/** A worker run that prepared the avatar: preview stored, then `avatar.prepared` appended. */
async function prepare(
  tenantId: string,
  avatarId: string,
  direction: number[] = [1],
): Promise<{ run: string; previewKey: string }> {
  const r = worker.startRun();
  const previewKey = await storePreview(tenantId, avatarId, r.run);
  await r.emit({
    type: 'avatar.prepared',
    tenantId,
    avatarId,
    attempt: 1,
    face: face(200),
    faceIndex: 0,
    facesFound: 1,
    imageWidth: 640,
    imageHeight: 480,
    previewKey,
    embedding: { model: 'dlib-resnet-v1', dim: DIM, values: unit(direction) },
  });
  return { run: r.run, previewKey };
}

async function failWith(
  tenantId: string,
  avatarId: string,
  reason: string,
  extra: Partial<WorkerEventInput> = {},
): Promise<void> {
  await worker.startRun().emit({
    type: 'avatar.failed',
    tenantId,
    avatarId,
    attempt: 1,
    reason,
    message: `worker says ${reason}`,
    willRetry: false,
    ...extra,
  } as WorkerEventInput);
}

async function rows(sql: string, params: unknown[]): Promise<Record<string, unknown>[]> {
  return (await owner.query(sql, params)).rows as Record<string, unknown>[];
}

async function jobCount(): Promise<number> {
  const counts = await queue.getJobCounts();
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

async function subscribeWebhooks(tenantId: string): Promise<void> {
  await owner.query(
    `INSERT INTO webhook_endpoints (tenant_id, url, event_types, secret)
     VALUES ($1, 'https://example.test/hook', ARRAY['avatar.ready','avatar.failed'], 'x')`,
    [tenantId],
  );
}

async function webhookEvents(tenantId: string): Promise<Record<string, unknown>[]> {
  return rows(
    `SELECT event_type, payload FROM webhook_deliveries WHERE tenant_id = $1 ORDER BY created_at`,
    [tenantId],
  );
}

// ---------------------------------------------------------------------------------------------

describe('createAvatar → avatar.prepare → READY', () => {
  it('records consent, enqueues one job, and stores face, preview and the 128-d embedding', async () => {
    const t = await tenant();
    await subscribeWebhooks(t.tenantId);
    const image = await upload(t.secret, jpeg);
    const created = await create(t.secret, image.id);
    expect(created).toMatchObject({
      name: 'Ada',
      status: 'PROCESSING',
      faceIndex: null,
      modelPack: 'reference',
      consent: { attestation: 'Ada agreed in writing on 2026-01-02.' },
      face: null,
      failure: null,
      preview: null,
      identityEmbedding: null,
      image: { id: image.id, kind: 'IMAGE', sha256: image.sha256 },
    });

    // The consent record: who, when, the text and the photo's sha256, in the audit log.
    const audit = await rows(
      `SELECT actor, data FROM audit_log WHERE tenant_id = $1 AND action = 'avatar.create' AND target = $2`,
      [t.tenantId, created.id],
    );
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actor: `api_key:${t.apiKeyId}`,
      data: {
        imageSha256: image.sha256,
        consent: { attestation: 'Ada agreed in writing on 2026-01-02.', at: created.consent.at },
      },
    });

    // One job, keyed by the avatar id, with retries for infrastructure failures.
    const job = await queue.getJob(created.id);
    expect(job?.name).toBe(JobName.AvatarPrepare);
    expect(job?.data).toMatchObject({
      v: 1,
      tenantId: t.tenantId,
      avatarId: created.id,
      faceIndex: null,
      modelPack: 'reference',
      imageStorageKey: `tenants/${t.tenantId}/assets/${image.id}/original`,
    });
    expect(job?.opts.attempts).toBe(AVATAR_PREPARE_ATTEMPTS);
    expect(job?.opts.backoff).toMatchObject({ type: 'exponential' });

    const { previewKey } = await prepare(t.tenantId, created.id, [3, 4]);
    await drain();
    const ready = await get(t.secret, created.id);
    expect(ready).toMatchObject({
      status: 'READY',
      face: { box: { x0: 200, y0: 100, x1: 320, y1: 220 } },
      failure: null,
      preview: { kind: 'IMAGE', mime: 'image/jpeg', width: 256, height: 256 },
      identityEmbedding: { model: 'dlib-resnet-v1', dim: DIM },
    });
    expect(ready?.face?.keypoints).toHaveLength(6);
    const preview = await db.assets.findById(t.tenantId, ready?.preview?.id ?? '');
    expect(preview?.storageKey).toBe(previewKey);

    const vectors = await rows(
      `SELECT model, dim, vector_dims(embedding) AS dims, embedding::text AS v
       FROM identity_embeddings WHERE avatar_id = $1 AND tenant_id = $2`,
      [created.id, t.tenantId],
    );
    expect(vectors).toHaveLength(1);
    expect(vectors[0]).toMatchObject({ model: 'dlib-resnet-v1', dim: DIM, dims: DIM });
    const stored = JSON.parse(String(vectors[0]?.['v'])) as number[];
    expect(stored[0]).toBeCloseTo(0.6, 5);
    expect(stored[1]).toBeCloseTo(0.8, 5);

    const hooks = await webhookEvents(t.tenantId);
    expect(hooks.map((h) => h['event_type'])).toEqual(['avatar.ready']);
    expect(hooks[0]?.['payload']).toMatchObject({
      type: 'avatar.ready',
      data: {
        avatar: {
          id: created.id,
          status: 'READY',
          identityEmbedding: { model: 'dlib-resnet-v1', dim: DIM },
        },
      },
    });
  });

  it('a key with avatars:read only may read but not create (FORBIDDEN, MISSING_SCOPE)', async () => {
    const writer = await tenant();
    const image = await upload(writer.secret, jpeg);
    const reader = await newTenantWithKey(db, { scopes: ['avatars:read'] });
    const res = await call(reader.secret, CREATE, {
      input: { name: 'x', imageAssetId: image.id, consent: { attestation: 'yes' } },
    });
    expect(res.body.errors?.[0]?.extensions).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'MISSING_SCOPE',
    });
  });
});

describe('createAvatar refuses bad input and leaves no rows and no jobs', () => {
  const cases: {
    name: string;
    input: (ids: { image: string; audio: string; foreign: string }) => Record<string, unknown>;
    code: string;
    field?: string;
  }[] = [
    {
      name: 'missing consent',
      input: ({ image }) => ({ name: 'A', imageAssetId: image }),
      code: 'BAD_USER_INPUT',
    },
    {
      name: 'blank attestation',
      input: ({ image }) => ({ name: 'A', imageAssetId: image, consent: { attestation: '  \n ' } }),
      code: 'BAD_USER_INPUT',
      field: 'consent.attestation',
    },
    {
      name: "another tenant's image",
      input: ({ foreign }) => ({ name: 'A', imageAssetId: foreign, consent: { attestation: 'y' } }),
      code: 'NOT_FOUND',
      field: 'imageAssetId',
    },
    {
      name: 'an unknown asset id',
      input: () => ({ name: 'A', imageAssetId: randomUUID(), consent: { attestation: 'y' } }),
      code: 'NOT_FOUND',
      field: 'imageAssetId',
    },
    {
      name: 'an audio asset as the image',
      input: ({ audio }) => ({ name: 'A', imageAssetId: audio, consent: { attestation: 'y' } }),
      code: 'BAD_USER_INPUT',
      field: 'imageAssetId',
    },
    {
      name: 'a negative faceIndex',
      input: ({ image }) => ({
        name: 'A',
        imageAssetId: image,
        faceIndex: -1,
        consent: { attestation: 'y' },
      }),
      code: 'BAD_USER_INPUT',
      field: 'faceIndex',
    },
    {
      name: 'an empty name',
      input: ({ image }) => ({ name: ' ', imageAssetId: image, consent: { attestation: 'y' } }),
      code: 'BAD_USER_INPUT',
      field: 'name',
    },
  ];

  it.each(cases)('$name → $code', async ({ input, code, field }) => {
    const t = await tenant();
    const other = await tenant();
    const ids = {
      image: (await upload(t.secret, jpeg)).id,
      audio: (await upload(t.secret, wav)).id,
      foreign: (await upload(other.secret, jpeg)).id,
    };
    const jobsBefore = await jobCount();
    const res = await call(t.secret, CREATE, { input: input(ids) });
    expect(res.body.data ?? null).toBeNull();
    expect(res.body.errors?.[0]?.extensions.code).toBe(code);
    if (field) expect(res.body.errors?.[0]?.extensions.field).toBe(field);
    for (const id of [t.tenantId, other.tenantId]) {
      expect(await rows(`SELECT id FROM avatars WHERE tenant_id = $1`, [id])).toEqual([]);
      expect(
        await rows(`SELECT id FROM audit_log WHERE tenant_id = $1 AND action LIKE 'avatar.%'`, [
          id,
        ]),
      ).toEqual([]);
    }
    expect(await jobCount()).toBe(jobsBefore);
  });
});

describe('worker failures are shown precisely', () => {
  const twoFaces = [face(100), face(400)];
  const cases: {
    reason: string;
    field: string | null;
    faces?: DetectedFaceV1[];
  }[] = [
    { reason: 'NO_FACE', field: 'imageAssetId' },
    { reason: 'SEVERAL_FACES', field: 'faceIndex', faces: twoFaces },
    { reason: 'FACE_INDEX_OUT_OF_RANGE', field: 'faceIndex', faces: twoFaces },
    { reason: 'FACE_TOO_SMALL', field: 'imageAssetId', faces: [face(10, 20)] },
    { reason: 'IMAGE_UNUSABLE', field: 'imageAssetId' },
    { reason: 'INTERNAL', field: null },
  ];

  it.each(cases)('$reason', async ({ reason, field, faces }) => {
    const t = await tenant();
    await subscribeWebhooks(t.tenantId);
    const avatar = await create(t.secret, (await upload(t.secret, jpeg)).id);
    await failWith(t.tenantId, avatar.id, reason, faces ? { faces } : {});
    await drain();
    const failed = await get(t.secret, avatar.id);
    expect(failed?.status).toBe('FAILED');
    expect(failed?.failure).toMatchObject({
      reason,
      // Our own failures do not show the worker's words (they may name internals).
      message: reason === 'INTERNAL' ? INTERNAL_FAILURE_MESSAGE : `worker says ${reason}`,
      field,
    });
    if (faces) {
      expect(failed?.failure?.faces).toEqual(
        faces.map((f, index) => ({
          index,
          score: f.score,
          box: f.box,
          keypoints: f.keypoints,
        })),
      );
    } else {
      expect(failed?.failure?.faces).toBeNull();
    }
    expect(failed?.identityEmbedding).toBeNull();
    expect((await webhookEvents(t.tenantId)).map((h) => h['event_type'])).toEqual([
      'avatar.failed',
    ]);
  });

  it('a failure the job will retry leaves the avatar PROCESSING', async () => {
    const t = await tenant();
    const avatar = await create(t.secret, (await upload(t.secret, jpeg)).id);
    await failWith(t.tenantId, avatar.id, 'INTERNAL', { willRetry: true });
    await drain();
    expect((await get(t.secret, avatar.id))?.status).toBe('PROCESSING');
    await prepare(t.tenantId, avatar.id);
    await drain();
    expect((await get(t.secret, avatar.id))?.status).toBe('READY');
  });
});

describe('events are idempotent and order-tolerant', () => {
  it('a duplicated prepared event writes one preview, one embedding, one webhook', async () => {
    const t = await tenant();
    await subscribeWebhooks(t.tenantId);
    const avatar = await create(t.secret, (await upload(t.secret, jpeg)).id);
    const runId = randomUUID();
    const previewKey = await storePreview(t.tenantId, avatar.id, runId);
    const event = parseWorkerEvent({
      v: 1,
      type: 'avatar.prepared',
      tenantId: t.tenantId,
      avatarId: avatar.id,
      attempt: 1,
      run: runId,
      seq: 0,
      workerId: worker.workerId,
      at: new Date().toISOString(),
      face: face(50),
      faceIndex: 0,
      facesFound: 1,
      imageWidth: 640,
      imageHeight: 480,
      previewKey,
      embedding: { model: 'dlib-resnet-v1', dim: DIM, values: unit([1]) },
    });
    await worker.appendRaw({ event: JSON.stringify(event) });
    await worker.appendRaw({ event: JSON.stringify(event) });
    await drain();
    expect((await get(t.secret, avatar.id))?.status).toBe('READY');
    expect(
      await rows(`SELECT id FROM assets WHERE tenant_id = $1 AND storage_key = $2`, [
        t.tenantId,
        previewKey,
      ]),
    ).toHaveLength(1);
    expect(
      await rows(`SELECT id FROM identity_embeddings WHERE avatar_id = $1`, [avatar.id]),
    ).toHaveLength(1);
    expect(await webhookEvents(t.tenantId)).toHaveLength(1);
    expect(await storage.stat(previewKey)).not.toBeNull();
  });

  it('late events of other runs change nothing; a losing run’s preview is deleted', async () => {
    const t = await tenant();
    await subscribeWebhooks(t.tenantId);
    const avatar = await create(t.secret, (await upload(t.secret, jpeg)).id);
    const winner = await prepare(t.tenantId, avatar.id, [1]);
    await drain();
    const ready = await get(t.secret, avatar.id);
    // An older run's failure and a later run's success, delivered after the avatar is READY.
    await failWith(t.tenantId, avatar.id, 'NO_FACE');
    const loser = await prepare(t.tenantId, avatar.id, [0, 1]);
    await drain();
    expect(await get(t.secret, avatar.id)).toEqual(ready);
    expect(await storage.stat(winner.previewKey)).not.toBeNull();
    expect(await storage.stat(loser.previewKey)).toBeNull();
    expect(await db.avatars.getEmbedding(t.tenantId, avatar.id)).toMatchObject({
      vector: unit([1]),
    });
    expect(await webhookEvents(t.tenantId)).toHaveLength(1);

    // And a READY after a final failure does not resurrect a FAILED avatar.
    const other = await create(t.secret, (await upload(t.secret, jpeg)).id);
    await failWith(t.tenantId, other.id, 'SEVERAL_FACES', { faces: [face(1), face(300)] });
    await drain();
    const late = await prepare(t.tenantId, other.id);
    await drain();
    expect((await get(t.secret, other.id))?.status).toBe('FAILED');
    expect(await storage.stat(late.previewKey)).toBeNull();
  });

  it('an event naming another tenant (or a deleted avatar) is ignored and its preview dropped', async () => {
    const owner1 = await tenant();
    const intruder = await tenant();
    const avatar = await create(owner1.secret, (await upload(owner1.secret, jpeg)).id);
    const wrong = await prepare(intruder.tenantId, avatar.id);
    await drain();
    expect((await get(owner1.secret, avatar.id))?.status).toBe('PROCESSING');
    expect(await storage.stat(wrong.previewKey)).toBeNull();

    expect(
      (await call(owner1.secret, `mutation($id: ID!) { deleteAvatar(id: $id) }`, { id: avatar.id }))
        .body.data,
    ).toEqual({ deleteAvatar: true });
    const late = await prepare(owner1.tenantId, avatar.id);
    await drain();
    expect(await storage.stat(late.previewKey)).toBeNull();
    expect(await rows(`SELECT id FROM avatars WHERE id = $1`, [avatar.id])).toEqual([]);
  });
});

describe('similarAvatars', () => {
  const SIMILAR = `query($id: ID!, $first: Int) {
    similarAvatars(avatarId: $id, first: $first) { similarity avatar { id name status } }
  }`;

  it('orders the tenant’s READY avatars by cosine similarity (pgvector), itself excluded', async () => {
    const t = await tenant();
    const other = await tenant();
    const make = async (secret: string, tenantId: string, direction: number[]) => {
      const a = await create(secret, (await upload(secret, jpeg)).id);
      await prepare(tenantId, a.id, direction);
      return a;
    };
    const target = await make(t.secret, t.tenantId, [1, 0, 0]);
    const far = await make(t.secret, t.tenantId, [-1, 0.2, 0]);
    const near = await make(t.secret, t.tenantId, [1, 0.1, 0]);
    const middle = await make(t.secret, t.tenantId, [1, 1, 0]);
    // Identical to the target, but another tenant's: never listed.
    await make(other.secret, other.tenantId, [1, 0, 0]);
    const processing = await create(t.secret, (await upload(t.secret, jpeg)).id);
    await drain();

    const res = await call(t.secret, SIMILAR, { id: target.id });
    const matches = (
      res.body.data as { similarAvatars: { similarity: number; avatar: { id: string } }[] }
    ).similarAvatars;
    expect(matches.map((m) => m.avatar.id)).toEqual([near.id, middle.id, far.id]);
    expect(matches[0]?.similarity).toBeCloseTo(1 / Math.hypot(1, 0.1), 4);
    expect(matches[1]?.similarity).toBeCloseTo(Math.SQRT1_2, 4);
    expect(matches[2]?.similarity).toBeCloseTo(-1 / Math.hypot(1, 0.2), 4);

    const one = await call(t.secret, SIMILAR, { id: target.id, first: 1 });
    expect(
      (one.body.data as { similarAvatars: { avatar: { id: string } }[] }).similarAvatars.map(
        (m) => m.avatar.id,
      ),
    ).toEqual([near.id]);

    const notReady = await call(t.secret, SIMILAR, { id: processing.id });
    expect(notReady.body.errors?.[0]?.extensions).toMatchObject({
      code: 'CONFLICT',
      field: 'avatarId',
    });
    const foreign = await call(other.secret, SIMILAR, { id: target.id });
    expect(foreign.body.errors?.[0]?.extensions).toMatchObject({
      code: 'NOT_FOUND',
      field: 'avatarId',
    });
    const tooMany = await call(t.secret, SIMILAR, { id: target.id, first: 1000 });
    expect(tooMany.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'first',
    });
  });
});

describe('avatars (Relay connection)', () => {
  it('pages newest first with opaque cursors, only the tenant’s avatars', async () => {
    const t = await tenant();
    const other = await tenant();
    const image = (await upload(t.secret, jpeg)).id;
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await create(t.secret, image, { name: `A${i}` })).id);
    await create(other.secret, (await upload(other.secret, jpeg)).id);
    const LIST = `query($first: Int, $after: String) {
      avatars(first: $first, after: $after) {
        edges { cursor node { id } } nodes { id } pageInfo { hasNextPage endCursor }
      }
    }`;
    type Page = {
      avatars: {
        edges: { cursor: string; node: { id: string } }[];
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
      };
    };
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const res = await call(t.secret, LIST, { first: 2, after });
      const page = (res.body.data as Page).avatars;
      seen.push(...page.edges.map((e) => e.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual([...made].reverse());
    const bad = await call(t.secret, LIST, { after: 'bm90IGEgY3Vyc29y' });
    expect(bad.body.errors?.[0]?.extensions).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'after',
    });
  });
});

describe('deleteAvatar', () => {
  const DELETE = `mutation($id: ID!) { deleteAvatar(id: $id) }`;

  it('removes the avatar, its preview (row and file) and its embedding; keeps the photo', async () => {
    const t = await tenant();
    const image = await upload(t.secret, jpeg);
    const avatar = await create(t.secret, image.id);
    const { previewKey } = await prepare(t.tenantId, avatar.id);
    await drain();
    const ready = await get(t.secret, avatar.id);
    expect(ready?.preview).not.toBeNull();
    expect(await storage.stat(previewKey)).not.toBeNull();

    const res = await call(t.secret, DELETE, { id: avatar.id });
    expect(res.body).toEqual({ data: { deleteAvatar: true } });
    expect(await get(t.secret, avatar.id)).toBeNull();
    expect(await rows(`SELECT id FROM avatars WHERE id = $1`, [avatar.id])).toEqual([]);
    expect(await rows(`SELECT id FROM assets WHERE id = $1`, [ready?.preview?.id])).toEqual([]);
    expect(
      await rows(`SELECT id FROM identity_embeddings WHERE avatar_id = $1`, [avatar.id]),
    ).toEqual([]);
    expect(await storage.stat(previewKey)).toBeNull();
    expect(await db.assets.findById(t.tenantId, image.id)).not.toBeNull();
    expect(
      await rows(`SELECT actor FROM audit_log WHERE action = 'avatar.delete' AND target = $1`, [
        avatar.id,
      ]),
    ).toEqual([{ actor: `api_key:${t.apiKeyId}` }]);

    const again = await call(t.secret, DELETE, { id: avatar.id });
    expect(again.body.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
  });

  it("is NOT_FOUND for another tenant's avatar, which stays", async () => {
    const t = await tenant();
    const other = await tenant();
    const avatar = await create(t.secret, (await upload(t.secret, jpeg)).id);
    const res = await call(other.secret, DELETE, { id: avatar.id });
    expect(res.body.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
    expect((await get(t.secret, avatar.id))?.status).toBe('PROCESSING');
  });

  it('is CONFLICT while a render using it is QUEUED or RUNNING; hides it once renders finished', async () => {
    const t = await tenant();
    const avatar = await create(t.secret, (await upload(t.secret, jpeg)).id);
    const { previewKey } = await prepare(t.tenantId, avatar.id);
    await drain();
    const audio = await upload(t.secret, wav);
    const render = await db.renders.create(t.tenantId, {
      avatarId: avatar.id,
      audioAssetId: audio.id,
      prompt: 'A person is talking.',
      seed: 7,
      modelPack: 'reference',
      modelPackVersion: '1.0.0',
      inputHash: randomUUID(),
    });
    for (const status of ['QUEUED', 'RUNNING'] as const) {
      await db.renders.update(t.tenantId, render.id, { status });
      const res = await call(t.secret, DELETE, { id: avatar.id });
      expect(res.body.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', field: 'id' });
      expect((await get(t.secret, avatar.id))?.status).toBe('READY');
    }
    await db.renders.update(t.tenantId, render.id, { status: 'SUCCEEDED' });
    expect((await call(t.secret, DELETE, { id: avatar.id })).body).toEqual({
      data: { deleteAvatar: true },
    });
    expect(await get(t.secret, avatar.id)).toBeNull();
    expect(await storage.stat(previewKey)).toBeNull();
    expect(
      await rows(`SELECT id FROM identity_embeddings WHERE avatar_id = $1`, [avatar.id]),
    ).toEqual([]);
    // The render still has its avatar (a tombstone without face data).
    expect(
      await rows(`SELECT face_box, deleted_at IS NOT NULL AS gone FROM avatars WHERE id = $1`, [
        avatar.id,
      ]),
    ).toEqual([{ face_box: null, gone: true }]);
  });
});

describe('the sweeper', () => {
  it('re-enqueues a PROCESSING avatar whose job was lost', async () => {
    const t = await tenant();
    const avatar = await create(t.secret, (await upload(t.secret, jpeg)).id);
    await (await queue.getJob(avatar.id))?.remove();
    expect(await queue.getJob(avatar.id)).toBeUndefined();
    const result = await gateway.app.get(AvatarSweeper).sweep();
    expect(result.requeued).toContain(avatar.id);
    expect((await queue.getJob(avatar.id))?.data).toMatchObject({ avatarId: avatar.id });
    // A live job is left alone.
    expect((await gateway.app.get(AvatarSweeper).sweep()).requeued).not.toContain(avatar.id);
  });

  it('fails (INTERNAL) an avatar whose job failed without a final worker event', async () => {
    const t = await tenant();
    await subscribeWebhooks(t.tenantId);
    // Other tests' jobs wait in the same queue: start from an empty one.
    await queue.obliterate({ force: true });
    const avatar = await create(t.secret, (await upload(t.secret, jpeg)).id);
    let taken!: () => void;
    const crashed = new Promise<void>((resolve) => (taken = resolve));
    const bull = new Worker(
      QueueName.Avatar,
      () => {
        taken();
        return Promise.reject(new UnrecoverableError('worker crashed while preparing'));
      },
      { connection: { url: redisUrl }, prefix: gateway.redisPrefix },
    );
    await crashed;
    for (let i = 0; i < 100; i++) {
      if ((await (await queue.getJob(avatar.id))?.getState()) === 'failed') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await bull.close();
    // Within the grace period after the job failed, the worker's own event may be on its way.
    await owner.query(`UPDATE avatars SET updated_at = now() - interval '1 hour' WHERE id = $1`, [
      avatar.id,
    ]);
    const early = await gateway.app.get(AvatarSweeper).sweep(new Date(Date.now() - 60_000));
    expect(early.failed).not.toContain(avatar.id);
    expect((await get(t.secret, avatar.id))?.status).toBe('PROCESSING');
    const result = await gateway.app.get(AvatarSweeper).sweep();
    expect(result.failed).toContain(avatar.id);
    const failed = await get(t.secret, avatar.id);
    expect(failed?.failure).toMatchObject({ reason: 'INTERNAL', field: null });
    expect((await webhookEvents(t.tenantId)).map((h) => h['event_type'])).toEqual([
      'avatar.failed',
    ]);
  });
});

describe('avatarUpdated (graphql-ws)', () => {
  it('tells the tenant’s subscriber each change of the avatar; another tenant hears nothing', async () => {
    const t = await tenant();
    const other = await tenant();
    const avatar = await create(t.secret, (await upload(t.secret, jpeg)).id);
    await gateway.app.listen({ port: 0, host: '127.0.0.1' });
    const url = (await gateway.app.getUrl()).replace(/^http/, 'ws') + '/graphql';
    const query = `subscription($id: ID!) { avatarUpdated(id: $id) { id status face { box { x0 } } } }`;
    const watch = (secret: string) => {
      const client = createClient({
        url,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization: secret },
      });
      const received: unknown[] = [];
      const waiters: (() => void)[] = [];
      client.subscribe(
        { query, variables: { id: avatar.id } },
        {
          next: (value) => {
            received.push(value);
            waiters.splice(0).forEach((w) => w());
          },
          error: () => undefined,
          complete: () => undefined,
        },
      );
      return {
        client,
        received,
        next: () => new Promise<void>((resolve) => waiters.push(resolve)),
      };
    };
    const mine = watch(t.secret);
    const theirs = watch(other.secret);
    try {
      // The subscription is live a moment after subscribing: nudge until the first event.
      const first = mine.next();
      let done = false;
      void first.then(() => (done = true));
      for (let i = 0; i < 100 && !done; i++) {
        await gateway.app.get(AvatarRealtime).changed(t.tenantId, avatar.id);
        await Promise.race([first, new Promise((r) => setTimeout(r, 50))]);
      }
      expect(mine.received[0]).toEqual({
        data: { avatarUpdated: { id: avatar.id, status: 'PROCESSING', face: null } },
      });
      const ready = mine.next();
      await prepare(t.tenantId, avatar.id);
      await drain();
      await ready;
      expect(mine.received.at(-1)).toEqual({
        data: { avatarUpdated: { id: avatar.id, status: 'READY', face: { box: { x0: 200 } } } },
      });
      expect(theirs.received).toEqual([]);
    } finally {
      await mine.client.dispose();
      await theirs.client.dispose();
    }
  });
});
