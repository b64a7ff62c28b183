#!/usr/bin/env node
/**
 * Benchmark: one reference-denoiser step (the guidance batch, B = 3) per image size, each size in a
 * fresh process so that its peak RSS (VmHWM) is its own. Prints a table; asserts nothing.
 *
 *   npx nx run model-zoo:bench-denoiser [-- --frames 25 --sizes 128,256,512 --steps 3 --arena]
 *
 * --frames  clip length 4n+1 (default: the pack's maxFramesPerClip)
 * --arena        keep onnxruntime's CPU memory arena on (default off, as the pipeline should run it)
 * --mem-pattern  keep onnxruntime's memory pattern on (default off, likewise)
 * --preallocate  hand onnxruntime a reused output buffer (default: let it allocate the output,
 *                which measured lower: with a preallocated output more memory stays held)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { REFERENCE_MAX_FRAMES_PER_CLIP } from '../src/reference/pack';
import { buildDenoiser, DENOISER_AUDIO_WINDOW } from '../src/reference/denoiser';
import { AUDIO_FEATURES } from '../src/reference/audio-encoder';

interface Args {
  frames: number;
  sizes: number[];
  steps: number;
  arena: boolean;
  memPattern: boolean;
  preallocate: boolean;
  child?: number;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    frames: REFERENCE_MAX_FRAMES_PER_CLIP,
    sizes: [128, 256, 512],
    steps: 3,
    arena: false,
    memPattern: false,
    preallocate: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--frames') args.frames = Number(next());
    else if (flag === '--sizes') args.sizes = next().split(',').map(Number);
    else if (flag === '--steps') args.steps = Number(next());
    else if (flag === '--arena') args.arena = true;
    else if (flag === '--mem-pattern') args.memPattern = true;
    else if (flag === '--preallocate') args.preallocate = true;
    else if (flag === '--child') args.child = Number(next());
    else throw new Error(`unknown option ${flag}`);
  }
  if (!Number.isInteger(args.frames) || (args.frames - 1) % 4 !== 0)
    throw new Error(`--frames must be 4n+1, got ${args.frames}`);
  return args;
}

function peakRssMb(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** One size in this process: prints a JSON line. */
async function child(size: number, args: Args): Promise<void> {
  const B = 3;
  const C = 768;
  const Fp = (args.frames - 1) / 4 + 1;
  const h = size / 8;
  const K = DENOISER_AUDIO_WINDOW;
  const session = await InferenceSession.create(buildDenoiser(), {
    enableCpuMemArena: args.arena,
    enableMemPattern: args.memPattern,
    graphOptimizationLevel: 'all',
  });
  const plane = h * h;
  const latent = new Float32Array(B * C * Fp * plane);
  for (let i = 0; i < latent.length; i++) latent[i] = Math.sin(i * 0.618);
  const condition = new Float32Array(B * (C + 4) * Fp * plane);
  for (let b = 0; b < B; b++) {
    const row = b * (C + 4) * Fp * plane;
    for (let m = 0; m < 4; m++)
      condition.fill(1, row + m * Fp * plane, row + m * Fp * plane + plane);
    for (let c = 0; c < C; c++) {
      const at = row + (4 + c) * Fp * plane;
      for (let p = 0; p < plane; p++) condition[at + p] = Math.cos(c + p * 0.01) * 0.5;
    }
  }
  const audio = new Float32Array(B * Fp * K * AUDIO_FEATURES);
  for (let i = 0; i < audio.length; i++) audio[i] = 0.5 + 0.5 * Math.sin(i * 0.37);
  const repeat = (row: readonly number[]): Float32Array =>
    Float32Array.from({ length: B * row.length }, (_, k) => row[k % row.length] as number);
  const feeds = {
    latent: new Tensor('float32', latent, [B, C, Fp, h, h]),
    timestep: new Tensor('float32', repeat([700]), [B]),
    context: new Tensor('float32', new Float32Array(B * 128 * 16), [B, 128, 16]),
    image_tokens: new Tensor('float32', new Float32Array(B * 257 * 16), [B, 257, 16]),
    condition: new Tensor('float32', condition, [B, C + 4, Fp, h, h]),
    audio: new Tensor('float32', audio, [B, Fp, K, AUDIO_FEATURES]),
    audio_mask: new Tensor('float32', new Float32Array(B * Fp * K).fill(1), [B, Fp, K]),
    audio_scale: new Tensor('float32', Float32Array.from([0, 0, 1]), [B]),
    identity: new Tensor('float32', new Float32Array(B * 128), [B, 128]),
    motion: new Tensor('float32', repeat([1, 1]), [B, 2]),
    face_box: new Tensor('float32', repeat([0.3, 0.25, 0.7, 0.7]), [B, 4]),
    face_keypoints: new Tensor(
      'float32',
      repeat([0.4, 0.4, 0.6, 0.4, 0.5, 0.5, 0.5, 0.6, 0.3, 0.45, 0.7, 0.45]),
      [B, 6, 2],
    ),
  };
  const output = new Tensor('float32', new Float32Array(B * C * Fp * plane), [B, C, Fp, h, h]);
  const beforeRunMb = peakRssMb();
  const times: number[] = [];
  for (let step = 0; step <= args.steps; step++) {
    const started = performance.now();
    if (args.preallocate) await session.run(feeds, { velocity: output });
    else await session.run(feeds);
    if (step > 0) times.push(performance.now() - started); // step 0 warms up
    // what a long render sees: the previous step's output collected before the next step
    (globalThis as { gc?: () => void }).gc?.();
  }
  times.sort((a, b) => a - b);
  process.stdout.write(
    JSON.stringify({
      size,
      frames: args.frames,
      latentFrames: Fp,
      minMs: Math.round(times[0] as number),
      medianMs: Math.round(times[Math.floor(times.length / 2)] as number),
      peakRssMb: Math.round(peakRssMb()),
      beforeRunMb: Math.round(beforeRunMb),
      fullSizeTensorMb: Math.round((B * C * Fp * plane * 4) / 2 ** 20),
    }) + '\n',
  );
  await session.release();
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.child !== undefined) return child(args.child, args);
  process.stdout.write(
    `reference denoiser, one step with B = 3, ${args.frames} frames per clip, ` +
      `arena ${args.arena ? 'on' : 'off'}, memory pattern ${args.memPattern ? 'on' : 'off'}, output ${args.preallocate ? 'preallocated' : 'allocated by onnxruntime'}\n` +
      "size     min ms  median ms  peak RSS MB  (before the first run; one [3,768,F',h,w] tensor) MB\n",
  );
  for (const size of args.sizes) {
    const line = execFileSync(
      process.execPath,
      [
        '--expose-gc',
        ...process.execArgv,
        __filename,
        ...process.argv.slice(2),
        '--child',
        String(size),
      ],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    const r = JSON.parse(line.trim().split('\n').pop() as string) as Record<string, number>;
    process.stdout.write(
      `${`${size}²`.padEnd(8)} ${String(r['minMs']).padStart(6)} ${String(r['medianMs']).padStart(10)} ` +
        `${String(r['peakRssMb']).padStart(12)}  (${r['beforeRunMb']}; ${r['fullSizeTensorMb']})\n`,
    );
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
