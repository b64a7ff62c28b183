import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import sharp from 'sharp';
import { faceApiDemoPhoto } from './face-test-photos';
import {
  buildIdentityEncoder,
  faceApiWeightsManifest,
  identityEncoderModel,
} from './identity-encoder';
import { readTfjsWeights } from './tfjs-weights';

/** Face crops from the demo photos (regions around faces), 150×150 RGB bytes. */
interface Crop {
  photo: number;
  left: number;
  top: number;
  side: number;
}

const CROPS: Crop[] = [
  { photo: 1, left: 800, top: 420, side: 280 },
  { photo: 3, left: 1020, top: 220, side: 320 },
  { photo: 6, left: 1100, top: 310, side: 320 },
];

async function crop(c: Crop): Promise<Buffer> {
  return sharp(faceApiDemoPhoto(c.photo))
    .extract({ left: c.left, top: c.top, width: c.side, height: c.side })
    .resize(150, 150)
    .removeAlpha()
    .raw()
    .toBuffer();
}

/** 150×150×3 RGB bytes → the encoder's `face` input: planar, −1..1. */
function faceTensor(rgb: Uint8Array): Tensor {
  const data = new Float32Array(3 * 150 * 150);
  for (let p = 0; p < 150 * 150; p++) {
    for (let c = 0; c < 3; c++) data[c * 150 * 150 + p] = (rgb[p * 3 + c] as number) / 127.5 - 1;
  }
  return new Tensor('float32', data, [1, 3, 150, 150]);
}

interface FaceApiResult {
  version: string;
  backend: string;
  descriptors: number[][];
}

/** face-api's own FaceRecognitionNet (TensorFlow.js CPU) on the same crops, in a Node process. */
function faceApiDescriptors(crops: Buffer[]): Promise<FaceApiResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [join(__dirname, 'face-api-reference.mjs')],
      { maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`face-api-reference.mjs failed: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as FaceApiResult);
      },
    );
    child.stdin?.end(JSON.stringify({ crops: crops.map((c) => c.toString('base64')) }));
  });
}

describe('identityEncoderModel', () => {
  it('declares face [1, 3, 150, 150] → embedding [1, 128] and gives unit-length embeddings', async () => {
    const model = await identityEncoderModel();
    expect(model.inputs).toEqual([{ name: 'face', dtype: 'float32', shape: [1, 3, 150, 150] }]);
    expect(model.outputs).toEqual([{ name: 'embedding', dtype: 'float32', shape: [1, 128] }]);
    expect(model.source).toContain('@vladmandic/face-api@1.7.15');
    const session = await InferenceSession.create(model.bytes);
    const { embedding } = await session.run({ face: faceTensor(await crop(CROPS[0] as Crop)) });
    expect(embedding?.dims).toEqual([1, 128]);
    expect(Math.hypot(...(embedding?.data as Float32Array))).toBeCloseTo(1, 6);
    await session.release();
  });

  it('reproduces face-api’s own network on real face crops', async () => {
    const crops = await Promise.all(CROPS.map(crop));
    const reference = await faceApiDescriptors(crops);
    expect(reference.backend).toBe('cpu');
    const model = await identityEncoderModel({ rawDescriptor: true });
    const session = await InferenceSession.create(model.bytes);
    const ours: Float32Array[] = [];
    for (const [i, rgb] of crops.entries()) {
      const out = await session.run({ face: faceTensor(rgb) });
      const descriptor = out.descriptor?.data as Float32Array;
      const embedding = out.embedding?.data as Float32Array;
      const expected = reference.descriptors[i] as number[];
      const length = Math.hypot(...expected);
      expect(length).toBeGreaterThan(0.5); // a real descriptor, not zeros
      let maxDiff = 0;
      let maxUnitDiff = 0;
      expected.forEach((v, k) => {
        maxDiff = Math.max(maxDiff, Math.abs((descriptor[k] as number) - v));
        maxUnitDiff = Math.max(maxUnitDiff, Math.abs((embedding[k] as number) - v / length));
      });
      expect(maxDiff).toBeLessThan(1e-5);
      expect(maxUnitDiff).toBeLessThan(1e-5);
      ours.push(embedding);
    }
    // and the crops are different faces, so agreement is not a coincidence of constant output
    const cos = ours[0]?.reduce((s, v, k) => s + v * ((ours[1] as Float32Array)[k] as number), 0);
    expect(cos).toBeLessThan(0.97);
    await session.release();
  }, 120_000);

  it('refuses weights that do not match the network', async () => {
    const weights = await readTfjsWeights(faceApiWeightsManifest());
    const missing = new Map(weights);
    missing.delete('conv64_2/conv1/scale/weights');
    expect(() => buildIdentityEncoder(missing)).toThrow(/lack "conv64_2\/conv1\/scale\/weights"/);
    const reshaped = new Map(weights);
    reshaped.set('fc', { shape: [128, 256], data: weights.get('fc')?.data as Float32Array });
    expect(() => buildIdentityEncoder(reshaped)).toThrow(/"fc" has shape \[128,256\]/);
    const extra = new Map(weights);
    extra.set('bonus', { shape: [1], data: Float32Array.of(1) });
    expect(() => buildIdentityEncoder(extra)).toThrow(/not used: bonus/);
  });
});
