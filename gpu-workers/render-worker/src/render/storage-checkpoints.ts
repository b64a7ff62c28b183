import { Readable } from 'node:stream';
import type { CheckpointStore } from '@likeness/pipeline';
import { ObjectNotFoundError, type ObjectStorage } from '@likeness/storage';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * A render's checkpoints in object storage, under `<base>checkpoints/` (base = the render's
 * media folder, so they belong to the render, not to an attempt or a run: a re-run on any worker
 * that shares the store resumes from them). Object stores put whole objects atomically but
 * cannot list here, so the names are kept in `index.json` beside them, written *before* a blob
 * is added and *after* one is removed: the index may name a blob that is gone (harmless: `get`
 * answers undefined), never miss one that exists. One run writes a render's checkpoints at a
 * time (BullMQ's job lock), so the index needs no locking.
 */
export class StorageCheckpointStore implements CheckpointStore {
  private readonly folder: string;
  private names: Set<string> | undefined;

  constructor(
    private readonly storage: ObjectStorage,
    base: string,
  ) {
    this.folder = `${base.endsWith('/') ? base : `${base}/`}checkpoints/`;
  }

  /** Where the blob `name` lives (for the `render.clip-finished` event). */
  keyOf(name: string): string {
    return `${this.folder}${checkName(name)}`;
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    try {
      return await readAll(this.storage, this.keyOf(name));
    } catch (error) {
      if (error instanceof ObjectNotFoundError) return undefined;
      throw error;
    }
  }

  async put(name: string, data: Uint8Array): Promise<void> {
    const key = this.keyOf(name);
    const names = await this.index();
    if (!names.has(name)) {
      names.add(name);
      await this.writeIndex(names);
    }
    await this.storage.put(
      key,
      Readable.from([Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
    );
  }

  async list(): Promise<string[]> {
    return [...(await this.index())].sort();
  }

  async delete(name: string): Promise<void> {
    await this.storage.delete(this.keyOf(name));
    const names = await this.index();
    if (names.delete(name)) await this.writeIndex(names);
  }

  /** Removes every checkpoint and the index (after the render's output is stored). */
  async clear(): Promise<void> {
    const names = await this.index();
    await Promise.all([...names].map((name) => this.storage.delete(this.keyOf(name))));
    await this.storage.delete(`${this.folder}index.json`);
    this.names = new Set();
  }

  private async index(): Promise<Set<string>> {
    if (this.names) return this.names;
    let names: string[] = [];
    try {
      const parsed = JSON.parse(
        Buffer.from(await readAll(this.storage, `${this.folder}index.json`)).toString('utf8'),
      ) as unknown;
      if (Array.isArray(parsed)) {
        names = parsed.filter((n): n is string => typeof n === 'string' && NAME.test(n));
      }
    } catch (error) {
      // A missing index is an empty store; a damaged one (not JSON) is treated alike: the
      // pipeline then starts the render afresh, which is always safe.
      if (!(error instanceof ObjectNotFoundError) && !(error instanceof SyntaxError)) throw error;
    }
    this.names = new Set(names);
    return this.names;
  }

  private async writeIndex(names: Set<string>): Promise<void> {
    await this.storage.put(
      `${this.folder}index.json`,
      Readable.from([Buffer.from(JSON.stringify([...names].sort()))]),
      { contentType: 'application/json' },
    );
  }
}

function checkName(name: string): string {
  if (!NAME.test(name)) throw new Error(`not a checkpoint name: ${JSON.stringify(name)}`);
  return name;
}

async function readAll(storage: ObjectStorage, key: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of (await storage.get(key)) as AsyncIterable<Buffer>) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
