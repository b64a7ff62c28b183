import {
  InvalidWorkerEventError,
  WorkerHeartbeatV1,
  parseWorkerEvent,
  workerEventKey,
} from './index';

const tenantId = '7d7c2a4e-9f57-4d5e-8d0c-1b6d3c2f9a10';
const renderId = '0b1e8f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b';
const at = '2026-11-25T20:00:00.000Z';
const base = { v: 1, tenantId, renderId, attempt: 1, run: 'run-0001', seq: 3, workerId: 'w1', at };

function fieldsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidWorkerEventError) return error.issues.map((i) => i.path);
    throw error;
  }
  throw new Error('expected InvalidWorkerEventError');
}

describe('worker events', () => {
  it('parses a progress event and keys it by subject, attempt and seq', () => {
    const event = parseWorkerEvent({
      ...base,
      type: 'render.progress',
      phase: 'denoising',
      clip: 0,
      clips: 2,
      step: 4,
      totalSteps: 30,
      fraction: 0.1,
      etaSeconds: 12.5,
    });
    expect(event.type).toBe('render.progress');
    expect(workerEventKey(event)).toBe(`${renderId}:run-0001:3`);
  });

  it('parses an avatar failure listing the faces found', () => {
    const face = {
      box: { x0: 1, y0: 2, x1: 30, y1: 40 },
      keypoints: Array.from({ length: 6 }, () => ({ x: 5, y: 6 })),
      score: 0.9,
    };
    const event = parseWorkerEvent({
      v: 1,
      tenantId,
      avatarId: renderId,
      attempt: 2,
      run: 'run-0002',
      seq: 0,
      workerId: 'w1',
      at,
      type: 'avatar.failed',
      reason: 'SEVERAL_FACES',
      message: '2 faces found; choose one with faceIndex',
      faces: [face, face],
      willRetry: false,
    });
    expect(event.type === 'avatar.failed' && event.faces).toHaveLength(2);
    expect(workerEventKey(event)).toBe(`${renderId}:run-0002:0`);
  });

  it('names the fields that are wrong', () => {
    expect(
      fieldsOf(() =>
        parseWorkerEvent({
          ...base,
          tenantId: 'nope',
          type: 'render.progress',
          phase: 'dreaming',
          clip: 0,
          clips: 1,
          step: 0,
          totalSteps: 30,
          fraction: 1.5,
          etaSeconds: null,
        }),
      ).sort(),
    ).toEqual(['fraction', 'phase', 'tenantId']);
    expect(fieldsOf(() => parseWorkerEvent({ ...base, type: 'render.exploded' }))).toEqual([
      'type',
    ]);
  });

  it('rejects a success without a valid sha256 or a failure without a code', () => {
    expect(
      fieldsOf(() =>
        parseWorkerEvent({
          ...base,
          type: 'render.succeeded',
          output: {
            storageKey: 'k',
            posterKey: 'p',
            mime: 'video/mp4',
            bytes: 10,
            sha256: 'abc',
            durationSeconds: 1,
            width: 512,
            height: 512,
            fps: 23,
            frames: 23,
          },
          seed: 7,
          identityScore: 0.9,
          modelSeconds: 3,
        }),
      ),
    ).toEqual(['output.sha256']);
    expect(
      fieldsOf(() =>
        parseWorkerEvent({
          ...base,
          type: 'render.failed',
          error: { message: 'x', retryable: true, ourFault: true },
          willRetry: true,
        }),
      ),
    ).toEqual(['error.code']);
  });

  it('parses a requeue of a worker shutting down, naming a wrong reason or clip count', () => {
    const event = parseWorkerEvent({
      ...base,
      type: 'render.requeued',
      reason: 'worker-shutdown',
      resumableClips: 1,
      clips: 2,
    });
    expect(event).toMatchObject({ type: 'render.requeued', resumableClips: 1, clips: 2 });
    expect(workerEventKey(event)).toBe(`${renderId}:run-0001:3`);
    expect(
      fieldsOf(() =>
        parseWorkerEvent({
          ...base,
          type: 'render.requeued',
          reason: 'bored',
          resumableClips: -1,
          clips: 2,
        }),
      ).sort(),
    ).toEqual(['reason', 'resumableClips']);
  });

  it('takes packVersion on render.started (optional: older workers send none)', () => {
    const started = { ...base, type: 'render.started', resumedFromClip: 0, clips: 2 };
    expect(parseWorkerEvent(started)).not.toHaveProperty('packVersion');
    expect(parseWorkerEvent({ ...started, packVersion: '1.0.0' })).toMatchObject({
      packVersion: '1.0.0',
    });
    expect(fieldsOf(() => parseWorkerEvent({ ...started, packVersion: '' }))).toEqual([
      'packVersion',
    ]);
  });

  it('validates heartbeats', () => {
    const ok = WorkerHeartbeatV1.safeParse({
      v: 1,
      workerId: 'w1',
      provider: 'cpu',
      providerNote: 'CUDA requested but not available: libcudart.so.12 not found',
      packs: [
        {
          name: 'reference',
          version: '1.0.0',
          capabilities: { identity: true, motion: true, maxSide: 512 },
          fps: 23,
          maxFramesPerClip: 33,
        },
      ],
      capacity: 1,
      currentJobs: [],
      startedAt: at,
      at,
    });
    expect(ok.success).toBe(true);
    expect(WorkerHeartbeatV1.safeParse({ v: 1, workerId: 'w1', provider: 'tpu' }).success).toBe(
      false,
    );
  });
});
