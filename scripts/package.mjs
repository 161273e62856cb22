// Builds the minified bundles and packs them into mmiodbg-<version>.vsix with @vscode/vsce. Everything the
// extension runs is bundled by esbuild, so the package carries no node_modules (`--no-dependencies`).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// `node scripts/package.mjs [--no-build] [OUT.vsix]`: tests pack the bundles `npm test` has just built.
const args = process.argv.slice(2);
const build = !args.includes('--no-build');
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const out = args.find((a) => !a.startsWith('--')) ?? `mmiodbg-${version}.vsix`;
if (build) run(process.execPath, ['scripts/build.mjs', '--production']);
run(process.execPath, [
  'node_modules/@vscode/vsce/vsce',
  'package',
  '--no-dependencies',
  '--skip-license',
  '--allow-missing-repository',
  '--no-rewrite-relative-links',
  '--out',
  out,
]);
