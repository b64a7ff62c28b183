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
 *    "image" laid out [s·s, F'·h·w] (pixels in latent-block order), which is already the latent
 *    layout. The grid is a single MatMul of the per-frame coefficients with the four fields plus
 *    the identity grid (coefficient 1).
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
 *
 * How the graph computes it (speed; `denoiser-v1.ts` keeps the earlier, plainer formulation and
 * `denoiser-equivalence.spec.ts` checks both agree within float rounding): with audio_scale 0
 * every displacement and the mouth darkening are 0, so T = R; the warp (steps 3–5) therefore runs
 * only for the rows whose audio_scale is not 0 (GatherND of those rows: one of the three in the
 * guidance batch), and v = q·(x + a·R + b·known + a·λ·(W' − R)) is formed for every row with the
 * last term scattered (ScatterND, reduction add) onto the rows with audio. The mouth test E is an
 * affine function of the grid, so it comes from two more MatMuls over rescaled fields rather than
 * from slices of the grid.
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
export function toneVector(): Float32Array {
  const v = new Float32Array(AUDIO_FEATURES - 1);
  for (const j of LOW_BANDS) v[j] = 1 / LOW_BANDS.length;
  for (const j of HIGH_BANDS) v[j] = -1 / HIGH_BANDS.length;
  return v;
}

/** ONNX model `denoiser` (opset 17: GridSample-16, ScatterND-16 with reduction). */
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
  const declare = (v: Value, shape: readonly (number | string)[]): Value => {
    g.valueInfo(v, 'float', shape);
    return v;
  };

  // ---- sizes ----
  const Fd = m.dim('latent', 2);
  const hd = m.dim('latent', 3);
  const wd = m.dim('latent', 4);
  const hwd = m.g.op('Mul', [hd, wd]);
  const strideI = g.i64([s]);
  const Hd = m.g.op('Mul', [hd, strideI]);
  const Wd = m.g.op('Mul', [wd, strideI]);
  const Hf = m.cast(Hd, 'float'); // [1]
  const Wf = m.cast(Wd, 'float');

  // ---- 7. per-(row, slot, frame) factors [B, t, F'] (header, steps 6 and 7) ----
  // v = q·(x + a·T + b·known) with q = (1 − κ)/σ, c = 1 + κσ/(1 − κ), a = −c·(1 − m), b = −c·m;
  // the mask m is taken per video frame (its mean over the frame).
  const maskSlot = m.reduceMean(m.slice('condition', [0], [t], [1]), [3, 4], false); // [B, t, F']
  const sigma = m.reshape(m.max(m.div('timestep', 1000), 1e-3), m.shape([-1, 1, 1]));
  const unknown = m.sub(1, maskSlot);
  const kappa = m.mul(unknown, RESIDUAL_KAPPA);
  const q = m.div(m.sub(1, kappa), sigma);
  const c = m.add(1, m.div(m.mul(kappa, sigma), m.sub(1, kappa)));
  const a = m.unary('Neg', m.mul(c, unknown)); // [B, t, F']
  const b = m.unary('Neg', m.mul(c, maskSlot));

  // the reference: the newest block of condition latent frame 0
  const refBlock = m.slice('condition', [t + (t - 1) * block, 0], [t + C, 1], [1, 2]); // [B, block, 1, h, w]

  // ---- the rows with audio: R of them, ids [R, 1] ----
  const ids = m.transpose(
    g.op('NonZero', [g.op('Not', [g.op('Equal', ['audio_scale', m.c(0)])])]),
    [1, 0],
  );
  const pick = (x: Value): Value => g.op('GatherND', [x, ids]);
  // R as a dimension of `ids`, never 0 or −1 in a Reshape: onnxruntime's Reshape fusion would turn
  // those into a (0, …, −1) shape, which fails when no row has audio (R = 0).
  const RR = m.dim(ids, 0);
  const RT = m.g.op('Mul', [RR, g.i64([t])]);

  // ---- 1. reference image [R, 3, H, W] ----
  const refBlockR = pick(refBlock);
  const ref = m.reshape(
    m.transpose(m.reshape(refBlockR, m.shape(RR, [3, s, s], hd, wd)), [0, 1, 4, 2, 5, 3]),
    m.shape(RR, [3], Hd, Wd),
  );

  // ---- 2. face geometry, per row [R, 1, 1] ----
  const box = m.reshape(pick('face_box'), m.shape(RR, [4, 1]));
  const boxAt = (i: number): Value => m.slice(box, [i], [i + 1], [1]);
  const kp = m.reshape(pick('face_keypoints'), m.shape(RR, [12, 1]));
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

  // ---- 3. spatial fields [R, H, W] ----
  const u = m.div(m.sub(ys, my), fh); // [R, H, 1]
  const below = m.smoothstep(m.div(m.add(u, 0.025), 0.05));
  const chin = m.clip(m.div(m.sub(by1, my), fh), 0.05, 0.5);
  const lower = m.mul(below, m.bump(m.div(m.unary('Relu', m.sub(u, chin)), 0.15)));
  const upper = m.prod(m.sub(1, below), m.bump(m.div(u, 0.08)), 0.15);
  const jawX = m.bump(m.div(m.sub(xs, mx), m.mul(fw, 0.5))); // [R, 1, W]
  const jaw = m.mul(jawX, m.sub(lower, upper)); // [R, H, W]

  const ex = m.div(m.sub(xs, cx), m.mul(fw, 0.75));
  const ey = m.div(m.sub(ys, m.sub(cy, m.mul(fh, 0.05))), m.mul(fh, 0.85));
  const rho = m.unary('Sqrt', m.add(m.mul(ex, ex), m.mul(ey, ey)));
  const head = m.smoothstep(m.div(m.sub(1, rho), 0.4)); // [R, H, W]
  const bodyX = m.bump(m.div(m.sub(xs, cx), m.mul(fw, 1.8)));
  const bodyY = m.smoothstep(m.div(m.sub(ys, by1), m.mul(fh, 0.5)));
  const upperBody = m.prod(bodyX, bodyY, 0.4);
  const moving = m.add(head, m.mul(m.sub(1, head), upperBody));
  const pivotY = m.add(by1, m.mul(fh, 0.2));

  // Fields in grid units (grid = identity − d·(2/W, 2/H)), x and y apart as [R, 5, H, W]: jaw
  // (per px of drop), sway (per px), nod (per px), roll (per radian), identity grid.
  const gx = m.div(-2, Wf);
  const gy = m.div(-2, Hf);
  const zero = m.mul(jaw, 0);
  const rollX = m.prod(m.sub(pivotY, ys), head, gx); // d_x = −(y − py)·θ
  const rollY = m.prod(m.sub(xs, cx), head, gy); // d_y = (x − px)·θ
  // the identity grid at pixel centres, (2·(i + 0.5)/W − 1, …), as a fifth "basis" field whose
  // coefficient is always 1: the MatMul below then yields the sampling grid in one step
  const identityX = m.add(zero, m.sub(m.div(m.mul(xs, 2), Wf), 1));
  const identityY = m.add(zero, m.sub(m.div(m.mul(ys, 2), Hf), 1));
  const fields = (xs5: readonly Value[]): Value =>
    m.concat(
      xs5.map((x) => m.unsqueeze(x, [1])),
      1,
    );
  const basisX = fields([zero, m.mul(moving, gx), zero, rollX, identityX]); // [R, 5, H, W]
  const basisY = fields([m.mul(jaw, gy), zero, m.mul(moving, gy), rollY, identityY]);
  // The mouth test (header, step 5) needs the source position in units of its support:
  // z = (x_src − mx)/(0.22·fw) with x_src = (grid + 1)·W/2, affine in the grid, so it is the
  // same MatMul over the basis scaled by α = (W/2)/(0.22·fw), plus β = (W/2 − mx)/(0.22·fw) on
  // the identity field (its coefficient is 1).
  const lastField = g.f32([0, 0, 0, 0, 1], [1, 5, 1, 1]);
  const perRow4 = (x: Value): Value => m.reshape(x, m.shape(RR, [1, 1, 1]));
  const affine = (basis: Value, size: Value, centre: Value, radius: Value): Value => {
    const half = m.mul(size, 0.5);
    return m.add(
      m.mul(basis, perRow4(m.div(half, radius))),
      m.mul(lastField, perRow4(m.div(m.sub(half, centre), radius))),
    );
  };
  const mouthX = affine(basisX, Wf, mx, m.mul(fw, 0.22));
  const lipLineY = affine(basisY, Hf, my, m.mul(fh, 0.03));
  // Space-to-depth like the latent: [R, 5, h, s, w, s, n] → [R, 1, s², 5, h·w·n], so that the
  // MatMul with the coefficients [R, t, 1, F', 5] gives [R, t, s², F', h·w·n]: video frame
  // (slot, F') with its pixels in latent-block order, in the latent's own axis order.
  const s2d = (basis: Value, n: number): Value =>
    m.reshape(
      m.transpose(m.reshape(basis, m.shape(RR, [5], hd, [s], wd, [s, n])), [0, 3, 5, 1, 2, 4, 6]),
      m.shape(RR, [1, s * s, 5], m.g.op('Mul', [hwd, g.i64([n])])), // no −1: R may be 0
    );
  const gridBasis = m.concat([m.unsqueeze(basisX, [4]), m.unsqueeze(basisY, [4])], 4);

  // ---- 4. per-frame coefficients [R, N, 5] ----
  const audio = pick('audio');
  const mask = pick('audio_mask');
  const energy = m.mul(m.reshape(m.slice(audio, [0], [1], [3]), m.shape(RR, [0, K])), mask);
  const bands = m.slice(audio, [1], [AUDIO_FEATURES], [3]);
  const tone = m.mul(
    m.reshape(
      m.matmul(bands, g.initializer('tone_vector', toneVector(), [AUDIO_FEATURES - 1, 1])),
      m.shape(RR, [0, K]),
    ),
    mask,
  );
  const fast = g.initializer('frame_weights', windowWeights(AUDIO_FEATURE_RATE / REFERENCE_FPS), [
    K,
    t,
  ]);
  const slow = g.initializer('envelope_weights', windowWeights(6), [K, t]);
  const frames = m.g.op('Mul', [Fd, g.i64([t])]);
  const perFrame = (x: Value): Value => m.reshape(x, m.shape(RR, frames, [1])); // [R, F, t] → [R, N, 1]
  const e = perFrame(m.matmul(energy, fast));
  const env = perFrame(m.matmul(energy, slow));
  const turn = m.mul(env, m.unary('Tanh', m.mul(perFrame(m.matmul(tone, slow)), 3)));

  const motion = m.clip(m.reshape(pick('motion'), m.shape(RR, [2, 1])), 0, 1);
  const scale = m.reshape(pick('audio_scale'), m.shape(RR, [1, 1]));
  const expression = m.mul(m.slice(motion, [0], [1], [1]), scale); // [R, 1, 1]
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
  ); // [R, N, 5]: jaw, sway, nod, roll, identity
  const perSlot = m.transpose(m.reshape(coefficients, m.shape(RR, Fd, [t, 5])), [0, 2, 1, 3]); // [R, t, F', 5]
  const coeffs = m.unsqueeze(perSlot, [2]); // [R, t, 1, F', 5]

  // ---- 5. warp: one GridSample per (row, slot) over the reference ----
  // Its output "image" [s², F'·h·w] per channel is the latent layout [R, t·3·s², F', h, w].
  const BT = 'audio_rows_x_slots';
  const R = 'audio_rows';
  const FP = 'frame_pixels';
  const grid = declare(
    m.reshape(
      m.matmul(coeffs, s2d(gridBasis, 2)),
      m.shape(RT, [s * s], m.g.op('Mul', [Fd, hwd]), [2]),
    ),
    [BT, s * s, FP, 2],
  );
  const refs = m.reshape(
    g.op('Expand', [m.unsqueeze(ref, [1]), g.i64([1, t, 1, 1, 1])]),
    m.shape(RT, [3], Hd, Wd),
  ); // [R·t, 3, H, W]
  const warped = declare(
    g.op('GridSample', [refs, grid], {
      mode: attr.string('bilinear'),
      padding_mode: attr.string('border'),
      align_corners: attr.int(0),
    }),
    [BT, 3, s * s, FP],
  );
  // Mouth interior: E = bump(z_y)·bump(z_x) at each pixel's source, k_f = 0.8·min(1, a_f/(0.03·fh));
  // bump(z) = (1 − min(z², 1))² = relu(1 − z²)².
  const support = (basis: Value): Value => {
    const z = m.matmul(coeffs, s2d(basis, 1)); // [R, t, s², F', h·w]
    return m.unary('Relu', m.sub(1, m.mul(z, z)));
  };
  const lips = m.mul(support(lipLineY), support(mouthX));
  const darkness = m.mul(
    m.clip(
      m.div(m.slice(perSlot, [0], [1], [3]), m.reshape(m.mul(fh, 0.03), m.shape(RR, [1, 1, 1]))),
      0,
      1,
    ),
    0.8,
  ); // [R, t, F', 1]
  const keepColour = declare(
    m.reshape(
      m.sub(1, m.mul(m.mul(lips, lips), m.unsqueeze(darkness, [2]))),
      m.shape(RT, [1, s * s], m.g.op('Mul', [Fd, hwd])),
    ),
    [BT, 1, s * s, FP],
  );
  // a·Δ = λ·a·((W − dark)·(1 − k·E) + dark − R), in the latent layout
  const interior = g.f32([...MOUTH_INTERIOR], [1, 3, 1, 1]);
  const opened = declare(
    m.reshape(m.mul(m.sub(warped, interior), keepColour), m.shape(RR, [t, 3, s * s], Fd, hwd)),
    [R, t, 3, s * s, F, 'latent_pixels'],
  );
  const darkMinusRef = m.sub(
    m.reshape(interior, m.shape([1, 1, 3, 1, 1, 1])),
    m.reshape(refBlockR, m.shape(RR, [1, 3, s * s, 1], hwd)),
  ); // [R, 1, 3, s², 1, h·w]
  const lambdaA = m.reshape(m.mul(pick(a), GUIDANCE_BLEND), m.shape(RR, [t, 1, 1], Fd, [1]));
  const warpTerm = m.reshape(
    m.mul(m.add(opened, darkMinusRef), lambdaA),
    m.shape(RR, [C], Fd, hd, wd),
  );

  // ---- every row: x + a·R + b·known ----
  // T = R + Δ with Δ = λ·(W' − R) the warp's contribution; Δ = 0 for rows whose audio_scale is
  // 0 (the guidance rows without audio), so the warp is computed only for the rows with audio
  // (below) and a·Δ added to theirs before the final factor q.
  // Memory: onnxruntime gives each Add/Mul result a buffer of its own (never in place) but
  // reuses a dead buffer of the same declared shape. A chain x + a·R + b·known holds three
  // values of its size at once, so it runs in two halves of the channels (slots 0–1, 2–3), the
  // second after the first (data dependencies), and a Concat makes the output: at most half of
  // the three plus the finished half, then the two halves plus the output, about 2 full-size
  // buffers instead of 3 + the output. Factors are per channel [B, C/2, F', 1, 1], so that h·w
  // is one broadcast span.
  const parts = 2;
  const slots = t / parts;
  const width = slots * block; // channels per part
  const part = (v: Value): Value => declare(v, [B, width, F, h, w]);
  // 0 = 0·(a dimension of v): a data dependency on v that changes nothing
  const after = (v: Value): Value => m.g.op('Mul', [m.dim(v, 0), g.i64([0])]);
  const refChannels = m.reshape(
    g.op('Expand', [m.unsqueeze(refBlock, [1]), m.shape([1, slots, 1, 1, 1, 1])]),
    m.shape([-1, width, 1], hd, wd),
  ); // [B, C/2, 1, h, w]: the reference in each slot of a part
  const outputs: Value[] = [];
  // the first part waits for the warp term, so that the warp's temporaries are gone by then
  let previous: Value = warpTerm;
  for (let j = 0; j < parts; j++) {
    const perChannel = (x: Value): Value =>
      m.reshape(
        g.op('Expand', [
          m.unsqueeze(m.slice(x, [j * slots], [(j + 1) * slots], [1]), [2]),
          m.shape([1, 1, block, 1]),
        ]),
        m.shape([-1, width], Fd, [1, 1]),
      ); // [B, t, F'] → this part's [B, C/2, F', 1, 1]
    const wait = after(previous);
    const channels = (x: Value, from: number): Value =>
      part(
        m.g.op('Slice', [
          x,
          m.g.op('Add', [g.i64([from + j * width]), wait]),
          m.g.op('Add', [g.i64([from + (j + 1) * width]), wait]),
          g.i64([1]),
        ]),
      );
    const withRef = part(m.add(part(m.mul(refChannels, perChannel(a))), channels('latent', 0)));
    const bracket = part(m.add(withRef, part(m.mul(channels('condition', t), perChannel(b)))));
    // ---- velocity: q·(x + a·T + b·known), a·Δ added on the rows with audio ----
    const target = part(
      g.op('ScatterND', [bracket, ids, m.slice(warpTerm, [j * width], [(j + 1) * width], [1])], {
        reduction: attr.string('add'),
      }),
    );
    previous = part(m.mul(target, perChannel(q)));
    outputs.push(previous);
  }
  g.node('Concat', outputs, [out.name], { axis: attr.int(1) });
  return g.toBytes();
}
