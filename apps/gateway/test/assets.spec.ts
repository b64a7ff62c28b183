// Uploads (POST /v1/assets), the Asset GraphQL API and signed downloads, against the gateway
// in-process, a fresh Postgres database, the real Redis, sharp and ffmpeg/ffprobe. Media
// fixtures are generated on the fly in a temporary directory; nothing binary is committed.
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { deflateSync } from 'node:zlib';
import { promisify } from 'node:util';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { createDb, generateApiKeySecret, hashPassword, type Db, type Tenant } from '@likeness/db';
import { loadConfig } from '../src/config/config';
import { gql as post } from './support/gateway-harness';
import { createGateway } from '../src/bootstrap';
import { SignedUrlService } from '../src/assets/signed-urls';

const run = promisify(execFile);
const REDIS_PREFIX = `test-assets-${randomUUID().slice(0, 8)}`;
const FREE_MAX_UPLOAD_BYTES = 20 * 1024 * 1024; // libs/billing, plan "free"

let dataDir: string;
let fixturesDir: string;
let storageDir: string;
let app: NestFastifyApplication;
let db: Db;
let redis: Redis;

function env(): Record<string, string | undefined> {
  return {
    DATABASE_URL: process.env['DATABASE_URL'],
    DATABASE_APP_URL: process.env['DATABASE_APP_URL'],
    REDIS_URL: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX,
    LOG_LEVEL: 'silent',
    LIKENESS_DATA_DIR: dataDir,
    // This suite sends many requests per key; rate limits have their own tests.
    RATE_LIMIT_IP_PER_MINUTE: '1000000',
    RATE_LIMIT_API_KEY_PER_MINUTE: '1000000',
  };
}

// ---------------------------------------------------------------------------------------------
// Fixtures

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

interface Fixture {
  data: Buffer;
  kind: 'IMAGE' | 'AUDIO' | 'VIDEO';
  mime: string;
  probe: Record<string, unknown>;
}
const fixtures: Record<string, Fixture> = {};
const bad: Record<string, Buffer> = {};

async function ffmpeg(out: string, ...args: string[]): Promise<Buffer> {
  const file = path.join(fixturesDir, out);
  await run('ffmpeg', ['-v', 'error', '-y', ...args, file]);
  return readFile(file);
}

const SINE = ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=2'];

function crc32(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? 0xedb88320 ^ (crc >>> 1) : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A valid PNG header declaring 20000×20000 RGB with a tiny IDAT: a decompression bomb shape. */
function pngBomb(): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(20_000, 0);
  ihdr.writeUInt32BE(20_000, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(Buffer.alloc(60_001))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

async function makeFixtures(): Promise<void> {
  const canvas = (width: number, height: number, channels: 3 | 4 = 3) =>
    sharp({
      create: { width, height, channels, background: { r: 200, g: 90, b: 40, alpha: 0.5 } },
    });
  const image = (data: Buffer, mime: string, format: string, w: number, h: number, extra = {}) => ({
    data,
    kind: 'IMAGE' as const,
    mime,
    probe: { format, width: w, height: h, orientation: 1, hasAlpha: false, ...extra },
  });
  fixtures['jpeg'] = image(
    await canvas(640, 480).jpeg().toBuffer(),
    'image/jpeg',
    'jpeg',
    640,
    480,
  );
  fixtures['png'] = image(
    await canvas(320, 240, 4).png().toBuffer(),
    'image/png',
    'png',
    320,
    240,
    { hasAlpha: true },
  );
  fixtures['webp'] = image(
    await canvas(300, 200).webp().toBuffer(),
    'image/webp',
    'webp',
    300,
    200,
  );
  // Stored 640×480 with EXIF orientation 6 (rotate 90°): shown, and reported, as 480×640.
  fixtures['jpeg, EXIF orientation 6'] = image(
    await canvas(640, 480).jpeg().withMetadata({ orientation: 6 }).toBuffer(),
    'image/jpeg',
    'jpeg',
    480,
    640,
    { orientation: 6 },
  );

  const audio = (
    data: Buffer,
    mime: string,
    format: string,
    codec: string,
    sampleRate: number,
  ) => ({
    data,
    kind: 'AUDIO' as const,
    mime,
    probe: {
      format,
      codec,
      sampleRate,
      channels: 1,
      durationSeconds: expect.closeTo(2, 0) as unknown,
      bitRate: expect.any(Number) as unknown,
    },
  });
  const at16k = ['-ar', '16000', '-ac', '1'];
  fixtures['wav'] = audio(
    await ffmpeg('a.wav', ...SINE, ...at16k),
    'audio/wav',
    'wav',
    'pcm_s16le',
    16000,
  );
  fixtures['mp3'] = audio(
    await ffmpeg('a.mp3', ...SINE, ...at16k),
    'audio/mpeg',
    'mp3',
    'mp3',
    16000,
  );
  fixtures['m4a'] = audio(
    await ffmpeg('a.m4a', ...SINE, ...at16k),
    'audio/mp4',
    'mp4',
    'aac',
    16000,
  );
  fixtures['aac (ADTS)'] = audio(
    await ffmpeg('a.aac', ...SINE, ...at16k, '-c:a', 'aac', '-f', 'adts'),
    'audio/aac',
    'aac',
    'aac',
    16000,
  );
  fixtures['ogg/opus'] = audio(
    await ffmpeg('a.ogg', ...SINE, '-ac', '1', '-c:a', 'libopus'),
    'audio/ogg',
    'ogg',
    'opus',
    48000,
  );
  fixtures['flac'] = audio(
    await ffmpeg('a.flac', ...SINE, ...at16k),
    'audio/flac',
    'flac',
    'flac',
    16000,
  );
  fixtures['mp4 video'] = {
    data: await ffmpeg(
      'v.mp4',
      ...['-f', 'lavfi', '-i', 'testsrc=duration=1:size=64x48:rate=10'],
      ...['-f', 'lavfi', '-i', 'sine=duration=1', '-ac', '1', '-ar', '16000'],
      ...['-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-c:a', 'aac', '-shortest'],
    ),
    kind: 'VIDEO',
    mime: 'video/mp4',
    probe: {
      format: 'mp4',
      codec: 'h264',
      width: 64,
      height: 48,
      fps: 10,
      durationSeconds: expect.closeTo(1, 0) as unknown,
      audioCodec: 'aac',
      sampleRate: 16000,
      channels: 1,
    },
  };

  const noise = Buffer.from(Array.from({ length: 256 * 256 * 3 }, (_, i) => (i * 7919) % 251));
  const noisy = await sharp(noise, { raw: { width: 256, height: 256, channels: 3 } })
    .jpeg()
    .toBuffer();
  bad['truncated jpeg'] = noisy.subarray(0, Math.floor(noisy.length / 2));
  bad['png bomb'] = pngBomb();
  bad['aiff'] = await ffmpeg('a.aiff', ...SINE, '-f', 'aiff');
  bad['wma'] = await ffmpeg('a.wma', ...SINE, '-c:a', 'wmav2', '-f', 'asf');
  bad['caf'] = await ffmpeg('a.caf', ...SINE, '-f', 'caf');
  bad['long wav'] = await ffmpeg(
    'long.wav',
    ...['-f', 'lavfi', '-i', 'sine=frequency=220:duration=61', '-ar', '8000', '-ac', '1'],
  );
  const wav = fixtures['wav'].data;
  bad['garbage wav'] = Buffer.concat([wav.subarray(0, 12), Buffer.alloc(2000, 0x5a)]);
  const m4a = fixtures['m4a'].data;
  bad['cut m4a'] = m4a.subarray(0, 2000);
}

// ---------------------------------------------------------------------------------------------
// Helpers

async function newTenant(
  scopes: string[] = ['assets:read', 'assets:write'],
  plan = 'free',
): Promise<{ tenant: Tenant; secret: string }> {
  const slug = `assets-${randomUUID().slice(0, 8)}`;
  const tenant = await db.tenants.create({ name: `Tenant ${slug}`, slug, plan });
  const key = generateApiKeySecret('test');
  await db.apiKeys.create(tenant.id, {
    name: 'assets test',
    prefix: key.prefix,
    secretHash: key.secretHash,
    scopes,
    expiresAt: null,
  });
  return { tenant, secret: key.secret };
}

interface Part {
  name: string;
  data: Buffer | string;
  filename?: string;
  contentType?: string;
}

function multipart(parts: Part[]): { body: Buffer; contentType: string } {
  const boundary = `----likeness${randomUUID().replace(/-/g, '')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename ? `; filename="${part.filename}"` : ''}`;
    const headers = [`Content-Disposition: ${disposition}`];
    if (part.contentType) headers.push(`Content-Type: ${part.contentType}`);
    chunks.push(Buffer.from(`--${boundary}\r\n${headers.join('\r\n')}\r\n\r\n`));
    chunks.push(Buffer.isBuffer(part.data) ? part.data : Buffer.from(part.data));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

const fileParts = (
  data: Buffer,
  filename = 'upload.bin',
  contentType = 'application/octet-stream',
) =>
  multipart([
    { name: 'note', data: 'fields before the file are ignored' },
    { name: 'file', data, filename, contentType },
  ]);

interface UploadRequest {
  body: Buffer | Readable;
  contentType?: string;
  headers?: Record<string, string>;
}

const raw = (body: Buffer | Readable, contentType = 'application/octet-stream'): UploadRequest => ({
  body,
  contentType,
});
const form = (parts: { body: Buffer; contentType: string }): UploadRequest => ({
  body: parts.body,
  contentType: parts.contentType,
});

interface RestError {
  error: { code: string; message: string; field?: string; reason?: string; requestId?: string };
}

async function upload(token: string | undefined, request: UploadRequest) {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/assets',
    headers: {
      ...(request.contentType ? { 'content-type': request.contentType } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...request.headers,
    },
    payload: request.body,
  });
  return {
    status: res.statusCode,
    headers: res.headers,
    body: res.json<Record<string, unknown>>(),
  };
}

interface GqlResult<T> {
  status: number;
  data: T | null | undefined;
  errors:
    | { message: string; extensions: { code: string; field?: string; reason?: string } }[]
    | undefined;
}

async function gql<T>(
  query: string,
  variables: Record<string, unknown>,
  token: string | undefined,
): Promise<GqlResult<T>> {
  const res = await post(app, { query, variables, ...(token ? { token } : {}) });
  const body = res.body as { data?: T | null; errors?: GqlResult<T>['errors'] };
  return { status: res.status, data: body.data, errors: body.errors };
}

/** Every file (not directory) under `dir`, relative, sorted; [] when `dir` does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => !e.isDirectory())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

const tenantStorage = (tenantId: string): string => path.join(storageDir, 'tenants', tenantId);

async function expectNothingLeft(tenantId: string): Promise<void> {
  expect(await db.assets.list(tenantId)).toEqual([]);
  expect(await filesUnder(tenantStorage(tenantId))).toEqual([]);
  // Not even the attempt's empty <assetId> directory.
  const assetsDir = path.join(tenantStorage(tenantId), 'assets');
  expect(existsSync(assetsDir) ? await readdir(assetsDir) : []).toEqual([]);
}

/** Uploads a fixture through the API and returns the created asset's JSON. */
async function uploaded(secret: string, name: string): Promise<{ id: string; sha256: string }> {
  const fixture = fixtures[name];
  if (!fixture) throw new Error(`no fixture ${name}`);
  const res = await upload(secret, raw(fixture.data));
  expect(res.status).toBe(201);
  return res.body as { id: string; sha256: string };
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'likeness-assets-data-'));
  fixturesDir = await mkdtemp(path.join(os.tmpdir(), 'likeness-assets-fixtures-'));
  storageDir = path.join(dataDir, 'storage');
  await makeFixtures();
  app = await createGateway(loadConfig(env()));
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  db = createDb(loadConfig(env()).database);
  redis = new Redis(env()['REDIS_URL'] ?? '', { lazyConnect: true });
});

afterAll(async () => {
  await app?.close();
  await db?.close();
  if (redis) {
    const keys = await redis.keys(`${REDIS_PREFIX}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
  await rm(dataDir, { recursive: true, force: true });
  await rm(fixturesDir, { recursive: true, force: true });
});

describe('POST /v1/assets', () => {
  const names = [
    'jpeg',
    'png',
    'webp',
    'jpeg, EXIF orientation 6',
    'wav',
    'mp3',
    'm4a',
    'aac (ADTS)',
    'ogg/opus',
    'flac',
    'mp4 video',
  ];
  const transports: [string, (f: Fixture, name: string) => UploadRequest][] = [
    ['raw', (f) => raw(f.data, f.mime)],
    ['multipart', (f, name) => form(fileParts(f.data, `${name.replace(/\W+/g, '_')}.bin`, f.mime))],
  ];

  describe.each(transports)('%s body', (_, request) => {
    it.each(names)('stores and probes %s', async (name) => {
      const fixture = fixtures[name];
      if (!fixture) throw new Error(`no fixture ${name}`);
      const { tenant, secret } = await newTenant();
      const res = await upload(secret, request(fixture, name));
      expect([res.status, res.body]).toEqual([
        201,
        {
          id: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
          kind: fixture.kind,
          mime: fixture.mime,
          bytes: fixture.data.length,
          sha256: sha256(fixture.data),
          probe: fixture.probe,
          createdAt: expect.any(String) as unknown,
        },
      ]);
      const id = String(res.body['id']);
      const row = await db.assets.findById(tenant.id, id);
      expect(row).toMatchObject({
        kind: fixture.kind,
        mime: fixture.mime,
        bytes: fixture.data.length,
        sha256: sha256(fixture.data),
        storageKey: `tenants/${tenant.id}/assets/${id}/original`,
      });
      expect(row?.createdAt.toISOString()).toBe(res.body['createdAt']);
      expect(await filesUnder(tenantStorage(tenant.id))).toEqual([
        path.join('assets', id, 'original'),
      ]);
      expect(await readFile(path.join(tenantStorage(tenant.id), 'assets', id, 'original'))).toEqual(
        fixture.data,
      );
    });
  });

  it('trusts content, not the Content-Type header: PNG bytes sent as audio/wav are a PNG image', async () => {
    const png = fixtures['png'];
    if (!png) throw new Error('no png');
    const { secret } = await newTenant();
    const res = await upload(secret, raw(png.data, 'audio/wav'));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ kind: 'IMAGE', mime: 'image/png' });
  });

  it('accepts a body without Content-Type or Content-Length (chunked)', async () => {
    const jpeg = fixtures['jpeg'];
    if (!jpeg) throw new Error('no jpeg');
    const { secret } = await newTenant();
    const res = await upload(secret, {
      body: Readable.from([jpeg.data.subarray(0, 100), jpeg.data.subarray(100)]),
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ mime: 'image/jpeg', sha256: sha256(jpeg.data) });
  });

  /** A JPEG start followed by zeros: sniffs fine, so only the byte limit can stop it. */
  function oversized(): Readable {
    const chunk = Buffer.alloc(1024 * 1024);
    let sent = 0;
    return new Readable({
      read() {
        if (sent === 0) this.push(Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
        if (sent > FREE_MAX_UPLOAD_BYTES + 2 * chunk.length) {
          this.push(null);
          return;
        }
        sent += chunk.length;
        this.push(chunk);
      },
    });
  }

  type Expected = { status: number; code: string; reason?: string; field?: string };
  const refusals: [string, () => UploadRequest, Expected][] = [
    [
      'a truncated JPEG',
      () => raw(bad['truncated jpeg'] ?? Buffer.alloc(0), 'image/jpeg'),
      { status: 400, code: 'BAD_USER_INPUT', reason: 'UNREADABLE_MEDIA', field: 'file' },
    ],
    [
      'a zero-byte body',
      () => raw(Buffer.alloc(0)),
      { status: 400, code: 'BAD_USER_INPUT', reason: 'EMPTY_FILE', field: 'file' },
    ],
    [
      'a zero-byte multipart file',
      () => form(fileParts(Buffer.alloc(0), 'empty.jpg', 'image/jpeg')),
      { status: 400, code: 'BAD_USER_INPUT', reason: 'EMPTY_FILE', field: 'file' },
    ],
    [
      'a PNG header declaring 20000×20000 (refused from the header, never decoded)',
      () => raw(bad['png bomb'] ?? Buffer.alloc(0), 'image/png'),
      { status: 402, code: 'QUOTA_EXCEEDED', reason: 'IMAGE_TOO_LARGE', field: 'file' },
    ],
    [
      'AIFF audio',
      () => raw(bad['aiff'] ?? Buffer.alloc(0), 'audio/aiff'),
      { status: 400, code: 'BAD_USER_INPUT', reason: 'UNSUPPORTED_MEDIA_TYPE', field: 'file' },
    ],
    [
      'WMA audio',
      () => raw(bad['wma'] ?? Buffer.alloc(0), 'audio/x-ms-wma'),
      { status: 400, code: 'BAD_USER_INPUT', reason: 'UNSUPPORTED_MEDIA_TYPE', field: 'file' },
    ],
    [
      'CAF audio (multipart)',
      () => form(fileParts(bad['caf'] ?? Buffer.alloc(0), 'voice.caf', 'audio/x-caf')),
      { status: 400, code: 'BAD_USER_INPUT', reason: 'UNSUPPORTED_MEDIA_TYPE', field: 'file' },
    ],
    [
      'a text file named .wav',
      () => form(fileParts(Buffer.from('hello, I am a text file\n'), 'voice.wav', 'audio/wav')),
      { status: 400, code: 'BAD_USER_INPUT', reason: 'UNSUPPORTED_MEDIA_TYPE', field: 'file' },
    ],
    [
      'a WAV header over garbage (sniffs as audio, ffprobe cannot read it)',
      () => raw(bad['garbage wav'] ?? Buffer.alloc(0), 'audio/wav'),
      { status: 400, code: 'BAD_USER_INPUT', reason: 'UNREADABLE_MEDIA', field: 'file' },
    ],
    [
      'an M4A cut short (no index)',
      () => raw(bad['cut m4a'] ?? Buffer.alloc(0), 'audio/mp4'),
      { status: 400, code: 'BAD_USER_INPUT', reason: 'UNREADABLE_MEDIA', field: 'file' },
    ],
    [
      '61 s of audio on a plan that allows 60 s',
      () => raw(bad['long wav'] ?? Buffer.alloc(0), 'audio/wav'),
      { status: 402, code: 'QUOTA_EXCEEDED', reason: 'AUDIO_TOO_LONG', field: 'file' },
    ],
    [
      'a 1 GB Content-Length (refused before reading)',
      () => ({
        ...raw(Buffer.from([0xff, 0xd8, 0xff])),
        headers: { 'content-length': String(2 ** 30) },
      }),
      { status: 413, code: 'QUOTA_EXCEEDED', reason: 'FILE_TOO_LARGE', field: 'file' },
    ],
    [
      'a multipart body with a 1 GB Content-Length',
      () => ({
        ...form(fileParts(Buffer.from([0xff, 0xd8, 0xff]))),
        headers: { 'content-length': String(2 ** 30) },
      }),
      { status: 413, code: 'QUOTA_EXCEEDED', reason: 'FILE_TOO_LARGE', field: 'file' },
    ],
    [
      'a body over the plan limit without a length (stopped mid-stream)',
      () => raw(oversized(), 'image/jpeg'),
      { status: 413, code: 'QUOTA_EXCEEDED', reason: 'FILE_TOO_LARGE', field: 'file' },
    ],
    [
      'a multipart file over the plan limit without a length (stopped mid-stream)',
      () => {
        const { contentType } = fileParts(Buffer.alloc(0));
        const boundary = contentType.split('boundary=')[1] ?? '';
        const head = Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n`,
        );
        return {
          body: Readable.from(
            (async function* () {
              yield head;
              for await (const chunk of oversized()) yield chunk as Buffer;
              yield Buffer.from(`\r\n--${boundary}--\r\n`);
            })(),
          ),
          contentType,
        };
      },
      { status: 413, code: 'QUOTA_EXCEEDED', reason: 'FILE_TOO_LARGE', field: 'file' },
    ],
    [
      'a multipart body without a "file" field',
      () =>
        form(multipart([{ name: 'image', data: fixtures['jpeg']?.data ?? '', filename: 'a.jpg' }])),
      { status: 400, code: 'BAD_USER_INPUT', reason: 'MISSING_FILE', field: 'file' },
    ],
    [
      'a multipart body with fields only',
      () => form(multipart([{ name: 'note', data: 'no file here' }])),
      { status: 400, code: 'BAD_USER_INPUT', reason: 'MISSING_FILE', field: 'file' },
    ],
  ];

  it.each(refusals)('refuses %s, leaving no row and no file', async (_, request, expected) => {
    const { tenant, secret } = await newTenant();
    const res = await upload(secret, request());
    expect(res.status).toBe(expected.status);
    const body = res.body as unknown as RestError;
    expect(body.error).toMatchObject({
      code: expected.code,
      message: expect.any(String) as unknown,
      ...(expected.reason ? { reason: expected.reason } : {}),
      ...(expected.field ? { field: expected.field } : {}),
      requestId: res.headers['x-request-id'],
    });
    await expectNothingLeft(tenant.id);
  });

  it.each<[string, string[] | null, number, string, string | undefined]>([
    ['a key without assets:write', ['assets:read'], 403, 'FORBIDDEN', 'MISSING_SCOPE'],
    ['no credentials', null, 401, 'UNAUTHENTICATED', undefined],
  ])('refuses %s before reading the body', async (_, scopes, status, code, reason) => {
    const { tenant, secret } = await newTenant(scopes ?? []);
    const jpeg = fixtures['jpeg']?.data ?? Buffer.alloc(0);
    const res = await upload(scopes ? secret : undefined, raw(jpeg, 'image/jpeg'));
    expect(res.status).toBe(status);
    expect((res.body as unknown as RestError).error).toMatchObject({
      code,
      ...(reason ? { reason } : {}),
      requestId: res.headers['x-request-id'],
    });
    expect(res.headers['connection']).toBe('close');
    await expectNothingLeft(tenant.id);
  });

  it('over real HTTP, answers a 1 GB Content-Length with 413 after a few bytes and closes', async () => {
    const { tenant, secret } = await newTenant();
    const gateway = await createGateway(loadConfig(env()));
    await gateway.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { port } = gateway.getHttpServer().address() as AddressInfo;
      const answer = await new Promise<{
        status: number;
        headers: http.IncomingHttpHeaders;
        body: string;
      }>((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/v1/assets',
          headers: {
            authorization: `Bearer ${secret}`,
            'content-type': 'image/jpeg',
            'content-length': String(2 ** 30),
          },
        });
        req.on('error', reject);
        req.on('response', (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
            req.destroy();
          });
        });
        // 1 KiB of the promised gigabyte, and then nothing: only an early answer ends this.
        req.write(Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(1020)]));
      });
      expect(answer.status).toBe(413);
      expect(answer.headers['connection']).toBe('close');
      expect(JSON.parse(answer.body)).toMatchObject({
        error: { code: 'QUOTA_EXCEEDED', reason: 'FILE_TOO_LARGE', field: 'file' },
      });
      await expectNothingLeft(tenant.id);
    } finally {
      await gateway.close();
    }
  });

  it('leaves /graphql to its own parsers (a binary body there is still 415)', async () => {
    const { secret } = await newTenant();
    const res = await app.inject({
      method: 'POST',
      url: '/graphql',
      headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${secret}` },
      payload: Buffer.from('{ viewer { kind } }'),
    });
    expect(res.statusCode).toBe(415);
  });
});

// ---------------------------------------------------------------------------------------------

const ASSET_FIELDS =
  'id kind mime bytes sha256 width height durationSeconds sampleRate channels createdAt url { url expiresAt }';
const ASSET = `query($id: ID!) { asset(id: $id) { ${ASSET_FIELDS} } }`;
const ASSETS = `query($first: Int, $after: String, $kind: AssetKind) {
  assets(first: $first, after: $after, kind: $kind) {
    edges { cursor node { id kind } }
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`;
const DELETE = `mutation($id: ID!) { deleteAsset(id: $id) }`;

interface AssetNode {
  id: string;
  kind: string;
  mime: string;
  bytes: number;
  sha256: string;
  width: number | null;
  height: number | null;
  durationSeconds: number | null;
  sampleRate: number | null;
  channels: number | null;
  createdAt: string;
  url: { url: string; expiresAt: string };
}
interface AssetsPage {
  assets: {
    edges: { cursor: string; node: { id: string; kind: string } }[];
    nodes: { id: string }[];
    pageInfo: {
      hasNextPage: boolean;
      hasPreviousPage: boolean;
      startCursor: string | null;
      endCursor: string | null;
    };
  };
}

async function download(url: string) {
  const { pathname, search } = new URL(url, 'http://localhost');
  const res = await app.inject({ method: 'GET', url: `${pathname}${search}` });
  return { status: res.statusCode, headers: res.headers, raw: res.rawPayload, text: res.payload };
}

describe('GraphQL', () => {
  it('asset(id) answers the probed fields and a signed URL', async () => {
    const { secret } = await newTenant();
    const image = await uploaded(secret, 'jpeg, EXIF orientation 6');
    const sound = await uploaded(secret, 'wav');
    const before = Date.now();
    const img = await gql<{ asset: AssetNode }>(ASSET, { id: image.id }, secret);
    expect(img.errors).toBeUndefined();
    expect(img.data?.asset).toMatchObject({
      id: image.id,
      kind: 'IMAGE',
      mime: 'image/jpeg',
      width: 480,
      height: 640,
      durationSeconds: null,
      sampleRate: null,
      channels: null,
      sha256: image.sha256,
    });
    const url = img.data?.asset.url;
    expect(url?.url).toMatch(
      new RegExp(
        `^http://localhost(:\\d+)?/v1/assets/${image.id}/content\\?expires=\\d+&sig=[\\w-]{43}$`,
      ),
    );
    const ttl = new Date(url?.expiresAt ?? 0).getTime() - before;
    expect(ttl).toBeGreaterThan(3_590_000);
    expect(ttl).toBeLessThanOrEqual(3_601_000);

    const snd = await gql<{ asset: AssetNode }>(ASSET, { id: sound.id }, secret);
    expect(snd.data?.asset).toMatchObject({
      kind: 'AUDIO',
      mime: 'audio/wav',
      bytes: fixtures['wav']?.data.length,
      width: null,
      height: null,
      durationSeconds: 2,
      sampleRate: 16000,
      channels: 1,
    });
  });

  it('assets pages newest first, filters by kind, and checks its arguments', async () => {
    const { secret } = await newTenant();
    const ids: string[] = [];
    for (const name of ['jpeg', 'wav', 'png', 'flac', 'webp'])
      ids.push((await uploaded(secret, name)).id);
    const newestFirst = [...ids].reverse();

    const first = await gql<AssetsPage>(ASSETS, { first: 2 }, secret);
    expect(first.data?.assets.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(0, 2));
    expect(first.data?.assets.nodes.map((n) => n.id)).toEqual(newestFirst.slice(0, 2));
    expect(first.data?.assets.pageInfo).toMatchObject({
      hasNextPage: true,
      hasPreviousPage: false,
    });
    const second = await gql<AssetsPage>(
      ASSETS,
      { first: 2, after: first.data?.assets.pageInfo.endCursor },
      secret,
    );
    expect(second.data?.assets.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(2, 4));
    const third = await gql<AssetsPage>(
      ASSETS,
      { first: 2, after: second.data?.assets.pageInfo.endCursor },
      secret,
    );
    expect(third.data?.assets.edges.map((e) => e.node.id)).toEqual(newestFirst.slice(4));
    expect(third.data?.assets.pageInfo.hasNextPage).toBe(false);

    const audio = await gql<AssetsPage>(ASSETS, { kind: 'AUDIO' }, secret);
    expect(audio.data?.assets.edges.map((e) => e.node)).toEqual([
      { id: ids[3], kind: 'AUDIO' },
      { id: ids[1], kind: 'AUDIO' },
    ]);
    const all = await gql<AssetsPage>(ASSETS, {}, secret);
    expect(all.data?.assets.edges).toHaveLength(5);

    for (const [variables, field] of [
      [{ first: 0 }, 'first'],
      [{ first: 101 }, 'first'],
      [{ after: 'not-a-cursor' }, 'after'],
      [{ after: Buffer.from(`asset:${randomUUID()}x`).toString('base64url') }, 'after'],
    ] as const) {
      const res = await gql<AssetsPage>(ASSETS, variables, secret);
      expect(res.status).toBe(400);
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
  });

  it('deleteAsset removes the row and the stored file; the link then answers 404', async () => {
    const { tenant, secret } = await newTenant();
    const asset = await uploaded(secret, 'mp3');
    const url = (await gql<{ asset: AssetNode }>(ASSET, { id: asset.id }, secret)).data?.asset.url
      .url;
    expect((await download(url ?? '')).status).toBe(200);

    const res = await gql<{ deleteAsset: boolean }>(DELETE, { id: asset.id }, secret);
    expect(res.data?.deleteAsset).toBe(true);
    await expectNothingLeft(tenant.id);
    expect(
      (await gql<{ asset: AssetNode | null }>(ASSET, { id: asset.id }, secret)).data?.asset,
    ).toBeNull();
    const gone = await download(url ?? '');
    expect(gone.status).toBe(404);
    expect(JSON.parse(gone.text)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    const again = await gql<{ deleteAsset: boolean }>(DELETE, { id: asset.id }, secret);
    expect(again.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'id' });
  });

  it('refuses deleting an asset an avatar uses (CONFLICT), keeping row and file', async () => {
    const { tenant, secret } = await newTenant();
    const asset = await uploaded(secret, 'png');
    await db.avatars.create(tenant.id, {
      name: 'Ada',
      imageAssetId: asset.id,
      consentAttestation: 'I have the consent of the person shown.',
      consentAt: new Date(),
      modelPack: 'reference',
    });
    const res = await gql<{ deleteAsset: boolean }>(DELETE, { id: asset.id }, secret);
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'CONFLICT', field: 'id' });
    expect(await db.assets.findById(tenant.id, asset.id)).not.toBeNull();
    expect(await filesUnder(tenantStorage(tenant.id))).toHaveLength(1);
  });

  it("another tenant's asset is null to read and NOT_FOUND to delete, and stays", async () => {
    const owner = await newTenant();
    const other = await newTenant();
    const asset = await uploaded(owner.secret, 'jpeg');
    expect(
      (await gql<{ asset: AssetNode | null }>(ASSET, { id: asset.id }, other.secret)).data,
    ).toEqual({
      asset: null,
    });
    expect((await gql<AssetsPage>(ASSETS, {}, other.secret)).data?.assets.edges).toEqual([]);
    const res = await gql<{ deleteAsset: boolean }>(DELETE, { id: asset.id }, other.secret);
    expect(res.status).toBe(404);
    expect(res.errors?.[0]?.extensions.code).toBe('NOT_FOUND');
    expect(await db.assets.findById(owner.tenant.id, asset.id)).not.toBeNull();
    expect(await filesUnder(tenantStorage(owner.tenant.id))).toHaveLength(1);
    // A foreign cursor yields nothing rather than the owner's assets.
    const cursor = Buffer.from(`asset:${asset.id}`).toString('base64url');
    expect(
      (await gql<AssetsPage>(ASSETS, { after: cursor }, other.secret)).data?.assets.edges,
    ).toEqual([]);
  });

  it('checks scopes: assets:read reads but cannot delete; other scopes cannot read', async () => {
    const owner = await newTenant();
    const asset = await uploaded(owner.secret, 'jpeg');
    const reader = await newTenantKey(owner.tenant.id, ['assets:read']);
    expect((await gql<{ asset: AssetNode }>(ASSET, { id: asset.id }, reader)).data?.asset.id).toBe(
      asset.id,
    );
    const del = await gql<{ deleteAsset: boolean }>(DELETE, { id: asset.id }, reader);
    expect(del.status).toBe(403);
    expect(del.errors?.[0]?.extensions).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'MISSING_SCOPE',
    });
    const stranger = await newTenantKey(owner.tenant.id, ['renders:read']);
    const read = await gql<{ asset: AssetNode }>(ASSET, { id: asset.id }, stranger);
    expect(read.errors?.[0]?.extensions).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'MISSING_SCOPE',
    });
    expect(await db.assets.findById(owner.tenant.id, asset.id)).not.toBeNull();
  });
});

describe('signed-in users', () => {
  const PASSWORD = 'correct horse battery staple';

  async function userToken(tenantId: string, role: 'TENANT_ADMIN' | 'TENANT_VIEWER') {
    const email = `${role.toLowerCase()}-${randomUUID().slice(0, 8)}@example.test`;
    await db.users.create({ email, passwordHash: await hashPassword(PASSWORD), role, tenantId });
    const res = await gql<{ login: { token: string } }>(
      'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }',
      { e: email, p: PASSWORD },
      undefined,
    );
    const token = res.data?.login.token;
    if (!token) throw new Error(`login failed: ${JSON.stringify(res.errors)}`);
    return token;
  }

  it('a tenant admin uploads and deletes; a tenant viewer reads only', async () => {
    const { tenant } = await newTenant([]);
    const adminToken = await userToken(tenant.id, 'TENANT_ADMIN');
    const viewerToken = await userToken(tenant.id, 'TENANT_VIEWER');
    const jpeg = fixtures['jpeg']?.data ?? Buffer.alloc(0);

    const refused = await upload(viewerToken, raw(jpeg, 'image/jpeg'));
    expect(refused.status).toBe(403);
    expect((refused.body as unknown as RestError).error).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'ROLE_NOT_ALLOWED',
    });
    await expectNothingLeft(tenant.id);

    const created = await upload(adminToken, raw(jpeg, 'image/jpeg'));
    expect(created.status).toBe(201);
    const id = String(created.body['id']);
    expect((await gql<{ asset: AssetNode }>(ASSET, { id }, viewerToken)).data?.asset.id).toBe(id);
    const del = await gql<{ deleteAsset: boolean }>(DELETE, { id }, viewerToken);
    expect(del.errors?.[0]?.extensions).toMatchObject({
      code: 'FORBIDDEN',
      reason: 'ROLE_NOT_ALLOWED',
    });
    expect(
      (await gql<{ deleteAsset: boolean }>(DELETE, { id }, adminToken)).data?.deleteAsset,
    ).toBe(true);
    await expectNothingLeft(tenant.id);
  });
});

async function newTenantKey(tenantId: string, scopes: string[]): Promise<string> {
  const key = generateApiKeySecret('test');
  await db.apiKeys.create(tenantId, {
    name: 'second key',
    prefix: key.prefix,
    secretHash: key.secretHash,
    scopes,
    expiresAt: null,
  });
  return key.secret;
}

// ---------------------------------------------------------------------------------------------

describe('GET /v1/assets/:id/content (signed URLs)', () => {
  let asset: { id: string; sha256: string };
  let url: string;

  beforeAll(async () => {
    const { secret } = await newTenant();
    asset = await uploaded(secret, 'ogg/opus');
    url =
      (await gql<{ asset: AssetNode }>(ASSET, { id: asset.id }, secret)).data?.asset.url.url ?? '';
  });

  it('serves the stored bytes without credentials, with type, length and caching headers', async () => {
    const res = await download(url);
    expect(res.status).toBe(200);
    expect(sha256(res.raw)).toBe(asset.sha256);
    expect(res.headers['content-type']).toBe('audio/ogg');
    expect(res.headers['content-length']).toBe(String(fixtures['ogg/opus']?.data.length));
    expect(res.headers['cache-control']).toMatch(/^private, max-age=(3[0-5]\d\d|3600)$/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it.each<[string, (u: URL) => void]>([
    [
      'a changed signature',
      (u) => u.searchParams.set('sig', flip(u.searchParams.get('sig') ?? '')),
    ],
    [
      'a later expiry',
      (u) => u.searchParams.set('expires', String(Number(u.searchParams.get('expires')) + 3600)),
    ],
    ['another asset id', (u) => (u.pathname = `/v1/assets/${randomUUID()}/content`)],
    ['no signature', (u) => u.searchParams.delete('sig')],
    ['no expiry', (u) => u.searchParams.delete('expires')],
    ['a malformed id', (u) => (u.pathname = '/v1/assets/..%2F..%2Fetc/content')],
  ])('refuses %s with 403', async (_, tamper) => {
    const tampered = new URL(url);
    tamper(tampered);
    const res = await download(tampered.toString());
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toMatchObject({
      error: {
        code: 'FORBIDDEN',
        reason: 'INVALID_SIGNATURE',
        requestId: res.headers['x-request-id'],
      },
    });
  });

  it('refuses an expired link with 410', async () => {
    const signed = await app
      .get(SignedUrlService)
      .sign(asset.id, new Date(Date.now() - 2 * 3_600_000));
    const res = await download(signed.path);
    expect(res.status).toBe(410);
    expect(JSON.parse(res.text)).toMatchObject({
      error: { code: 'FORBIDDEN', reason: 'URL_EXPIRED' },
    });
  });

  it('is honoured by another replica sharing the data directory', async () => {
    const replica = await createGateway(loadConfig(env()));
    await replica.init();
    await replica.getHttpAdapter().getInstance().ready();
    try {
      const { pathname, search } = new URL(url);
      const res = await replica.inject({ method: 'GET', url: `${pathname}${search}` });
      expect(res.statusCode).toBe(200);
      expect(sha256(res.rawPayload)).toBe(asset.sha256);
    } finally {
      await replica.close();
    }
  });
});

function flip(sig: string): string {
  return `${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
}
