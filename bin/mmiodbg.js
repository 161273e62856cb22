#!/usr/bin/env node
'use strict';
// The command line lives in the bundle built by `npm run build` (run automatically by `npm install`).
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const bundle = join(__dirname, '..', 'dist', 'cli.js');
if (!existsSync(bundle)) {
  process.stderr.write('mmiodbg: dist/cli.js is missing; run "npm run build" first\n');
  process.exit(2);
}
process.exitCode = require(bundle).main(process.argv.slice(2));
