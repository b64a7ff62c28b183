// Jest globalSetup: the reference model pack for the specs that run real sessions
// (model-pack.spec, render.spec). LIKENESS_TEST_PACK_DIR given from outside is used as is.
// When the pack cannot be built, the pure specs still run and the pack specs fail with the
// build's output (LIKENESS_TEST_PACK_ERROR names a file holding it).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ensureReferencePack } = require('./reference-pack.cjs');

module.exports = async function globalSetup() {
  if (process.env.LIKENESS_TEST_PACK_DIR) return;
  try {
    process.env.LIKENESS_TEST_PACK_DIR = ensureReferencePack();
  } catch (error) {
    const file = path.join(os.tmpdir(), `likeness-pipeline-pack-error-${process.pid}.txt`);
    fs.writeFileSync(file, error.message);
    process.env.LIKENESS_TEST_PACK_ERROR = file;
  }
};
