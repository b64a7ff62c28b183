import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PipelineInputError } from './errors';

/**
 * Where a render keeps what it needs to resume: named blobs. `put` must be atomic (a reader sees
 * the old blob or the new one, never part of one). The pipeline writes each clip's files first and
 * its JSON record last, so a record only exists for a clip whose files are complete. A worker may
 * implement this on object storage; `DirectoryCheckpointStore` is the local one.
 */
export interface CheckpointStore {
  get(name: string): Promise<Uint8Array | undefined>;
  put(name: string, data: Uint8Array): Promise<void>;
  /** Names of all stored blobs. */
  list(): Promise<string[]>;
  /** Removes a blob; no error when it is not there. */
  delete(name: string): Promise<void>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const TEMP_MARK = '.partial-';

function checkName(name: string): string {
  if (!NAME.test(name) || name.includes(TEMP_MARK)) {
    throw new PipelineInputError('name', `is not a valid checkpoint name: ${JSON.stringify(name)}`);
  }
  return name;
}

/** A CheckpointStore in one directory: write to a temporary file, fsync, rename over the name. */
export class DirectoryCheckpointStore implements CheckpointStore {
  private cleaned = false;

  constructor(readonly dir: string) {}

  async get(name: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(join(this.dir, checkName(name))));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async put(name: string, data: Uint8Array): Promise<void> {
    const target = join(this.dir, checkName(name));
    await mkdir(this.dir, { recursive: true });
    const temp = `${target}${TEMP_MARK}${randomBytes(6).toString('hex')}`;
    const file = await open(temp, 'w');
    try {
      await file.writeFile(data);
      await file.sync();
    } catch (error) {
      await file.close();
      await rm(temp, { force: true });
      throw error;
    }
    await file.close();
    await rename(temp, target);
  }

  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    // Temporary files are what a process killed in the middle of `put` left behind.
    if (!this.cleaned) {
      this.cleaned = true;
      await Promise.all(
        names
          .filter((n) => n.includes(TEMP_MARK))
          .map((n) => rm(join(this.dir, n), { force: true })),
      );
    }
    return names.filter((n) => !n.includes(TEMP_MARK)).sort();
  }

  async delete(name: string): Promise<void> {
    await rm(join(this.dir, checkName(name)), { force: true });
  }
}
