import type { TensorSpec } from '@likeness/contracts';
import { GraphBuilder, attr } from '../graph-builder';
import { GraphMath, type Value } from '../graph-math';
import { AUDIO_FEATURES, AUDIO_FEATURE_RATE } from './audio-encoder';
import {
  DENOISER_AUDIO_WINDOW,
  DENOISER_OUTPUTS,
  GUIDANCE_BLEND,
  MOTION_AMPLITUDES,
  MOUTH_INTERIOR,
  REFERENCE_FPS,
  RESIDUAL_KAPPA,
  denoiserInputs,
  toneVector,
  windowWeights,
  type DenoiserOptions,
} from './denoiser';
import { REFERENCE_VAE } from './vae';

const B = 'batch';
const F = 'latent_frames';
const h = 'latent_height';
const w = 'latent_width';

/**
 * The reference denoiser as it was before it was made faster (the warp for every row at full size,
 * the mouth mask from strided slices of the grid): the spec's oracle for `buildDenoiser`, which
 * must compute the same velocity within float rounding. Not part of the pack.
 */
export function buildDenoiserV1(options: DenoiserOptions = {}): Uint8Array {
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
