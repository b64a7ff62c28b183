import type { TensorSpec } from '@likeness/contracts';
import { GraphBuilder, attr } from '../graph-builder';
import { GraphMath, type Value } from '../graph-math';
import { AUDIO_FEATURES, AUDIO_FEATURE_RATE, HIGH_BANDS, LOW_BANDS } from './audio-encoder';
import { REFERENCE_VAE } from './vae';
import { IMAGE_TOKENS, IMAGE_TOKEN_DIM } from './image-encoder';
import { TEXT_DIM, TEXT_TOKENS } from './text-encoder';

/**
 * The reference pack's denoiser: an analytic flow-matching velocity toward a target built from
 * the reference frame, so that the whole pipeline (Euler loop, guidance, audio windows, clip
 * chaining) matters and its output can be measured. The maths, step by step (libs/model-zoo
 * README has the short version):
 *
 * Notation: s = 8 (space stride), t = 4 (time stride), C = 768 = t·3·s²; latent frame k holds
 * the t video frames 4k … 4k+3 of the padded clip (the VAE repeats frame 0 in front) as blocks of
 * 3·s² channels (`vae.ts`). Pixel coordinates are pixel centres (i + 0.5).
 *
 * 1. Reference R [3, H, W]: the newest block of condition latent frame 0, depth-to-space.
 * 2. Face geometry, in pixels: box (x0, y0, x1, y1)·(W, H) with size fw × fh (≥ 1 px) and centre
 *    (cx, cy); mouth (mx, my) = keypoint 3.
 * 3. Spatial fields, per row. bump(z) = (1 − min(z², 1))² and S = smoothstep are exactly 0 (or 1)
 *    outside their support, so the background far from the face never moves:
 *      jaw   J = bump((x − mx)/(0.5·fw)) · P(u), u = (y − my)/fh,
 *            P = S((u + 0.025)/0.05)·bump(max(u − uc, 0)/0.15) − 0.15·(1 − S(…))·bump(u/0.08):
 *            the lower lip and chin (down to uc = (y1 − my)/fh) move with the jaw and fade out
 *            under the chin, the upper lip moves a little the other way, the lip line stretches;
 *      head  Mh = S((1 − ρ)/0.4), ρ the elliptic radius around (cx, cy − 0.05·fh), radii
 *            (0.75·fw, 0.85·fh): head and hair, feathered;
 *      body  M = Mh + (1 − Mh)·0.4·bump((x − cx)/(1.8·fw))·S((y − y1)/(0.5·fh)): the upper body
 *            below the chin follows the head at 40 %.
 * 4. Audio per video frame f (slot dt of latent frame k), from latent frame k's window of K
 *    tokens j (token (K−1)/2 is the middle of the latent frame's t video frames; frame dt sits
 *    (dt − 1.5)·featureRate/fps tokens from it, so c_dt = 8 + (dt − 1.5)·50/23):
 *      e_f    = Σ_j a_j·mask_j·tri(j − c_dt; 50/23)   energy at the frame (a_j = feature 0)
 *      env_f  = Σ_j a_j·mask_j·tri(j − c_dt; 6)       slow envelope (±120 ms)
 *      tone_f = Σ_j (low_j − high_j)·mask_j·tri(j − c_dt; 6)   low minus high mel bands
 *    (triangle weights normalised to sum 1). With expr, body = motion clamped to 0..1 and
 *    g = audio_scale, the displacements (pixels, radians) are
 *      jaw drop  a_f  = 0.06·fh · e_f · expr · g
 *      sway      tx_f = 0.04·fh · env_f · tanh(3·tone_f) · body · g
 *      nod       ty_f = 0.02·fh · env_f · body · g
 *      roll      θ_f  = 0.06 · env_f · tanh(3·tone_f) · body · g      about (cx, y1 + 0.2·fh)
 *    Every motion is a function of the audio window alone, never of the frame's place in the
 *    clip, so separately rendered clips agree on the frames they share.
 * 5. Backward warp W_f(p) = R(p − d_f(p)), d_f = a_f·(0, J) + tx_f·(M, 0) + ty_f·(0, M)
 *    + θ_f·Mh·(−(y − py), x − px): one bilinear GridSample per (row, dt) over R, its output
 *    "image" laid out [F', s·s·h·w] (pixels in latent-block order), so that one transpose puts it
 *    in the latent layout. The grid is a single MatMul of the per-frame coefficients with the
 *    four fields plus the identity grid (coefficient 1).
 *    Mouth interior: where the lips part, the warp samples the lip line; pixels whose source
 *    (x_src, y_src) lies within 0.03·fh of it, E = bump((y_src − my)/(0.03·fh))·
 *    bump((x_src − mx)/(0.22·fw)), are pulled toward a dark mouth colour by
 *    k_f = 0.8·min(1, a_f/(0.03·fh)): W ← (W − dark)·(1 − k_f·E) + dark. Zero audio gives d = 0,
 *    k = 0 and W = R within float rounding (exactly before the dark step for power-of-two
 *    sizes).
 * 6. Per-row target T = R + λ·(W − R) with λ = 1/5, and x0 = (1 − m)·T + m·known per video-frame
 *    block (condition channels 0..3 are the masks m, taken per video frame as their mean over
 *    the frame; channels 4.. the known latents).
 *    Why λ: rows are (uncond, text, text+audio) with audio_scale (0, 0, g) and the pipeline
 *    combines v = v_u + 5(v_t − v_u) + audio_cfg·(v_ta − v_t). The context is ignored, so
 *    v_u = v_t = v(R) and the guided target is R + (audio_cfg/5)·(W − R): at the default
 *    audio_cfg 5 exactly the warp W (any amplitude, no overshoot at sharp edges, as a linear
 *    extrapolation of a small warp would give); lower cfg fades toward R, higher cfg
 *    over-drives the same motion.
 * 7. With σ = max(timestep/1000, 1e−3) and κ = 0.1·(1 − m):
 *      v = (1 − κ)·(x − x0)/σ − κ·x0,
 *    the exact flow-matching velocity (x − x0')/σ toward x0' = x0 + κ·(x − (1 − σ)·x0). For
 *    x = (1 − σ)·x0 + σ·ε the residual is κσε, the seed's own noise fading with σ: Euler steps
 *    end at x0 plus a fine grain of about κ·σ_last·ε (≈ 0.02 RMS with 30 shifted steps), so one
 *    seed gives one video and another seed a slightly different one. Known frames have κ = 0 and
 *    come back exactly (x − σ·v = known).
 *
 * Ignored inputs: context, image_tokens, identity (declared so the pipeline feeds them as for a
 * production pack).
 */
export const DENOISER_AUDIO_WINDOW = 17;
/** Reference pack frame rate (the release's 23 fps). */
export const REFERENCE_FPS = 23;
/** Grain strength κ of the seed-dependent residual. */
export const RESIDUAL_KAPPA = 0.1;
/** λ: a row's target moves this fraction of the way from the reference to the warp. */
export const GUIDANCE_BLEND = 1 / 5;
/** Colour (−1..1 RGB) the parted lips reveal. */
export const MOUTH_INTERIOR = Object.freeze([-0.7, -0.88, -0.88] as const);

/** Per-row motion amplitudes at energy/envelope 1, expression/body 1, audio_scale 1. */
export const MOTION_AMPLITUDES = Object.freeze({
  /** Jaw drop, as a fraction of the face height. */
  jaw: 0.06,
  /** Horizontal sway, fraction of the face height. */
  sway: 0.04,
  /** Vertical nod, fraction of the face height. */
  nod: 0.02,
  /** Head roll, radians. */
  roll: 0.06,
});

export interface DenoiserOptions {
  /** Size Di of the `identity` input (the identity encoder's embedding). Default 128. */
  identityDim?: number;
}

const B = 'batch';
const F = 'latent_frames';
const h = 'latent_height';
const w = 'latent_width';

/** The denoiser's inputs, in the order the graph declares them. */
export function denoiserInputs(options: DenoiserOptions = {}): TensorSpec[] {
  const C = REFERENCE_VAE.latentChannels;
  const t = REFERENCE_VAE.temporalStride;
  const K = DENOISER_AUDIO_WINDOW;
  const f32 = (name: string, shape: (number | string)[]): TensorSpec => ({
    name,
    dtype: 'float32',
    shape,
  });
  return [
    f32('latent', [B, C, F, h, w]),
    f32('timestep', [B]),
    f32('context', [B, TEXT_TOKENS, TEXT_DIM]),
    f32('image_tokens', [B, IMAGE_TOKENS, IMAGE_TOKEN_DIM]),
    f32('condition', [B, t + C, F, h, w]),
    f32('audio', [B, F, K, AUDIO_FEATURES]),
    f32('audio_mask', [B, F, K]),
    f32('audio_scale', [B]),
    f32('identity', [B, options.identityDim ?? 128]),
    f32('motion', [B, 2]),
    f32('face_box', [B, 4]),
    f32('face_keypoints', [B, 6, 2]),
  ];
}

export const DENOISER_OUTPUTS: readonly TensorSpec[] = [
  {
    name: 'velocity',
    dtype: 'float32',
    shape: [B, REFERENCE_VAE.latentChannels, F, h, w],
  },
];

/**
 * [K, t] weights from the K window tokens to the t video frames of a latent frame: a triangle of
 * half-width `halfWidth` tokens around each frame's position, normalised to sum 1 per frame.
 */
export function windowWeights(
  halfWidth: number,
  K = DENOISER_AUDIO_WINDOW,
  t = REFERENCE_VAE.temporalStride,
  tokensPerFrame = AUDIO_FEATURE_RATE / REFERENCE_FPS,
): Float32Array {
  const out = new Float32Array(K * t);
  for (let dt = 0; dt < t; dt++) {
    const centre = (K - 1) / 2 + (dt - (t - 1) / 2) * tokensPerFrame;
    let sum = 0;
    for (let j = 0; j < K; j++) sum += Math.max(0, 1 - Math.abs(j - centre) / halfWidth);
    for (let j = 0; j < K; j++) {
      out[j * t + dt] = Math.max(0, 1 - Math.abs(j - centre) / halfWidth) / sum;
    }
  }
  return out;
}

/** [Da − 1, 1] column: mean of the low bands minus mean of the high bands. */
function toneVector(): Float32Array {
  const v = new Float32Array(AUDIO_FEATURES - 1);
  for (const j of LOW_BANDS) v[j] = 1 / LOW_BANDS.length;
  for (const j of HIGH_BANDS) v[j] = -1 / HIGH_BANDS.length;
  return v;
}

/** ONNX model `denoiser` (opset 17: GridSample-16). */
export function buildDenoiser(options: DenoiserOptions = {}): Uint8Array {
  const s = REFERENCE_VAE.spatialStride;
  const t = REFERENCE_VAE.temporalStride;
  const C = REFERENCE_VAE.latentChannels;
  const block = C / t; // 3·s² channels per video frame
  const K = DENOISER_AUDIO_WINDOW;
  const A = MOTION_AMPLITUDES;

  const g = new GraphBuilder('denoiser', {
    opset: 17,
    docString:
      'reference denoiser: flow-matching velocity toward the reference frame warped by ' +
      'audio-driven jaw, sway, nod and roll fields (see libs/model-zoo/src/reference/denoiser.ts)',
  });
  const m = new GraphMath(g);
  const inputs = denoiserInputs(options);
  for (const spec of inputs) g.input(spec.name, 'float', spec.shape);
  const [out] = DENOISER_OUTPUTS as [TensorSpec];
  g.output(out.name, 'float', out.shape);

  // ---- sizes ----
  const Fd = m.dim('latent', 2);
  const hd = m.dim('latent', 3);
  const wd = m.dim('latent', 4);
  const strideI = g.i64([s]);
  const Hd = m.g.op('Mul', [hd, strideI]);
  const Wd = m.g.op('Mul', [wd, strideI]);
  const Hf = m.cast(Hd, 'float'); // [1]
  const Wf = m.cast(Wd, 'float');

  // ---- 1. reference image [B, 3, H, W] ----
  const refBlock = m.slice('condition', [t + (t - 1) * block, 0], [t + C, 1], [1, 2]);
  const ref = m.reshape(
    m.transpose(m.reshape(refBlock, m.shape([-1, 3, s, s], hd, wd)), [0, 1, 4, 2, 5, 3]),
    m.shape([-1, 3], Hd, Wd),
  );

  // ---- 2. face geometry, per row [B, 1, 1] ----
  const box = m.reshape('face_box', m.shape([-1, 4, 1]));
  const boxAt = (i: number): Value => m.slice(box, [i], [i + 1], [1]);
  const kp = m.reshape('face_keypoints', m.shape([-1, 12, 1]));
  const kpAt = (i: number): Value => m.slice(kp, [i], [i + 1], [1]);
  const bx0 = m.mul(boxAt(0), Wf);
  const by0 = m.mul(boxAt(1), Hf);
  const bx1 = m.mul(boxAt(2), Wf);
  const by1 = m.mul(boxAt(3), Hf);
  const fw = m.max(m.sub(bx1, bx0), 1);
  const fh = m.max(m.sub(by1, by0), 1);
  const cx = m.mul(m.add(bx0, bx1), 0.5);
  const cy = m.mul(m.add(by0, by1), 0.5);
  const mx = m.mul(kpAt(6), Wf); // keypoint 3 (mouth): x at 2·3, y at 2·3 + 1
  const my = m.mul(kpAt(7), Hf);

  // pixel-centre coordinates: xs [1, 1, W], ys [1, H, 1]
  const coords = (size: Value): Value =>
    m.add(
      m.cast(
        g.op('Range', [g.i64([0], []), m.reshape(size, g.i64([], [0])), g.i64([1], [])]),
        'float',
      ),
      0.5,
    );
  const xs = m.reshape(coords(Wd), m.shape([1, 1, -1]));
  const ys = m.reshape(coords(Hd), m.shape([1, -1, 1]));

  // ---- 3. spatial fields [B, H, W] ----
  const u = m.div(m.sub(ys, my), fh); // [B, H, 1]
  const below = m.smoothstep(m.div(m.add(u, 0.025), 0.05));
  const chin = m.clip(m.div(m.sub(by1, my), fh), 0.05, 0.5);
  const lower = m.mul(below, m.bump(m.div(m.unary('Relu', m.sub(u, chin)), 0.15)));
  const upper = m.prod(m.sub(1, below), m.bump(m.div(u, 0.08)), 0.15);
  const jawX = m.bump(m.div(m.sub(xs, mx), m.mul(fw, 0.5))); // [B, 1, W]
  const jaw = m.mul(jawX, m.sub(lower, upper)); // [B, H, W]

  const ex = m.div(m.sub(xs, cx), m.mul(fw, 0.75));
  const ey = m.div(m.sub(ys, m.sub(cy, m.mul(fh, 0.05))), m.mul(fh, 0.85));
  const rho = m.unary('Sqrt', m.add(m.mul(ex, ex), m.mul(ey, ey)));
  const head = m.smoothstep(m.div(m.sub(1, rho), 0.4)); // [B, H, W]
  const bodyX = m.bump(m.div(m.sub(xs, cx), m.mul(fw, 1.8)));
  const bodyY = m.smoothstep(m.div(m.sub(ys, by1), m.mul(fh, 0.5)));
  const upperBody = m.prod(bodyX, bodyY, 0.4);
  const moving = m.add(head, m.mul(m.sub(1, head), upperBody));
  const pivotY = m.add(by1, m.mul(fh, 0.2));

  // Fields in grid units (grid = identity − d·(2/W, 2/H)), as [B, 5, H, W, 2]: jaw (per px of
  // drop), sway (per px), nod (per px), roll (per radian), identity grid.
  const gx = m.div(-2, Wf);
  const gy = m.div(-2, Hf);
  const zero = m.mul(jaw, 0);
  const pair = (dx: Value, dy: Value): Value =>
    m.concat([m.unsqueeze(dx, [1, 4]), m.unsqueeze(dy, [1, 4])], 4);
  const rollX = m.prod(m.sub(pivotY, ys), head, gx); // d_x = −(y − py)·θ
  const rollY = m.prod(m.sub(xs, cx), head, gy); // d_y = (x − px)·θ
  // the identity grid at pixel centres, (2·(i + 0.5)/W − 1, …), as a fifth "basis" field whose
  // coefficient is always 1: the MatMul below then yields the sampling grid in one step
  const identityX = m.add(zero, m.sub(m.div(m.mul(xs, 2), Wf), 1));
  const identityY = m.add(zero, m.sub(m.div(m.mul(ys, 2), Hf), 1));
  const basis = m.concat(
    [
      pair(zero, m.mul(jaw, gy)),
      pair(m.mul(moving, gx), zero),
      pair(zero, m.mul(moving, gy)),
      pair(rollX, rollY),
      pair(identityX, identityY),
    ],
    1,
  );
  // space-to-depth like the latent: [B, 5, h, s, w, s, 2] → [B, 1, 5, s·s·h·w·2], pixel order
  // (dy, dx, y, x) as in a latent block
  const basisS2d = m.reshape(
    m.transpose(m.reshape(basis, m.shape([0, 5], hd, [s], wd, [s, 2])), [0, 1, 3, 5, 2, 4, 6]),
    m.shape([0, 1, 5, -1]),
  );

  // ---- 4. per-frame coefficients [B, N, 5] ----
  const mask = 'audio_mask';
  const energy = m.mul(m.reshape(m.slice('audio', [0], [1], [3]), m.shape([0, 0, K])), mask);
  const bands = m.slice('audio', [1], [AUDIO_FEATURES], [3]);
  const tone = m.mul(
    m.reshape(
      m.matmul(bands, g.initializer('tone_vector', toneVector(), [AUDIO_FEATURES - 1, 1])),
      m.shape([0, 0, K]),
    ),
    mask,
  );
  const fast = g.initializer('frame_weights', windowWeights(AUDIO_FEATURE_RATE / REFERENCE_FPS), [
    K,
    t,
  ]);
  const slow = g.initializer('envelope_weights', windowWeights(6), [K, t]);
  const perFrame = (x: Value): Value => m.reshape(x, m.shape([0, -1, 1])); // [B, F, t] → [B, N, 1]
  const e = perFrame(m.matmul(energy, fast));
  const env = perFrame(m.matmul(energy, slow));
  const turn = m.mul(env, m.unary('Tanh', m.mul(perFrame(m.matmul(tone, slow)), 3)));

  const motion = m.clip(m.reshape('motion', m.shape([-1, 2, 1])), 0, 1);
  const scale = m.reshape('audio_scale', m.shape([-1, 1, 1]));
  const expression = m.mul(m.slice(motion, [0], [1], [1]), scale); // [B, 1, 1]
  const body = m.mul(m.slice(motion, [1], [2], [1]), scale);
  const coefficients = m.concat(
    [
      m.prod(e, expression, fh, A.jaw),
      m.prod(turn, body, fh, A.sway),
      m.prod(env, body, fh, A.nod),
      m.prod(turn, body, A.roll),
      m.add(m.mul(e, 0), 1),
    ],
    2,
  ); // [B, N, 5]: jaw, sway, nod, roll, identity

  // ---- 5. warp ----
  // One GridSample per (row, dt) over the reference. Its output "image" is [F', s·s·h·w]: row k
  // holds video frame (k, dt) with its pixels in latent-block order (dy, dx, y, x). So
  // [B·t, 3, F', s²·h·w] is the latent layout but for F' sitting before (dy, dx), which lets
  // every per-frame factor below broadcast; one transpose at the end puts F' in its place.
  // Symbolic shapes of the big intermediates (see GraphBuilder.valueInfo): without them
  // onnxruntime cannot prove two buffers the same size and allocates afresh for every step.
  const BT = 'batch_x_slots';
  const P = 'block_pixels';
  const GP = 'grid_values';
  const declare = (v: Value, shape: readonly (number | string)[]): Value => {
    g.valueInfo(v, 'float', shape);
    return v;
  };
  const rowsTimesT = m.g.op('Mul', [m.dim('latent', 0), g.i64([t])]);
  const pixels = m.g.op('Mul', [m.g.op('Mul', [hd, wd]), g.i64([s * s])]); // s²·h·w
  const perSlot = declare(
    m.transpose(m.reshape(coefficients, m.shape([0], Fd, [t, 5])), [0, 2, 1, 3]),
    [B, t, F, 5],
  );
  const grid = m.matmul(perSlot, declare(basisS2d, [B, 1, 5, GP])); // [B, t, F', GP]
  // Mouth interior (header, step 5): E from each output pixel's source position.
  const perRow5 = (x: Value): Value =>
    declare(m.reshape(x, m.shape([-1, 1, 1, 1, 1])), [B, 1, 1, 1, 1]);
  const source = declare(m.reshape(grid, m.shape([0, t], Fd, pixels, [2])), [B, t, F, P, 2]);
  const sourcePx = (axis: number, size: Value): Value =>
    m.mul(m.add(m.slice(source, [axis], [axis + 1], [4]), 1), m.mul(size, 0.5)); // [B, t, F', P, 1]
  const nearLipLine = m.bump(m.div(m.sub(sourcePx(1, Hf), perRow5(my)), perRow5(m.mul(fh, 0.03))));
  const inMouth = m.bump(m.div(m.sub(sourcePx(0, Wf), perRow5(mx)), perRow5(m.mul(fw, 0.22))));
  const jawDrop = declare(m.reshape(m.slice(perSlot, [0], [1], [3]), m.shape([0, t], Fd, [1, 1])), [
    B,
    t,
    F,
    1,
    1,
  ]); // px
  const darkness = m.mul(m.clip(m.div(jawDrop, perRow5(m.mul(fh, 0.03))), 0, 1), 0.8);
  const keepColour = declare(
    m.reshape(
      m.add(m.unary('Neg', m.mul(m.mul(nearLipLine, inMouth), darkness)), 1),
      m.shape(rowsTimesT, [1], Fd, pixels),
    ),
    [BT, 1, F, P],
  );
  // E first, so that the grid is freed as soon as GridSample is done: the data dependency
  // (0 = 0·F' from E's shape) keeps onnxruntime from running GridSample earlier.
  const afterE = m.g.op('Mul', [m.dim(keepColour, 2), g.i64([0])]);
  const refs = m.reshape(
    g.op('Expand', [m.unsqueeze(ref, [1]), m.g.op('Add', [g.i64([1, t, 1, 1, 1]), afterE])]),
    m.shape([-1, 3], Hd, Wd),
  ); // [B·t, 3, H, W]
  const warped = g.op(
    'GridSample',
    [refs, declare(m.reshape(grid, m.shape(rowsTimesT, Fd, pixels, [2])), [BT, F, P, 2])],
    {
      mode: attr.string('bilinear'),
      padding_mode: attr.string('border'),
      align_corners: attr.int(0),
    },
  );
  declare(warped, [BT, 3, F, P]);

  // ---- 6 + 7. target and velocity ----
  // Opened warp W' = (W − dark)·(1 − E) + dark; target T = R + λ·(W' − R);
  // x0 = (1 − m)·T + m·known;  v = (1 − κ)·(x − x0)/σ − κ·x0 = q·(x + a·T + b·known)
  // with q = (1 − κ)/σ, c = 1 + κσ/(1 − κ), a = −c·(1 − m), b = −c·m.
  // onnxruntime (measured) gives an Add/Mul/Sub result a buffer of its own, so each full-size
  // step briefly holds its input and its output: the steps are folded to few, and ordered so
  // that at most three full-size temporaries are alive at once.
  // The mask m is taken per video frame (its mean over the frame).
  const maskSlot = m.reduceMean(m.slice('condition', [0], [t], [1]), [3, 4], false); // [B, t, F']
  const sigmaRow = m.max(m.div('timestep', 1000), 1e-3);
  const sigma = m.reshape(sigmaRow, m.shape([-1, 1, 1]));
  const unknown = m.sub(1, maskSlot);
  const kappa = m.mul(unknown, RESIDUAL_KAPPA);
  const q = m.div(m.sub(1, kappa), sigma);
  const c = m.add(1, m.div(m.mul(kappa, sigma), m.sub(1, kappa)));
  const perSlotFrame = (x: Value): Value =>
    declare(m.reshape(x, m.shape(rowsTimesT, [1], Fd, [1])), [BT, 1, F, 1]);
  const perChannel = (x: Value): Value =>
    declare(
      m.reshape(
        g.op('Expand', [m.unsqueeze(x, [2]), m.shape([1, 1, block, 1])]),
        m.shape([-1, C], Fd, [1, 1]),
      ),
      [B, C, F, 1, 1],
    ); // [B, t, F'] → [B, C, F', 1, 1]
  const refS2d = declare(
    m.reshape(
      g.op('Expand', [
        m.reshape(refBlock, m.shape([-1, 1, 3, 1], pixels)),
        m.shape([1, t, 1, 1, 1]),
      ]),
      m.shape(rowsTimesT, [3, 1], pixels),
    ),
    [BT, 3, 1, P],
  );
  // a·T = ((W − dark)·λ(1 − E) + λ·dark + (1 − λ)·R)·a: four full-size steps
  const interior = g.f32([...MOUTH_INTERIOR], [1, 3, 1, 1]);
  const lambda = GUIDANCE_BLEND;
  const scaledTarget = m.mul(
    m.add(
      m.mul(m.sub(warped, interior), m.mul(keepColour, lambda)),
      m.add(m.mul(interior, lambda), m.mul(refS2d, 1 - lambda)),
    ),
    perSlotFrame(m.unary('Neg', m.mul(c, unknown))),
  ); // a·T, [B·t, 3, F', P]
  const targetTerm = declare(
    m.transpose(
      declare(m.reshape(scaledTarget, m.shape([-1, t, 3], Fd, [s * s], hd, wd)), [
        B,
        t,
        3,
        F,
        s * s,
        h,
        w,
      ]),
      [0, 1, 2, 4, 3, 5, 6],
    ),
    [B, t, 3, s * s, F, h, w],
  );
  // A data dependency on the target term (0 = 0·F' from its shape) makes the copy of the known
  // latents wait for it, instead of holding memory through the warp.
  const afterTarget = m.g.op('Mul', [m.dim(targetTerm, 4), g.i64([0])]);
  const known = m.g.op('Slice', [
    'condition',
    m.g.op('Add', [g.i64([t]), afterTarget]),
    m.g.op('Add', [g.i64([t + C]), afterTarget]),
    g.i64([1]),
  ]);
  declare(known, [B, C, F, h, w]);
  const knownTerm = m.mul(known, perChannel(m.unary('Neg', m.mul(c, maskSlot))));
  const latentShape = m.shape([-1, C], Fd, hd, wd);
  const bracket = m.add(
    m.add(knownTerm, declare(m.reshape(targetTerm, latentShape), [B, C, F, h, w])),
    'latent',
  );
  g.node('Mul', [bracket, perChannel(q)], [out.name]);
  return g.toBytes();
}
