/**
 * `npm run bench`: speed and memory figures, printed side by side with QEMU's TCG when qemu-system-i386 is installed.
 * Runs from the esbuild bundle (`out/bench.js`) so the emulator runs as it does in the product.
 *
 * - CPU: the bench-cpu guest (hashing, CRC, sort, sieve) at two round counts; MIPS = extra instructions / extra time,
 *   which cancels boot cost on both sides. Our instruction count is exact; QEMU runs the same guest with more rounds.
 * - Boot: host time from creating the machine to the guest's first serial line (hello guest).
 * - Memory: resident set size of a process that ran a 128 MiB guest (target: under 300 MiB).
 * - Hooks: extra cost of a hooked MMIO read (target: about 1 µs at most).
 * - DAP: launch to stop-on-entry and stepIn round trips, when the adapter bundle exists.
 * - Trace webview: 100,000 MMIO trace rows in the real webview script in headless Chromium (ingest, scrolling frame
 *   times, filters, DOM size, heap).
 * - Linux: Debian's i386 kernel booted to a user-space /init, when scripts/linux-setup.sh has fetched it
 *   (`--no-linux` leaves it out: it takes a few minutes).
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { Emulator } from '../adapter/runtime/emulator';
import { qemuArguments } from '../test/support/qemu';
import { benchHooks } from './hooks';
import { findLinuxKernel } from '../test/support/linux';
import { benchLinuxBoot } from './linux';
import { benchTraceWebview, formatTraceWebviewBench } from './trace-webview';

const ROOT = join(__dirname, '..');
/** Set in the bundled process, so that the figures come from the code as esbuild bundles it (enums inlined). */
const BUNDLED = process.env.MMIODBG_BENCH_BUNDLED === '1';
const BENCH_GUEST = join(ROOT, 'guests', 'bench-cpu', 'bench-cpu.elf');
const HELLO_GUEST = join(ROOT, 'guests', 'hello', 'hello.elf');

interface GuestRun {
  instructions: number;
  ms: number;
  output: string;
}

function runOurs(program: string, cmdline: string, stopAtFirstLine = false): GuestRun {
  let output = '';
  let firstLineMs = 0;
  const t0 = performance.now();
  const { emulator } = Emulator.create(
    { program, cmdline, traceCapacity: 0 },
    {
      serial: (b) => {
        output += String.fromCharCode(b);
        if (b === 10 && !firstLineMs) {
          firstLineMs = performance.now() - t0;
          if (stopAtFirstLine) emulator.pause();
        }
      },
    },
  );
  for (;;) {
    const r = emulator.runSlice(50_000_000);
    if (r.kind === 'exited' || r.kind === 'shutdown') break;
    if (stopAtFirstLine && firstLineMs) break;
  }
  const ms = stopAtFirstLine ? firstLineMs : performance.now() - t0;
  return { instructions: emulator.machine.cpu.icount, ms, output };
}

function qemuAvailable(): boolean {
  return spawnSync('qemu-system-i386', ['--version'], { stdio: 'ignore' }).status === 0;
}

function runQemu(program: string, cmdline: string): Promise<{ ms: number; output: string }> {
  const args = qemuArguments(program, { extraArgs: ['-append', cmdline] });
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('qemu-system-i386', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString('latin1')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve({ ms: performance.now() - t0, output });
    });
  });
}

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

function fmt(n: number, digits = 1): string {
  return n.toFixed(digits);
}

async function cpuBench(): Promise<void> {
  const [a, b] = [60, 120];
  runOurs(BENCH_GUEST, 'rounds=2'); // warm up the JIT of the host
  const small = runOurs(BENCH_GUEST, `rounds=${a}`);
  const large = runOurs(BENCH_GUEST, `rounds=${b}`);
  const perRound = (large.instructions - small.instructions) / (b - a);
  const ourMips = (large.instructions - small.instructions) / (large.ms - small.ms) / 1000;
  console.log(`CPU (bench-cpu guest: CRC-32, FNV-1a, xorshift, sort, sieve)`);
  console.log(
    `  ours:  ${(large.instructions / 1e6).toFixed(0)} M instructions in ${fmt(large.ms, 0)} ms for ${b} rounds; ` +
      `${fmt(ourMips)} MIPS (from ${a} → ${b} rounds), ${fmt(large.instructions / large.ms / 1000)} MIPS including boot`,
  );
  if (!qemuAvailable()) {
    console.log('  qemu:  qemu-system-i386 not installed; no ratio');
    return;
  }
  const [qa, qb] = [300, 1500];
  const qSmall = await runQemu(BENCH_GUEST, `rounds=${qa}`);
  const qLarge = await runQemu(BENCH_GUEST, `rounds=${qb}`);
  const qemuMips = (perRound * (qb - qa)) / (qLarge.ms - qSmall.ms) / 1000;
  const agree = lastLine(runOurs(BENCH_GUEST, `rounds=${qa}`).output) === lastLine(qSmall.output);
  console.log(
    `  qemu:  ${fmt(qemuMips)} MIPS (TCG, from ${qa} → ${qb} rounds, ${fmt(perRound / 1e6, 2)} M instructions per round)`,
  );
  console.log(`  ratio: ours/QEMU = ${fmt(ourMips / qemuMips, 3)}; guest checksums ${agree ? 'agree' : 'DIFFER'}`);
}

async function bootBench(): Promise<void> {
  runOurs(HELLO_GUEST, '', true);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) times.push(runOurs(HELLO_GUEST, '', true).ms);
  times.sort((x, y) => x - y);
  console.log(
    `Boot to first serial line (hello guest): ours ${fmt(times[2])} ms (median of 5, machine creation included)`,
  );
  if (qemuAvailable()) {
    const q = await runQemu(HELLO_GUEST, '');
    console.log(`  qemu: whole run ${fmt(q.ms, 0)} ms (process start, SeaBIOS and the guest)`);
  }
}

function memoryProbe(): void {
  runOurs(HELLO_GUEST, '');
  global.gc?.();
  console.log(JSON.stringify({ rss: process.memoryUsage().rss }));
}

function memoryBench(): void {
  const r = spawnSync(process.execPath, ['--expose-gc', __filename, '--memory-probe'], { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').pop() ?? '{}';
  const { rss } = JSON.parse(line) as { rss?: number };
  if (rss === undefined) {
    console.log(`Memory: probe failed: ${r.stderr.trim().split('\n')[0] ?? ''}`);
    return;
  }
  console.log(`Memory: ${fmt(rss / 1048576, 0)} MiB resident after running a 128 MiB guest (target < 300 MiB)`);
}

async function dapBench(): Promise<void> {
  const adapter = join(ROOT, 'dist', 'adapter.js');
  const module = join(__dirname, 'dap-bench.js');
  if (!existsSync(adapter) || !existsSync(module)) {
    console.log('DAP: adapter or its benchmark not built');
    return;
  }
  const { benchDap } = (await import(module)) as {
    benchDap: () => Promise<{ launchToStopMs: number; stepMedianMs: number }>;
  };
  const r = await benchDap();
  console.log(
    `DAP: launch to stop on entry ${fmt(r.launchToStopMs)} ms; stepIn round trip with refresh ${fmt(r.stepMedianMs, 2)} ms median (target < 5 ms)`,
  );
}

/** Bundles this file (and the DAP benchmark, when present) into out/ and runs the bundle. */
function runBundled(): void {
  const common = {
    bundle: true,
    platform: 'node' as const,
    format: 'cjs' as const,
    target: 'node20',
    external: ['vscode', 'esbuild'],
    logLevel: 'warning' as const,
  };
  buildSync({ ...common, entryPoints: [join(__dirname, 'run.ts')], outfile: join(ROOT, 'out', 'bench.js') });
  if (existsSync(join(__dirname, 'dap.ts'))) {
    buildSync({ ...common, entryPoints: [join(__dirname, 'dap.ts')], outfile: join(ROOT, 'out', 'dap-bench.js') });
  }
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit', cwd: ROOT });
  if (build.status !== 0) process.exit(build.status ?? 1);
  // iced-x86 loads its wasm from beside the bundle.
  copyFileSync(join(ROOT, 'dist', 'iced_x86_bg.wasm'), join(ROOT, 'out', 'iced_x86_bg.wasm'));
  const r = spawnSync(process.execPath, [join(ROOT, 'out', 'bench.js'), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, MMIODBG_BENCH_BUNDLED: '1' },
  });
  process.exit(r.status ?? 1);
}

async function main(): Promise<void> {
  if (process.argv.includes('--memory-probe')) return memoryProbe();
  if (!BUNDLED) return runBundled();
  await cpuBench();
  await bootBench();
  memoryBench();
  const hooks = benchHooks();
  console.log(`Hooks: ${JSON.stringify(hooks)}`);
  await dapBench();
  console.log(formatTraceWebviewBench(await benchTraceWebview(ROOT)));
  if (!process.argv.includes('--no-linux')) await linuxBench();
}

async function linuxBench(): Promise<void> {
  const kernel = findLinuxKernel(ROOT);
  if (!kernel) {
    console.log("Linux: no kernel in .cache/linux (bash scripts/linux-setup.sh fetches Debian's); skipped");
    return;
  }
  const r = await benchLinuxBoot(ROOT, kernel, qemuAvailable());
  const o = r.ours;
  console.log(
    `Linux boot to /init (${kernel.split('/').pop()}): ours ${fmt(o.seconds, 1)} s (${o.status}; ` +
      `${fmt(o.instructions / 1e9, 2)} G instructions, ${fmt(o.instructions / o.seconds / 1e6, 1)} MIPS; ` +
      `hpet0 line after ${fmt(o.toHpetLineSeconds, 1)} s)` +
      (r.qemu
        ? `; QEMU TCG ${fmt(r.qemu.seconds, 1)} s (${r.qemu.status}, real-time devices); ratio ${fmt(r.qemu.seconds / o.seconds, 2)}`
        : ''),
  );
}

void main();
