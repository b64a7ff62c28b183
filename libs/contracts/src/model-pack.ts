import { z } from 'zod';

/** The file every model pack folder starts with. */
export const MANIFEST_FILE = 'model-pack.json';

/** Pipeline stages of DESIGN.md ("The render pipeline"); a pack must provide every one. */
export const stageNames = [
  'audioEncoder',
  'faceDetector',
  'identityEncoder',
  'imageEncoder',
  'textEncoder',
  'vaeEncoder',
  'vaeDecoder',
  'denoiser',
] as const;
export type StageName = (typeof stageNames)[number];

/** Graph-boundary types the Node binding of onnxruntime handles (no bf16 there). */
export const tensorDtypes = ['float32', 'float16', 'int64'] as const;
export type TensorDtype = (typeof tensorDtypes)[number];

/** Output sides are rounded to multiples of 16 (VAE stride 8 × DiT patch 2 in the release). */
export const SIDE_MULTIPLE = 16;

const positiveInt = z.number().int().min(1);

/** A dimension is a fixed size or a symbolic name ("B", "F'", "S") resolved at run time. */
const dimension = z.union([positiveInt, z.string().min(1)], {
  error: 'must be a positive integer or a symbolic name',
});

const tensorSchema = z
  .object({
    name: z.string().min(1),
    dtype: z.enum(tensorDtypes, { error: `must be one of ${tensorDtypes.join(', ')}` }),
    shape: z.array(dimension),
  })
  .strict();

const tensorList = z.array(tensorSchema).superRefine((tensors, ctx) => {
  const seen = new Set<string>();
  tensors.forEach((tensor, index) => {
    if (seen.has(tensor.name))
      ctx.addIssue({
        code: 'custom',
        path: [index, 'name'],
        message: `duplicate tensor "${tensor.name}"`,
      });
    seen.add(tensor.name);
  });
});

/** Relative to the pack folder and inside it: a manifest must not point at other files on the box. */
export const stageFile = z
  .string()
  .min(1)
  .refine((file) => !/^([\\/]|[A-Za-z]:)/.test(file) && !file.split(/[\\/]/).includes('..'), {
    message: 'must be a path inside the pack folder',
  })
  .refine((file) => file.endsWith('.onnx'), { message: 'must be an .onnx file' });

const stageSchema = z
  .object(
    {
      file: stageFile,
      inputs: tensorList.min(1),
      outputs: tensorList.min(1),
      /** Weights live beside the graph (ONNX external data): required for graphs over 2 GB. */
      externalData: z.boolean().optional(),
    },
    { error: (issue) => (issue.input === undefined ? 'missing stage' : 'must be an object') },
  )
  .strict();

const stagesShape = Object.fromEntries(stageNames.map((name) => [name, stageSchema])) as Record<
  StageName,
  typeof stageSchema
>;

/** The shape of model-pack.json; `validateManifest` adds the rules that span several fields. */
export const modelPackManifestSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, { message: 'must be a lowercase slug' }),
    version: z.string().min(1),
    description: z.string().optional(),
    fps: positiveInt.max(120),
    maxFramesPerClip: positiveInt,
    spatialStride: positiveInt,
    temporalStride: positiveInt,
    latentChannels: positiveInt,
    /** What the audio encoder consumes and produces: 16 kHz in, 50 Hz features out for wav2vec2. */
    audio: z
      .object({
        sampleRate: positiveInt,
        featureRate: positiveInt,
      })
      .strict(),
    capabilities: z
      .object({
        identity: z.boolean(),
        motion: z.boolean(),
        maxSide: positiveInt,
      })
      .strict(),
    stages: z.object(stagesShape).strict(),
  })
  .strict();

export type ModelPackManifest = z.infer<typeof modelPackManifestSchema>;
export type TensorSpec = z.infer<typeof tensorSchema>;

export interface PackProblem {
  /** JSON path into model-pack.json, e.g. `$.stages.denoiser.inputs[0].dtype`; `$` for the file itself. */
  readonly path: string;
  readonly message: string;
}

export type PackValidation =
  | { readonly ok: true; readonly manifest: ModelPackManifest; readonly problems: readonly [] }
  | { readonly ok: false; readonly problems: readonly PackProblem[] };

export function toJsonPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    const name = String(key);
    return /^[A-Za-z_$][\w$]*$/.test(name) ? `${out}.${name}` : `${out}[${JSON.stringify(name)}]`;
  }, '$');
}

/** Checks a manifest object (already parsed from JSON) without touching the disk. */
export function validateManifest(data: unknown): PackValidation {
  const result = modelPackManifestSchema.safeParse(data);
  const problems = [
    ...(result.success ? [] : result.error.issues.flatMap(problemsOfIssue)),
    ...ruleProblems(data),
  ];
  if (result.success && problems.length === 0) {
    return { ok: true, manifest: result.data, problems: [] };
  }
  return { ok: false, problems };
}

/** One problem per issue, except that each unknown key gets its own path (a typo is easier to spot). */
function problemsOfIssue(issue: z.core.$ZodIssue): PackProblem[] {
  if (issue.code === 'unrecognized_keys') {
    const known =
      issue.path.length === 1 && issue.path[0] === 'stages'
        ? ` (stages are ${stageNames.join(', ')})`
        : '';
    return issue.keys.map((key) => ({
      path: toJsonPath([...issue.path, key]),
      message: `unknown field${known}`,
    }));
  }
  return [{ path: toJsonPath(issue.path), message: issue.message }];
}

/**
 * Rules across fields. They read the raw object and each runs when its own fields are
 * well-formed, so a bad dtype elsewhere does not hide a wrong clip length.
 */
function ruleProblems(data: unknown): PackProblem[] {
  if (!isRecord(data)) return [];
  const problems: PackProblem[] = [];
  const frames = data['maxFramesPerClip'];
  const stride = data['temporalStride'];
  if (isPositiveInt(frames) && isPositiveInt(stride) && (frames - 1) % stride !== 0) {
    const below = frames - ((frames - 1) % stride);
    problems.push({
      path: '$.maxFramesPerClip',
      message: `must be ${stride}n+1 for temporalStride ${stride} (nearest: ${below} or ${below + stride}), got ${frames}`,
    });
  }
  const capabilities = isRecord(data['capabilities']) ? data['capabilities'] : {};
  const maxSide = capabilities['maxSide'];
  if (isPositiveInt(maxSide) && maxSide % SIDE_MULTIPLE !== 0) {
    problems.push({
      path: '$.capabilities.maxSide',
      message: `must be a multiple of ${SIDE_MULTIPLE}, got ${maxSide}`,
    });
  }
  // A declared capability the denoiser cannot receive would be silently ignored at render time.
  const stages = isRecord(data['stages']) ? data['stages'] : {};
  const denoiser = isRecord(stages['denoiser']) ? stages['denoiser'] : {};
  const inputs = Array.isArray(denoiser['inputs']) ? (denoiser['inputs'] as unknown[]) : [];
  const inputNames = new Set(inputs.map((input) => (isRecord(input) ? input['name'] : undefined)));
  for (const capability of ['identity', 'motion'] as const) {
    if (capabilities[capability] === true && !inputNames.has(capability)) {
      problems.push({
        path: `$.capabilities.${capability}`,
        message: `is true but the denoiser declares no "${capability}" input`,
      });
    }
  }
  return problems;
}

function isPositiveInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
