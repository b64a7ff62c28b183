import { createHash } from 'node:crypto';
import type { CheckpointStore } from './checkpoint-store';
import type { PipelineLogger } from './model-pack';

/** What a clip leaves for the next one: its last o latent frames and its held-back frames. */
export interface OverlapState {
  /** [o][C·h·w] latent frames, oldest first. */
  latents: Float32Array[];
  /** [n][3·H·W] planar frames in −1..1, held back for the next clip's cross-fade. */
  tail: Float32Array[];
}

/** The JSON record of a finished clip, written after its blobs (it is the commit). */
export interface ClipRecord {
  format: 1;
  requestHash: string;
  clip: number;
  clips: number;
  width: number;
  height: number;
  /** Global frames [emitStart, emitEnd) the clip wrote to the sink. */
  emitStart: number;
  emitEnd: number;
  framesSha256: string;
  framesBytes: number;
  stateSha256: string;
  stateLatents: number;
  stateTail: number;
  stateValuesPerLatent: number;
  stateValuesPerFrame: number;
}

export const clipName = (clip: number, kind: 'json' | 'frames' | 'state'): string =>
  `clip-${String(clip).padStart(5, '0')}.${kind}`;

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

function packState(state: OverlapState): Uint8Array {
  const total = [...state.latents, ...state.tail].reduce((n, a) => n + a.length, 0);
  const out = new Float32Array(total);
  let offset = 0;
  for (const a of [...state.latents, ...state.tail]) {
    out.set(a, offset);
    offset += a.length;
  }
  return new Uint8Array(out.buffer);
}

function unpackState(bytes: Uint8Array, record: ClipRecord): OverlapState | undefined {
  const values =
    record.stateLatents * record.stateValuesPerLatent +
    record.stateTail * record.stateValuesPerFrame;
  if (bytes.byteLength !== values * 4) return undefined;
  const all = new Float32Array(bytes.slice().buffer);
  const latents: Float32Array[] = [];
  const tail: Float32Array[] = [];
  let offset = 0;
  for (let k = 0; k < record.stateLatents; k++, offset += record.stateValuesPerLatent) {
    latents.push(all.slice(offset, offset + record.stateValuesPerLatent));
  }
  for (let k = 0; k < record.stateTail; k++, offset += record.stateValuesPerFrame) {
    tail.push(all.slice(offset, offset + record.stateValuesPerFrame));
  }
  return { latents, tail };
}

/** Saves a finished clip: frames, then state, then the record; drops the previous clip's state. */
export async function saveClip(
  store: CheckpointStore,
  base: Omit<
    ClipRecord,
    | 'framesSha256'
    | 'framesBytes'
    | 'stateSha256'
    | 'stateLatents'
    | 'stateTail'
    | 'stateValuesPerLatent'
    | 'stateValuesPerFrame'
  >,
  frames: Uint8Array,
  state: OverlapState,
): Promise<void> {
  const stateBytes = packState(state);
  const record: ClipRecord = {
    ...base,
    framesSha256: sha256(frames),
    framesBytes: frames.byteLength,
    stateSha256: sha256(stateBytes),
    stateLatents: state.latents.length,
    stateTail: state.tail.length,
    stateValuesPerLatent: state.latents[0]?.length ?? 0,
    stateValuesPerFrame: state.tail[0]?.length ?? 0,
  };
  await store.put(clipName(base.clip, 'frames'), frames);
  await store.put(clipName(base.clip, 'state'), stateBytes);
  await store.put(clipName(base.clip, 'json'), new TextEncoder().encode(JSON.stringify(record)));
  // Only the newest clip's state is needed to go on.
  if (base.clip > 0) await store.delete(clipName(base.clip - 1, 'state'));
}

export interface ResumePoint {
  /** Clips finished, 0 when starting fresh. */
  clips: number;
  records: ClipRecord[];
  /** The last finished clip's overlap state. */
  state: OverlapState | undefined;
}

/**
 * Finds the finished clips of this request in `store`: records 0, 1, … with the same request
 * hash. Anything else in the store (another request's clips, a clip whose record is damaged,
 * later clips after a gap) is deleted, so the render starts from a clean point.
 */
export async function findResumePoint(
  store: CheckpointStore,
  requestHash: string,
  clips: number,
  logger: PipelineLogger,
): Promise<ResumePoint> {
  const names = (await store.list()).filter((n) => n.startsWith('clip-'));
  const records: ClipRecord[] = [];
  for (let clip = 0; clip < clips; clip++) {
    const bytes = await store.get(clipName(clip, 'json'));
    if (!bytes) break;
    let record: ClipRecord;
    try {
      record = JSON.parse(new TextDecoder().decode(bytes)) as ClipRecord;
    } catch {
      break;
    }
    if (
      record.format !== 1 ||
      record.requestHash !== requestHash ||
      record.clip !== clip ||
      record.clips !== clips
    ) {
      logger.warn(
        { clip, found: record.requestHash },
        'checkpoint belongs to another request; starting fresh',
      );
      break;
    }
    const frames = await store.get(clipName(clip, 'frames'));
    if (
      !frames ||
      frames.byteLength !== record.framesBytes ||
      sha256(frames) !== record.framesSha256
    ) {
      logger.warn({ clip }, 'checkpoint frames missing or damaged');
      break;
    }
    records.push(record);
  }
  let state: OverlapState | undefined;
  while (records.length > 0) {
    const last = records[records.length - 1] as ClipRecord;
    const bytes = await store.get(clipName(last.clip, 'state'));
    state = bytes && sha256(bytes) === last.stateSha256 ? unpackState(bytes, last) : undefined;
    if (state) break;
    // The state of a clip before the last is deleted on purpose; without the last one's state
    // nothing after it can be rebuilt: start over.
    logger.warn({ clip: last.clip }, 'checkpoint state missing or damaged; starting fresh');
    records.length = 0;
  }
  const keep = new Set(
    records.flatMap((r) => [clipName(r.clip, 'json'), clipName(r.clip, 'frames')]),
  );
  const last = records[records.length - 1];
  if (last) keep.add(clipName(last.clip, 'state'));
  await Promise.all(names.filter((n) => !keep.has(n)).map((n) => store.delete(n)));
  return { clips: records.length, records, state };
}

/** The stored frames of a finished clip, checked against its record. */
export async function loadClipFrames(
  store: CheckpointStore,
  record: ClipRecord,
): Promise<Uint8Array> {
  const bytes = await store.get(clipName(record.clip, 'frames'));
  if (!bytes || bytes.byteLength !== record.framesBytes || sha256(bytes) !== record.framesSha256) {
    throw new Error(`checkpoint frames of clip ${record.clip} are missing or damaged`);
  }
  return bytes;
}
