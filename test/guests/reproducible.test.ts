/**
 * The committed guest images are what their sources build to: a fresh build with guests/build.sh gives the same
 * bytes (the demo ships the image so that no compiler is needed to run it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(__dirname, '..', '..');
const haveToolchain =
  spawnSync('nasm', ['-v'], { stdio: 'ignore' }).status === 0 &&
  spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status === 0;

void describe('guest images', () => {
  void it(
    'rebuild from source to the committed bytes',
    { skip: haveToolchain ? false : 'nasm or gcc missing (scripts/setup.sh installs them)' },
    () => {
      const r = spawnSync('bash', [join(ROOT, 'scripts', 'check-guests.sh')], { encoding: 'utf8', timeout: 240_000 });
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /same: guests\/hpet-probe\/hpet-probe\.elf/);
      assert.doesNotMatch(r.stdout + r.stderr, /DIFFERENT/);
    },
  );
});
