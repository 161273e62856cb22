/**
 * `mmiodbg`: runs guests headless with hooks and traces, checks hook files, runs instruction vectors, and
 * shows the demo. Exit statuses: the guest's isa-debug-exit status for `run`; 0/1 for `check` and `vectors`;
 * 2 for usage and configuration errors; 3 when the guest stops the machine (triple fault, reset, halt with
 * interrupts off); 4 when it runs past --max-insns or --timeout.
 */
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { checkFiles, openJsonLinesFile } from '../hooks';
import { Emulator, EmulatorConfigError, FORMATS, resolveHpet } from '../runtime/emulator';
import type { Format } from '../runtime/emulator';
import { PcMachine } from '../core/machine/pc';
import { VectorMachine, runVectorFile, vectorFiles } from '../core/testing/vectors';

export const EXIT_USAGE = 2;
export const EXIT_MACHINE_STOP = 3;
export const EXIT_LIMIT = 4;

const MAIN_HELP = `mmiodbg — run and debug x86 guests at the device-register level

Usage:
  mmiodbg run <image> [options]     run a guest headless (mmiodbg run --help)
  mmiodbg check <file.mmh>...       check hook files; prints "ok" or errors with positions
  mmiodbg vectors <file-or-dir>...  run instruction test vectors; ends with "N passed, M failed"
  mmiodbg demo                      run the embedded HPET demo guest, then again with the seed hook
  mmiodbg --help | --version

The debugger itself runs inside VS Code (debug type "mmiodbg"); see the README.
`;

const RUN_HELP = `Usage: mmiodbg run <image> [options]

Runs a guest image on the emulated PC. COM1 output goes to stdout, port 0xE9 output to stderr.

Options:
  --format auto|multiboot|elf|bin|bzimage   image format (default auto: multiboot, bzImage, then ELF)
  --memory MiB            guest RAM in MiB (default 128)
  --append CMDLINE        kernel command line (multiboot and bzImage)
  --initrd FILE           initial ramdisk (bzImage) or first multiboot module
  --load-address ADDR     flat binaries: physical load address (default 0x100000)
  --entry ADDR            flat binaries: physical entry address (default the load address)
  --hpet PRESET           HPET model: ich (default), qemu, or key=value,... on a preset,
                          e.g. qemu,timers=8 or ich,counter=64,period=10000000 (see docs/hpet.md)
  --hook FILE             load a hook file (.mmh); may be given several times
  --trace FILE            write every device access as JSON lines to FILE
  --debugcon FILE         write port 0xE9 output to FILE instead of stderr
  --max-insns N           stop with status ${EXIT_LIMIT} after N instructions
  --timeout SECONDS       stop with status ${EXIT_LIMIT} after SECONDS of host time
  --realtime              guest time follows the host clock (default: virtual time from the instruction count)
  --stats                 at the end, print instructions, guest and host time, speed and translator counts to stderr
  -h, --help              this help

Exit status: the guest's isa-debug-exit status, (value << 1) | 1 for a write of value to port 0xf4;
${EXIT_USAGE} for bad options, missing files or malformed images; ${EXIT_MACHINE_STOP} when the machine stops
(triple fault, reset request, halt with interrupts disabled); ${EXIT_LIMIT} after --max-insns or --timeout.
Every non-zero status other than the guest's own comes with a one-line reason on stderr.
`;

interface RunOptions {
  image: string;
  format: Format;
  memoryMiB: number | undefined;
  append: string | undefined;
  initrd: string | undefined;
  loadAddress: number | undefined;
  entryAddress: number | undefined;
  hpet: string | undefined;
  hooks: string[];
  trace: string | undefined;
  debugcon: string | undefined;
  maxInsns: number;
  timeoutSeconds: number;
  realtime: boolean;
  stats: boolean;
}

class UsageError extends Error {}

function defaultRunOptions(image: string): RunOptions {
  return {
    image,
    format: 'auto',
    memoryMiB: undefined,
    append: undefined,
    initrd: undefined,
    loadAddress: undefined,
    entryAddress: undefined,
    hpet: undefined,
    hooks: [],
    trace: undefined,
    debugcon: undefined,
    maxInsns: Infinity,
    timeoutSeconds: Infinity,
    realtime: false,
    stats: false,
  };
}

function parseRunOptions(args: string[]): RunOptions | 'help' {
  const o = defaultRunOptions('');
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    const number = (what: string): number => {
      const text = value();
      const n = Number(text);
      if (!Number.isFinite(n) || n <= 0)
        throw new UsageError(`${flag}: ${what} must be a positive number, got "${text}"`);
      return n;
    };
    switch (flag) {
      case '-h':
      case '--help':
        return 'help';
      case '--format': {
        const f = value();
        if (!(FORMATS as readonly string[]).includes(f))
          throw new UsageError(`unknown format "${f}": use one of ${FORMATS.join(', ')}`);
        o.format = f as Format;
        break;
      }
      case '--memory':
        o.memoryMiB = number('memory size in MiB');
        break;
      case '--append':
        o.append = value();
        break;
      case '--initrd':
        o.initrd = value();
        break;
      case '--hpet':
        o.hpet = value();
        break;
      case '--load-address':
      case '--entry': {
        const text = value();
        const n = Number(text);
        if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
          throw new UsageError(`${flag}: "${text}" is not an address (use e.g. 0x100000)`);
        if (flag === '--entry') o.entryAddress = n;
        else o.loadAddress = n;
        break;
      }
      case '--hook':
        o.hooks.push(value());
        break;
      case '--trace':
        o.trace = value();
        break;
      case '--debugcon':
        o.debugcon = value();
        break;
      case '--max-insns':
        o.maxInsns = Math.floor(number('instruction count'));
        break;
      case '--timeout':
        o.timeoutSeconds = number('timeout');
        break;
      case '--realtime':
        o.realtime = true;
        break;
      case '--stats':
        o.stats = true;
        break;
      default:
        if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg} (see mmiodbg run --help)`);
        if (o.image) throw new UsageError(`only one image may be given (got ${o.image} and ${arg})`);
        o.image = arg;
    }
  }
  if (!o.image) throw new UsageError('no image given (see mmiodbg run --help)');
  return o;
}

/** Output that batches bytes and flushes on newlines and at the end of each slice. */
class ByteSink {
  private buffer: number[] = [];
  constructor(private readonly fd: number) {}
  push(byte: number): void {
    this.buffer.push(byte);
    if (byte === 10 || this.buffer.length >= 4096) this.flush();
  }
  flush(): void {
    if (this.buffer.length === 0) return;
    writeSync(this.fd, Uint8Array.from(this.buffer));
    this.buffer = [];
  }
}

export interface RunOutcome {
  status: number;
  reason?: string;
}

/** Runs a guest to the end; used by `run` and `demo`. */
export function runGuest(o: RunOptions, out = new ByteSink(1)): RunOutcome {
  const debugFd = o.debugcon ? openSync(o.debugcon, 'w') : 2;
  const debug = new ByteSink(debugFd);
  let traceClose: (() => void) | undefined;
  let printStats: (() => void) | undefined;
  try {
    resolveHpet(o.hpet);
    const { emulator, hookResults } = Emulator.create(
      {
        program: o.image,
        format: o.format,
        ...(o.memoryMiB !== undefined ? { memoryMiB: o.memoryMiB } : {}),
        ...(o.append !== undefined ? { cmdline: o.append } : {}),
        ...(o.initrd !== undefined ? { initrd: o.initrd } : {}),
        ...(o.loadAddress !== undefined ? { loadAddress: o.loadAddress } : {}),
        ...(o.entryAddress !== undefined ? { entryAddress: o.entryAddress } : {}),
        ...(o.hpet !== undefined ? { hpet: o.hpet } : {}),
        hooks: o.hooks,
        realtime: o.realtime,
        traceCapacity: 0,
      },
      {
        serial: (b) => out.push(b),
        debugConsole: (b) => debug.push(b),
        hookLog: (message) => process.stderr.write(`hook: ${message}\n`),
        hookFault: (hook, message) => process.stderr.write(`hook ${hook.name} disabled: ${message}\n`),
      },
    );
    const errors: string[] = [];
    for (const [file, result] of hookResults) {
      for (const d of result.diagnostics) {
        const line = `${file}:${d.range.start.line}:${d.range.start.column}: ${d.severity}: ${d.message}`;
        if (d.severity === 'error') errors.push(line);
        else process.stderr.write(line + '\n');
      }
    }
    if (errors.length) return { status: EXIT_USAGE, reason: errors.join('\n') };
    if (o.trace) {
      const file = openJsonLinesFile(o.trace);
      const trace = emulator.hooks.startTrace({ capacity: 1 });
      const remove = trace.addSink(file.sink);
      traceClose = () => {
        remove();
        file.close();
      };
    }
    const started = Date.now();
    if (o.stats) printStats = () => process.stderr.write(formatStats(emulator, Date.now() - started));
    const deadline = o.timeoutSeconds === Infinity ? Infinity : started + o.timeoutSeconds * 1000;
    let remaining = o.maxInsns;
    for (;;) {
      const slice = Math.min(remaining, 5_000_000);
      const result = emulator.runSlice(slice);
      out.flush();
      debug.flush();
      remaining -= slice;
      switch (result.kind) {
        case 'exited':
          return { status: result.code };
        case 'shutdown':
          return { status: EXIT_MACHINE_STOP, reason: result.reason.split('\n')[0] };
        case 'stopped':
          // A hook `break` or watchpoint has no debugger to stop in: note it and go on.
          if ('cause' in result && (result.cause.kind === 'hook-break' || result.cause.kind === 'watchpoint')) {
            process.stderr.write(`break: ${result.cause.info.description}\n`);
          }
          break;
        case 'idle':
          sleepMs(Math.min(50, result.waitNs / 1e6));
          break;
        default:
          break;
      }
      if (remaining <= 0)
        return {
          status: EXIT_LIMIT,
          reason: `stopped after --max-insns ${o.maxInsns} instructions at ${emulator.describeLocation()}`,
        };
      if (Date.now() > deadline)
        return {
          status: EXIT_LIMIT,
          reason: `stopped after --timeout ${o.timeoutSeconds} s at ${emulator.describeLocation()}`,
        };
    }
  } catch (e) {
    if (e instanceof EmulatorConfigError) return { status: EXIT_USAGE, reason: e.message };
    throw e;
  } finally {
    out.flush();
    debug.flush();
    traceClose?.();
    printStats?.();
    if (debugFd !== 2) closeSync(debugFd);
  }
}

function formatStats(emulator: Emulator, hostMs: number): string {
  const cpu = emulator.machine.cpu;
  const t = cpu.translator.stats;
  const guestMs = emulator.machine.clock.now() / 1e6;
  const mips = hostMs > 0 ? cpu.icount / hostMs / 1000 : 0;
  return (
    `stats: ${cpu.icount} instructions in ${(hostMs / 1000).toFixed(2)} s host time (${mips.toFixed(1)} MIPS), ` +
    `${guestMs.toFixed(1)} ms guest time\n` +
    `stats: translator: ${t.blocks} blocks compiled (${t.compiledInstructions} instructions), ` +
    `${t.invalidations} invalidations, ${t.lookups} lookups, ${t.chained} chained; ${cpu.mmu.generation} TLB flushes\n`
  );
}

function sleepMs(ms: number): void {
  if (ms <= 0) return;
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

function demo(): number {
  const root = packageRoot();
  const image = join(root, 'guests', 'hpet-probe', 'hpet-probe.elf');
  const hook = join(root, 'examples', 'hooks', 'hpet-one-comparator-fewer.mmh');
  const base: RunOptions = { ...defaultRunOptions(image), timeoutSeconds: 120 };
  process.stdout.write(`== The HPET probe guest on the default HPET (ich preset)\n$ mmiodbg run ${rel(root, image)}\n`);
  const first = runGuest(base);
  process.stdout.write(
    `\n== The same guest with the seed hook (BitVisor's HPET example)\n$ mmiodbg run ${rel(root, image)} --hook ${rel(root, hook)}\n`,
  );
  const second = runGuest({ ...base, hooks: [hook] });
  for (const r of [first, second]) if (r.reason) process.stderr.write(`mmiodbg: ${r.reason}\n`);
  const ok = first.status === 1 && second.status === 1;
  process.stdout.write(
    ok ? '\nDemo finished: the hook made the guest see one comparator fewer.\n' : '\nDemo failed.\n',
  );
  return ok ? 0 : 1;
}

function rel(root: string, path: string): string {
  return path.startsWith(root + '/') ? path.slice(root.length + 1) : path;
}

export function main(argv: string[]): number {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(MAIN_HELP);
        return command === undefined ? EXIT_USAGE : 0;
      case '--version':
        process.stdout.write(`mmiodbg ${version()}\n`);
        return 0;
      case 'run': {
        const options = parseRunOptions(rest);
        if (options === 'help') {
          process.stdout.write(RUN_HELP);
          return 0;
        }
        const outcome = runGuest(options);
        if (outcome.reason) process.stderr.write(`mmiodbg: ${outcome.reason}\n`);
        return outcome.status;
      }
      case 'check': {
        if (rest.includes('--help') || rest.includes('-h')) {
          process.stdout.write(
            'Usage: mmiodbg check <file.mmh>...\n\nChecks hook files against the default machine\'s devices. Prints "ok", or one line per problem as file:line:column: severity: message, and exits 1.\n',
          );
          return 0;
        }
        if (rest.length === 0) throw new UsageError('no hook files given (mmiodbg check <file.mmh>...)');
        const result = checkFiles(rest, new PcMachine({ memoryMiB: 2 }).deviceDescriptions());
        process.stdout.write(result.ok ? 'ok\n' : result.output.endsWith('\n') ? result.output : result.output + '\n');
        return result.ok ? 0 : 1;
      }
      case 'vectors': {
        if (rest.length === 0 || rest.includes('--help')) {
          process.stdout.write(
            'Usage: mmiodbg vectors <file-or-dir>...\n\nRuns instruction test vectors (see the vectors README) and prints one line per group and a final "N passed, M failed". --verbose lists every failure.\n',
          );
          return rest.length === 0 ? EXIT_USAGE : 0;
        }
        const verbose = rest.includes('--verbose');
        const machine = new VectorMachine();
        let passed = 0;
        let failed = 0;
        for (const file of vectorFiles(rest.filter((a) => a !== '--verbose').map((p) => resolve(p)))) {
          const s = runVectorFile(machine, file);
          passed += s.passed;
          failed += s.failed;
          process.stdout.write(`${s.group}: ${s.passed} passed, ${s.failed} failed\n`);
          for (const f of verbose ? s.failures : s.failures.slice(0, 3))
            process.stdout.write(`  ${f.name}: ${f.problems.join('; ')}\n`);
        }
        process.stdout.write(`${passed} passed, ${failed} failed\n`);
        return failed === 0 ? 0 : 1;
      }
      case 'demo':
        return demo();
      default:
        throw new UsageError(`unknown command "${command}" (see mmiodbg --help)`);
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof EmulatorConfigError) {
      process.stderr.write(`mmiodbg: ${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
