import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  KeyConflictError,
  LocalDirectoryStorage,
  ObjectTooLargeError,
  StorageError,
  StorageErrorCode,
} from './index';
import { describeObjectStorage } from './object-storage.contract';

let root: string;
let storage: LocalDirectoryStorage;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'likeness-storage-'));
  storage = new LocalDirectoryStorage(root);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function getBytes(key: string): Promise<Buffer> {
  return readAll(await storage.get(key));
}

/** Every file under `dir` (temporary files included), as sorted `/`-separated relative paths. */
async function listFiles(dir: string = root): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

async function* chunks(count: number, size: number, fill: (i: number) => number) {
  for (let i = 0; i < count; i++) yield new Uint8Array(size).fill(fill(i));
}

describe('LocalDirectoryStorage', () => {
  it('streams 50 MB to disk without holding it in memory', async () => {
    const chunkSize = 64 * 1024;
    const count = 800; // 52,428,800 bytes
    const key = 'tenants/t1/renders/big.mp4';
    const dir = path.join(root, 'tenants', 't1', 'renders');
    const hash = createHash('sha256');
    let produced = 0;
    let maxLag = 0;

    // Before handing out each chunk, compare what was produced with what has reached the
    // temporary file: a store that buffered the object would let this grow to ~50 MB.
    async function* source(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < count; i++) {
        const temp = readdirSync(dir).find((name) => name.includes('~'));
        const written = temp === undefined ? 0 : statSync(path.join(dir, temp)).size;
        maxLag = Math.max(maxLag, produced - written);
        const chunk = new Uint8Array(chunkSize).fill(i % 251);
        chunk[0] = i & 0xff;
        chunk[1] = i >> 8;
        hash.update(chunk);
        produced += chunk.byteLength;
        yield chunk;
      }
    }

    const result = await storage.put(key, source());

    expect(produced).toBe(count * chunkSize);
    expect(result).toEqual({ key, bytes: count * chunkSize, sha256: hash.digest('hex') });
    expect(maxLag).toBeLessThan(8 * 1024 * 1024);
    expect((await storage.stat(key))?.bytes).toBe(count * chunkSize);
    const readBack = createHash('sha256');
    for await (const chunk of await storage.get(key)) readBack.update(chunk as Buffer);
    expect(readBack.digest('hex')).toBe(result.sha256);
    expect(await listFiles()).toEqual([key]);
  });

  describe('maxBytes', () => {
    it('accepts an object of exactly maxBytes', async () => {
      const result = await storage.put(
        'k',
        chunks(4, 250, () => 1),
        { maxBytes: 1000 },
      );
      expect(result.bytes).toBe(1000);
      expect(await listFiles()).toEqual(['k']);
    });

    it('refuses one byte more, leaving no file and the previous object untouched', async () => {
      await storage.put('k', Readable.from([Buffer.from('previous')]));
      await storage.put('other', Readable.from([Buffer.from('x')]));

      const error = await rejection(
        storage.put('k', Readable.from([Buffer.alloc(1000), Buffer.alloc(1)]), { maxBytes: 1000 }),
      );

      expect(error).toBeInstanceOf(ObjectTooLargeError);
      expect(error).toMatchObject({ code: StorageErrorCode.OBJECT_TOO_LARGE, maxBytes: 1000 });
      expect((await getBytes('k')).toString()).toBe('previous');
      expect(await listFiles()).toEqual(['k', 'other']);
    });

    it('stops reading an endless source once the limit is crossed', async () => {
      let finished = false;
      async function* endless(): AsyncGenerator<Uint8Array> {
        try {
          for (;;) yield new Uint8Array(4096);
        } finally {
          finished = true;
        }
      }
      const error = await rejection(storage.put('new/key', endless(), { maxBytes: 100_000 }));
      expect(error).toBeInstanceOf(ObjectTooLargeError);
      expect(finished).toBe(true);
      expect(await storage.stat('new/key')).toBeNull();
      expect(await listFiles()).toEqual([]);
    });

    it('rejects an invalid maxBytes before writing anything', async () => {
      const error = await rejection(storage.put('k', Readable.from([]), { maxBytes: -1 }));
      expect(error).toBeInstanceOf(StorageError);
      expect(error).toMatchObject({ code: StorageErrorCode.INVALID_ARGUMENT, field: 'maxBytes' });
      expect(await readdir(root)).toEqual([]);
    });
  });

  it('refuses keys that collide with the directory layout, leaving nothing behind', async () => {
    await storage.put('a/b', Readable.from([Buffer.from('inner')]));
    const asDirectory = await rejection(storage.put('a', Readable.from([Buffer.from('x')])));
    expect(asDirectory).toBeInstanceOf(KeyConflictError);
    expect(asDirectory).toMatchObject({ code: StorageErrorCode.KEY_CONFLICT, field: 'key' });

    await storage.put('f', Readable.from([Buffer.from('file')]));
    const throughFile = await rejection(storage.put('f/g', Readable.from([Buffer.from('x')])));
    expect(throughFile).toBeInstanceOf(KeyConflictError);

    expect((await getBytes('a/b')).toString()).toBe('inner');
    expect((await getBytes('f')).toString()).toBe('file');
    expect(await listFiles()).toEqual(['a/b', 'f']);
  });

  it('a reader keeps the object it opened when a put replaces it', async () => {
    await storage.put('k', Readable.from([Buffer.alloc(1_000_000, 1)]));
    const reading = await storage.get('k');
    await storage.put('k', Readable.from([Buffer.alloc(10, 2)]));
    expect(await readAll(reading)).toEqual(Buffer.alloc(1_000_000, 1));
    expect(await getBytes('k')).toEqual(Buffer.alloc(10, 2));
  });
});

// The behaviour shared with every other store (S3ObjectStorage runs the same suite); on disk,
// none of it may leave a temporary file behind.
describe('LocalDirectoryStorage on disk', () => {
  afterEach(async () => {
    expect((await listFiles()).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
  describeObjectStorage('LocalDirectoryStorage', () => Promise.resolve(storage));
});
