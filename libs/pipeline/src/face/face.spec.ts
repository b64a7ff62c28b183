// Face detection, alignment and identity embeddings with the real models: BlazeFace (front) and
// the identity encoder converted from face-api's dlib ResNet, on the photos face-api ships.
import { InferenceSession } from 'onnxruntime-node';
import sharp from 'sharp';
import { PipelineInputError } from '../errors';
import {
  type AlignedFace,
  IDENTITY_CROP_PADDING,
  IDENTITY_CROP_SIZE,
  alignFace,
} from './align-face';
import type { FacePoint } from './blazeface';
import { chooseFace } from './choose-face';
import { detectFaces } from './detect-faces';
import { cosineSimilarity, embedFace } from './embed-face';
import { FaceError } from './face.errors';
import { demoPhoto, faceTestModels } from './face-test-models';
import type { DetectedFace } from './face.types';
import { loadRgbImage } from './image';

let detector: InferenceSession;
let encoder: InferenceSession;

beforeAll(async () => {
  const files = faceTestModels();
  // logSeverityLevel 3: the packaged BlazeFace file carries three unused initializers that
  // onnxruntime warns about on every load.
  detector = await InferenceSession.create(files.faceDetector, { logSeverityLevel: 3 });
  encoder = await InferenceSession.create(files.identityEncoder);
}, 180_000);

afterAll(async () => {
  await detector?.release();
  await encoder?.release();
});

async function faceErrorOf(promise: Promise<unknown>): Promise<FaceError> {
  try {
    await promise;
  } catch (e) {
    if (e instanceof FaceError) return e;
    throw e;
  }
  throw new Error('expected a FaceError');
}

const centre = (f: DetectedFace): { x: number; y: number } => ({
  x: (f.box.x0 + f.box.x1) / 2,
  y: (f.box.y0 + f.box.y1) / 2,
});

/** sample2.jpg around its one frontal face (the woman on the right), upright, 600 × 700. */
async function portrait(): Promise<Buffer> {
  return sharp(demoPhoto(2))
    .extract({ left: 1255, top: 0, width: 600, height: 700 })
    .jpeg({ quality: 95 })
    .toBuffer();
}

function expectPlausibleFace(face: DetectedFace, width: number, height: number): void {
  expect(face.keypoints).toHaveLength(6);
  const [rightEye, leftEye, nose, mouth] = face.keypoints as [
    FacePoint,
    FacePoint,
    FacePoint,
    FacePoint,
  ];
  // The subject's right eye is on the image's left; the eyes and the nose above the mouth.
  expect(rightEye.x).toBeLessThan(leftEye.x);
  expect(Math.max(rightEye.y, leftEye.y)).toBeLessThan(mouth.y);
  expect(nose.y).toBeLessThan(mouth.y);
  for (const p of [rightEye, leftEye, nose, mouth]) {
    expect(p.x).toBeGreaterThanOrEqual(face.box.x0);
    expect(p.x).toBeLessThanOrEqual(face.box.x1);
    expect(p.y).toBeGreaterThanOrEqual(face.box.y0);
    expect(p.y).toBeLessThanOrEqual(face.box.y1);
  }
  expect(face.score).toBeGreaterThanOrEqual(0.75);
  expect(face.normalized.box.x0).toBeCloseTo(face.box.x0 / width, 9);
  expect(face.normalized.keypoints[3]?.y).toBeCloseTo(mouth.y / height, 9);
}

describe('detectFaces', () => {
  it('finds each person of a group photo at their place, best first', async () => {
    const found = await detectFaces(detector, demoPhoto(1));
    expect([found.width, found.height]).toEqual([1920, 1280]);
    // Three women, left to right (centres read off the photo by eye).
    const byX = [...found.faces].sort((a, b) => centre(a).x - centre(b).x);
    expect(byX).toHaveLength(3);
    [
      { x: 515, y: 500 },
      { x: 940, y: 555 },
      { x: 1555, y: 340 },
    ].forEach((expected, k) => {
      const c = centre(byX[k] as DetectedFace);
      expect(Math.hypot(c.x - expected.x, c.y - expected.y)).toBeLessThan(60);
    });
    for (const face of found.faces) expectPlausibleFace(face, found.width, found.height);
    const scores = found.faces.map((f) => f.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));

    const six = await detectFaces(detector, demoPhoto(6));
    expect(six.faces).toHaveLength(4);
    for (const face of six.faces) expectPlausibleFace(face, six.width, six.height);
  });

  it('finds a face again at the same place in a crop of the photo', async () => {
    const whole = (await detectFaces(detector, demoPhoto(2))).faces[0] as DetectedFace;
    const crop = await detectFaces(detector, await portrait());
    expect([crop.width, crop.height]).toEqual([600, 700]);
    expect(crop.faces).toHaveLength(1);
    const face = crop.faces[0] as DetectedFace;
    expectPlausibleFace(face, 600, 700);
    // the crop starts at (1255, 0) of the photo
    expect(Math.abs(centre(face).x + 1255 - centre(whole).x)).toBeLessThan(6);
    expect(Math.abs(centre(face).y - centre(whole).y)).toBeLessThan(6);
    expect(Math.abs(face.size - whole.size)).toBeLessThan(0.1 * whole.size);
  });

  it('applies the EXIF orientation of a photo stored sideways', async () => {
    const upright = await portrait();
    // Pixels stored turned 90° anticlockwise; orientation 6 says "turn clockwise to view".
    const sideways = await sharp(upright)
      .rotate(270)
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 95 })
      .toBuffer();
    const stored = await sharp(sideways).metadata();
    expect([stored.width, stored.height, stored.orientation]).toEqual([700, 600, 6]);

    const expected = (await detectFaces(detector, upright)).faces[0] as DetectedFace;
    const found = await detectFaces(detector, sideways);
    expect([found.width, found.height]).toEqual([600, 700]);
    expect(found.faces).toHaveLength(1);
    const face = found.faces[0] as DetectedFace;
    for (const k of ['x0', 'y0', 'x1', 'y1'] as const) {
      expect(Math.abs(face.box[k] - expected.box[k])).toBeLessThan(4);
    }
    expectPlausibleFace(face, 600, 700);
  });

  it('finds a face cut by the border, clamped to the photo, with its full size', async () => {
    // sample2's face spans x 1454–1655; start the crop 60 px into it
    const cut = await sharp(demoPhoto(2))
      .extract({ left: 1514, top: 0, width: 406, height: 600 })
      .png()
      .toBuffer();
    const found = await detectFaces(detector, cut);
    expect(found.faces).toHaveLength(1);
    const face = found.faces[0] as DetectedFace;
    expect(face.box.x0).toBe(0);
    expect(face.normalized.box.x0).toBe(0);
    expect(face.size).toBeGreaterThan(face.box.x1 - face.box.x0 + 30);
    for (const p of face.keypoints) expect(p.x).toBeGreaterThanOrEqual(0);
  });

  it('finds no face in a landscape or in a part of a photo without people', async () => {
    const width = 320;
    const height = 200;
    const landscape = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const hill = y > 130 + 20 * Math.sin(x / 40);
        const sun = Math.hypot(x - 250, y - 50) < 18;
        const rgb = sun
          ? [255, 230, 120]
          : hill
            ? [60, 140 - y / 4, 50]
            : [120 + y / 2, 170 + y / 4, 250];
        landscape.set(rgb.map(Math.round), (y * width + x) * 3);
      }
    }
    const png = await sharp(landscape, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer();
    expect((await detectFaces(detector, png)).faces).toEqual([]);

    const sofa = await sharp(demoPhoto(2)) // knees, a phone and the sofa
      .extract({ left: 0, top: 900, width: 720, height: 467 })
      .png()
      .toBuffer();
    const found = await detectFaces(detector, sofa);
    expect(found.faces).toEqual([]);
    expect((await faceErrorOf(Promise.resolve().then(() => chooseFace(found.faces)))).code).toBe(
      'NO_FACE',
    );
  });

  it('reports the size of a tiny face so chooseFace can refuse it', async () => {
    const small = await sharp(await portrait())
      .resize(120)
      .png()
      .toBuffer();
    const found = await detectFaces(detector, small);
    expect(found.faces).toHaveLength(1);
    const face = found.faces[0] as DetectedFace;
    // the face is ~205 px of 600 in the portrait: ~41 px at 120 wide
    expect(face.size).toBeGreaterThan(30);
    expect(face.size).toBeLessThan(55);
    const e = await faceErrorOf(Promise.resolve().then(() => chooseFace(found.faces)));
    expect([e.code, e.field]).toEqual(['FACE_TOO_SMALL', 'image']);
    expect(chooseFace(found.faces, undefined, { minFaceSize: 32 })).toBe(face);
  });

  it('lets chooseFace ask which face of a group photo, and take the one named', async () => {
    const { faces } = await detectFaces(detector, demoPhoto(1));
    const several = await faceErrorOf(Promise.resolve().then(() => chooseFace(faces)));
    expect([several.code, several.field]).toEqual(['SEVERAL_FACES', 'faceIndex']);
    expect(several.faces.map((f) => f.box)).toEqual(faces.map((f) => f.box));
    expect(chooseFace(faces, 2)).toBe(faces[2]);
    const out = await faceErrorOf(Promise.resolve().then(() => chooseFace(faces, 3)));
    expect([out.code, out.field]).toEqual(['FACE_INDEX_OUT_OF_RANGE', 'faceIndex']);
  });

  it('refuses what is not an image, and bad options, naming the field', async () => {
    const e = await faceErrorOf(detectFaces(detector, new TextEncoder().encode('not a photo')));
    expect([e.code, e.field]).toEqual(['IMAGE_UNUSABLE', 'image']);
    const bad = await detectFaces(detector, demoPhoto(2), { minScore: 2 }).catch((x: unknown) => x);
    expect(bad).toBeInstanceOf(PipelineInputError);
    expect((bad as PipelineInputError).field).toBe('minScore');
  });
});

describe('alignFace and embedFace', () => {
  /** A template coordinate (0..1 of dlib's face region) in chip pixels. */
  const chipAt = (x: number): number =>
    ((IDENTITY_CROP_PADDING + x) / (1 + 2 * IDENTITY_CROP_PADDING)) * IDENTITY_CROP_SIZE;

  it('makes the same upright chip whatever the roll, eyes where the identity net wants them', async () => {
    const chips = [];
    for (const degrees of [0, 25]) {
      const photo = await sharp(await portrait())
        .rotate(degrees, { background: '#000' })
        .png()
        .toBuffer();
      const { faces } = await detectFaces(detector, photo);
      chips.push(await alignFace(photo, chooseFace(faces)));
    }
    const [upright, tilted] = chips as [AlignedFace, AlignedFace];
    expect(upright.size).toBe(150);
    expect(upright.rgb).toHaveLength(150 * 150 * 3);
    expect(upright.tensor).toHaveLength(3 * 150 * 150);
    expect(Math.min(...upright.tensor)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...upright.tensor)).toBeLessThanOrEqual(1);
    expect(upright.tensor[150 * 150 + 75 * 150 + 75]).toBeCloseTo(
      (upright.rgb[(75 * 150 + 75) * 3 + 1] as number) / 127.5 - 1,
      6,
    );

    // The tilted photo gives nearly the same chip: mean difference under 8 levels of 255
    // (shifting the chip by 3 px alone makes 11).
    let difference = 0;
    upright.rgb.forEach((v, i) => (difference += Math.abs(v - (tilted.rgb[i] as number))));
    expect(difference / upright.rgb.length).toBeLessThan(8);

    // Detected again inside each chip, the eyes sit where dlib's chips have them (BlazeFace's
    // keypoints are good to a few pixels).
    for (const chip of chips) {
      const png = await sharp(chip.rgb, { raw: { width: 150, height: 150, channels: 3 } })
        .png()
        .toBuffer();
      const again = (await detectFaces(detector, png)).faces[0] as DetectedFace;
      const [rightEye, leftEye] = again.keypoints as [FacePoint, FacePoint];
      expect(Math.hypot(rightEye.x - chipAt(0.225492), rightEye.y - chipAt(0.21599))).toBeLessThan(
        6,
      );
      expect(Math.hypot(leftEye.x - chipAt(0.754761), leftEye.y - chipAt(0.21599))).toBeLessThan(6);
    }
  });

  it('samples small faces directly and large ones shrunk first, to the same chip', async () => {
    // the portrait's face is ~205 px (shrunk ~1.9× into the chip); at half size it is sampled
    // directly (~0.9 photo pixels per chip pixel)
    const chips = [];
    const embeddings = [];
    for (const width of [600, 300]) {
      const photo = await sharp(await portrait())
        .resize(width)
        .png()
        .toBuffer();
      const { faces } = await detectFaces(detector, photo);
      const chip = await alignFace(photo, faces[0] as DetectedFace);
      chips.push(chip);
      embeddings.push(await embedFace(encoder, chip));
    }
    const [large, small] = chips as [AlignedFace, AlignedFace];
    let difference = 0;
    large.rgb.forEach((v, i) => (difference += Math.abs(v - (small.rgb[i] as number))));
    expect(difference / large.rgb.length).toBeLessThan(8);
    expect(
      cosineSimilarity(embeddings[0] as Float32Array, embeddings[1] as Float32Array),
    ).toBeGreaterThan(0.97);
  });

  it('gives a face under new crop, light, tilt and mirroring a closer embedding than anyone else', async () => {
    const people: { name: string; embedding: Float32Array; photo: string; face: DetectedFace }[] =
      [];
    for (const n of [1, 3, 6]) {
      const image = await loadRgbImage(demoPhoto(n));
      const { faces } = await detectFaces(detector, image);
      for (const [k, face] of faces.entries()) {
        const embedding = await embedFace(encoder, await alignFace(image, face));
        expect(embedding).toHaveLength(128);
        expect(Math.hypot(...embedding)).toBeCloseTo(1, 5);
        people.push({ name: `sample${n}#${k}`, embedding, photo: demoPhoto(n), face });
      }
    }
    expect(people).toHaveLength(9);

    const same: number[] = [];
    const others: number[] = [];
    for (const person of people) {
      const { box } = person.face;
      const side = 3.6 * (box.x1 - box.x0);
      const meta = await sharp(person.photo).metadata();
      const left = Math.max(0, Math.round((box.x0 + box.x1 - side) / 2));
      const top = Math.max(0, Math.round((box.y0 + box.y1 - side) / 2));
      const jittered = await sharp(person.photo)
        .extract({
          left,
          top,
          width: Math.min((meta.width as number) - left, Math.round(side)),
          height: Math.min((meta.height as number) - top, Math.round(side)),
        })
        .flop()
        .modulate({ brightness: 1.25 })
        .rotate(8, { background: '#808080' })
        .jpeg({ quality: 80 })
        .toBuffer();
      const found = await detectFaces(detector, jittered);
      // the face in the middle of the crop (a neighbour's may show at the edge)
      const middle = (f: DetectedFace): number =>
        Math.hypot(centre(f).x - found.width / 2, centre(f).y - found.height / 2);
      const face = [...found.faces].sort((a, b) => middle(a) - middle(b))[0] as DetectedFace;
      const embedding = await embedFace(encoder, await alignFace(jittered, face));

      const scores = people.map((p) => cosineSimilarity(embedding, p.embedding));
      const best = scores.indexOf(Math.max(...scores));
      expect(`${person.name} → ${people[best]?.name}`).toBe(`${person.name} → ${person.name}`);
      same.push(scores[people.indexOf(person)] as number);
      others.push(...scores.filter((_, i) => people[i] !== person));
    }
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(Math.min(...same)).toBeGreaterThan(0.95);
    expect(mean(same) - mean(others)).toBeGreaterThan(0.08);
  }, 60_000);

  it('checks what it is given', async () => {
    const { faces } = await detectFaces(detector, await portrait());
    const chip = await alignFace(await portrait(), faces[0] as DetectedFace);
    await expect(embedFace(encoder, { ...chip, size: 100 })).rejects.toMatchObject({
      field: 'face',
    });
    await expect(embedFace(detector, chip)).rejects.toThrow(/"face" to "embedding"/);
    await expect(alignFace(await portrait(), faces[0] as DetectedFace, 8)).rejects.toMatchObject({
      field: 'size',
    });
  });
});

describe('cosineSimilarity', () => {
  it('is the cosine of the angle between two vectors', () => {
    expect(cosineSimilarity([1, 0], [0, 2])).toBe(0);
    expect(cosineSimilarity([1, 1], [2, 2])).toBeCloseTo(1, 12);
    expect(cosineSimilarity([1, 2, 3], [-1, -2, -3])).toBeCloseTo(-1, 12);
    expect(cosineSimilarity([3, 4], [4, 3])).toBeCloseTo(24 / 25, 12);
  });

  it('refuses vectors of different lengths or zero vectors', () => {
    expect(() => cosineSimilarity([1, 2], [1])).toThrow(PipelineInputError);
    expect(() => cosineSimilarity([0, 0], [1, 1])).toThrow(/a: is a zero vector/);
  });
});
