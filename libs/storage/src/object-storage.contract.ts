import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  InvalidKeyError,
  ObjectNotFoundError,
  ObjectTooLargeError,
  StorageError,
  StorageErrorCode,
  type ObjectStorage,
} from './index';

/**
 * The behaviour every `ObjectStorage` shares, run against each implementation by its spec.
 * `setup` is called before each test and returns a fresh, empty store.
 */
export interface ContractOptions {
  /**
   * Whether the server behind the store makes concurrent writes of one key atomic (S3 and the
   * local store do; the s3rver emulator writes objects in place, so racing PUTs can interleave).
   */
  atomicConcurrentPuts?: boolean;
}

export function describeObjectStorage(
  name: string,
  setup: () => Promise<ObjectStorage>,
  options: ContractOptions = {},
): void {
  describe(`${name} (ObjectStorage contract)`, () => {
    let storage: ObjectStorage;

    beforeEach(async () => {
      storage = await setup();
    });

    const getBytes = async (key: string): Promise<Buffer> => readAll(await storage.get(key));

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
    });

    it('accepts an async iterable of Uint8Array and an empty object', async () => {
      const result = await storage.put(
        'gen',
        chunks(3, 10, (i) => i + 1),
      );
      const expected = Buffer.concat([
        Buffer.alloc(10, 1),
        Buffer.alloc(10, 2),
        Buffer.alloc(10, 3),
      ]);
      expect(result.sha256).toBe(sha256(expected));
      expect(await getBytes('gen')).toEqual(expected);
      const empty = await storage.put('empty', Readable.from([]));
      expect(empty).toEqual({ key: 'empty', bytes: 0, sha256: sha256(Buffer.alloc(0)) });
      expect(await getBytes('empty')).toEqual(Buffer.alloc(0));
    });

    it('replaces an existing object', async () => {
      await storage.put('k', Readable.from([Buffer.from('old content, longer')]));
      const result = await storage.put('k', Readable.from([Buffer.from('new')]));
      expect(result.bytes).toBe(3);
      expect((await getBytes('k')).toString()).toBe('new');
      expect((await storage.stat('k'))?.bytes).toBe(3);
    });

    describe('maxBytes', () => {
      it('accepts an object of exactly maxBytes', async () => {
        const result = await storage.put(
          'k',
          chunks(4, 250, () => 1),
          { maxBytes: 1000 },
        );
        expect(result.bytes).toBe(1000);
        expect((await storage.stat('k'))?.bytes).toBe(1000);
      });

      it('refuses one byte more, keeping the previous object', async () => {
        await storage.put('k', Readable.from([Buffer.from('previous')]));
        const error = await rejection(
          storage.put('k', Readable.from([Buffer.alloc(1000), Buffer.alloc(1)]), {
            maxBytes: 1000,
          }),
        );
        expect(error).toBeInstanceOf(ObjectTooLargeError);
        expect(error).toMatchObject({ code: StorageErrorCode.OBJECT_TOO_LARGE, maxBytes: 1000 });
        expect((await getBytes('k')).toString()).toBe('previous');
      });

      it('stops reading an endless source once the limit is crossed, storing nothing', async () => {
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
      });

      it('rejects an invalid maxBytes before writing anything', async () => {
        const source = Readable.from([Buffer.from('x')]);
        const error = await rejection(storage.put('k', source, { maxBytes: -1 }));
        expect(error).toBeInstanceOf(StorageError);
        expect(error).toMatchObject({ code: StorageErrorCode.INVALID_ARGUMENT, field: 'maxBytes' });
        expect(source.destroyed).toBe(true);
        expect(await storage.stat('k')).toBeNull();
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
      });
    });

    it.each(['', '/abs', '../escape', 'a/../../escape', 'a//b', 'a b', 'a~1.tmp'])(
      'refuses an invalid key in every method: %j',
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
      },
    );

    it('missing objects: get rejects with not-found, stat answers null, delete false', async () => {
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
      expect((await getBytes('a/b')).toString()).toBe('x');
    });

    it('delete is idempotent', async () => {
      await storage.put('k', Readable.from([Buffer.from('x')]));
      expect(await storage.delete('k')).toBe(true);
      expect(await storage.delete('k')).toBe(false);
      expect(await storage.stat('k')).toBeNull();
      expect(await rejection(storage.get('k'))).toBeInstanceOf(ObjectNotFoundError);
    });

    (options.atomicConcurrentPuts === false ? it.skip : it)(
      'concurrent puts of one key leave exactly one complete object',
      async () => {
        const writers = 4;
        const size = 16 * 64 * 1024;
        const results = await Promise.all(
          Array.from({ length: writers }, (_, w) =>
            storage.put(
              'tenants/t1/same',
              chunks(16, 64 * 1024, () => w + 1),
            ),
          ),
        );
        const stored = await getBytes('tenants/t1/same');
        expect(stored.length).toBe(size);
        expect(stored.every((byte) => byte === stored[0])).toBe(true);
        expect(results.some((r) => r.sha256 === sha256(stored))).toBe(true);
      },
    );
  });
}

export const sha256 = (bytes: Uint8Array): string =>
  createHash('sha256').update(bytes).digest('hex');

export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

export async function* chunks(
  count: number,
  size: number,
  fill: (i: number) => number,
): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) yield new Uint8Array(size).fill(fill(i));
}
