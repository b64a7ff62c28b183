// Face models on this machine's CPU: BlazeFace detection on face-api's demo photos, alignment,
// identity embeddings, and the converted identity encoder against face-api's own network.
// Prints numbers; asserts nothing (the specs do). `npx nx run face-bench:bench`
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { faceDetectorModel, identityEncoderModel } from '@likeness/model-zoo';
import {
  type AlignedFace,
  alignFace,
  cosineSimilarity,
  detectFaces,
  embedFace,
  loadRgbImage,
} from '@likeness/pipeline';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const root = dirname(require.resolve('@vladmandic/face-api/package.json'));
const photos = [1, 2, 3, 4, 5, 6].map((n) => join(root, 'demo', `sample${n}.jpg`));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await fn();
  return [value, performance.now() - start];
}

async function main(): Promise<void> {
  console.log(`CPU: ${cpus()[0]?.model} × ${cpus().length}, onnxruntime-node CPU provider`);
  const [detectorModel, buildDetectorMs] = await timed(faceDetectorModel);
  const [encoderModel, buildEncoderMs] = await timed(() =>
    identityEncoderModel({ rawDescriptor: true }),
  );
  console.log(
    `models: detector ${(detectorModel.bytes.length / 1e6).toFixed(2)} MB (read ${buildDetectorMs.toFixed(0)} ms), ` +
      `identity encoder ${(encoderModel.bytes.length / 1e6).toFixed(1)} MB (converted in ${buildEncoderMs.toFixed(0)} ms)`,
  );
  const detector = await InferenceSession.create(detectorModel.bytes, { logSeverityLevel: 3 });
  const encoder = await InferenceSession.create(encoderModel.bytes);

  console.log('\ndetection (1920 px JPEGs; ms = median of runs, decode included)');
  const chips: { name: string; chip: AlignedFace }[] = [];
  const alignMs: number[] = [];
  const embedMs: number[] = [];
  const embeddings: Float32Array[] = [];
  for (const [i, photo] of photos.entries()) {
    const image = await loadRgbImage(photo);
    const row: string[] = [];
    for (const refine of [false, true]) {
      const times: number[] = [];
      let found = await detectFaces(detector, photo, { refine });
      for (let r = 0; r < RUNS; r++) {
        const [result, ms] = await timed(() => detectFaces(detector, photo, { refine }));
        found = result;
        times.push(ms);
      }
      const [, decodedMs] = await timed(() => detectFaces(detector, image, { refine }));
      row.push(
        `${refine ? 'refined' : 'one pass'}: ${found.faces.length} faces, ${median(times).toFixed(0)} ms ` +
          `(${decodedMs.toFixed(0)} ms from decoded pixels) scores ${found.faces.map((f) => f.score.toFixed(2)).join(' ')}` +
          ` sizes ${found.faces.map((f) => f.size.toFixed(0)).join(' ')} px`,
      );
      if (refine) {
        for (const [k, face] of found.faces.entries()) {
          const [chip, a] = await timed(() => alignFace(image, face));
          alignMs.push(a);
          const [embedding, e] = await timed(() => embedFace(encoder, chip));
          embedMs.push(e);
          chips.push({ name: `sample${i + 1}#${k}`, chip });
          embeddings.push(embedding);
        }
      }
    }
    console.log(`sample${i + 1}.jpg ${row.join('\n            ')}`);
  }
  // steady-state embedding time
  const steady: number[] = [];
  for (let r = 0; r < 4 * RUNS; r++) {
    steady.push(
      (await timed(() => embedFace(encoder, (chips[0] as { chip: AlignedFace }).chip)))[1],
    );
  }
  console.log(
    `\nalign ${median(alignMs).toFixed(1)} ms median, embed ${median(steady).toFixed(1)} ms median ` +
      `(${median(embedMs).toFixed(1)} ms over the first runs) per face`,
  );

  const cos: number[] = [];
  for (let i = 0; i < embeddings.length; i++) {
    for (let j = i + 1; j < embeddings.length; j++) {
      cos.push(cosineSimilarity(embeddings[i] as Float32Array, embeddings[j] as Float32Array));
    }
  }
  console.log(
    `different faces (${cos.length} pairs): cosine mean ${(cos.reduce((a, b) => a + b, 0) / cos.length).toFixed(3)}, ` +
      `max ${Math.max(...cos).toFixed(3)}, min ${Math.min(...cos).toFixed(3)}`,
  );

  console.log(
    `\nconverted encoder vs face-api's FaceRecognitionNet on the ${chips.length} aligned faces`,
  );
  const [reference, faceApiMs] = await timed(
    async () =>
      JSON.parse(
        execFileSync(
          process.execPath,
          [join(__dirname, '../../libs/model-zoo/src/face/face-api-reference.mjs')],
          {
            input: JSON.stringify({
              crops: chips.map((c) => Buffer.from(c.chip.rgb).toString('base64')),
            }),
            maxBuffer: 64 * 1024 * 1024,
            stdio: ['pipe', 'pipe', 'ignore'],
          },
        ).toString(),
      ) as {
        version: string;
        tfjs: string;
        backend: string;
        descriptors: number[][];
        ms: number[];
      },
  );
  let maxDiff = 0;
  let minCos = 1;
  for (const [i, { chip }] of chips.entries()) {
    const out = await encoder.run({
      face: new Tensor('float32', chip.tensor, [1, 3, chip.size, chip.size]),
    });
    const ours = out.descriptor?.data as Float32Array;
    const theirs = reference.descriptors[i] as number[];
    theirs.forEach((v, k) => (maxDiff = Math.max(maxDiff, Math.abs(v - (ours[k] as number)))));
    minCos = Math.min(minCos, cosineSimilarity(ours, theirs));
  }
  console.log(
    `face-api ${reference.version}, tfjs ${reference.tfjs} (${reference.backend}): ` +
      `${median(reference.ms).toFixed(0)} ms per face (process ${faceApiMs.toFixed(0)} ms in all)`,
  );
  console.log(
    `raw descriptor max |diff| ${maxDiff.toExponential(2)}, min cosine ${minCos.toFixed(9)}`,
  );
  await detector.release();
  await encoder.release();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
