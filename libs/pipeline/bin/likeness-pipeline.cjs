#!/usr/bin/env node
// `npx likeness-pipeline render …` from the repository (root package.json "bin"): runs the
// TypeScript sources of libs/pipeline/src/cli through @swc-node/register, as the repo's nx
// run targets do.
const path = require('node:path');

const root = path.resolve(__dirname, '../../..');
process.env.SWC_NODE_PROJECT ??= path.join(root, 'libs/pipeline/tsconfig.json');
require('@swc-node/register');
require('../src/cli/main.ts');
