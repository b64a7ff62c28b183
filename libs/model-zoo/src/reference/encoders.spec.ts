import { InferenceSession, Tensor } from 'onnxruntime-node';
import { IMAGE_SIZE, IMAGE_TOKENS, IMAGE_TOKEN_DIM, buildImageEncoder } from './image-encoder';
import { TEXT_DIM, TEXT_TOKENS, buildTextEncoder } from './text-encoder';

describe('reference image encoder', () => {
  let session: InferenceSession;
  beforeAll(async () => {
    session = await InferenceSession.create(buildImageEncoder());
  });
  afterAll(async () => {
    await session.release();
  });

  async function tokens(image: Float32Array): Promise<Float32Array> {
    const { tokens: out } = await session.run({
      image: new Tensor('float32', image, [1, 3, IMAGE_SIZE, IMAGE_SIZE]),
    });
    expect(out?.dims).toEqual([1, IMAGE_TOKENS, IMAGE_TOKEN_DIM]);
    return out?.data as Float32Array;
  }

  it('describes each 14-px patch by its mean colour and quadrant colours; token 0 is the mean', async () => {
    const plane = IMAGE_SIZE * IMAGE_SIZE;
    const image = new Float32Array(3 * plane);
    // left 7 columns of every patch red, the rest blue
    for (let y = 0; y < IMAGE_SIZE; y++) {
      for (let x = 0; x < IMAGE_SIZE; x++) {
        const left = x % 14 < 7;
        image[y * IMAGE_SIZE + x] = left ? 1 : -1;
        image[2 * plane + y * IMAGE_SIZE + x] = left ? -1 : 1;
      }
    }
    const t = await tokens(image);
    const patch = Array.from(t.subarray(IMAGE_TOKEN_DIM * 5, IMAGE_TOKEN_DIM * 6)); // token 5
    const close = (a: number[], b: number[]): void =>
      a.forEach((v, i) => expect(v).toBeCloseTo(b[i] as number, 5));
    close(patch.slice(0, 3), [0, 0, 0]); // mean colour
    close(patch.slice(3, 6), [1, 0, -1]); // top-left quadrant
    close(patch.slice(6, 9), [-1, 0, 1]); // top-right quadrant
    close(patch.slice(9, 12), [1, 0, -1]); // bottom-left
    close(patch.slice(12, 15), [-1, 0, 1]); // bottom-right
    // class token = mean of the patch tokens (here all alike)
    close(Array.from(t.subarray(0, IMAGE_TOKEN_DIM)), patch);
    // a uniform image has no centre–surround contrast
    const flat = await tokens(new Float32Array(3 * plane).fill(0.3));
    expect(flat[IMAGE_TOKEN_DIM + 15]).toBeCloseTo(0, 6);
  });
});

describe('reference text encoder', () => {
  let session: InferenceSession;
  beforeAll(async () => {
    session = await InferenceSession.create(buildTextEncoder());
  });
  afterAll(async () => {
    await session.release();
  });

  /** The byte tokenizer of the contract: id = byte + 1, 0 = padding, L = 128. */
  async function encode(text: string, extra: Record<number, bigint> = {}): Promise<Float32Array> {
    const ids = new BigInt64Array(TEXT_TOKENS);
    const mask = new BigInt64Array(TEXT_TOKENS);
    [...Buffer.from(text, 'utf8')].slice(0, TEXT_TOKENS).forEach((b, i) => {
      ids[i] = BigInt(b + 1);
      mask[i] = 1n;
    });
    for (const [i, id] of Object.entries(extra)) {
      ids[Number(i)] = id;
      mask[Number(i)] = 1n;
    }
    const { context } = await session.run({
      input_ids: new Tensor('int64', ids, [1, TEXT_TOKENS]),
      attention_mask: new Tensor('int64', mask, [1, TEXT_TOKENS]),
    });
    expect(context?.dims).toEqual([1, TEXT_TOKENS, TEXT_DIM]);
    return context?.data as Float32Array;
  }

  const row = (c: Float32Array, i: number): number[] =>
    Array.from(c.subarray(i * TEXT_DIM, (i + 1) * TEXT_DIM));
  const norm = (v: number[]): number => Math.hypot(...v);

  it('embeds real tokens, zeros padding, and tells bytes and positions apart', async () => {
    const c = await encode('aab');
    expect(norm(row(c, 0))).toBeGreaterThan(1);
    expect(norm(row(c, 3))).toBe(0); // padding
    // same byte at two positions: close but not equal (position code); another byte: far
    const sameByte = norm(row(c, 0).map((v, k) => v - (row(c, 1)[k] as number)));
    const otherByte = norm(row(c, 1).map((v, k) => v - (row(c, 2)[k] as number)));
    expect(sameByte).toBeGreaterThan(0);
    expect(otherByte).toBeGreaterThan(sameByte);
    // deterministic, and out-of-range ids are clamped rather than failing
    expect(Array.from(await encode('aab'))).toEqual(Array.from(c));
    const clamped = await encode('', { 0: 999n });
    expect(row(clamped, 0)).toEqual(row(await encode('', { 0: 256n }), 0));
    expect(norm(row(clamped, 0))).toBeGreaterThan(0);
  });
});
