// Builds the reference model pack with model-zoo's own command (a subprocess: libs/pipeline may
// not import model-zoo) and caches it under .data/models/, keyed by a hash of the model-zoo
// sources and the manifest schema: reruns are fast and a change in model-zoo rebuilds it.
// Used by this project's Jest globalSetup and by bench/pipeline.
const { createHash } = require('node:crypto');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '../../..');
const cacheRoot = path.join(root, '.data/models');
const PREFIX = 'pipeline-test-reference-';

function filesUnder(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)],
    )
    .sort();
}

function sourceStamp() {
  const hash = createHash('sha256');
  const inputs = [
    ...filesUnder(path.join(root, 'libs/model-zoo/src')),
    ...filesUnder(path.join(root, 'libs/model-zoo/assets')),
    path.join(root, 'libs/model-zoo/project.json'),
    path.join(root, 'libs/contracts/src/model-pack.ts'),
  ].filter((f) => !f.endsWith('.spec.ts') && fs.existsSync(f));
  for (const file of inputs) {
    hash.update(path.relative(root, file));
    hash.update(fs.readFileSync(file));
  }
  return hash.digest('hex').slice(0, 16);
}

/** The folder of a built reference pack (building it when the cache is stale). Throws with the build output. */
function ensureReferencePack() {
  const stamp = sourceStamp();
  const dir = path.join(cacheRoot, `${PREFIX}${stamp}`);
  if (fs.existsSync(path.join(dir, 'model-pack.json'))) return dir;

  fs.mkdirSync(cacheRoot, { recursive: true });
  const temp = `${dir}.building-${process.pid}`;
  fs.rmSync(temp, { recursive: true, force: true });
  try {
    execFileSync(
      'npx',
      ['nx', 'run', 'model-zoo:build-pack', '--skip-nx-cache', '--', '--out', temp],
      {
        cwd: root,
        env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' },
        stdio: ['ignore', 'pipe', 'pipe'],
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    if (!fs.existsSync(path.join(temp, 'model-pack.json'))) {
      throw new Error(`model-zoo:build-pack wrote no model-pack.json into ${temp}`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(temp, dir);
  } catch (error) {
    fs.rmSync(temp, { recursive: true, force: true });
    const output = [
      error.message,
      error.stdout && error.stdout.toString(),
      error.stderr && error.stderr.toString(),
    ]
      .filter(Boolean)
      .join('\n');
    throw new Error(output.slice(-8000));
  }
  // Older builds are of no use any more.
  for (const name of fs.readdirSync(cacheRoot)) {
    if (name.startsWith(PREFIX) && !name.startsWith(`${PREFIX}${stamp}`)) {
      fs.rmSync(path.join(cacheRoot, name), { recursive: true, force: true });
    }
  }
  return dir;
}

module.exports = { ensureReferencePack };

// `node libs/pipeline/test/reference-pack.cjs` prints the folder (for bench/pipeline).
if (require.main === module) process.stdout.write(`${ensureReferencePack()}\n`);
