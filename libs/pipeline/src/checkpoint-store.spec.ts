import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirectoryCheckpointStore, PipelineInputError } from './index';

describe('DirectoryCheckpointStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'likeness-ckpt-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stores, replaces, lists and deletes blobs', async () => {
    const store = new DirectoryCheckpointStore(join(dir, 'render-1'));
    expect(await store.list()).toEqual([]);
    expect(await store.get('a.json')).toBeUndefined();
    await store.put('b.frames', Uint8Array.from([1, 2, 3]));
    await store.put('a.json', Uint8Array.from([9]));
    await store.put('b.frames', Uint8Array.from([4, 5]));
    expect(await store.list()).toEqual(['a.json', 'b.frames']);
    expect(Array.from((await store.get('b.frames')) ?? [])).toEqual([4, 5]);
    await store.delete('a.json');
    await store.delete('a.json'); // no error when absent
    expect(await store.list()).toEqual(['b.frames']);
    // nothing but the named files is left behind
    expect(await readdir(join(dir, 'render-1'))).toEqual(['b.frames']);
  });

  it('never lists a half-written file, and clears those a crash left', async () => {
    const store = new DirectoryCheckpointStore(dir);
    await writeFile(join(dir, 'clip-00001.frames.partial-abc123'), 'half');
    await store.put('x', Uint8Array.from([1]));
    expect(await store.list()).toEqual(['x']);
    expect(await readdir(dir)).toEqual(['x']);
  });

  it('rejects names that could leave the directory', async () => {
    const store = new DirectoryCheckpointStore(dir);
    const fieldOfRejection = (p: Promise<unknown>): Promise<string | undefined> =>
      p.then(
        () => undefined,
        (e: unknown) => (e instanceof PipelineInputError ? e.field : String(e)),
      );
    expect(await fieldOfRejection(store.put('../evil', new Uint8Array(1)))).toBe('name');
    expect(await fieldOfRejection(store.get('a/b'))).toBe('name');
    expect(await fieldOfRejection(store.delete('.hidden'))).toBe('name');
    expect(await readdir(dir)).toEqual([]);
  });
});
