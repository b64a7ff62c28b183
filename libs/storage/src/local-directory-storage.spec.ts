import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import {
  InvalidKeyError,
  KeyConflictError,
  LocalDirectoryStorage,
  ObjectNotFoundError,
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

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

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
  it('round-trips an object and reports its size and sha256', async () => {
    const parts = [Buffer.from('hello, '), Buffer.from('portrait'), Buffer.alloc(70_000, 7)];
    const expected = Buffer.concat(parts);
    const key = 'tenants/t1/assets/a.bin';

    const before = Date.now();
    const result = await storage.put(key, Readable.from(parts), { contentType: 'image/jpeg' });

    expect(result).toEqual({ key, bytes: expected.length, sha256: sha256(expected) });
    expect(await getBytes(key)).toEqual(expected);
    const stat = await storage.stat(key);
    expect(stat?.bytes).toBe(expected.length);
    expect(stat?.modifiedAt).toBeInstanceOf(Date);
    expect(stat?.modifiedAt.getTime()).toBeGreaterThanOrEqual(before - 2_000);
    expect(await listFiles()).toEqual([key]);
  });

  it('accepts an async iterable of Uint8Array and an empty object', async () => {
    const result = await storage.put(
      'gen',
      chunks(3, 10, (i) => i + 1),
    );
    const expected = Buffer.concat([Buffer.alloc(10, 1), Buffer.alloc(10, 2), Buffer.alloc(10, 3)]);
    expect(result.sha256).toBe(sha256(expected));
    expect(await getBytes('gen')).toEqual(expected);

    const empty = await storage.put('empty', Readable.from([]));
    expect(empty).toEqual({
      key: 'empty',
      bytes: 0,
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    });
    expect(await getBytes('empty')).toEqual(Buffer.alloc(0));
  });

  it('replaces an existing object', async () => {
    await storage.put('k', Readable.from([Buffer.from('old content, longer')]));
    const result = await storage.put('k', Readable.from([Buffer.from('new')]));
    expect(result.bytes).toBe(3);
    expect((await getBytes('k')).toString()).toBe('new');
    expect(await listFiles()).toEqual(['k']);
  });

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

  describe('a source that fails midway', () => {
    beforeEach(async () => {
      await storage.put('tenants/t1/a.wav', Readable.from([Buffer.from('previous object')]));
    });

    it('(async iterable) rethrows its error and keeps the previous object', async () => {
      const boom = new Error('client aborted');
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield new Uint8Array(100_000);
        yield new Uint8Array(100_000);
        throw boom;
      }
      expect(await rejection(storage.put('tenants/t1/a.wav', failing()))).toBe(boom);
      expect((await getBytes('tenants/t1/a.wav')).toString()).toBe('previous object');
      expect(await listFiles()).toEqual(['tenants/t1/a.wav']);
    });

    it('(Readable) rethrows its error and keeps the previous object', async () => {
      const boom = new Error('socket reset');
      let pushed = 0;
      const readable = new Readable({
        read() {
          pushed++;
          if (pushed <= 5) this.push(Buffer.alloc(50_000, pushed));
          else setImmediate(() => this.destroy(boom));
        },
      });
      expect(await rejection(storage.put('tenants/t1/a.wav', readable))).toBe(boom);
      expect(pushed).toBeGreaterThan(5);
      expect((await getBytes('tenants/t1/a.wav')).toString()).toBe('previous object');
      expect(await listFiles()).toEqual(['tenants/t1/a.wav']);
    });
  });

  describe('invalid keys', () => {
    it.each(['', '/abs', '../escape', 'a/../../escape', 'a//b', 'a b', 'a~1.tmp'])(
      'are refused by every method: %j',
      async (key) => {
        const source = Readable.from([Buffer.from('data')]);
        const errors = [
          await rejection(storage.put(key, source)),
          await rejection(storage.get(key)),
          await rejection(storage.stat(key)),
          await rejection(storage.delete(key)),
        ];
        for (const error of errors) {
          expect(error).toBeInstanceOf(InvalidKeyError);
          expect(error).toMatchObject({ code: StorageErrorCode.INVALID_KEY, field: 'key' });
        }
        expect(source.destroyed).toBe(true);
        expect(await readdir(root)).toEqual([]);
        expect(await readdir(path.dirname(root))).not.toContain('escape');
      },
    );
  });

  describe('missing objects', () => {
    it('get rejects with a not-found error, stat answers null, delete answers false', async () => {
      const error = await rejection(storage.get('nope/missing.jpg'));
      expect(error).toBeInstanceOf(ObjectNotFoundError);
      expect(error).toMatchObject({
        code: StorageErrorCode.OBJECT_NOT_FOUND,
        key: 'nope/missing.jpg',
      });
      expect(await storage.stat('nope/missing.jpg')).toBeNull();
      expect(await storage.delete('nope/missing.jpg')).toBe(false);
    });

    it('a prefix of other keys is not an object', async () => {
      await storage.put('a/b', Readable.from([Buffer.from('x')]));
      expect(await rejection(storage.get('a'))).toBeInstanceOf(ObjectNotFoundError);
      expect(await storage.stat('a')).toBeNull();
      expect(await storage.delete('a')).toBe(false);
      // and a path through an object is not one either
      expect(await rejection(storage.get('a/b/c'))).toBeInstanceOf(ObjectNotFoundError);
      expect(await storage.stat('a/b/c')).toBeNull();
      expect(await storage.delete('a/b/c')).toBe(false);
      expect(await listFiles()).toEqual(['a/b']);
    });
  });

  it('delete is idempotent', async () => {
    await storage.put('k', Readable.from([Buffer.from('x')]));
    expect(await storage.delete('k')).toBe(true);
    expect(await storage.delete('k')).toBe(false);
    expect(await storage.stat('k')).toBeNull();
    expect(await rejection(storage.get('k'))).toBeInstanceOf(ObjectNotFoundError);
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

  it('concurrent puts of one key leave exactly one complete object', async () => {
    const writers = 8;
    const chunkCount = 32;
    const chunkSize = 64 * 1024;
    const results = await Promise.all(
      Array.from({ length: writers }, (_, w) =>
        storage.put(
          'tenants/t1/same',
          chunks(chunkCount, chunkSize, () => w + 1),
        ),
      ),
    );

    const stored = await getBytes('tenants/t1/same');
    expect(stored.length).toBe(chunkCount * chunkSize);
    // One writer's bytes only: no interleaving of two writers' chunks.
    expect(stored.every((byte) => byte === stored[0])).toBe(true);
    const winner = results.find((r) => r.sha256 === sha256(stored));
    expect(winner).toBeDefined();
    expect(winner?.bytes).toBe(chunkCount * chunkSize);
    expect(new Set(results.map((r) => r.sha256)).size).toBe(writers);
    expect(await listFiles()).toEqual(['tenants/t1/same']);
  });

  it('a reader keeps the object it opened when a put replaces it', async () => {
    await storage.put('k', Readable.from([Buffer.alloc(1_000_000, 1)]));
    const reading = await storage.get('k');
    await storage.put('k', Readable.from([Buffer.alloc(10, 2)]));
    expect(await readAll(reading)).toEqual(Buffer.alloc(1_000_000, 1));
    expect(await getBytes('k')).toEqual(Buffer.alloc(10, 2));
  });
});

// The behaviour shared with every other store (S3ObjectStorage runs the same suite).
describeObjectStorage('LocalDirectoryStorage', () => Promise.resolve(storage));
