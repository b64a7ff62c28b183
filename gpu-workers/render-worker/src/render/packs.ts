import { ensureReferencePack } from '@likeness/model-zoo';
import { loadModelPack, type ModelPack, type PipelineLogger } from '@likeness/pipeline';
import type { WorkerHeartbeat } from '@likeness/contracts';
import type { ExecutionProvider } from '../config';

/**
 * The built-in reference pack (libs/model-zoo), built once under `<dataDir>/models/reference-<hash>/`,
 * loaded with one session per stage and warmed (loadModelPack runs the pipeline's `warmModelPack`:
 * every stage once on small inputs) before the worker takes jobs.
 */
export async function loadReferencePack(
  dataDir: string,
  options: { provider: ExecutionProvider; logger?: PipelineLogger; intraOpThreads?: number },
): Promise<ModelPack> {
  const { dir } = await ensureReferencePack(dataDir);
  return loadModelPack(dir, {
    provider: options.provider,
    warm: true,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.intraOpThreads !== undefined ? { intraOpThreads: options.intraOpThreads } : {}),
  });
}

/** A pack as the heartbeat advertises it (what the gateway's PackCatalog validates renders against). */
export function advertisedPack(pack: ModelPack): WorkerHeartbeat['packs'][number] {
  const { capabilities } = pack.manifest;
  return {
    name: pack.name,
    version: pack.version,
    capabilities: {
      identity: capabilities.identity,
      motion: capabilities.motion,
      maxSide: capabilities.maxSide,
    },
    fps: pack.geometry.fps,
    maxFramesPerClip: pack.geometry.maxFramesPerClip,
  };
}
