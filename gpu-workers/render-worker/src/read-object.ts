import type { ObjectStorage } from '@likeness/storage';

/** Inputs larger than this are not photos or voice tracks (the plans allow far less). */
export const MAX_INPUT_BYTES = 200 * 1024 * 1024;

/**
 * A whole stored object in memory, refusing it as soon as it grows past `maxBytes`: then the
 * stream is destroyed and `tooLarge()`'s error is thrown (the caller's typed error).
 */
export async function readObjectBounded(
  storage: ObjectStorage,
  key: string,
  maxBytes: number,
  tooLarge: () => Error,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  const stream = await storage.get(key);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) {
      stream.destroy();
      throw tooLarge();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
