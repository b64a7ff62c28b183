import type { WorkerEventOf } from '@likeness/contracts';
import type { Render as RenderRow } from '@likeness/db';
import {
  acceptWorkerEvent,
  cancelNow,
  chargeFor,
  decideWorkerEvent,
  requeue,
  requestCancel,
  type RenderWorkerEvent,
} from './render-transitions';

const tenantId = '7d7c2a4e-9f57-4d5e-8d0c-1b6d3c2f9a10';
const renderId = '0b1e8f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b';
const prefix = `tenants/${tenantId}/renders/${renderId}/`;

function row(changes: Partial<RenderRow> = {}): RenderRow {
  const t = new Date('2026-11-25T10:00:00Z');
  return {
    id: renderId,
    tenantId,
    apiKeyId: null,
    avatarId: '1b1e8f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b',
    audioAssetId: '2b1e8f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b',
    prompt: 'A person is talking.',
    controls: {},
    seed: 7,
    modelPack: 'reference',
    modelPackVersion: '1.0.0',
    status: 'QUEUED',
    priority: 0,
    progress: null,
    outputAssetId: null,
    identityScore: null,
    costCents: null,
    error: null,
    attempts: 1,
    idempotencyKey: null,
    inputHash: 'h',
    queuedAt: t,
    startedAt: null,
    finishedAt: null,
    deadlineAt: null,
    createdAt: t,
    updatedAt: t,
    admittedAt: t,
    runId: null,
    runSeq: -1,
    runAt: null,
    runs: 0,
    workerId: null,
    lastEventAt: null,
    cancelRequestedAt: null,
    audioSeconds: 3.5,
    frames: 81,
    billedSeconds: 4,
    quotedCents: 40,
    ...changes,
  };
}

const base = { v: 1 as const, tenantId, renderId, attempt: 1, workerId: 'w1' };
const started = (run: string, at: string, seq = 0): RenderWorkerEvent => ({
  ...base,
  type: 'render.started',
  run,
  seq,
  at,
  resumedFromClip: 0,
  clips: 1,
});
const progress = (
  run: string,
  seq: number,
  step: number,
  phase: WorkerEventOf<'render.progress'>['phase'] = 'denoising',
): RenderWorkerEvent => ({
  ...base,
  type: 'render.progress',
  run,
  seq,
  at: '2026-11-25T10:00:05Z',
  phase,
  clip: 0,
  clips: 1,
  step,
  totalSteps: 30,
  fraction: step / 30,
  etaSeconds: 30 - step,
  previewKey: `${prefix}preview.jpg`,
});
const succeeded = (
  run: string,
  seq: number,
  storageKey = `${prefix}out.mp4`,
): RenderWorkerEvent => ({
  ...base,
  type: 'render.succeeded',
  run,
  seq,
  at: '2026-11-25T10:01:00Z',
  output: {
    storageKey,
    posterKey: `${prefix}poster.jpg`,
    mime: 'video/mp4',
    bytes: 1000,
    sha256: 'b'.repeat(64),
    durationSeconds: 81 / 23,
    width: 512,
    height: 512,
    fps: 23,
    frames: 81,
  },
  seed: 7,
  identityScore: 0.9,
  modelSeconds: 12,
});

/** Applies a decision to a row the way the repository would. */
function apply(current: RenderRow, event: RenderWorkerEvent): RenderRow {
  const change = decideWorkerEvent(current, event);
  return change ? ({ ...current, ...change.patch } as RenderRow) : current;
}

describe('worker events → render changes', () => {
  it('runs the whole flow and charges what was quoted for the delivered seconds', () => {
    let r = row();
    r = apply(r, started('run-aaaa1', '2026-11-25T10:00:01Z'));
    expect(r).toMatchObject({ status: 'RUNNING', runs: 1, runId: 'run-aaaa1', workerId: 'w1' });
    r = apply(r, progress('run-aaaa1', 1, 5));
    expect(r.progress).toMatchObject({
      phase: 'denoising',
      step: 5,
      previewKey: `${prefix}preview.jpg`,
    });
    const encoding = decideWorkerEvent(r, progress('run-aaaa1', 2, 30, 'encoding'));
    expect(encoding?.eventType).toBe('render.encoding');
    r = apply(r, progress('run-aaaa1', 2, 30, 'encoding'));
    expect(r.status).toBe('ENCODING');
    const done = decideWorkerEvent(r, succeeded('run-aaaa1', 3));
    expect(done).toMatchObject({
      eventType: 'render.succeeded',
      patch: { status: 'SUCCEEDED', billedSeconds: 4, costCents: 40, identityScore: 0.9 },
      outputAsset: { kind: 'VIDEO', storageKey: `${prefix}out.mp4` },
      usage: { quantity: 4, unit: 'video_second' },
    });
  });

  it('ignores duplicates, stale progress and anything after the end', () => {
    let r = apply(row(), started('run-aaaa1', '2026-11-25T10:00:01Z'));
    r = apply(r, progress('run-aaaa1', 2, 9));
    expect(decideWorkerEvent(r, progress('run-aaaa1', 2, 9))).toBeNull(); // the same event again
    expect(decideWorkerEvent(r, progress('run-aaaa1', 1, 5))).toBeNull(); // older, arrived late
    r = apply(r, succeeded('run-aaaa1', 3));
    expect(decideWorkerEvent(r, succeeded('run-aaaa1', 3))).toBeNull();
    expect(decideWorkerEvent(r, progress('run-aaaa1', 4, 30))).toBeNull();
  });

  it('applies a later event that overtook an earlier one (two replicas), and drops the earlier', () => {
    let r = apply(row(), started('run-aaaa1', '2026-11-25T10:00:01Z'));
    r = apply(r, succeeded('run-aaaa1', 4));
    expect(r.status).toBe('SUCCEEDED');
    expect(decideWorkerEvent(r, progress('run-aaaa1', 3, 30, 'encoding'))).toBeNull();
  });

  it('adopts a run whose progress came before its start, and counts it once', () => {
    const r = apply(row(), progress('run-bbbb1', 1, 3));
    expect(r).toMatchObject({ status: 'RUNNING', runs: 1, runId: 'run-bbbb1' });
    expect(decideWorkerEvent(r, started('run-bbbb1', '2026-11-25T10:00:01Z'))).toBeNull();
  });

  it('moves to a newer run (a retry), and never back to an older or a zombie one', () => {
    let r = apply(row(), started('run-old01', '2026-11-25T10:00:01Z'));
    const retry: RenderWorkerEvent = {
      ...base,
      type: 'render.failed',
      run: 'run-old01',
      seq: 1,
      at: '2026-11-25T10:00:02Z',
      error: { code: 'INFRASTRUCTURE', message: 'storage down', retryable: true, ourFault: true },
      willRetry: true,
    };
    expect(decideWorkerEvent(r, retry)?.eventType).toBe('render.retrying');
    r = apply(r, retry);
    expect(r.status).toBe('QUEUED');
    r = apply(r, started('run-new01', '2026-11-25T10:00:10Z'));
    expect(r).toMatchObject({ status: 'RUNNING', runId: 'run-new01', runs: 2 });
    // The old run's late events and a replay of its start change nothing.
    expect(decideWorkerEvent(r, progress('run-old01', 2, 7))).toBeNull();
    expect(decideWorkerEvent(r, started('run-old01', '2026-11-25T10:00:01Z'))).toBeNull();
    expect(decideWorkerEvent(r, succeeded('run-old01', 9))).toBeNull();
  });

  it('on a requeue by a worker shutting down: QUEUED, still admitted, progress cleared; the next run takes over', () => {
    let r = apply(row(), started('run-aaaa1', '2026-11-25T10:00:01Z'));
    r = apply(r, progress('run-aaaa1', 1, 12));
    const requeued: RenderWorkerEvent = {
      ...base,
      type: 'render.requeued',
      run: 'run-aaaa1',
      seq: 2,
      at: '2026-11-25T10:00:06Z',
      reason: 'worker-shutdown',
      resumableClips: 1,
      clips: 2,
    };
    const change = decideWorkerEvent(r, requeued);
    expect(change).toMatchObject({
      eventType: 'render.requeued',
      patch: { status: 'QUEUED', progress: null, runId: 'run-aaaa1', runSeq: 2 },
    });
    expect(change?.patch).not.toHaveProperty('admittedAt');
    expect(change?.patch).not.toHaveProperty('attempts');
    r = apply(r, requeued);
    expect(r).toMatchObject({ status: 'QUEUED', progress: null, attempts: 1, runs: 1 });
    expect(r.admittedAt).not.toBeNull();
    expect(decideWorkerEvent(r, requeued)).toBeNull(); // delivered twice
    expect(decideWorkerEvent(r, progress('run-aaaa1', 1, 12))).toBeNull(); // stale
    r = apply(r, started('run-bbbb1', '2026-11-25T10:00:20Z'));
    expect(r).toMatchObject({ status: 'RUNNING', runId: 'run-bbbb1', runs: 2, attempts: 1 });
    // The old run's requeue arriving late (another replica) cannot send it back.
    expect(decideWorkerEvent(r, requeued)).toBeNull();
    r = apply(r, succeeded('run-bbbb1', 1));
    expect(r.status).toBe('SUCCEEDED');
  });

  it('on clip-finished: the next clip from its first phase and step 0; the last clip keeps its phase', () => {
    let r = apply(row(), {
      ...started('run-aaaa1', '2026-11-25T10:00:01Z'),
      clips: 3,
    } as RenderWorkerEvent);
    r = apply(r, {
      ...progress('run-aaaa1', 1, 30, 'decoding'),
      clips: 3,
      fraction: 0.3,
    } as RenderWorkerEvent);
    const clipDone = (seq: number, clip: number): RenderWorkerEvent => ({
      ...base,
      type: 'render.clip-finished',
      run: 'run-aaaa1',
      seq,
      at: '2026-11-25T10:00:09Z',
      clip,
      clips: 3,
      checkpointKey: `${prefix}checkpoints/clip-${clip}.json`,
    });
    r = apply(r, clipDone(2, 0));
    expect(r.status).toBe('RUNNING');
    expect(r.progress).toEqual({
      phase: 'denoising',
      clip: 1,
      clips: 3,
      step: 0,
      totalSteps: 30,
      fraction: 1 / 3,
      etaSeconds: 0,
      previewKey: `${prefix}preview.jpg`,
    });
    r = apply(r, {
      ...progress('run-aaaa1', 3, 30, 'encoding'),
      clip: 2,
      clips: 3,
    } as RenderWorkerEvent);
    r = apply(r, clipDone(4, 2));
    expect(r.status).toBe('ENCODING');
    expect(r.progress).toMatchObject({ phase: 'encoding', clip: 3, clips: 3, step: 30 });
  });

  it('records the pack version a worker ran: on the run while it runs, on the video when done', () => {
    let r = apply(row(), {
      ...started('run-aaaa1', '2026-11-25T10:00:01Z'),
      packVersion: '1.0.1',
    } as RenderWorkerEvent);
    expect(r.progress).toMatchObject({ packVersion: '1.0.1' });
    r = apply(r, progress('run-aaaa1', 1, 5));
    expect(r.progress).toMatchObject({ step: 5, packVersion: '1.0.1' });
    const done = decideWorkerEvent(r, {
      ...succeeded('run-aaaa1', 2),
      packVersion: '1.0.1',
    } as RenderWorkerEvent);
    expect(done?.outputAsset?.probe).toMatchObject({ modelPackVersion: '1.0.1', frames: 81 });
    // Older workers send none: nothing is made up.
    const old = decideWorkerEvent(r, succeeded('run-aaaa1', 2));
    expect(old?.outputAsset?.probe).not.toHaveProperty('modelPackVersion');
  });

  it('ignores events of another admission and of a render waiting to be admitted again', () => {
    const other = { ...started('run-aaaa1', '2026-11-25T10:00:01Z'), attempt: 2 };
    expect(acceptWorkerEvent(row(), other)).toBeNull();
    expect(
      acceptWorkerEvent(row({ admittedAt: null }), started('run-aaaa1', '2026-11-25T10:00:01Z')),
    ).toBeNull();
  });

  it('fails, for free, a success whose video lies outside the render’s folder', () => {
    const r = apply(row(), started('run-aaaa1', '2026-11-25T10:00:01Z'));
    const other = `tenants/${tenantId}/renders/3b1e8f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b/out.mp4`;
    for (const key of [other, `${prefix}../x/out.mp4`]) {
      expect(decideWorkerEvent(r, succeeded('run-aaaa1', 1, key))).toMatchObject({
        eventType: 'render.failed',
        patch: { status: 'FAILED', costCents: 0, billedSeconds: 0, error: { ourFault: true } },
      });
    }
  });

  it('never shows partners the worker’s own words for our failures; input failures keep theirs', () => {
    const r = apply(row(), started('run-aaaa1', '2026-11-25T10:00:01Z'));
    const leak = "ENOENT: no such file or directory, open '/srv/likeness/tmp/render-worker/x.wav'";
    const failed = (
      code: 'INTERNAL' | 'INFRASTRUCTURE',
      willRetry: boolean,
    ): RenderWorkerEvent => ({
      ...base,
      type: 'render.failed',
      run: 'run-aaaa1',
      seq: 1,
      at: '2026-11-25T10:00:02Z',
      error: { code, message: leak, field: 'audioAssetId', retryable: willRetry, ourFault: true },
      willRetry,
    });
    for (const [code, willRetry] of [
      ['INTERNAL', false],
      ['INFRASTRUCTURE', true],
    ] as const) {
      const error = decideWorkerEvent(r, failed(code, willRetry))?.patch.error as {
        message: string;
        field?: string;
      };
      expect(error.message).not.toContain('ENOENT');
      expect(error.message).toContain(r.id);
      expect(error.field).toBeUndefined();
    }
    const input: RenderWorkerEvent = {
      ...base,
      type: 'render.failed',
      run: 'run-aaaa1',
      seq: 1,
      at: '2026-11-25T10:00:02Z',
      willRetry: false,
      error: {
        code: 'BAD_INPUT',
        message: 'audio: no audio stream',
        field: 'audioAssetId',
        retryable: false,
        ourFault: false,
      },
    };
    expect(decideWorkerEvent(r, input)?.patch.error).toMatchObject({
      message: 'audio: no audio stream',
      field: 'audioAssetId',
    });
  });

  it('charges nothing for failures and cancellations', () => {
    const r = apply(row(), started('run-aaaa1', '2026-11-25T10:00:01Z'));
    const failed: RenderWorkerEvent = {
      ...base,
      type: 'render.failed',
      run: 'run-aaaa1',
      seq: 1,
      at: '2026-11-25T10:00:02Z',
      error: {
        code: 'BAD_INPUT',
        message: 'unreadable audio',
        field: 'audioAssetId',
        retryable: false,
        ourFault: false,
      },
      willRetry: false,
    };
    expect(decideWorkerEvent(r, failed)?.patch).toMatchObject({
      status: 'FAILED',
      costCents: 0,
      billedSeconds: 0,
      error: { code: 'BAD_INPUT', field: 'audioAssetId', ourFault: false },
    });
    const canceled: RenderWorkerEvent = {
      ...base,
      type: 'render.canceled',
      run: 'run-aaaa1',
      seq: 1,
      at: '2026-11-25T10:00:02Z',
    };
    expect(decideWorkerEvent(r, canceled)?.patch).toMatchObject({
      status: 'CANCELED',
      costCents: 0,
    });
  });

  it('never charges more than quoted, and less for a shorter video', () => {
    expect(chargeFor(row(), 81 / 23)).toEqual({ billedSeconds: 4, costCents: 40 });
    expect(chargeFor(row(), 10)).toEqual({ billedSeconds: 4, costCents: 40 });
    expect(chargeFor(row(), 1.2)).toEqual({ billedSeconds: 2, costCents: 20 });
    expect(chargeFor(row({ quotedCents: 0 }), 2)).toEqual({ billedSeconds: 2, costCents: 0 });
  });
});

describe('gateway-side changes', () => {
  it('cancels and requests cancels only for unfinished renders, once', () => {
    expect(cancelNow(row())?.patch).toMatchObject({ status: 'CANCELED', billedSeconds: 0 });
    expect(cancelNow(row({ status: 'SUCCEEDED' }))).toBeNull();
    expect(requestCancel(row({ status: 'RUNNING' }))?.eventType).toBe('render.cancel-requested');
    expect(requestCancel(row({ status: 'RUNNING', cancelRequestedAt: new Date() }))).toBeNull();
  });

  it('sends an admitted render back to the waiting line, forgetting its run', () => {
    expect(
      requeue(row({ status: 'RUNNING', runId: 'r', runSeq: 5 }), {
        code: 'WORKER_LOST',
        message: 'gone',
      }),
    ).toMatchObject({
      eventType: 'render.requeued',
      patch: { status: 'QUEUED', admittedAt: null, runId: null, runSeq: -1 },
    });
    expect(requeue(row({ admittedAt: null }), { code: 'X', message: 'y' })).toBeNull();
  });
});
