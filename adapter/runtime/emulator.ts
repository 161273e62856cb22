/**
 * The emulator as the command line and the debug adapter use it: a PC machine with a guest loaded, the hook
 * engine attached to its buses, the MMIO trace, breakpoints, watchpoints and stepping. It knows nothing of
 * DAP or VS Code: hosts drive it through methods and hear from it through the events in `EmulatorEvents`.
 */
import { readFileSync } from 'node:fs';
import { RunExit, hex32 } from '../core/cpu/cpu';
import type { HpetConfig } from '../core/devices/hpet';
import { HpetConfigError, hpetPreset, parseHpetOption } from '../core/devices/hpet';
import type { LoadPlan } from '../core/machine/loaders';
import { LoaderError } from '../core/machine/loaders';
import type { RunResult } from '../core/machine/pc';
import { PcMachine } from '../core/machine/pc';
import type { Diagnostic, HookInfo, StopInfo, TraceRecord } from '../hooks';
import { HookEngine, MmioTrace } from '../hooks';

export const FORMATS = ['auto', 'multiboot', 'elf', 'bin', 'bzimage'] as const;
export type Format = (typeof FORMATS)[number];

export interface EmulatorConfig {
  /** Guest image path. */
  readonly program: string;
  readonly format?: Format;
  readonly memoryMiB?: number;
  readonly cmdline?: string;
  readonly initrd?: string;
  /** Flat binaries (`format: bin`): physical load and entry addresses. */
  readonly loadAddress?: number;
  readonly entryAddress?: number;
  /** A preset name, `key=value,...` text, or an object of custom values. */
  readonly hpet?: unknown;
  readonly hooks?: readonly string[];
  readonly realtime?: boolean;
  /** Capacity of the in-memory MMIO trace ring (0 disables it). */
  readonly traceCapacity?: number;
}

export interface EmulatorEvents {
  serial?(byte: number): void;
  debugConsole?(byte: number): void;
  hookLog?(message: string, hook: HookInfo): void;
  hookFault?(hook: HookInfo, message: string): void;
}

/** A configuration or input problem the user can fix; the message says what is wrong. */
export class EmulatorConfigError extends Error {
  override readonly name = 'EmulatorConfigError';
}

/** Why the guest stopped, for the debugger's stopped event. */
export type StopCause =
  | { readonly kind: 'breakpoint'; readonly address: number }
  | { readonly kind: 'watchpoint'; readonly info: StopInfo }
  | { readonly kind: 'hook-break'; readonly info: StopInfo }
  | { readonly kind: 'exception'; readonly vector: number; readonly errorCode: number | undefined }
  | { readonly kind: 'pause' }
  | { readonly kind: 'step' };

export type SliceResult =
  RunResult | { readonly kind: 'stopped'; readonly cause: StopCause } | { readonly kind: 'budget' };

export interface HookFileResult {
  readonly ok: boolean;
  readonly diagnostics: readonly Diagnostic[];
}

export function resolveHpet(value: unknown): HpetConfig {
  if (value === undefined) return hpetPreset('ich');
  try {
    return parseHpetOption(value);
  } catch (e) {
    if (e instanceof HpetConfigError) throw new EmulatorConfigError(e.message);
    throw e;
  }
}

export class Emulator {
  readonly machine: PcMachine;
  readonly hooks: HookEngine;
  readonly trace: MmioTrace | undefined;
  readonly plan: LoadPlan;
  /** Hook files loaded from disk or pushed by a client: path → last good text. */
  private readonly hookTexts = new Map<string, string>();
  private pendingStops: StopInfo[] = [];
  private exceptionStop: { vector: number; errorCode: number | undefined } | undefined;
  /** The guest stopped on an instruction before its watched access; resuming re-runs it without stopping. */
  private onWatchedInstruction = false;
  /** Vectors (0-31) on which the debugger stops before delivery. */
  readonly exceptionBreaks = new Set<number>();

  private constructor(
    config: EmulatorConfig,
    image: Uint8Array,
    initrd: Uint8Array | undefined,
    events: EmulatorEvents,
  ) {
    const hpet = resolveHpet(config.hpet);
    try {
      this.machine = new PcMachine({
        ...(config.memoryMiB !== undefined ? { memoryMiB: config.memoryMiB } : {}),
        hpet,
        realtime: config.realtime ?? false,
        onSerial: (b) => events.serial?.(b),
        onDebugConsole: (b) => events.debugConsole?.(b),
      });
    } catch (e) {
      if (e instanceof RangeError) throw new EmulatorConfigError(e.message);
      throw e;
    }
    const machine = this.machine;
    const cpu = machine.cpu;
    try {
      this.plan = machine.load(image, {
        format: config.format ?? 'auto',
        ...(config.cmdline !== undefined ? { commandLine: config.cmdline } : {}),
        ...(initrd ? { initrd } : {}),
        ...(config.loadAddress !== undefined ? { loadAddress: config.loadAddress } : {}),
        ...(config.entryAddress !== undefined ? { entryAddress: config.entryAddress } : {}),
      });
    } catch (e) {
      if (e instanceof LoaderError || e instanceof RangeError) {
        throw new EmulatorConfigError(`${config.program}: ${e.message}`);
      }
      throw e;
    }
    this.hooks = new HookEngine({
      devices: machine.deviceDescriptions(),
      context: {
        eip: () => cpu.accessEip,
        cpl: () => cpu.cpl,
        now: () => machine.clock.now(),
        canStopBeforeAccess: () => cpu.stopBeforeAccessAllowed,
      },
      onLog: (message, hook) => events.hookLog?.(message, hook),
      onFault: (hook, message) => events.hookFault?.(hook, message),
      onStop: (info) => {
        this.pendingStops.push(info);
        cpu.exitRequested = true;
        cpu.blockExit = true;
      },
    });
    this.hooks.attach(machine.phys, machine.ports);
    this.hooks.onRangesChanged(() => this.syncInterceptedRam());
    this.syncInterceptedRam();
    const capacity = config.traceCapacity ?? 100_000;
    this.trace = capacity > 0 ? this.hooks.startTrace({ capacity }) : undefined;
    cpu.onException = (vector, errorCode) => {
      if (!this.exceptionBreaks.has(vector)) return false;
      this.exceptionStop = { vector, errorCode };
      return true;
    };
  }

  /**
   * Sends accesses to RAM pages that hooks or watchpoints cover through the hook engine: those pages leave the
   * TLB's fast path; every other page keeps it.
   */
  private syncInterceptedRam(): void {
    const machine = this.machine;
    const pages = machine.phys.interceptedRamPages;
    pages.fill(0);
    for (const range of this.hooks.hookedRanges()) {
      if (range.space !== 'mmio' || range.length <= 0) continue;
      const last = Math.min(range.start + range.length - 1, machine.phys.ramSize - 1);
      for (let page = range.start >>> 12; page <= last >>> 12; page++) pages[page] = 1;
    }
    machine.cpu.mmu.flushAll();
    machine.cpu.translator.flushSuccessors();
  }

  /** Reads the image (and initrd, hook files) from disk and builds the machine; every problem is an EmulatorConfigError. */
  static create(
    config: EmulatorConfig,
    events: EmulatorEvents = {},
  ): { emulator: Emulator; hookResults: Map<string, HookFileResult> } {
    if (typeof config.program !== 'string' || config.program === '') {
      throw new EmulatorConfigError(
        'no guest image given: set "program" to the path of a multiboot/ELF image or bzImage',
      );
    }
    if (config.format !== undefined && !FORMATS.includes(config.format)) {
      throw new EmulatorConfigError(`unknown format "${String(config.format)}": use one of ${FORMATS.join(', ')}`);
    }
    const image = readInput(config.program, 'guest image');
    const initrd = config.initrd ? readInput(config.initrd, 'initrd') : undefined;
    const emulator = new Emulator(config, image, initrd, events);
    const hookResults = new Map<string, HookFileResult>();
    for (const file of config.hooks ?? []) {
      const text = readInput(file, 'hook file');
      hookResults.set(file, emulator.loadHookText(file, new TextDecoder().decode(text)));
    }
    return { emulator, hookResults };
  }

  /** Compiles a hook file and swaps it in atomically; with errors the previous version stays active. */
  loadHookText(file: string, text: string): HookFileResult {
    const result = this.hooks.load(file, text);
    if (result.ok) this.hookTexts.set(file, text);
    return { ok: result.ok, diagnostics: result.diagnostics };
  }

  loadHookFile(file: string): HookFileResult {
    return this.loadHookText(file, new TextDecoder().decode(readInput(file, 'hook file')));
  }

  unloadHookFile(file: string): void {
    this.hooks.unload(file);
    this.hookTexts.delete(file);
  }

  hookFiles(): string[] {
    return [...this.hookTexts.keys()];
  }

  setInstructionBreakpoints(linearAddresses: Iterable<number>): void {
    this.machine.cpu.setDebuggerBreakpoints(linearAddresses);
  }

  /** Symbol containing `address`, with the offset into it. */
  symbolAt(address: number): { name: string; offset: number } | undefined {
    const symbols = this.plan.symbols;
    let best: { name: string; offset: number } | undefined;
    for (const s of symbols) {
      if (s.kind === 'object') continue;
      const offset = (address >>> 0) - (s.address >>> 0);
      if (offset < 0) continue;
      if (s.size > 0 ? offset < s.size : offset < 0x1000) {
        if (!best || offset < best.offset) best = { name: s.name, offset };
      }
    }
    return best;
  }

  /** The function symbol whose recorded extent (size > 0) contains `address`. */
  functionAt(address: number): { name: string; address: number; size: number } | undefined {
    const a = address >>> 0;
    for (const s of this.plan.symbols) {
      if (s.kind !== 'function' || s.size <= 0) continue;
      const offset = a - (s.address >>> 0);
      if (offset >= 0 && offset < s.size) return { name: s.name, address: s.address >>> 0, size: s.size };
    }
    return undefined;
  }

    symbolAddress(name: string): number | undefined {
    return this.plan.symbols.find((s) => s.name === name)?.address;
  }

  /**
   * Runs up to `instructions` instructions. Returns when the guest stops (breakpoint, watchpoint, hook `break`,
   * exception breakpoint, pause), ends, idles in real-time mode, or the budget is spent.
   */
  runSlice(instructions: number, resumingFromStop = false): SliceResult {
    const machine = this.machine;
    const cpu = machine.cpu;
    if (resumingFromStop && this.onWatchedInstruction) {
      const single = this.stepInstruction();
      if (single.kind !== 'budget') return single;
      instructions--;
    }
    if (resumingFromStop && cpu.debuggerBreakpoints.has(cpu.linearIp)) {
      // Step over the breakpoint we are stopped on.
      const single = this.stepInstruction();
      if (single.kind !== 'budget') return single;
      instructions--;
    }
    const result = machine.run(instructions);
    return this.classify(result);
  }

  /** Executes exactly one instruction (or takes one pending interrupt). */
  stepInstruction(): SliceResult {
    const machine = this.machine;
    const cpu = machine.cpu;
    machine.scheduler.runDue();
    cpu.breakpointHit = undefined;
    // Stopped on an instruction before its watched access: run that instruction with watchpoints quiet.
    const rerun = this.onWatchedInstruction;
    this.onWatchedInstruction = false;
    if (rerun) this.hooks.suppressWatchpoints(true);
    let exit: RunExit;
    try {
      exit = cpu.step();
    } finally {
      if (rerun) this.hooks.suppressWatchpoints(false);
    }
    if (exit === RunExit.Shutdown) {
      machine.requestShutdown(cpu.stopReason);
      return { kind: 'shutdown', reason: cpu.stopReason };
    }
    if (exit === RunExit.Halted) {
      // Let virtual time pass to the next deadline so a halted guest can be stepped into its interrupt handler.
      const r = machine.run(1);
      return this.classify(r.kind === 'running' ? { kind: 'stopped' } : r);
    }
    const stopped = this.classify(machine.finished ? machine.run(0) : { kind: 'stopped' });
    if (stopped.kind === 'stopped' && 'cause' in stopped && stopped.cause.kind === 'pause') return { kind: 'budget' };
    return stopped;
  }

  private classify(result: RunResult): SliceResult {
    const cpu = this.machine.cpu;
    if (result.kind !== 'stopped') return result.kind === 'running' ? { kind: 'budget' } : result;
    const stops = this.pendingStops;
    this.pendingStops = [];
    const first = stops[0];
    if (first) {
      if (first.watchpointId === undefined) return { kind: 'stopped', cause: { kind: 'hook-break', info: first } };
      this.onWatchedInstruction = first.beforeAccess === true;
      return { kind: 'stopped', cause: { kind: 'watchpoint', info: first } };
    }
    if (this.exceptionStop) {
      const { vector, errorCode } = this.exceptionStop;
      this.exceptionStop = undefined;
      return { kind: 'stopped', cause: { kind: 'exception', vector, errorCode } };
    }
    if (cpu.breakpointHit !== undefined)
      return { kind: 'stopped', cause: { kind: 'breakpoint', address: cpu.breakpointHit } };
    return { kind: 'stopped', cause: { kind: 'pause' } };
  }

  /** Continues delivery of an exception the debugger stopped on. */
  deliverPendingException(): void {
    const cpu = this.machine.cpu;
    const pending = cpu.pendingException;
    if (!pending) return;
    cpu.pendingException = undefined;
    const saved = cpu.onException;
    cpu.onException = undefined;
    try {
      cpu.deliverException(pending);
    } finally {
      cpu.onException = saved;
    }
  }

  /** Asks a running slice to stop at the next instruction boundary (pause). */
  pause(): void {
    this.machine.requestStop();
  }

  traceRecords(): readonly TraceRecord[] {
    return this.trace ? this.trace.latest(this.trace.total) : [];
  }

  describeLocation(): string {
    const cpu = this.machine.cpu;
    const symbol = this.symbolAt(cpu.linearIp);
    const at = `eip 0x${hex32(cpu.eip)}`;
    return symbol ? `${at} (${symbol.name}+0x${symbol.offset.toString(16)})` : at;
  }
}

function readInput(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EmulatorConfigError(`${what} not found: ${path}`);
    if (code === 'EISDIR') throw new EmulatorConfigError(`${what} is a directory, not a file: ${path}`);
    if (code === 'EACCES') throw new EmulatorConfigError(`${what} is not readable: ${path}`);
    throw new EmulatorConfigError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}
