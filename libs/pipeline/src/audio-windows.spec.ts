import {
  centreToken,
  clipAudioWindows,
  planRender,
  type AudioFeatures,
  type RenderClip,
} from './index';

/** T tokens of D = 2 features: token i → (10·i, 10·i + 1). */
function features(tokens: number): AudioFeatures {
  const data = new Float32Array(tokens * 2);
  for (let i = 0; i < tokens; i++) {
    data[2 * i] = 10 * i;
    data[2 * i + 1] = 10 * i + 1;
  }
  return { data, tokens, dim: 2 };
}

const options = { tokens: 17, fps: 23, featureRate: 50, temporalStride: 4 };

describe('centreToken', () => {
  it('is the token holding the midpoint of the frames (worked by hand at 23 fps, 50 Hz)', () => {
    // frame 0 covers [0, 1/23): midpoint 0.5/23 s = 1.087 tokens → token 1
    expect(centreToken(0, 0, 23, 50)).toBe(1);
    // frames 1..4 cover [1/23, 5/23): midpoint 3/23 s = 6.52 tokens → token 6
    expect(centreToken(1, 4, 23, 50)).toBe(6);
    // frame 28: midpoint 28.5/23 s = 61.96 tokens → 61
    expect(centreToken(28, 28, 23, 50)).toBe(61);
    // exact boundary: frames 0..45 at 23 fps end at 2 s; midpoint 1 s = token 50 exactly
    expect(centreToken(0, 45, 23, 50)).toBe(50);
  });
});

describe('clipAudioWindows', () => {
  it('centres K = 17 tokens on each latent frame and masks what lies outside the audio', () => {
    const [clip] = planRender(13, { maxFramesPerClip: 33, temporalStride: 4 }) as [RenderClip];
    const w = clipAudioWindows(features(10), clip, options);
    expect(Array.from(w.firstToken)).toEqual([1 - 8, 6 - 8, 15 - 8, 23 - 8]);
    // latent 0: tokens −7..9 → 7 padding, then the 10 real tokens
    expect(Array.from(w.mask.subarray(0, 17))).toEqual([...Array(7).fill(0), ...Array(10).fill(1)]);
    expect(Array.from(w.audio.subarray(7 * 2, 8 * 2))).toEqual([0, 1]); // token 0
    expect(Array.from(w.audio.subarray(16 * 2, 17 * 2))).toEqual([90, 91]); // token 9
    expect(Array.from(w.audio.subarray(0, 14))).toEqual(Array(14).fill(0)); // padding is zero
    // latent 1: tokens −2..14 → 2 padding, tokens 0..9, 5 padding
    expect(Array.from(w.mask.subarray(17, 34))).toEqual([
      0,
      0,
      ...Array(10).fill(1),
      ...Array(5).fill(0),
    ]);
    expect(Array.from(w.audio.subarray((17 + 2) * 2, (17 + 3) * 2))).toEqual([0, 1]);
    // latent 3 (frames 9..12, centre floor(22·50/46) = 23): tokens 15..31, all past T = 10
    expect(Array.from(w.mask.subarray(51, 68))).toEqual(Array(17).fill(0));
  });

  it('uses the global timeline for later clips', () => {
    const clips = planRender(100, { maxFramesPerClip: 33, temporalStride: 4 });
    const second = clips[1] as RenderClip;
    const w = clipAudioWindows(features(200), second, options);
    // reference latent at frame 28 → centre 61; latent 1 = frames 29..32 → floor(62·50/46) = 67
    expect(w.firstToken[0]).toBe(61 - 8);
    expect(w.firstToken[1]).toBe(67 - 8);
    expect(Array.from(w.audio.subarray(0, 2))).toEqual([530, 531]); // token 53
    expect(Array.from(w.mask.subarray(0, 17))).toEqual(Array(17).fill(1));
    // the same frames get the same window whichever clip they are in: frames 29..32 were
    // latent 8 of the first clip's 9 (frames 29..32)
    const first = clipAudioWindows(features(200), clips[0] as RenderClip, options);
    expect(first.firstToken[8]).toBe(w.firstToken[1]);
    expect(Array.from(first.audio.subarray(8 * 34, 9 * 34))).toEqual(
      Array.from(w.audio.subarray(34, 68)),
    );
  });

  it('handles an even K with one more token after the centre', () => {
    const [clip] = planRender(1, { maxFramesPerClip: 33, temporalStride: 4 }) as [RenderClip];
    const w = clipAudioWindows(features(10), clip, { ...options, tokens: 4 });
    expect(w.firstToken[0]).toBe(0); // centre 1, one before, two after
    expect(Array.from(w.mask)).toEqual([1, 1, 1, 1]);
  });
});
