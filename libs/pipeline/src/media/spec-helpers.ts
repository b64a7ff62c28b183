// Shared by the media specs only (not exported).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PipelineInputError } from '../errors';

/** The `field` of the PipelineInputError `promise` rejects with; other outcomes as text. */
export async function rejectedField(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof PipelineInputError) return e.field;
    return `other error: ${e instanceof Error ? e.message : String(e)}`;
  }
  return 'no error';
}

/** A fresh temporary folder per spec file, removed afterwards. */
export function useTempDir(prefix: string): () => string {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `likeness-${prefix}-`));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return () => dir;
}
