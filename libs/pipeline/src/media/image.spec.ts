import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { faceApiDemoPhotos } from '../testing/face-photos';
import {
  encodeImage,
  pixelAt,
  quadrantImage,
  sidewaysJpeg,
  smoothImage,
} from '../testing/synthetic-images';
import { fieldOf } from '../test-helpers';
import { planImageResize, prepareImage, sourceToPrepared } from './image';
import { rejectedField, useTempDir } from './spec-helpers';

const dir = useTempDir('image');

/** Nearest primary colour name of an RGB triple (JPEG blurs the exact values). */
function colourName([r, g, b]: [number, number, number]): string {
  const hi = (v: number) => v > 128;
  if (hi(r) && hi(g) && hi(b)) return 'white';
  if (hi(r)) return 'red';
  if (hi(g)) return 'green';
  if (hi(b)) return 'blue';
  return 'dark';
}

function quadrants(frame: { width: number; height: number; data: Uint8Array }): string[] {
  const { width: w, height: h } = frame;
  return [
    [w / 4, h / 4],
    [(3 * w) / 4, h / 4],
    [w / 4, (3 * h) / 4],
    [(3 * w) / 4, (3 * h) / 4],
  ].map(([x, y]) => colourName(pixelAt(frame, x!, y!)));
}

describe('prepareImage', () => {
  it('applies the EXIF orientation: a phone portrait stored sideways comes out upright', async () => {
    const upright = quadrantImage(400, 600);
    const jpeg = await sidewaysJpeg(upright);
    // The file really is stored sideways: without EXIF it reads as landscape, rotated.
    const stored = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
    expect([stored.info.width, stored.info.height]).toEqual([600, 400]);
    expect(quadrants({ ...stored.info, data: stored.data })).not.toEqual(quadrants(upright));

    const prepared = await prepareImage(jpeg);
    expect([prepared.width, prepared.height]).toEqual([336, 512]);
    expect(prepared.source).toEqual({ width: 400, height: 600, format: 'jpeg' });
    const frame = { width: prepared.width, height: prepared.height, data: prepared.srgb };
    expect(quadrants(frame)).toEqual(['red', 'green', 'blue', 'white']);
  });

  it.each([
    [960, 640, 512, 336],
    [600, 600, 512, 512],
    [300, 700, 224, 512],
    [513, 97, 512, 96],
    [64, 48, 512, 384],
  ])(
    '%i×%i → %i×%i: long side 512, sides multiples of 16, aspect kept by cropping',
    async (w, h, ew, eh) => {
      const png = await encodeImage(smoothImage(w, h), 'png');
      const p = await prepareImage(png);
      expect([p.width, p.height]).toEqual([ew, eh]);
      expect(p.width % 16).toBe(0);
      expect(p.height % 16).toBe(0);
      expect(Math.max(p.width, p.height)).toBe(512);
      // The shown region has the output's aspect ratio to within a source pixel: nothing is stretched.
      const { region } = p;
      expect(Math.abs(region.width / region.height - p.width / p.height)).toBeLessThan(
        (p.width / p.height) * (1 / Math.min(region.width, region.height) + 1e-9),
      );
      expect(region.left).toBeGreaterThanOrEqual(0);
      expect(region.top).toBeGreaterThanOrEqual(0);
      expect(region.left + region.width).toBeLessThanOrEqual(w);
      expect(region.top + region.height).toBeLessThanOrEqual(h);
      // Centred crop.
      expect(Math.abs(w - region.width - 2 * region.left)).toBeLessThanOrEqual(1);
      expect(Math.abs(h - region.height - 2 * region.top)).toBeLessThanOrEqual(1);
    },
  );

  it('gives planar −1..1 pixels consistent with the sRGB bytes, and the 224×224 encoder input', async () => {
    const [photo] = faceApiDemoPhotos();
    const p = await prepareImage(photo!);
    expect([p.width, p.height]).toEqual([512, 336]);
    const hw = p.width * p.height;
    expect(p.pixels).toHaveLength(3 * hw);
    expect(p.srgb).toHaveLength(3 * hw);
    let min = Infinity;
    let max = -Infinity;
    for (const v of p.pixels) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThanOrEqual(-1);
    expect(max).toBeLessThanOrEqual(1);
    expect(max - min).toBeGreaterThan(1); // a real photo, not a flat field
    // Pixel (x, y), channel c: pixels[c·H·W + y·W + x] ↔ srgb[(y·W + x)·3 + c].
    for (const [x, y] of [
      [0, 0],
      [100, 200],
      [511, 335],
    ] as const) {
      for (let c = 0; c < 3; c++) {
        const byte = p.srgb[(y * p.width + x) * 3 + c]!;
        expect(p.pixels[c * hw + y * p.width + x]).toBeCloseTo(byte / 127.5 - 1, 6);
      }
    }
    expect(p.encoderPixels).toHaveLength(3 * 224 * 224);
    // The encoder input is the centre square of the same picture, not the whole one squashed.
    const raw = { raw: { width: 512, height: 336, channels: 3 as const } };
    const centre = await sharp(Buffer.from(p.srgb), raw)
      .extract({ left: 88, top: 0, width: 336, height: 336 })
      .resize(224, 224)
      .raw()
      .toBuffer();
    const squashed = await sharp(Buffer.from(p.srgb), raw)
      .resize(224, 224, { fit: 'fill' })
      .raw()
      .toBuffer();
    const meanError = (ref: Buffer): number => {
      let err = 0;
      for (let i = 0; i < 224 * 224; i++) {
        for (let c = 0; c < 3; c++) {
          err += Math.abs(p.encoderPixels[c * 224 * 224 + i]! - (ref[i * 3 + c]! / 127.5 - 1));
        }
      }
      return err / (3 * 224 * 224);
    };
    expect(meanError(centre)).toBeLessThan(0.04);
    expect(meanError(squashed)).toBeGreaterThan(3 * meanError(centre));
  });

  it('reads a file path, honours maxSide and maps source coordinates onto the result', async () => {
    const path = join(dir(), 'wide.webp');
    await writeFile(path, await encodeImage(smoothImage(800, 300), 'webp'));
    const p = await prepareImage(path, { maxSide: 256 });
    expect([p.width, p.height]).toEqual([256, 96]);
    const { region, source } = p;
    const [x0, y0] = sourceToPrepared(p, region.left / source.width, region.top / source.height);
    const [x1, y1] = sourceToPrepared(
      p,
      (region.left + region.width) / source.width,
      (region.top + region.height) / source.height,
    );
    expect([x0, y0, x1, y1].map((v) => Math.round(v * 1e6) / 1e6)).toEqual([0, 0, 1, 1]);
  });

  it('names the field for unreadable, unsupported and broken images', async () => {
    expect(await rejectedField(prepareImage(Buffer.from('not an image at all')))).toBe('image');
    expect(await rejectedField(prepareImage(join(dir(), 'missing.png')))).toBe('image');
    const gif = await sharp(quadrantImage(32, 32).data, {
      raw: { width: 32, height: 32, channels: 3 },
    })
      .gif()
      .toBuffer();
    expect(await rejectedField(prepareImage(gif, { field: 'avatar' }))).toBe('avatar');
    const jpeg = await readFile(faceApiDemoPhotos()[0]!);
    const truncated = jpeg.subarray(0, Math.floor(jpeg.length / 3));
    expect(await rejectedField(prepareImage(truncated))).toBe('image');
    expect(await rejectedField(prepareImage(jpeg, { maxSide: 500 }))).toBe('maxSide');
  });
});

describe('planImageResize', () => {
  it('rounds the short side to the nearest multiple of 16 and refuses a maxSide that is not one', () => {
    expect(planImageResize(1000, 700).height).toBe(352); // 358.4 → 352
    expect(planImageResize(1000, 710).height).toBe(368); // 363.5 → 368
    expect(planImageResize(1000, 710).region.width).toBeLessThan(1000); // long side cropped a little
    expect(fieldOf(() => planImageResize(100, 100, 520))).toBe('maxSide');
    expect(fieldOf(() => planImageResize(0, 100))).toBe('sourceWidth');
  });
});
