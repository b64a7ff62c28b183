import { InvalidJobPayloadError, JobName, allJobNames, parseJobPayload, queueOfJob } from './index';

const tenantId = '7d7c2a4e-9f57-4d5e-8d0c-1b6d3c2f9a10';
const avatarId = '0b1e8f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b';

describe('job contracts', () => {
  it('assigns every job name to exactly one queue', () => {
    expect(allJobNames.length).toBeGreaterThan(0);
    for (const name of allJobNames) expect(queueOfJob[name]).toEqual(expect.any(String));
  });

  it('accepts a valid avatar.prepare payload', () => {
    const payload = parseJobPayload(JobName.AvatarPrepare, {
      v: 1,
      tenantId,
      avatarId,
      imageStorageKey: 'tenants/x/a.jpg',
      faceIndex: null,
      modelPack: 'reference',
    });
    expect(payload.avatarId).toBe(avatarId);
  });

  it('rejects a payload without tenantId, naming the field', () => {
    expect(() =>
      parseJobPayload(JobName.AvatarPrepare, {
        v: 1,
        avatarId,
        imageStorageKey: 'k',
        faceIndex: null,
        modelPack: 'reference',
      }),
    ).toThrow(/tenantId/);
  });

  it('rejects a payload of an unknown version', () => {
    let caught: unknown;
    try {
      parseJobPayload(JobName.WebhookDeliver, { v: 2, tenantId, deliveryId: avatarId });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InvalidJobPayloadError);
    expect((caught as InvalidJobPayloadError).issues.map((i) => i.path)).toEqual(['v']);
  });

  it('accepts a render payload with or without modelPackVersion (added later), never an empty one', () => {
    const render = {
      v: 1,
      tenantId,
      renderId: avatarId,
      attempt: 1,
      imageStorageKey: 'tenants/x/a.jpg',
      audioStorageKey: 'tenants/x/b.wav',
      identityEmbedding: null,
      prompt: 'A person is talking.',
      motion: null,
      guidance: { prompt: 5, audio: 5 },
      maxSide: 512,
      fps: 23,
      steps: 30,
      seed: 7,
      modelPack: 'reference',
    };
    expect(parseJobPayload(JobName.Render, render).modelPackVersion).toBeUndefined();
    expect(
      parseJobPayload(JobName.Render, { ...render, modelPackVersion: '1.2.0' }).modelPackVersion,
    ).toBe('1.2.0');
    let caught: unknown;
    try {
      parseJobPayload(JobName.Render, { ...render, modelPackVersion: '' });
    } catch (e) {
      caught = e;
    }
    expect((caught as InvalidJobPayloadError).issues.map((i) => i.path)).toEqual([
      'modelPackVersion',
    ]);
  });
});
