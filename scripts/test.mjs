// Runs the whole test suite: type check, lint, bundle, then every *.test.ts under test/ with Node's test runner.
// `node scripts/test.mjs core` (or dap, e2e, ...) limits the run to test/<level>/.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const levels = process.argv.slice(2);
const quick = levels.length > 0;

function run(label, cmd, args) {
  console.log(`\n== ${label}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`${label} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

function testFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

if (!quick) {
  run('type check', 'npx', ['tsc', '-p', '.', '--noEmit']);
  run('lint', 'npx', ['eslint', '.']);
}
run('build', 'node', ['scripts/build.mjs']);
const dirs = quick ? levels.map((l) => join('test', l)) : ['test'];
const files = dirs.flatMap(testFiles);
// A test file whose tests are done exits even if a handle stays open, and no single test may hang CI.
const guards = ['--test-force-exit', '--test-timeout=1200000'];
run('tests', process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...guards, ...files]);
