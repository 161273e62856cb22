// Bundles the extension, the debug adapter, the language server and the command line with esbuild.
// iced-x86 loads its wasm from its own folder at run time, so the wasm is copied beside the bundles.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const production = process.argv.includes('--production');
mkdirSync('dist', { recursive: true });

const entryPoints = {
  cli: 'adapter/cli/main.ts',
};
const optional = {
  adapter: 'adapter/session/main.ts',
  extension: 'src/extension.ts',
  server: 'adapter/hooks/server/main.ts',
};
import { existsSync } from 'node:fs';
for (const [name, file] of Object.entries(optional)) if (existsSync(file)) entryPoints[name] = file;

await build({
  entryPoints,
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: !production,
  minify: production,
  external: ['vscode'],
  logLevel: 'warning',
});
// The MMIO Trace webview's script runs in the browser side of the workbench.
if (existsSync('media/trace.ts')) {
  await build({
    entryPoints: { trace: 'media/trace.ts' },
    outdir: 'dist',
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
  });
  entryPoints.trace = 'media/trace.ts';
}
copyFileSync(join(dirname(require.resolve('iced-x86')), 'iced_x86_bg.wasm'), 'dist/iced_x86_bg.wasm');
console.log(`bundled ${Object.keys(entryPoints).join(', ')} into dist/`);
