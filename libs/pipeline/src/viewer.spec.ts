// What a viewer would see: renders of the real reference pack from a real photo (a portrait cut
// from @vladmandic/face-api's demo photos) and espeak-ng speech, plus synthetic inputs, measured
// with testing/viewer-metrics. Small (128 px), few steps, 2.4 s of audio (4 clips): the numbers
// are printed at the end; the thresholds and why are in README.md ("Viewer tests").
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Mp4Encoder,
  alignFace,
  cosineSimilarity,
  decodeAudio,
  detectFaces,
  embedFace,
  loadModelPack,
  preparePortrait,
  probeMedia,
  readVideoFrames,
  render,
  type ModelPack,
  type Portrait,
  type RenderRequest,
} from './index';
import {
  faceApiDemoPhotos,
  frameAt,
  frameDifferences,
  frameLoudnessDb,
  makeSpeechWav,
  mean,
  meanAbsDifference,
  pearson,
  portraitCrop,
  regionMotion,
  scaleRect,
  seamRatio,
  toPixelRect,
  toneBursts,
  type PixelRect,
} from './testing';
import { MemorySink, TEST_FACE, syntheticImage, testPackDir } from './test-pack';

jest.setTimeout(300_000);

const SIZE = 128;
const STEPS = 3;
const SECONDS = 2.4;
const SEED = 7;

let pack: ModelPack;
let dir: string;
let portraitJpeg: Buffer;
let portrait: Portrait;
let speech: Float32Array;
let speechWav: string;
/** Identity embeddings of other people in the demo photos. */
const others: Float32Array[] = [];
let mouth: PixelRect;
let eyes: PixelRect;
let face: PixelRect;
const measured: Record<string, unknown> = {};

/** The mouth: 0.6 face widths wide around the mouth keypoint, from 0.1 above to 0.3 face heights below. */
function regionsOf(p: Portrait, width: number, height: number): void {
  face = toPixelRect(p.faceBox, width, height);
  const fw = face.x1 - face.x0;
  const fh = face.y1 - face.y0;
  const m = p.faceKeypoints[3] as { x: number; y: number };
  mouth = {
    x0: m.x * width - 0.3 * fw,
    x1: m.x * width + 0.3 * fw,
    y0: m.y * height - 0.1 * fh,
    y1: m.y * height + 0.3 * fh,
  };
  // The eye band (above the jaw's reach): moves only with the head.
  const ey = ((p.faceKeypoints[0]!.y + p.faceKeypoints[1]!.y) / 2) * height;
  eyes = { x0: face.x0, x1: face.x1, y0: ey - 0.15 * fh, y1: ey + 0.15 * fh };
}

function request(overrides: Partial<RenderRequest> = {}): RenderRequest {
  return {
    pack,
    image: portrait.image,
    audio: { sampleRate: pack.geometry.sampleRate, samples: speech },
    faceBox: portrait.faceBox,
    faceKeypoints: portrait.faceKeypoints,
    identity: portrait.identity ?? null,
    prompt: 'A person is talking.',
    seed: SEED,
    steps: STEPS,
    ...overrides,
  };
}

interface Rendered {
  bytes: Uint8Array;
  writes: number[];
  frames: number;
  clips: number;
}
/** Renders shared between tests (a render costs seconds on 2 shared cores), by a name for the request. */
const renders = new Map<string, Promise<Rendered>>();

function renderOnce(key: string, overrides: Partial<RenderRequest>): Promise<Rendered> {
  let found = renders.get(key);
  if (!found) {
    found = renderFrames(overrides);
    renders.set(key, found);
  }
  return found;
}

/** Speech, expression and body as given (the photo's audio, seed 7, 3 steps otherwise). */
function motionRender(expression: number, body: number): Promise<Rendered> {
  return renderOnce(`expression ${expression} body ${body}`, { expression, body });
}

async function renderFrames(overrides: Partial<RenderRequest> = {}): Promise<Rendered> {
  const sink = new MemorySink();
  const result = await render(request(overrides), { sink });
  const frameBytes = result.width * result.height * 3;
  return {
    bytes: sink.bytes,
    writes: sink.writes.map((w) => w.length / frameBytes),
    frames: result.frames,
    clips: result.clips,
  };
}

const round = (v: number, digits = 3): number => Number(v.toFixed(digits));

beforeAll(async () => {
  pack = await loadModelPack(testPackDir());
  dir = await mkdtemp(join(tmpdir(), 'likeness-viewer-'));
  const photos = faceApiDemoPhotos();
  const detector = pack.stages.faceDetector.session;
  // The avatar: the larger face of sample3 (244 px in the 1920 px photo), cut out as a portrait.
  const group = await detectFaces(detector, photos[2] as string);
  portraitJpeg = await portraitCrop(photos[2] as string, group.faces[0]!.box);
  portrait = await preparePortrait(pack, portraitJpeg, { maxSide: SIZE });
  regionsOf(portrait, portrait.image.width, portrait.image.height);
  // Other people: the best face of three other photos.
  for (const n of [0, 3, 5]) {
    const photo = photos[n] as string;
    const found = await detectFaces(detector, photo);
    const aligned = await alignFace(photo, found.faces[0]!);
    others.push(await embedFace(pack.stages.identityEncoder.session, aligned));
  }
  speechWav = join(dir, 'speech.wav');
  await makeSpeechWav('Hello there, this is a quick test of the talking portrait.', speechWav, {
    durationSeconds: SECONDS,
  });
  speech = (await decodeAudio(speechWav, { sampleRate: pack.geometry.sampleRate })).samples;
});

afterAll(async () => {
  // One block of numbers for the README and the report.
  console.log(`viewer measurements:\n${JSON.stringify(measured, null, 1)}`);
  await pack?.release();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('what a viewer sees', () => {
  it('moves the mouth with the loudness of the speech, frame by frame; audio delayed by 0.5 s does not fit', async () => {
    const { width, height } = portrait.image;
    const reference = portrait.image.srgb;
    const fps = pack.geometry.fps;
    const rate = pack.geometry.sampleRate;
    // The track the viewer hears, against mouths rendered from it and from it delayed by 0.5 s.
    const shifted = new Float32Array(speech.length);
    shifted.set(speech.subarray(0, speech.length - rate / 2), rate / 2);
    const r: Record<string, number> = {};
    for (const [name, samples] of [
      ['aligned', speech],
      ['shifted by 0.5 s', shifted],
    ] as const) {
      const out =
        samples === speech
          ? await motionRender(1, 0)
          : await renderFrames({ audio: { sampleRate: rate, samples }, expression: 1, body: 0 });
      const motion = regionMotion(out.bytes, reference, width, height, mouth);
      const loudness = frameLoudnessDb(speech, rate, fps, out.frames);
      // Frame 0 is the photo itself (a known frame): left out.
      r[name] = round(pearson(motion.subarray(1), loudness.subarray(1)));
    }
    measured['mouth motion vs loudness, Pearson r'] = r;
    expect(r['aligned']).toBeGreaterThan(0.7);
    expect(r['shifted by 0.5 s']).toBeLessThan(r['aligned']! - 0.3);
  });

  it('follows tone bursts on a synthetic portrait too (64 px)', async () => {
    const rate = pack.geometry.sampleRate;
    const SIDE = 64;
    const image = syntheticImage(SIDE, SIDE, pack.geometry.imageEncoderWidth);
    const starts = [0.1, 0.55, 0.8, 1.3, 1.75, 2.0];
    const lengths = [0.25, 0.15, 0.3, 0.2, 0.12, 0.3];
    const bursts = toneBursts({
      durationSeconds: SECONDS,
      sampleRate: rate,
      bursts: starts.map((start, i) => ({ start, duration: lengths[i]!, amplitude: 0.5 })),
    });
    const sink = new MemorySink();
    const result = await render(
      {
        ...request(),
        image,
        audio: { sampleRate: rate, samples: bursts.samples },
        faceBox: TEST_FACE.faceBox,
        faceKeypoints: TEST_FACE.faceKeypoints,
        expression: 1,
        body: 0,
      },
      { sink },
    );
    // The picture as bytes, as the frames are.
    const plane = SIDE * SIDE;
    const reference = new Uint8Array(3 * plane);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) {
        reference[3 * p + c] = Math.min(
          255,
          Math.max(0, Math.round((image.pixels[c * plane + p]! + 1) * 127.5)),
        );
      }
    }
    const [bx0, by0, bx1, by1] = TEST_FACE.faceBox;
    const [mx, my] = TEST_FACE.faceKeypoints[3]!;
    const fw = (bx1 - bx0) * SIDE;
    const fh = (by1 - by0) * SIDE;
    const rect = {
      x0: mx * SIDE - 0.3 * fw,
      x1: mx * SIDE + 0.3 * fw,
      y0: my * SIDE - 0.1 * fh,
      y1: my * SIDE + 0.3 * fh,
    };
    const motion = regionMotion(sink.bytes, reference, SIDE, SIDE, rect);
    const loudness = frameLoudnessDb(bursts.samples, rate, pack.geometry.fps, result.frames);
    const r = pearson(motion.subarray(1), loudness.subarray(1));
    measured['synthetic portrait + tone bursts, Pearson r'] = round(r);
    expect(r).toBeGreaterThan(0.8);
    // Silent frames keep the mouth closed: their motion is the grain floor, below any burst frame's.
    const silent = [...loudness.keys()].filter((k) => k > 0 && loudness[k]! <= -79);
    const loud = [...loudness.keys()].filter((k) => k > 0 && loudness[k]! > -15);
    expect(Math.max(...silent.map((k) => motion[k]!))).toBeLessThan(
      Math.min(...loud.map((k) => motion[k]!)),
    );
  });

  it('gives more mouth motion for more expression and more head motion for more body', async () => {
    const { width, height } = portrait.image;
    const reference = portrait.image.srgb;
    const levels = [0, 0.5, 1];
    const mouthByExpression: number[] = [];
    const eyesByExpression: number[] = [];
    const eyesByBody: number[] = [];
    const mouthByBody: number[] = [];
    for (const expression of levels) {
      const out = await motionRender(expression, 0);
      mouthByExpression.push(mean(regionMotion(out.bytes, reference, width, height, mouth)));
      eyesByExpression.push(mean(regionMotion(out.bytes, reference, width, height, eyes)));
    }
    for (const body of levels) {
      const out = await motionRender(0, body);
      eyesByBody.push(mean(regionMotion(out.bytes, reference, width, height, eyes)));
      mouthByBody.push(mean(regionMotion(out.bytes, reference, width, height, mouth)));
    }
    measured['mean |frame − photo| (0–255) at expression 0 / 0.5 / 1 (body 0)'] = {
      mouth: mouthByExpression.map((v) => round(v, 2)),
      eyes: eyesByExpression.map((v) => round(v, 2)),
    };
    measured['mean |frame − photo| (0–255) at body 0 / 0.5 / 1 (expression 0)'] = {
      eyes: eyesByBody.map((v) => round(v, 2)),
      mouth: mouthByBody.map((v) => round(v, 2)),
    };
    // Monotone, each level clearly above the last (the grain floor alone is ~7).
    for (let i = 1; i < levels.length; i++) {
      expect(mouthByExpression[i]! - mouthByExpression[i - 1]!).toBeGreaterThan(1);
      expect(eyesByBody[i]! - eyesByBody[i - 1]!).toBeGreaterThan(1);
    }
    // Expression moves the jaw, not the head.
    expect(Math.max(...eyesByExpression) - Math.min(...eyesByExpression)).toBeLessThan(0.5);
  });

  describe('a 4-clip render (8 steps, shift 1: little grain, so a seam would stand out)', () => {
    let out: Rendered;

    beforeAll(async () => {
      out = await renderFrames({ steps: 8, shift: 1 });
    });

    it('has no seam at the clip joins, where frames skipped at a join would show', () => {
      const { width, height } = portrait.image;
      expect(out.clips).toBeGreaterThanOrEqual(3);
      const joins: number[] = [];
      let at = 0;
      for (const n of out.writes.slice(0, -1)) joins.push((at += n));
      const seam = seamRatio(frameDifferences(out.bytes, width, height), joins);
      // The same frames with one frame dropped at each join: a jump a viewer would notice.
      const frameBytes = width * height * 3;
      const parts: Uint8Array[] = [];
      const brokenJoins: number[] = [];
      let from = 0;
      for (const j of joins) {
        parts.push(out.bytes.subarray(from * frameBytes, j * frameBytes));
        brokenJoins.push(
          (brokenJoins.length ? brokenJoins[brokenJoins.length - 1]! : 0) + j - from,
        );
        from = j + 1;
      }
      parts.push(out.bytes.subarray(from * frameBytes));
      const broken = seamRatio(frameDifferences(Buffer.concat(parts), width, height), brokenJoins);
      measured['seam: max frame difference at joins / median elsewhere'] = {
        clips: out.clips,
        joins,
        ratio: round(seam.ratio),
        joinMax: round(seam.joinMax, 2),
        medianElsewhere: round(seam.medianElsewhere, 2),
        'ratio with a frame dropped at each join': round(broken.ratio),
      };
      expect(seam.ratio).toBeLessThanOrEqual(1.5);
      expect(broken.ratio).toBeGreaterThan(1.5);
    });

    it('outside the face, every frame is the photo', () => {
      const { width, height } = portrait.image;
      const reference = portrait.image.srgb;
      const outside = scaleRect(face, 1.5);
      const perFrame: number[] = [];
      const frameBytes = width * height * 3;
      const average = new Float64Array(frameBytes);
      for (let k = 0; k < out.frames; k++) {
        const frame = frameAt(out.bytes, width, height, k);
        perFrame.push(meanAbsDifference(frame, reference, width, height, { outside }));
        for (let i = 0; i < frameBytes; i++) average[i]! += frame[i]! / out.frames;
      }
      const averaged = Uint8Array.from(average, (v) => Math.round(v));
      const outsideOfAverage = meanAbsDifference(averaged, reference, width, height, { outside });
      const insideOfAverage = meanAbsDifference(averaged, reference, width, height, {
        inside: face,
      });
      measured['outside 1.5× the face box: mean |frame − photo| (0–255)'] = {
        worstFrame: round(Math.max(...perFrame), 2),
        meanOverFrames: round(mean(perFrame), 2),
        ofTheAverageFrame: round(outsideOfAverage, 2),
        'inside the face box, of the average frame': round(insideOfAverage, 2),
      };
      // Per frame only the seed's grain (≈ 2–3 at 8 steps); averaged over frames it cancels.
      expect(Math.max(...perFrame)).toBeLessThan(4);
      expect(outsideOfAverage).toBeLessThan(1.5);
      // …while the face itself does move.
      expect(insideOfAverage).toBeGreaterThan(3 * outsideOfAverage);
    });

    it('keeps the identity: output faces match the photo, and other people do not', async () => {
      const { width, height } = portrait.image;
      const same: number[] = [];
      const other: number[] = [];
      for (let k = 1; k < out.frames; k += 4) {
        const frame = { width, height, data: frameAt(out.bytes, width, height, k).slice() };
        const found = await detectFaces(pack.stages.faceDetector.session, frame);
        expect(found.faces.length).toBeGreaterThan(0);
        const embedding = await embedFace(
          pack.stages.identityEncoder.session,
          await alignFace(frame, found.faces[0]!),
        );
        same.push(cosineSimilarity(embedding, portrait.identity!));
        for (const o of others) other.push(cosineSimilarity(embedding, o));
      }
      measured['identity cosine of output frames'] = {
        frames: same.length,
        'vs the photo: min': round(Math.min(...same)),
        'vs the photo: mean': round(mean(same)),
        'vs 3 other people: max': round(Math.max(...other)),
        'vs 3 other people: mean': round(mean(other)),
      };
      // dlib's encoder: the same face in another crop/light ≥ 0.97, different people 0.80–0.96
      // (the demo photos are all young women). Every output frame is nearer the photo than any
      // other person is, and on average clearly so.
      expect(Math.min(...same)).toBeGreaterThan(0.92);
      expect(Math.min(...same)).toBeGreaterThan(Math.max(...other));
      expect(mean(same) - mean(other)).toBeGreaterThan(0.05);
    });
  });

  it('writes an MP4 that probes right; the same seed gives identical frames, another seed not', async () => {
    const small = await preparePortrait(pack, portraitJpeg, { maxSide: 64 });
    const photo = join(dir, 'portrait.jpg');
    await writeFile(photo, portraitJpeg);
    const encode = async (seed: number, name: string): Promise<string> => {
      const path = join(dir, name);
      const encoder = new Mp4Encoder({
        path,
        width: small.image.width,
        height: small.image.height,
        fps: pack.geometry.fps,
        audioPath: speechWav,
      });
      await render(
        {
          ...request(),
          image: small.image,
          faceBox: small.faceBox,
          faceKeypoints: small.faceKeypoints,
          seed,
          steps: 2,
        },
        { sink: encoder },
      );
      await encoder.finish();
      return path;
    };
    const frames = async (path: string): Promise<Buffer> => {
      const all: Uint8Array[] = [];
      for await (const f of readVideoFrames(path)) all.push(f.data.slice());
      return Buffer.concat(all);
    };
    const a = await encode(7, 'a.mp4');
    const b = await encode(7, 'b.mp4');
    const c = await encode(8, 'c.mp4');
    const probed = await probeMedia(a);
    const fps = pack.geometry.fps;
    measured['MP4 (64 px, 2 steps)'] = {
      duration: probed.durationSeconds,
      audio: SECONDS,
      fps: probed.video?.fps,
      size: `${probed.video?.width}×${probed.video?.height}`,
      frames: probed.video?.frameCount,
    };
    expect(probed.video).toMatchObject({
      codec: 'h264',
      pixFmt: 'yuv420p',
      width: small.image.width,
      height: small.image.height,
      fps,
    });
    expect(probed.audio?.codec).toBe('aac');
    expect(Math.abs((probed.durationSeconds ?? 0) - SECONDS)).toBeLessThanOrEqual(1 / fps);
    expect(Math.abs((probed.video?.frameCount ?? 0) / fps - SECONDS)).toBeLessThanOrEqual(1 / fps);
    const [fa, fb, fc] = await Promise.all([frames(a), frames(b), frames(c)]);
    expect(fa.length).toBe(
      (probed.video?.frameCount ?? 0) * small.image.width * small.image.height * 3,
    );
    expect(Buffer.compare(fa, fb)).toBe(0);
    expect(Buffer.compare(fa, fc)).not.toBe(0);
  });
});
