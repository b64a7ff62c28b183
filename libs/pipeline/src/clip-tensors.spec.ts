import {
  buildCondition,
  crossFade,
  crossFadeWeights,
  emitFrames,
  latentFrame,
  planRender,
  videoFrame,
  type RenderClip,
} from './index';

describe('buildCondition', () => {
  it('marks known latent frames in the t mask channels and copies their latents (worked by hand)', async () => {
    // C = 2 channels, F' = 3, 1 × 2 cells, t = 2 mask channels; frames 0 and 2 known.
    const g = { channels: 2, latentFrames: 3, height: 1, width: 2 };
    const known = new Map([
      [0, Float32Array.from([1, 2, 3, 4])], // [C=2][h·w=2]
      [2, Float32Array.from([5, 6, 7, 8])],
    ]);
    const out = await buildCondition(g, 2, known);
    // layout [t + C = 4][F' = 3][2]
    expect(Array.from(out)).toEqual([
      ...[1, 1, 0, 0, 1, 1], // mask channel 0
      ...[1, 1, 0, 0, 1, 1], // mask channel 1
      ...[1, 2, 0, 0, 5, 6], // latent channel 0
      ...[3, 4, 0, 0, 7, 8], // latent channel 1
    ]);
    await expect(buildCondition(g, 2, new Map([[3, new Float32Array(4)]]))).rejects.toThrow(
      /latent frame 3/,
    );
    await expect(buildCondition(g, 2, new Map([[0, new Float32Array(3)]]))).rejects.toThrow(
      /3 values/,
    );
  });

  it('latentFrame reads back one frame [C, h, w]', async () => {
    const g = { channels: 2, latentFrames: 3, height: 1, width: 1 };
    // [C=2][F'=3]: channel 0 = 0,1,2; channel 1 = 10,11,12
    const latent = Float32Array.from([0, 1, 2, 10, 11, 12]);
    expect(Array.from(await latentFrame(latent, g, 2))).toEqual([2, 12]);
  });
});

describe('cross-fade', () => {
  it('ramps the incoming clip in as (k + 1)/(n + 1)', () => {
    expect(Array.from(crossFadeWeights(4))).toEqual([0.2, 0.4, 0.6, 0.8]);
    expect(
      Array.from(crossFade(Float32Array.from([0, 1]), Float32Array.from([1, -1]), 0.25)),
    ).toEqual([0.25, 0.5]);
  });

  it('blends the held-back tail into the next clip and holds back the new tail (worked by hand)', async () => {
    // 14 frames, clips of 9 frames, o = 1: clip 0 frames 0..8; clip 1 origin 4: frames 5..12;
    // clip 2 origin 8: frames 9..16 (14..16 past the end).
    const clips = planRender(14, { maxFramesPerClip: 9, temporalStride: 4 });
    const [c0, c1, c2] = clips as [RenderClip, RenderClip, RenderClip];
    // 1 × 1 pixel frames, planar [3, F, 1, 1]; clip 0 frame j is −0.9 + 0.2·j, clip 1 is 0.9.
    const video0 = new Float32Array(3 * 9);
    for (let c = 0; c < 3; c++) for (let j = 0; j < 9; j++) video0[c * 9 + j] = -0.9 + 0.2 * j;
    const out0 = await emitFrames(c0, c1, video0, undefined, 1, 1);
    // frames 0..4 written: −0.9 … −0.1 → (v + 1)·127.5 = 12.75, 38.25, 63.75, 89.25, 114.75
    expect(Array.from(out0.bytes.filter((_, k) => k % 3 === 0))).toEqual([13, 38, 64, 89, 115]);
    // frames 5..8 are held back for clip 1
    expect(out0.tail.map((f) => Number((f[0] as number).toFixed(5)))).toEqual([0.1, 0.3, 0.5, 0.7]);

    const video1 = new Float32Array(3 * 9).fill(0.9);
    const out1 = await emitFrames(c1, c2, video1, { latents: [], tail: out0.tail }, 1, 1);
    // frames 5..8: (1 − w)·tail + w·0.9, w = .2 .4 .6 .8 → 0.26, 0.54, 0.74, 0.86
    //   → 160.65, 196.35, 221.85, 237.15
    expect(Array.from(out1.bytes.filter((_, k) => k % 3 === 0))).toEqual([161, 196, 222, 237]);
    expect(out1.tail).toHaveLength(4); // frames 9..12 wait for clip 2

    const video2 = new Float32Array(3 * 9).fill(-1);
    const out2 = await emitFrames(c2, undefined, video2, { latents: [], tail: out1.tail }, 1, 1);
    // frames 9..12: (1 − w)·0.9 − w → 0.52, 0.14, −0.24, −0.62 → 193.8, 145.35, 96.9, 48.45;
    // frame 13 is clip 2's own −1 → 0; frames 14..16 are past the end
    expect(Array.from(out2.bytes.filter((_, k) => k % 3 === 0))).toEqual([194, 145, 97, 48, 0]);
    expect(out2.tail).toHaveLength(0);
  });
});

describe('videoFrame', () => {
  it('reads frame j of [3, F, H, W] as planar [3, H, W]', () => {
    const video = Float32Array.from({ length: 3 * 2 * 2 }, (_, k) => k); // [3][F=2][plane=2]
    expect(Array.from(videoFrame(video, 2, 2, 1))).toEqual([2, 3, 6, 7, 10, 11]);
  });
});
