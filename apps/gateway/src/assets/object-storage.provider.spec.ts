import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { LocalDirectoryStorage, type ObjectStorage } from '@likeness/storage';
import {
  assetStorageKey,
  deleteAssetObject,
  storageRoot,
  withLocalFile,
} from './object-storage.provider';

let root: string;
let local: LocalDirectoryStorage;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'likeness-objects-'));
  local = new LocalDirectoryStorage(root);
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

it('keeps objects under <data dir>/storage with per-tenant, per-asset keys', () => {
  expect(storageRoot('/srv/likeness')).toBe('/srv/likeness/storage');
  const [tenant, asset] = [randomUUID(), randomUUID()];
  expect(assetStorageKey(tenant, asset)).toBe(`tenants/${tenant}/assets/${asset}/original`);
});

it('hands the local store’s own file to the probe', async () => {
  const key = 'tenants/t/assets/a/original';
  await local.put(key, Readable.from([Buffer.from('local bytes')]));
  const seen = await withLocalFile(local, key, async (file) => ({
    file,
    text: await readFile(file, 'utf8'),
  }));
  expect(seen).toEqual({
    file: path.join(root, 'tenants', 't', 'assets', 'a', 'original'),
    text: 'local bytes',
  });
});

it('copies an object of any other store to a temporary file, removed afterwards', async () => {
  // A store that is not a LocalDirectoryStorage (as an S3 store will be), backed by one.
  const remote: ObjectStorage = {
    put: (key, source, opts) => local.put(key, source, opts),
    get: (key) => local.get(key),
    stat: (key) => local.stat(key),
    delete: (key) => local.delete(key),
  };
  const key = 'tenants/t/assets/b/original';
  await remote.put(key, Readable.from([Buffer.alloc(100_000, 3)]));
  let copy = '';
  const bytes = await withLocalFile(remote, key, async (file) => {
    copy = file;
    expect(file.startsWith(root)).toBe(false);
    return (await readFile(file)).length;
  });
  expect(bytes).toBe(100_000);
  expect(existsSync(copy)).toBe(false);
  expect(existsSync(path.dirname(copy))).toBe(false);
});

it('deletes an upload with its asset directory, keeping directories that hold other keys', async () => {
  const [mine, other] = ['tenants/t/assets/c/original', 'tenants/t/assets/d/original'];
  await local.put(mine, Readable.from([Buffer.from('c')]));
  await local.put(other, Readable.from([Buffer.from('d')]));
  await local.put('tenants/t/assets/c/preview', Readable.from([Buffer.from('p')]));
  expect(await deleteAssetObject(local, mine)).toBe(true);
  expect(existsSync(path.join(root, 'tenants/t/assets/c/preview'))).toBe(true);
  expect(await deleteAssetObject(local, 'tenants/t/assets/c/preview')).toBe(true);
  expect(existsSync(path.join(root, 'tenants/t/assets/c'))).toBe(false);
  expect(existsSync(path.join(root, 'tenants/t/assets/d/original'))).toBe(true);
  expect(await deleteAssetObject(local, mine)).toBe(false);
});
