import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
} from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { ObjectTooLargeError, S3ObjectStorage, StorageError, StorageErrorCode } from './index';
import { describeObjectStorage, readAll, rejection } from './object-storage.contract';

let dir: string;
let server: S3rver;
let endpoint: string;
let bucketCount = 0;
const opened: S3ObjectStorage[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'likeness-s3rver-'));
  server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir });
  const { port } = await server.run();
  endpoint = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const storage of opened) storage.destroy();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** A store on a fresh, empty bucket of the in-process s3rver. */
async function freshStorage(prefix?: string): Promise<S3ObjectStorage> {
  const storage = new S3ObjectStorage({
    bucket: `bucket-${++bucketCount}`,
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    ...(prefix !== undefined ? { prefix } : {}),
  });
  opened.push(storage);
  await storage.client.send(new CreateBucketCommand({ Bucket: storage.bucket }));
  return storage;
}

async function bucketKeys(storage: S3ObjectStorage): Promise<string[]> {
  const out = await storage.client.send(new ListObjectsV2Command({ Bucket: storage.bucket }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

async function bytesOnDisk(root: string): Promise<number> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  let total = 0;
  for (const e of entries) {
    if (e.isFile()) total += (await stat(path.join(e.parentPath, e.name))).size;
  }
  return total;
}

async function headExists(storage: S3ObjectStorage, key: string): Promise<boolean> {
  try {
    await storage.client.send(new HeadObjectCommand({ Bucket: storage.bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) {
      return false;
    }
    throw error;
  }
}

// s3rver writes an object in place, so racing PUTs of one key can interleave there; real S3
// replaces objects atomically per PUT. That one contract test cannot be run against the emulator.
describeObjectStorage('S3ObjectStorage', () => freshStorage(), { atomicConcurrentPuts: false });

describe('S3ObjectStorage', () => {
  it('maxBytes aborts a multipart upload, leaving the previous object and nothing else', async () => {
    const storage = await freshStorage();
    await storage.put('tenants/t1/big.bin', Readable.from([Buffer.from('previous')]));
    // 12 MB against a 7 MB limit: the first 5 MB part is uploaded when the limit is crossed.
    const error = await rejection(
      storage.put(
        'tenants/t1/big.bin',
        (async function* () {
          for (let i = 0; i < 12; i++) yield new Uint8Array(1024 * 1024).fill(i);
        })(),
        { maxBytes: 7 * 1024 * 1024 },
      ),
    );
    expect(error).toBeInstanceOf(ObjectTooLargeError);
    expect((await readAll(await storage.get('tenants/t1/big.bin'))).toString()).toBe('previous');
    expect(await bucketKeys(storage)).toEqual(['tenants/t1/big.bin']);

    const fresh = await rejection(
      storage.put('tenants/t1/new.bin', Readable.from([Buffer.alloc(6 * 1024 * 1024)]), {
        maxBytes: 5 * 1024 * 1024,
      }),
    );
    expect(fresh).toBeInstanceOf(ObjectTooLargeError);
    expect(await headExists(storage, 'tenants/t1/new.bin')).toBe(false);
    expect(await bucketKeys(storage)).toEqual(['tenants/t1/big.bin']);
  });

  it('streams 20 MB as a multipart upload without holding it in memory', async () => {
    const storage = await freshStorage();
    const key = 'tenants/t1/renders/big.mp4';
    const chunkSize = 64 * 1024;
    const count = 320; // 20,971,520 bytes
    const hash = createHash('sha256');
    let produced = 0;
    let maxLag = 0;
    // Before handing out each chunk, compare what was produced with what the server has on
    // disk (s3rver keeps uploaded parts as files under the bucket's directory): a store that
    // buffered the object would let this grow to 20 MB; a streaming one to about one part.
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < count; i++) {
        maxLag = Math.max(maxLag, produced - (await bytesOnDisk(path.join(dir, storage.bucket))));
        const chunk = new Uint8Array(chunkSize).fill(i % 251);
        chunk[0] = i & 0xff;
        chunk[1] = i >> 8;
        hash.update(chunk);
        produced += chunk.byteLength;
        yield chunk;
      }
    }
    const result = await storage.put(key, source(), { contentType: 'video/mp4' });

    expect(produced).toBe(count * chunkSize);
    expect(result).toEqual({ key, bytes: count * chunkSize, sha256: hash.digest('hex') });
    expect(maxLag).toBeLessThan(12 * 1024 * 1024);
    expect((await storage.stat(key))?.bytes).toBe(count * chunkSize);
    const readBack = createHash('sha256');
    for await (const chunk of await storage.get(key)) readBack.update(chunk as Buffer);
    expect(readBack.digest('hex')).toBe(result.sha256);
    expect(await bucketKeys(storage)).toEqual([key]);
  });

  it('stores under the prefix and keeps the content type', async () => {
    const storage = await freshStorage('likeness/prod/');
    await storage.put('tenants/t1/a.png', Readable.from([Buffer.from('png')]), {
      contentType: 'image/png',
    });
    expect(await bucketKeys(storage)).toEqual(['likeness/prod/tenants/t1/a.png']);
    const head = await storage.client.send(
      new HeadObjectCommand({ Bucket: storage.bucket, Key: 'likeness/prod/tenants/t1/a.png' }),
    );
    expect(head.ContentType).toBe('image/png');
    expect((await readAll(await storage.get('tenants/t1/a.png'))).toString()).toBe('png');
    expect(await storage.delete('tenants/t1/a.png')).toBe(true);
    expect(await bucketKeys(storage)).toEqual([]);
  });

  it('an object deleted behind its back is gone for get, stat and delete', async () => {
    const storage = await freshStorage();
    await storage.put('k', Readable.from([Buffer.from('x')]));
    await storage.client.send(new DeleteObjectCommand({ Bucket: storage.bucket, Key: 'k' }));
    expect(await storage.stat('k')).toBeNull();
    expect(await storage.delete('k')).toBe(false);
  });

  it('a missing bucket is an error, not a missing object', async () => {
    const storage = await freshStorage();
    const missing = new S3ObjectStorage({
      bucket: `${storage.bucket}-missing`,
      region: 'us-east-1',
      endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
    opened.push(missing);
    const source = Readable.from([Buffer.from('x')]);
    const putError = await rejection(missing.put('k', source));
    expect(putError).toMatchObject({ name: 'NoSuchBucket' });
    expect(source.destroyed).toBe(true);
    const getError = await rejection(missing.get('k'));
    expect(getError).not.toBeInstanceOf(StorageError);
    expect(getError).toMatchObject({ name: 'NoSuchBucket' });
  });

  it.each<[string, { bucket?: string; prefix?: string }, string]>([
    ['an empty bucket', { bucket: '' }, 'bucket'],
    ['a prefix breaking the key rules', { prefix: '../up' }, 'prefix'],
    ['a prefix with a space', { prefix: 'a b' }, 'prefix'],
  ])('refuses %s', (_label, options, field) => {
    let caught: unknown;
    try {
      new S3ObjectStorage({ bucket: 'b', region: 'us-east-1', ...options });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(StorageError);
    expect(caught).toMatchObject({ code: StorageErrorCode.INVALID_ARGUMENT, field });
  });
});
