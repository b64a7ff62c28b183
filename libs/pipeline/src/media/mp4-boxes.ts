import { open } from 'node:fs/promises';
import { PipelineInputError } from '../errors';

export interface Mp4Box {
  type: string;
  offset: number;
  size: number;
}

/**
 * The top-level boxes of an MP4 file in file order (ftyp, moov, mdat …), read from their
 * headers only. With `+faststart` moov comes before mdat. Throws a PipelineInputError naming
 * `field` when the file is not a sequence of boxes.
 */
export async function readMp4Boxes(path: string, field = 'file'): Promise<Mp4Box[]> {
  const file = await open(path, 'r');
  try {
    const { size: fileSize } = await file.stat();
    const boxes: Mp4Box[] = [];
    const header = Buffer.alloc(16);
    let offset = 0;
    while (offset < fileSize) {
      const { bytesRead } = await file.read(header, 0, 16, offset);
      if (bytesRead < 8) throw new PipelineInputError(field, `has a truncated box at ${offset}`);
      let size = header.readUInt32BE(0);
      const type = header.toString('latin1', 4, 8);
      if (size === 1) {
        if (bytesRead < 16) throw new PipelineInputError(field, `has a truncated box at ${offset}`);
        size = Number(header.readBigUInt64BE(8));
      } else if (size === 0) {
        size = fileSize - offset;
      }
      if (size < 8 || offset + size > fileSize || !/^[\x20-\x7e]{4}$/.test(type)) {
        throw new PipelineInputError(field, `is not an MP4 (bad box "${type}" at ${offset})`);
      }
      boxes.push({ type, offset, size });
      offset += size;
    }
    return boxes;
  } finally {
    await file.close();
  }
}
