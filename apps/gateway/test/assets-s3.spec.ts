// The gateway with STORAGE_DRIVER=s3 against an in-process S3 emulator (s3rver): an upload
// lands in the bucket, the signed URL serves it back, deleteAsset removes it from the bucket.
import 'reflect-metadata';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import S3rver from 's3rver';
import sharp from 'sharp';
import { createDb, generateApiKeySecret, type Db } from '@likeness/db';
import { loadConfig } from '../src/config/config';
import { createGateway } from '../src/bootstrap';

const REDIS_PREFIX = `test-assets-s3-${randomUUID().slice(0, 8)}`;
const BUCKET = 'likeness-assets';
const PREFIX = 'gw';
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

let dataDir: string;
let s3Dir: string;
let server: S3rver;
let s3: S3Client;
let app: NestFastifyApplication;
let db: Db;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'likeness-assets-s3-data-'));
  s3Dir = await mkdtemp(path.join(os.tmpdir(), 'likeness-assets-s3rver-'));
  server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: s3Dir });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  s3 = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const config = loadConfig({
    DATABASE_URL: process.env['DATABASE_URL'],
    DATABASE_APP_URL: process.env['DATABASE_APP_URL'],
    REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX,
    LOG_LEVEL: 'silent',
    LIKENESS_DATA_DIR: dataDir,
    STORAGE_DRIVER: 's3',
    S3_BUCKET: BUCKET,
    S3_ENDPOINT: endpoint,
    S3_FORCE_PATH_STYLE: 'true',
    S3_ACCESS_KEY_ID: credentials.accessKeyId,
    S3_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    S3_PREFIX: PREFIX,
  });
  app = await createGateway(config);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  db = createDb(config.database);
});

afterAll(async () => {
  await app?.close();
  await db?.close();
  const redis = new Redis(process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379');
  const keys = await redis.keys(`${REDIS_PREFIX}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
  s3?.destroy();
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
  await rm(s3Dir, { recursive: true, force: true });
});

async function bucketKeys(): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

it('uploads to the bucket, serves the signed URL from it and deletes from it', async () => {
  const slug = `assets-s3-${randomUUID().slice(0, 8)}`;
  const tenant = await db.tenants.create({ name: `Tenant ${slug}`, slug, plan: 'free' });
  const key = generateApiKeySecret('test');
  await db.apiKeys.create(tenant.id, {
    name: 'assets s3 test',
    prefix: key.prefix,
    secretHash: key.secretHash,
    scopes: ['assets:read', 'assets:write'],
    expiresAt: null,
  });
  const auth = { authorization: `Bearer ${key.secret}` };
  const png = await sharp({
    create: { width: 320, height: 240, channels: 4, background: { r: 9, g: 90, b: 200, alpha: 1 } },
  })
    .png()
    .toBuffer();

  const res = await app.inject({
    method: 'POST',
    url: '/v1/assets',
    headers: { ...auth, 'content-type': 'application/octet-stream' },
    payload: png,
  });
  expect(res.statusCode).toBe(201);
  const asset = res.json<{ id: string; sha256: string; mime: string }>();
  expect(asset).toMatchObject({ sha256: sha256(png), mime: 'image/png' });

  const objectKey = `${PREFIX}/tenants/${tenant.id}/assets/${asset.id}/original`;
  expect(await bucketKeys()).toEqual([objectKey]);
  const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: objectKey }));
  expect(head.ContentLength).toBe(png.length);

  const gql = async <T>(query: string): Promise<T> => {
    const r = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ query, variables: { id: asset.id } }),
    });
    return r.json<{ data: T }>().data;
  };
  const { asset: node } = await gql<{ asset: { url: { url: string } } }>(
    'query($id: ID!) { asset(id: $id) { url { url } } }',
  );
  const { pathname, search } = new URL(node.url.url, 'http://localhost');
  const download = await app.inject({ method: 'GET', url: `${pathname}${search}` });
  expect(download.statusCode).toBe(200);
  expect(download.headers['content-type']).toBe('image/png');
  expect(sha256(download.rawPayload)).toBe(asset.sha256);

  const deleted = await gql<{ deleteAsset: boolean }>(
    'mutation($id: ID!) { deleteAsset(id: $id) }',
  );
  expect(deleted.deleteAsset).toBe(true);
  expect(await bucketKeys()).toEqual([]);
  const gone = await app.inject({ method: 'GET', url: `${pathname}${search}` });
  expect(gone.statusCode).toBe(404);
});
