import { JobName } from '@likeness/contracts';
import type { JobPayload } from '@likeness/contracts';

/** Valid payloads of the served jobs, shared by the specs. */
export const tenantId = '7d7c2a4e-9f57-4d5e-8d0c-1b6d3c2f9a10';

export const avatarPreparePayload: JobPayload<typeof JobName.AvatarPrepare> = {
  v: 1,
  tenantId,
  avatarId: '0b1e8f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b',
  imageStorageKey: `tenants/${tenantId}/assets/portrait.jpg`,
  faceIndex: null,
  modelPack: 'reference',
};

export const renderPayload: JobPayload<typeof JobName.Render> = {
  v: 1,
  tenantId,
  renderId: '5a0f7c9e-1b2d-4c3e-9f4a-6b7c8d9e0f1a',
  attempt: 1,
  imageStorageKey: `tenants/${tenantId}/assets/portrait.jpg`,
  audioStorageKey: `tenants/${tenantId}/assets/voice.wav`,
  identityEmbedding: null,
  prompt: 'A person is talking.',
  motion: null,
  guidance: { prompt: 5, audio: 5 },
  maxSide: 512,
  fps: 23,
  steps: 30,
  seed: 1111,
  modelPack: 'reference',
};
