/** The `mmiodbg` command line as a user runs it: through bin/mmiodbg.js and the bundle that `npm install` builds. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'mmiodbg.js');
const HELLO = join(ROOT, 'guests', 'hello', 'hello.elf');
const PROBE = join(ROOT, 'guests', 'hpet-probe', 'hpet-probe.elf');
const SEED_HOOK = join(ROOT, 'examples', 'hooks', 'hpet-one-comparator-fewer.mmh');

function mmiodbg(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000, cwd: ROOT });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'mmiodbg-cli-'));
}

void describe('mmiodbg --help', () => {
  void it('lists the commands', () => {
    const r = mmiodbg('--help');
    assert.equal(r.status, 0);
    for (const command of ['run', 'check', 'vectors', 'demo']) assert.match(r.stdout, new RegExp(`mmiodbg ${command}`));
  });

  void it('run --help documents every option', () => {
    const r = mmiodbg('run', '--help');
    assert.equal(r.status, 0);
    const options = [
      '--format',
      '--memory',
      '--append',
      '--initrd',
      '--hpet',
      '--hook',
      '--trace',
      '--max-insns',
      '--timeout',
      '--realtime',
    ];
    for (const option of options) assert.match(r.stdout, new RegExp(`^\\s+${option}\\b`, 'm'), option);
  });
});

void describe('mmiodbg run', () => {
  void it('prints COM1 output on stdout and exits with the isa-debug-exit status', () => {
    const r = mmiodbg('run', HELLO);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /Hello from mmiodbg guest/);
    assert.equal(r.stderr, '');
  });

  void it('applies hooks', () => {
    const r = mmiodbg('run', PROBE, '--hook', SEED_HOOK);
    assert.match(r.stdout, /hpet0: 3 comparators, 32-bit 14\.318180 MHz counter/);
  });

  void it('selects the HPET preset', () => {
    const r = mmiodbg('run', PROBE, '--hpet', 'qemu');
    assert.match(r.stdout, /hpet0: 3 comparators, 64-bit 100\.000000 MHz counter/);
  });

  void it('writes the device trace as JSON lines', () => {
    const file = join(scratch(), 'trace.jsonl');
    mmiodbg('run', HELLO, '--trace', file);
    const records = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const thr = records.filter((r) => r.device === 'com1' && r.register === 'RBR' && r.dir === 'write');
    // Every byte the guest prints is a write to the transmit holding register (same offset as RBR).
    assert.ok(thr.length > 300, `${thr.length} writes`);
    assert.ok(records.every((r) => typeof r.eip === 'string' && typeof r.time === 'number'));
    const times = records.map((r) => r.time as number);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
  });

  void it('runs a flat binary at an address and follows its exit status', () => {
    const file = join(scratch(), 'exit5.bin');
    // mov eax, 5; out 0xf4, eax
    writeFileSync(file, Uint8Array.of(0xb8, 0x05, 0, 0, 0, 0xe7, 0xf4));
    assert.equal(mmiodbg('run', file, '--format', 'bin', '--load-address', '0x200000').status, 11);
  });

  const failures: [string, string[], number, RegExp][] = [
    ['a missing file', ['run', 'no-such.elf'], 2, /guest image not found: no-such\.elf/],
    ['an unknown format', ['run', HELLO, '--format', 'coff'], 2, /unknown format "coff"/],
    ['an unknown HPET preset', ['run', HELLO, '--hpet', 'nope'], 2, /unknown preset 'nope'/],
    ['an image of no known format', ['run', join(ROOT, 'package.json')], 2, /unknown image format/],
    ['an unknown option', ['run', HELLO, '--frobnicate'], 2, /unknown option --frobnicate/],
    [
      'a guest that runs past --max-insns',
      ['run', PROBE, '--max-insns', '100000'],
      4,
      /stopped after --max-insns 100000 instructions at eip 0x[0-9a-f]{8}/,
    ],
  ];
  for (const [what, args, status, message] of failures) {
    void it(`refuses ${what} with status ${status} and a one-line reason`, () => {
      const r = mmiodbg(...args);
      assert.equal(r.status, status);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    });
  }

  void it('stops with status 3 on a triple fault', () => {
    const file = join(scratch(), 'triple.bin');
    // lidt [zero-limit IDT]; int3 → #GP delivering #BP → #DF → triple fault
    const code = [0x0f, 0x01, 0x1d, 0x10, 0x00, 0x20, 0x00, 0xcc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    writeFileSync(file, Uint8Array.from(code));
    const r = mmiodbg('run', file, '--format', 'bin', '--load-address', '0x200000');
    assert.equal(r.status, 3);
    assert.match(r.stderr, /triple fault/);
  });

  void it('stops with status 3 when a hook file has errors', () => {
    const file = join(scratch(), 'bad.mmh');
    writeFileSync(file, 'on read hpet.GCAP_IX { handled }\n');
    const r = mmiodbg('run', PROBE, '--hook', file);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bad\.mmh:1:14: error: device hpet has no register 'GCAP_IX' \(did you mean GCAP_ID\?\)/);
  });
});

void describe('mmiodbg check', () => {
  void it('prints ok for a good file', () => {
    const r = mmiodbg('check', SEED_HOOK);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, 'ok\n');
  });

  void it('reports errors with positions and exits 1', () => {
    const file = join(scratch(), 'bad.mmh');
    writeFileSync(file, 'on read hpet.GCAP_ID {\n    value.NUM_TIMCAP = 1\n    handled\n}\n');
    const r = mmiodbg('check', file);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /bad\.mmh:2:\d+: error: .*NUM_TIMCAP/);
  });
});

void describe('mmiodbg vectors', () => {
  void it('runs a vector file and ends with "N passed, M failed"', () => {
    const vectors = join(ROOT, '..', 'shared', 'vectors', 'x86-32-user', 'bswap.json.gz');
    const r = mmiodbg('vectors', vectors);
    if (r.status === 2 && /not found|ENOENT/.test(r.stderr)) return;
    assert.match(r.stdout, /^\d+ passed, 0 failed$/m);
    assert.equal(r.status, 0);
  });
});

void describe('mmiodbg demo', () => {
  void it('shows 4 comparators, then 3 with the seed hook', () => {
    const r = mmiodbg('demo');
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /hpet0: 4 comparators, 32-bit 14\.318180 MHz counter[\s\S]*hpet0: 3 comparators, 32-bit 14\.318180 MHz counter/,
    );
  });
});
