import { InferenceSession, Tensor } from 'onnxruntime-node';
import {
  REFERENCE_VAE,
  buildVaeDecoder,
  buildVaeEncoder,
  vaeGeometry,
  vaeLatentShape,
  type VaeOptions,
} from '../index';

/** Deterministic test data with awkward values: negatives, −0, subnormals, large magnitudes. */
function testVideo(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let state = seed >>> 0;
  for (let k = 0; k < size; k++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[k] = (state / 2 ** 31 - 1) * (k % 7 === 0 ? 1e30 : 1);
  }
  out[0] = -0;
  out[1] = 1e-40; // subnormal
  out[2] = -1;
  return out;
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

async function sessions(options: VaeOptions = {}): Promise<[InferenceSession, InferenceSession]> {
  return Promise.all([
    InferenceSession.create(buildVaeEncoder(options)),
    InferenceSession.create(buildVaeDecoder(options)),
  ]);
}

async function run(
  session: InferenceSession,
  name: string,
  data: Float32Array,
  dims: readonly number[],
): Promise<Tensor> {
  const outputs = await session.run({ [name]: new Tensor('float32', data, dims) });
  const out = outputs[session.outputNames[0] as string];
  if (!out) throw new Error('no output');
  return out;
}

describe('reference VAE geometry', () => {
  it('is ×4 in time, ×8 in space, with 768 latent channels', () => {
    expect(REFERENCE_VAE).toEqual({ spatialStride: 8, temporalStride: 4, latentChannels: 768 });
    expect(vaeGeometry({ spatialStride: 2, temporalStride: 1 })).toEqual({
      spatialStride: 2,
      temporalStride: 1,
      latentChannels: 12,
    });
    expect(() => vaeGeometry({ spatialStride: 0 })).toThrow(/spatialStride/);
    expect(() => vaeGeometry({ temporalStride: 1.5 })).toThrow(/temporalStride/);
  });

  it('maps video shapes to latent shapes and rejects ones that do not divide', () => {
    expect(vaeLatentShape([1, 3, 81, 512, 384])).toEqual([1, 768, 21, 64, 48]);
    expect(vaeLatentShape([1, 3, 1, 16, 16])).toEqual([1, 768, 1, 2, 2]);
    expect(vaeLatentShape([1, 3, 5, 4, 6], { spatialStride: 2, temporalStride: 1 })).toEqual([
      1, 12, 5, 2, 3,
    ]);
    expect(() => vaeLatentShape([1, 3, 80, 512, 512])).toThrow(/4n\+1/);
    expect(() => vaeLatentShape([1, 3, 81, 500, 512])).toThrow(/multiples of 8/);
    expect(() => vaeLatentShape([3, 81, 512, 512])).toThrow(/\[1, 3, F, H, W\]/);
  });
});

describe('reference VAE models', () => {
  let encoder: InferenceSession;
  let decoder: InferenceSession;

  beforeAll(async () => {
    [encoder, decoder] = await sessions();
  });

  afterAll(async () => {
    await Promise.all([encoder.release(), decoder.release()]);
  });

  it('declares the stage tensor names', () => {
    expect(encoder.inputNames).toEqual(['video']);
    expect(encoder.outputNames).toEqual(['latent']);
    expect(decoder.inputNames).toEqual(['latent']);
    expect(decoder.outputNames).toEqual(['video']);
  });

  it('round-trips a video bit-exactly, with the documented latent shape', async () => {
    for (const dims of [
      [1, 3, 9, 32, 48],
      [1, 3, 1, 16, 16],
      [1, 3, 13, 48, 16],
    ]) {
      const video = testVideo(
        dims.reduce((a, b) => a * b, 1),
        dims[2] as number,
      );
      const latent = await run(encoder, 'video', video, dims);
      expect(latent.dims).toEqual(vaeLatentShape(dims));
      const decoded = await run(decoder, 'latent', latent.data as Float32Array, latent.dims);
      expect(decoded.dims).toEqual(dims);
      expect(bits(decoded.data as Float32Array)).toEqual(bits(video));
      expect(Object.is((decoded.data as Float32Array)[0], -0)).toBe(true);
    }
  });

  it('lays channels out as c = ((dt·3 + rgb)·8 + dy)·8 + dx, repeating the first frame', async () => {
    const [F, H, W] = [9, 16, 32];
    const video = testVideo(3 * F * H * W, 3);
    const latent = await run(encoder, 'video', video, [1, 3, F, H, W]);
    const data = latent.data as Float32Array;
    const [, C, Fp, h, w] = latent.dims as [number, number, number, number, number];
    const s = 8;
    const t = 4;
    let checked = 0;
    for (let c = 0; c < C; c++) {
      const dx = c % s;
      const dy = Math.floor(c / s) % s;
      const rgb = Math.floor(c / (s * s)) % 3;
      const dt = Math.floor(c / (3 * s * s));
      for (let k = 0; k < Fp; k++) {
        const frame = Math.max(0, k * t + dt - (t - 1));
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const got = data[((c * Fp + k) * h + y) * w + x];
            const want = video[((rgb * F + frame) * H + y * s + dy) * W + x * s + dx];
            if (!Object.is(got, want))
              throw new Error(`latent[${c}, ${k}, ${y}, ${x}] = ${got}, expected ${want}`);
            checked++;
          }
        }
      }
    }
    expect(checked).toBe(data.length);
  });

  it('is a bijection: encode(decode(z)) == z', async () => {
    const dims = [1, 768, 3, 2, 3];
    const z = testVideo(
      dims.reduce((a, b) => a * b, 1),
      11,
    );
    // decode drops the three copies of the first frame, so only latent frame 0's newest block
    // (dt = 3) survives for frame 0; make the repeated blocks consistent first.
    for (let dt = 0; dt < 3; dt++) {
      for (let j = 0; j < 192; j++) {
        for (let p = 0; p < 6; p++)
          z[((dt * 192 + j) * 3 + 0) * 6 + p] = z[((3 * 192 + j) * 3 + 0) * 6 + p] as number;
      }
    }
    const video = await run(decoder, 'latent', z, dims);
    expect(video.dims).toEqual([1, 3, 9, 16, 24]);
    const again = await run(encoder, 'video', video.data as Float32Array, video.dims);
    expect(bits(again.data as Float32Array)).toEqual(bits(z));
  });

  it('rejects videos whose size does not divide by the strides', async () => {
    // a session of its own with logging off, so the expected failures do not clutter the output
    const quiet = await InferenceSession.create(buildVaeEncoder(), { logSeverityLevel: 4 });
    await expect(
      run(quiet, 'video', new Float32Array(3 * 9 * 20 * 16), [1, 3, 9, 20, 16]),
    ).rejects.toThrow(/Reshape/);
    await expect(
      run(quiet, 'video', new Float32Array(3 * 8 * 16 * 16), [1, 3, 8, 16, 16]),
    ).rejects.toThrow(/Reshape/);
    await quiet.release();
  });
});

describe('reference VAE with other strides', () => {
  it('round-trips with time stride 1 and space stride 2', async () => {
    const options = { spatialStride: 2, temporalStride: 1 };
    const [encoder, decoder] = await sessions(options);
    const dims = [1, 3, 5, 4, 6];
    const video = testVideo(3 * 5 * 4 * 6, 5);
    const latent = await run(encoder, 'video', video, dims);
    expect(latent.dims).toEqual([1, 12, 5, 2, 3]);
    // channel 0 is the top-left pixel of each 2×2 red block
    expect((latent.data as Float32Array)[1]).toBe(video[2]);
    const decoded = await run(decoder, 'latent', latent.data as Float32Array, latent.dims);
    expect(bits(decoded.data as Float32Array)).toEqual(bits(video));
    await Promise.all([encoder.release(), decoder.release()]);
  });
});
