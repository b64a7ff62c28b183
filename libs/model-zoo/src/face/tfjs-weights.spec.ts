import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTfjsWeights } from './tfjs-weights';

describe('readTfjsWeights', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tfjs-weights-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function write(weights: object[], shards: Buffer[]): Promise<string> {
    const paths = shards.map((_, i) => `group1-shard${i + 1}of${shards.length}.bin`);
    await Promise.all(shards.map((s, i) => writeFile(join(dir, paths[i] as string), s)));
    const manifest = join(dir, 'model-weights_manifest.json');
    await writeFile(manifest, JSON.stringify([{ paths, weights }]));
    return manifest;
  }

  it('decodes float32 and uint8/uint16-quantized weights across shards', async () => {
    const floats = Buffer.alloc(8);
    floats.writeFloatLE(1.5, 0);
    floats.writeFloatLE(-2.25, 4);
    const u16 = Buffer.alloc(2);
    u16.writeUInt16LE(1000, 0);
    const manifest = await write(
      [
        { name: 'a', shape: [2], dtype: 'float32' },
        {
          name: 'q8',
          shape: [1, 3],
          dtype: 'float32',
          quantization: { dtype: 'uint8', scale: 0.5, min: -1 },
        },
        {
          name: 'q16',
          shape: [1],
          dtype: 'float32',
          quantization: { dtype: 'uint16', scale: 0.001, min: 0 },
        },
      ],
      // shards split anywhere: the weights are one byte stream
      [Buffer.concat([floats, Buffer.from([0])]), Buffer.concat([Buffer.from([2, 255]), u16])],
    );
    const weights = await readTfjsWeights(manifest);
    expect(Array.from(weights.get('a')?.data ?? [])).toEqual([1.5, -2.25]);
    expect(weights.get('q8')).toEqual({ shape: [1, 3], data: Float32Array.of(-1, 0, 126.5) });
    expect(weights.get('q16')?.data[0]).toBeCloseTo(1, 6);
  });

  it('refuses files that do not hold exactly the listed weights', async () => {
    const short = await write([{ name: 'a', shape: [2], dtype: 'float32' }], [Buffer.alloc(6)]);
    await expect(readTfjsWeights(short)).rejects.toThrow(/weight a runs past the end/);
    const long = await write([{ name: 'a', shape: [1], dtype: 'float32' }], [Buffer.alloc(6)]);
    await expect(readTfjsWeights(long)).rejects.toThrow(/2 bytes left/);
    const f16 = await write(
      [{ name: 'h', shape: [1], dtype: 'float32', quantization: { dtype: 'float16' } }],
      [Buffer.alloc(2)],
    );
    await expect(readTfjsWeights(f16)).rejects.toThrow(/quantization float16 unsupported/);
  });
});
