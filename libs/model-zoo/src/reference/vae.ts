import { GraphBuilder, attr } from '../graph-builder';

/**
 * The reference pack's VAE: an exact, invertible space-to-depth transform, so that
 * decode(encode(x)) == x bit for bit and a latent is just the video rearranged.
 *
 * Time: like the Wan VAE, the first frame stands alone and the rest go in groups of
 * `temporalStride`; the encoder repeats the first frame `temporalStride − 1` times in front, so
 * F video frames (F = temporalStride·(F' − 1) + 1) become F' groups, and the decoder drops the
 * repeats again. Space: `spatialStride` × `spatialStride` pixel blocks.
 *
 * Latent channel layout (C = temporalStride · 3 · spatialStride²):
 *   c = ((dt·3 + rgb)·s + dy)·s + dx
 * latent[0, c, k, y, x] = padded[0, rgb, k·t + dt, y·s + dy, x·s + dx], where padded is the video
 * with the repeated first frame in front. So each latent frame holds its `t` video frames as
 * consecutive blocks of 3·s² channels, the last block being the newest frame.
 */
export interface VaeOptions {
  /** Pixels per latent cell along each side (default 8). */
  spatialStride?: number;
  /** Video frames per latent frame after the first (default 4). */
  temporalStride?: number;
  /** Default-domain opset (default 17). */
  opset?: number;
}

export interface VaeGeometry {
  spatialStride: number;
  temporalStride: number;
  /** Latent channels: temporalStride · 3 · spatialStride². */
  latentChannels: number;
}

/** The reference pack's VAE geometry: ×4 in time, ×8 in space, 768 latent channels. */
export const REFERENCE_VAE: Readonly<VaeGeometry> = Object.freeze(vaeGeometry({}));

/** Strides and latent channels for the given options (validated). */
export function vaeGeometry(options: VaeOptions): VaeGeometry {
  const spatialStride = options.spatialStride ?? 8;
  const temporalStride = options.temporalStride ?? 4;
  for (const [field, value] of [
    ['spatialStride', spatialStride],
    ['temporalStride', temporalStride],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`${field} must be a positive integer, got ${value}`);
    }
  }
  return {
    spatialStride,
    temporalStride,
    latentChannels: temporalStride * 3 * spatialStride * spatialStride,
  };
}

/** Latent shape [1, C, F', H/s, W/s] for a video shape [1, 3, F, H, W]; throws if they do not divide. */
export function vaeLatentShape(videoShape: readonly number[], options: VaeOptions = {}): number[] {
  const { spatialStride: s, temporalStride: t, latentChannels } = vaeGeometry(options);
  const [n, c, f, h, w] = videoShape;
  if (
    videoShape.length !== 5 ||
    n !== 1 ||
    c !== 3 ||
    f === undefined ||
    h === undefined ||
    w === undefined
  ) {
    throw new RangeError(`video shape must be [1, 3, F, H, W], got [${videoShape.join(', ')}]`);
  }
  if (!Number.isSafeInteger(f) || f < 1 || (f - 1) % t !== 0) {
    throw new RangeError(`F must be ${t}n+1, got ${f}`);
  }
  if (
    !Number.isSafeInteger(h) ||
    !Number.isSafeInteger(w) ||
    h < s ||
    w < s ||
    h % s !== 0 ||
    w % s !== 0
  ) {
    throw new RangeError(`H and W must be positive multiples of ${s}, got ${h}×${w}`);
  }
  return [1, latentChannels, (f - 1) / t + 1, h / s, w / s];
}

/** ONNX model `vaeEncoder`: input `video` f32 [1, 3, F, H, W] → output `latent` [1, C, F', H/s, W/s]. */
export function buildVaeEncoder(options: VaeOptions = {}): Uint8Array {
  const { spatialStride: s, temporalStride: t, latentChannels } = vaeGeometry(options);
  const g = new GraphBuilder('vaeEncoder', {
    opset: options.opset,
    docString: `reference VAE encoder: exact space-to-depth, time stride ${t}, space stride ${s}`,
  });
  const video = g.input('video', 'float', [1, 3, 'frames', 'height', 'width']);
  g.output('latent', 'float', [
    1,
    latentChannels,
    'latent_frames',
    'latent_height',
    'latent_width',
  ]);

  // Repeat the first frame t − 1 times in front: [1, 3, F + t − 1, H, W].
  let padded = video;
  if (t > 1) {
    const first = g.op('Slice', [
      video,
      g.int64s('first_start', [0]),
      g.int64s('first_end', [1]),
      g.int64s('time_axis', [2]),
    ]);
    padded = g.op('Concat', [...Array.from({ length: t - 1 }, () => first), video], {
      axis: attr.int(2),
    });
  }

  // h = H / s and w = W / s as 1-D int64 tensors.
  const stride = g.int64s('stride', [s]);
  const h = g.op('Div', [g.op('Shape', [video], { start: attr.int(3), end: attr.int(4) }), stride]);
  const w = g.op('Div', [g.op('Shape', [video], { start: attr.int(4), end: attr.int(5) }), stride]);

  // [1, 3, F', t, h, s, w, s] → [1, t, 3, s, s, F', h, w] → [1, C, F', h, w]
  const split = g.op('Reshape', [
    padded,
    g.op('Concat', [g.int64s('lead', [1, 3, -1, t]), h, stride, w, stride], { axis: attr.int(0) }),
  ]);
  const moved = g.op('Transpose', [split], { perm: attr.ints([0, 3, 1, 5, 7, 2, 4, 6]) });
  const latentShape = g.op('Concat', [g.int64s('latent_lead', [1, latentChannels, -1]), h, w], {
    axis: attr.int(0),
  });
  g.node('Reshape', [moved, latentShape], ['latent']);
  return g.toBytes();
}

/** ONNX model `vaeDecoder`: input `latent` f32 [1, C, F', h, w] → output `video` [1, 3, F, h·s, w·s]. */
export function buildVaeDecoder(options: VaeOptions = {}): Uint8Array {
  const { spatialStride: s, temporalStride: t, latentChannels } = vaeGeometry(options);
  const g = new GraphBuilder('vaeDecoder', {
    opset: options.opset,
    docString: `reference VAE decoder: exact depth-to-space, time stride ${t}, space stride ${s}`,
  });
  const latent = g.input('latent', 'float', [
    1,
    latentChannels,
    'latent_frames',
    'latent_height',
    'latent_width',
  ]);
  g.output('video', 'float', [1, 3, 'frames', 'height', 'width']);

  // [F', h, w] from the latent; [1, t, 3, s, s, F', h, w] → [1, 3, F', t, h, s, w, s]
  const fhw = g.op('Shape', [latent], { start: attr.int(2) });
  const splitShape = g.op('Concat', [g.int64s('split_lead', [1, t, 3, s, s]), fhw], {
    axis: attr.int(0),
  });
  const split = g.op('Reshape', [latent, splitShape]);
  const moved = g.op('Transpose', [split], { perm: attr.ints([0, 2, 5, 1, 6, 3, 7, 4]) });

  // [1, 3, F'·t, h·s, w·s]
  const videoDims = g.op('Mul', [fhw, g.int64s('strides', [t, s, s])]);
  const paddedShape = g.op('Concat', [g.int64s('video_lead', [1, 3]), videoDims], {
    axis: attr.int(0),
  });
  const padded = g.op('Reshape', [moved, paddedShape]);

  // Drop the t − 1 repeats of the first frame.
  if (t > 1) {
    g.node(
      'Slice',
      [
        padded,
        g.int64s('frames_start', [t - 1]),
        g.int64s('frames_end', [Number.MAX_SAFE_INTEGER]),
        g.int64s('time_axis', [2]),
      ],
      ['video'],
    );
  } else {
    g.node('Identity', [padded], ['video']);
  }
  return g.toBytes();
}
