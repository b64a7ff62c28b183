import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MANIFEST_FILE } from '@likeness/contracts';

/** The command that builds the reference pack into `<data dir>/models/` (run from the repo root). */
export const BUILD_PACK_COMMAND = 'npx nx run model-zoo:build-pack';

/**
 * The newest model pack under `<dataDir>/models/`: the most recently modified folder holding a
 * model-pack.json, skipping hidden folders (packs being written) and `*.building-*` ones.
 * Undefined when there is none.
 */
export function newestPack(dataDir: string): string | undefined {
  const models = resolve(dataDir, 'models');
  if (!existsSync(models)) return undefined;
  let best: { dir: string; mtime: number } | undefined;
  for (const entry of readdirSync(models, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.') || entry.name.includes('.building-')) {
      continue;
    }
    const manifest = join(models, entry.name, MANIFEST_FILE);
    if (!existsSync(manifest)) continue;
    const mtime = statSync(manifest).mtimeMs;
    if (!best || mtime > best.mtime) best = { dir: join(models, entry.name), mtime };
  }
  return best?.dir;
}
