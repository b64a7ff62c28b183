import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { smoothImage } from '../testing/synthetic-images';
import { psnr } from './frames';
import { previewJpeg, writePoster } from './poster';
import { rejectedField, useTempDir } from './spec-helpers';

const dir = useTempDir('poster');
const frame = smoothImage(160, 96);

describe('writePoster', () => {
  it('writes a PNG that decodes to the same pixels, and a close JPEG', async () => {
    const png = join(dir(), 'poster.png');
    await writePoster(frame, png);
    const back = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([back.info.width, back.info.height, back.info.channels]).toEqual([160, 96, 3]);
    expect(Buffer.compare(back.data, Buffer.from(frame.data))).toBe(0);

    const jpg = join(dir(), 'poster.jpg');
    await writePoster(frame, jpg);
    expect((await sharp(jpg).metadata()).format).toBe('jpeg');
    const jpeg = await sharp(jpg).raw().toBuffer();
    expect(psnr(jpeg, frame.data)).toBeGreaterThan(35);
    // Only the two posters: no temporary files left behind.
    expect((await readdir(dir())).sort()).toEqual(['poster.jpg', 'poster.png']);
  });

  it('names the field for an unknown extension or a bad frame', async () => {
    expect(await rejectedField(writePoster(frame, join(dir(), 'poster.gif')))).toBe('path');
    expect(
      await rejectedField(
        writePoster({ ...frame, data: frame.data.subarray(1) }, join(dir(), 'x.png')),
      ),
    ).toBe('frame.data');
  });
});

describe('previewJpeg', () => {
  it('makes a small JPEG with a long side of 128 by default', async () => {
    const meta = await sharp(await previewJpeg(frame)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 128, 77]);
    const tiny = await sharp(await previewJpeg(frame, { maxSide: 64, quality: 40 })).metadata();
    expect([tiny.width, tiny.height]).toEqual([64, 38]);
    expect(await rejectedField(previewJpeg(frame, { quality: 0 }))).toBe('quality');
  });
});
