import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { packVsix, zipEntries } from '../support/vsix';

void describe('the .vsix package', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmiodbg-vsix-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const vsix = join(dir, 'mmiodbg.vsix');
  packVsix(vsix);
  const entries = zipEntries(vsix);
  const files = entries.filter((e) => e.startsWith('extension/')).map((e) => e.slice('extension/'.length));

  void it('holds the bundles, the wasm, the grammar and the webview assets', () => {
    for (const required of [
      'package.json',
      'dist/extension.js',
      'dist/server.js',
      'dist/trace.js',
      'dist/iced_x86_bg.wasm',
      'media/trace.css',
      'syntaxes/mmiohook.tmLanguage.json',
      'syntaxes/mmiodbg-disassembly.tmLanguage.json',
      'language-configuration.json',
      'examples/hooks/hpet-one-comparator-fewer.mmh',
      'guests/hpet-probe/hpet-probe.elf',
    ])
      assert.ok(files.includes(required), `${required} missing from the .vsix`);
    assert.ok(entries.includes('extension.vsixmanifest'));
  });

  void it(
    'holds the debug adapter once it exists',
    { skip: !files.includes('dist/adapter.js') && 'adapter/session/main.ts not written yet' },
    () => {
      assert.ok(files.includes('dist/adapter.js'));
    },
  );

  void it('carries no sources, source maps, tests or node_modules', () => {
    const unwanted = files.filter((f) =>
      /(^|\/)node_modules\/|\.map$|\.ts$|^(src|test|adapter|scripts|bench|\.cache)\//.test(f),
    );
    assert.deepEqual(unwanted, []);
  });
});
