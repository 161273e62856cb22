import type { AccessInterceptor, DeviceAccess, PhysicalAddressSpace } from '../core/bus/physical';
import { StopBeforeAccess } from '../core/bus/physical';
import type { PortSpace } from '../core/bus/ports';
import { readAdjusted, writeAdjusted } from '../core/bus/regions';
import type { AccessSize, Region, RegionHandler, SmallAccessSize } from '../core/bus/types';
import type { DeviceDescription } from '../core/regs/describe';
import { checkSource } from './checker';
import type { AccessContext, CompiledHook, Frame } from './compiler';
import { compileProgram, DEFAULT_STEP_BUDGET, Ending } from './compiler';
import type { Diagnostic } from './diagnostics';
import { hasErrors } from './diagnostics';
import { DeviceDirectory } from './names';
import type { HookDecision, TraceOptions } from './trace';
import { MmioTrace } from './trace';
import type { CheckedHook, StateVariable } from './types';
import type { Watchpoint, WatchpointResult, WatchpointSpec } from './watchpoints';
import { ConditionFrame, createWatchpoint } from './watchpoints';

const U64 = (1n << 64n) - 1n;
const PART_MASKS: readonly bigint[] = [
  0n,
  0xffn,
  0xffffn,
  0xffffffn,
  0xffffffffn,
  0xffffffffffn,
  0xffffffffffffn,
  0xffffffffffffffn,
  U64,
];
const INDEX_PAGE_SHIFT = 12;
/** Devices a file declares but the machine does not model get a plain register store up to this size. */
const MAX_PLACEHOLDER_BYTES = 1 << 20;

export interface HookedRange {
  readonly space: 'mmio' | 'pio';
  readonly start: number;
  readonly length: number;
}

export interface HookInfo {
  readonly id: number;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** `read hpet.GCAP_ID`, `write port 0x3f8`. */
  readonly name: string;
  readonly space: 'mmio' | 'pio';
  readonly start: number;
  readonly length: number;
  readonly enabled: boolean;
  readonly hits: number;
  readonly lastError: string | undefined;
}

export interface StopInfo {
  readonly reason: 'watchpoint' | 'hook';
  readonly watchpointId: number | undefined;
  readonly hookId: number | undefined;
  /** The text of `break "..."` for hook stops. */
  readonly message: string | undefined;
  readonly space: 'mmio' | 'pio';
  readonly address: number;
  readonly size: number;
  /** What the guest read, or for a write what the device received (the guest's value if nothing was written). */
  readonly value: bigint;
  readonly isWrite: boolean;
  readonly device: string;
  readonly register: string | undefined;
  readonly eip: number;
  /** `read hpet.GCAP_ID, 4 bytes = 0x80868301 at eip 0x00100a3c` */
  readonly description: string;
  /**
   * True when the guest stopped on the accessing instruction before the access (the value of a read is the
   * device's current value, read without side effects); false when the access completed first.
   */
  readonly beforeAccess?: boolean;
}

export interface LoadResult {
  /** True when the file compiled and its hooks are now active. */
  readonly ok: boolean;
  readonly diagnostics: readonly Diagnostic[];
}

export interface HookEngineOptions {
  /** The machine's devices, with base addresses. */
  readonly devices?: readonly DeviceDescription[];
  readonly context?: AccessContext;
  /** Loop iterations allowed per hook run. */
  readonly stepBudget?: number;
  readonly onLog?: (message: string, hook: HookInfo) => void;
  readonly onFault?: (hook: HookInfo, message: string) => void;
  readonly onStop?: (info: StopInfo) => void;
}

interface LoadedFile {
  readonly name: string;
  readonly hooks: ActiveHook[];
  readonly stateVariables: readonly StateVariable[];
  readonly state: (bigint | boolean)[];
  readonly declaredDevices: readonly DeviceDescription[];
}

interface ActiveHook {
  readonly id: number;
  readonly file: LoadedFile;
  readonly checked: CheckedHook;
  readonly run: CompiledHook['run'];
  /** Register hooks see values in register coordinates; range hooks see each part at bit 0. */
  readonly registerCoordinates: boolean;
  readonly start: number;
  readonly end: number;
  /** Later loads win where hooks of different files overlap. */
  readonly priority: number;
  enabled: boolean;
  hits: number;
  lastError: string | undefined;
}

type PartIo = { read(): number | bigint; write(value: number | bigint): void };

/** What one guest access did, for the trace, watchpoints and stops. */
class AccessRecord {
  /** Read: bytes the device returned. Write: bytes the device received. */
  deviceValue = 0n;
  deviceTouched = false;
  hooks: { name: string; decision: HookDecision | 'fault' }[] | undefined;
  logs: string[] | undefined;
  breaks: { hook: ActiveHook; reason: string }[] | undefined;

  /** Watchpoints are checked after the access (it could not be stopped before). */
  watchAfter = false;

  /** Values and decisions are only gathered when the trace or a watchpoint will look at them. */
  constructor(
    readonly access: DeviceAccess,
    readonly detailed: boolean,
  ) {}

  recordDevice(address: number, part: bigint): void {
    if (!this.detailed) return;
    this.deviceValue |= address === this.access.address ? part : part << BigInt((address - this.access.address) * 8);
    this.deviceTouched = true;
  }

  recordDecision(name: string, decision: HookDecision | 'fault'): void {
    if (this.detailed) (this.hooks ??= []).push({ name, decision });
  }
}

class HookRun implements Frame {
  value: bigint;
  readonly locals: (bigint | boolean)[];
  readonly state: (bigint | boolean)[];
  readonly offset: number;
  readonly hits: number;
  readonly context: AccessContext;
  budget: number;
  deviceValue: bigint | undefined;
  writtenValue: bigint | undefined;

  constructor(
    private readonly engine: HookEngine,
    readonly hook: ActiveHook,
    readonly address: number,
    readonly size: number,
    readonly isWrite: boolean,
    readonly shift: bigint,
    readonly guestPart: bigint,
    private readonly io: PartIo,
    private readonly record: AccessRecord,
  ) {
    this.value = isWrite ? guestPart << shift : 0n;
    this.locals = hook.checked.localCount === 0 ? [] : new Array<bigint | boolean>(hook.checked.localCount);
    this.state = hook.file.state;
    this.offset = address - hook.start;
    this.hits = ++hook.hits;
    this.context = engine.context;
    this.budget = engine.stepBudget;
  }

  deviceRead(): bigint {
    const part = BigInt(this.io.read());
    this.deviceValue = part;
    this.record.recordDevice(this.address, part);
    return part << this.shift;
  }

  deviceWrite(value: bigint): void {
    const part = (value >> this.shift) & PART_MASKS[this.size];
    this.io.write(this.size === 8 ? part : Number(part));
    this.writtenValue = part;
    this.record.recordDevice(this.address, part);
  }

  log(message: string): void {
    this.engine.emitLog(message, this.hook, this.record);
  }

  requestBreak(reason: string): void {
    (this.record.breaks ??= []).push({ hook: this.hook, reason });
  }
}

const NO_CONTEXT: AccessContext = { eip: () => 0, cpl: () => 0, now: () => 0 };

/**
 * Runs hook files on device accesses (BitVisor's mmio_register semantics), checks watchpoints and records the
 * MMIO trace. Install it as the interceptor of the physical address space and the port space with `attach`.
 */
export class HookEngine implements AccessInterceptor {
  private watchpointsSuppressed = false;
  readonly context: AccessContext;
  readonly stepBudget: number;
  private readonly machineDevices: readonly DeviceDescription[];
  private readonly directory: DeviceDirectory;
  private readonly files = new Map<string, LoadedFile>();
  private readonly hooksById = new Map<number, ActiveHook>();
  private readonly index = {
    mmio: { read: new Map<number, ActiveHook[]>(), write: new Map<number, ActiveHook[]>() },
    pio: { read: new Map<number, ActiveHook[]>(), write: new Map<number, ActiveHook[]>() },
  };
  private readonly watchpoints = new Map<number, Watchpoint>();
  private activeWatchpoints: Watchpoint[] = [];
  private traceBuffer: MmioTrace | undefined;
  private nextHookId = 1;
  private nextWatchpointId = 1;
  private loadSequence = 0;
  private physical: PhysicalAddressSpace | undefined;
  private ports: PortSpace | undefined;
  private readonly placeholders = new Map<string, { region: Region; space: 'mmio' | 'pio' }>();
  private readonly rangeListeners = new Set<() => void>();
  private rangesKey = '';
  private enabledHookCount = 0;

  constructor(private readonly options: HookEngineOptions = {}) {
    this.context = options.context ?? NO_CONTEXT;
    this.stepBudget = options.stepBudget ?? DEFAULT_STEP_BUDGET;
    this.machineDevices = options.devices ?? [];
    this.directory = new DeviceDirectory(this.machineDevices);
  }

  // ---- buses -------------------------------------------------------------------------------------------------

  /** Connects the engine to the buses; it installs itself as their interceptor only while something is active. */
  attach(physical: PhysicalAddressSpace | undefined, ports?: PortSpace): void {
    this.physical = physical;
    this.ports = ports;
    this.syncPlaceholders();
    this.updateAttachment();
  }

  /** True while any hook, watchpoint or the trace needs to see accesses. */
  get isActive(): boolean {
    return this.enabledHookCount > 0 || this.activeWatchpoints.length > 0 || this.traceBuffer !== undefined;
  }

  private updateAttachment(): void {
    const interceptor = this.isActive ? this : undefined;
    if (this.physical && (this.physical.interceptor === undefined || this.physical.interceptor === this)) {
      this.physical.interceptor = interceptor;
    }
    if (this.ports && (this.ports.interceptor === undefined || this.ports.interceptor === this)) {
      this.ports.interceptor = interceptor;
    }
    const ranges = this.hookedRanges();
    const key = ranges.map((r) => `${r.space}:${r.start}:${r.length}`).join(',');
    if (key !== this.rangesKey) {
      this.rangesKey = key;
      for (const listener of this.rangeListeners) listener();
    }
  }

  /**
   * Physical and port ranges covered by enabled hooks and watchpoints. The softmmu sends accesses to these
   * ranges down its slow path (hooked RAM pages included).
   */
  hookedRanges(): HookedRange[] {
    const ranges: HookedRange[] = [];
    for (const hook of this.hooksById.values()) {
      if (hook.enabled) ranges.push({ space: hook.checked.space, start: hook.start, length: hook.end - hook.start });
    }
    for (const w of this.activeWatchpoints) ranges.push({ space: w.space, start: w.start, length: w.length });
    return ranges.sort((a, b) => (a.space === b.space ? a.start - b.start : a.space < b.space ? -1 : 1));
  }

  /** Called whenever hookedRanges() changes; returns a function that unsubscribes. */
  onRangesChanged(listener: () => void): () => void {
    this.rangeListeners.add(listener);
    return () => this.rangeListeners.delete(listener);
  }

  // ---- files -------------------------------------------------------------------------------------------------

  /**
   * Compiles a hook file. Without errors its hooks replace the file's previous ones in one step (between two
   * accesses); with errors the previous version stays active. State variables keep their values across a
   * reload when name and type are unchanged.
   */
  load(fileName: string, text: string): LoadResult {
    const known = [...this.machineDevices];
    for (const [name, file] of this.files) if (name !== fileName) known.push(...file.declaredDevices);
    const result = checkSource(text, known);
    if (!result.program || hasErrors(result.diagnostics)) return { ok: false, diagnostics: result.diagnostics };
    const compiled = compileProgram(result.program);
    const previous = this.files.get(fileName);
    const state = result.program.state.map((variable) => {
      const slot =
        previous?.stateVariables.findIndex((v) => v.name === variable.name && v.type.kind === variable.type.kind) ?? -1;
      return slot >= 0 ? previous!.state[slot] : variable.initial;
    });
    const file: LoadedFile = {
      name: fileName,
      hooks: [],
      stateVariables: result.program.state,
      state,
      declaredDevices: result.program.declaredDevices,
    };
    const priority = ++this.loadSequence;
    for (const c of compiled) {
      file.hooks.push({
        id: this.nextHookId++,
        file,
        checked: c.checked,
        run: c.run,
        registerCoordinates: c.checked.register !== undefined,
        start: c.checked.start,
        end: c.checked.start + c.checked.length,
        priority,
        enabled: true,
        hits: 0,
        lastError: undefined,
      });
    }
    if (previous) for (const hook of previous.hooks) this.hooksById.delete(hook.id);
    this.files.set(fileName, file);
    for (const hook of file.hooks) this.hooksById.set(hook.id, hook);
    this.afterFilesChanged();
    return { ok: true, diagnostics: result.diagnostics };
  }

  unload(fileName: string): boolean {
    const file = this.files.get(fileName);
    if (!file) return false;
    for (const hook of file.hooks) this.hooksById.delete(hook.id);
    this.files.delete(fileName);
    this.afterFilesChanged();
    return true;
  }

  /** Every device the engine knows: the machine's and those declared by loaded files. */
  devices(): DeviceDescription[] {
    return this.directory.all();
  }

  private afterFilesChanged(): void {
    const declared = [...this.files.values()].flatMap((f) => f.declaredDevices);
    this.directory.replace([...this.machineDevices, ...declared]);
    this.syncPlaceholders();
    this.rebuildIndex();
  }

  /** Gives declared devices that no bus region backs a plain register store, so hooks on them see accesses. */
  private syncPlaceholders(): void {
    const wanted = new Map<string, DeviceDescription>();
    for (const file of this.files.values()) for (const d of file.declaredDevices) wanted.set(d.name, d);
    for (const [name, placeholder] of this.placeholders) {
      if (wanted.has(name)) continue;
      if (placeholder.space === 'mmio') this.physical?.unregisterMmio(placeholder.region);
      else this.ports?.unregister(placeholder.region);
      this.placeholders.delete(name);
    }
    for (const device of wanted.values()) {
      if (this.placeholders.has(device.name) || device.size > MAX_PLACEHOLDER_BYTES) continue;
      const bus = device.space === 'mmio' ? this.physical : this.ports;
      if (!bus) continue;
      const regions = device.space === 'mmio' ? this.physical!.mmioRegions() : this.ports!.regionsList();
      if (regions.some((r) => r.start < device.base + device.size && device.base < r.start + r.length)) continue;
      const handler = registerStore(device.size);
      const options = { device: device.name, name: 'declared' };
      const region =
        device.space === 'mmio'
          ? this.physical!.registerMmio(device.base, device.size, handler, options)
          : this.ports!.register(device.base, device.size, handler, options);
      this.placeholders.set(device.name, { region, space: device.space });
    }
  }

  private rebuildIndex(): void {
    for (const space of [this.index.mmio, this.index.pio]) {
      space.read.clear();
      space.write.clear();
    }
    const hooks = [...this.hooksById.values()]
      .filter((h) => h.enabled)
      .sort((a, b) => b.priority - a.priority || a.start - b.start);
    this.enabledHookCount = hooks.length;
    for (const hook of hooks) {
      const space = this.index[hook.checked.space];
      const lists = [
        hook.checked.decl.onRead ? space.read : undefined,
        hook.checked.decl.onWrite ? space.write : undefined,
      ];
      for (let page = hook.start >>> INDEX_PAGE_SHIFT; page <= (hook.end - 1) >>> INDEX_PAGE_SHIFT; page++) {
        for (const list of lists) {
          if (!list) continue;
          const entries = list.get(page);
          if (entries) entries.push(hook);
          else list.set(page, [hook]);
        }
      }
    }
    this.updateAttachment();
  }

  // ---- hooks for the debugger ----------------------------------------------------------------------------------

  listHooks(): HookInfo[] {
    return [...this.hooksById.values()].sort((a, b) => a.id - b.id).map((h) => this.hookInfo(h));
  }

  /** Current values of a file's state variables. */
  fileState(fileName: string): { name: string; value: bigint | boolean }[] {
    const file = this.files.get(fileName);
    if (!file) return [];
    return file.stateVariables.map((v, i) => ({ name: v.name, value: file.state[i] }));
  }

  setHookEnabled(id: number, enabled: boolean): boolean {
    const hook = this.hooksById.get(id);
    if (!hook) return false;
    hook.enabled = enabled;
    if (enabled) hook.lastError = undefined;
    this.rebuildIndex();
    return true;
  }

  private hookInfo(h: ActiveHook): HookInfo {
    const start = h.checked.decl.range.start;
    return {
      id: h.id,
      file: h.file.name,
      line: start.line,
      column: start.column,
      name: h.checked.name,
      space: h.checked.space,
      start: h.start,
      length: h.end - h.start,
      enabled: h.enabled,
      hits: h.hits,
      lastError: h.lastError,
    };
  }

  // ---- watchpoints -------------------------------------------------------------------------------------------

  addWatchpoint(spec: WatchpointSpec): WatchpointResult {
    const created = createWatchpoint(this.nextWatchpointId, spec, this.directory);
    if (!('id' in created)) return { ok: false, diagnostics: created };
    this.nextWatchpointId++;
    this.watchpoints.set(created.id, created);
    this.refreshWatchpoints();
    return { ok: true, id: created.id };
  }

  removeWatchpoint(id: number): boolean {
    const removed = this.watchpoints.delete(id);
    this.refreshWatchpoints();
    return removed;
  }

  setWatchpointEnabled(id: number, enabled: boolean): boolean {
    const w = this.watchpoints.get(id);
    if (!w) return false;
    w.enabled = enabled;
    this.refreshWatchpoints();
    return true;
  }

  listWatchpoints(): readonly Watchpoint[] {
    return [...this.watchpoints.values()];
  }

  private refreshWatchpoints(): void {
    this.activeWatchpoints = [...this.watchpoints.values()].filter((w) => w.enabled);
    this.updateAttachment();
  }

  // ---- trace -------------------------------------------------------------------------------------------------

  get trace(): MmioTrace | undefined {
    return this.traceBuffer;
  }

  startTrace(options: TraceOptions = {}): MmioTrace {
    this.traceBuffer = new MmioTrace(options);
    this.updateAttachment();
    return this.traceBuffer;
  }

  stopTrace(): void {
    this.traceBuffer = undefined;
    this.updateAttachment();
  }

  // ---- the interceptor ---------------------------------------------------------------------------------------

  read(access: DeviceAccess, perform: () => number | bigint): number | bigint {
    const hooks = this.collect(this.index[access.space].read, access.address, access.size);
    if (!hooks && this.activeWatchpoints.length === 0 && !this.traceBuffer) return perform();
    const watchAfter = this.activeWatchpoints.length > 0 && !this.stopBeforeAccess(access);
    const record = new AccessRecord(access, this.activeWatchpoints.length > 0 || this.traceBuffer !== undefined);
    record.watchAfter = watchAfter;
    let result: bigint;
    if (!hooks) {
      result = BigInt(perform());
      record.recordDevice(access.address, result);
    } else {
      const only = hooks.length === 1 ? hooks[0] : undefined;
      if (only && only.start <= access.address && access.address + access.size <= only.end) {
        result = this.runPart(only, access, access.address, access.size, 0n, { read: perform, write: noWrite }, record);
      } else {
        result = this.split(access, hooks, 0n, record);
      }
    }
    this.finish(access, result, record);
    return access.size === 8 ? result : Number(result);
  }

  write(access: DeviceAccess, perform: (value: number | bigint) => void): void {
    const hooks = this.collect(this.index[access.space].write, access.address, access.size);
    if (!hooks && this.activeWatchpoints.length === 0 && !this.traceBuffer) {
      perform(access.value);
      return;
    }
    const watchAfter = this.activeWatchpoints.length > 0 && !this.stopBeforeAccess(access);
    const record = new AccessRecord(access, this.activeWatchpoints.length > 0 || this.traceBuffer !== undefined);
    record.watchAfter = watchAfter;
    const guest = BigInt.asUintN(access.size * 8, BigInt(access.value));
    if (!hooks) {
      perform(access.value);
      record.recordDevice(access.address, guest);
    } else {
      const only = hooks.length === 1 ? hooks[0] : undefined;
      if (only && only.start <= access.address && access.address + access.size <= only.end) {
        this.runPart(only, access, access.address, access.size, guest, { read: noRead, write: perform }, record);
      } else {
        this.split(access, hooks, guest, record);
      }
    }
    this.finish(access, guest, record);
  }

  /** Enabled hooks overlapping [address, address + size), highest priority first, or undefined. */
  private collect(list: Map<number, ActiveHook[]>, address: number, size: number): ActiveHook[] | undefined {
    if (list.size === 0) return undefined;
    const end = address + size;
    let found: ActiveHook[] | undefined;
    const firstPage = address >>> INDEX_PAGE_SHIFT;
    const lastPage = (end - 1) >>> INDEX_PAGE_SHIFT;
    for (let page = firstPage; page <= lastPage; page++) {
      const entries = list.get(page);
      if (!entries) continue;
      for (const hook of entries) {
        if (hook.start < end && address < hook.end && !found?.includes(hook)) (found ??= []).push(hook);
      }
    }
    return found;
  }

  /**
   * Splits an access into runs of bytes with the same hook (or none), and each run into naturally aligned pieces
   * of 1, 2, 4 or 8 bytes. Each hooked piece runs its hook; the rest go straight to the device.
   */
  private split(access: DeviceAccess, hooks: readonly ActiveHook[], guest: bigint, record: AccessRecord): bigint {
    const first = access.address;
    const end = first + access.size;
    const ownerOf = (address: number): ActiveHook | undefined =>
      hooks.find((h) => h.start <= address && address < h.end);
    let result = 0n;
    for (let runStart = first; runStart < end;) {
      const owner = ownerOf(runStart);
      let runEnd = runStart + 1;
      while (runEnd < end && ownerOf(runEnd) === owner) runEnd++;
      for (let piece = runStart; piece < runEnd;) {
        let size = 8;
        while (size > 1 && (piece % size !== 0 || piece + size > runEnd)) size >>= 1;
        const shift = BigInt((piece - first) * 8);
        const regionOffset = access.offset + (piece - first);
        const pieceSize = size as AccessSize;
        const io: PartIo = {
          read: () => readAdjusted(access.region, regionOffset, pieceSize),
          write: (v) => writeAdjusted(access.region, regionOffset, pieceSize, v),
        };
        const guestPart = (guest >> shift) & PART_MASKS[size];
        if (owner) {
          result |= this.runPart(owner, access, piece, size, guestPart, io, record) << shift;
        } else if (access.isWrite) {
          io.write(size === 8 ? guestPart : Number(guestPart));
          record.recordDevice(piece, guestPart);
        } else {
          const part = BigInt(io.read());
          record.recordDevice(piece, part);
          result |= part << shift;
        }
        piece += size;
      }
      runStart = runEnd;
    }
    return result;
  }

  /** Runs one hook for one part of an access; returns what the guest reads for that part (0 for writes). */
  private runPart(
    hook: ActiveHook,
    access: DeviceAccess,
    address: number,
    size: number,
    guestPart: bigint,
    io: PartIo,
    record: AccessRecord,
  ): bigint {
    const shift = hook.registerCoordinates && address !== hook.start ? BigInt((address - hook.start) * 8) : 0n;
    const mask = PART_MASKS[size];
    const run = new HookRun(this, hook, address, size, access.isWrite, shift, guestPart, io, record);
    let ending: Ending;
    try {
      ending = hook.run(run);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.fault(hook, message);
      record.recordDecision(hook.checked.name, 'fault');
      if (access.isWrite) {
        if (run.writtenValue === undefined) {
          io.write(size === 8 ? guestPart : Number(guestPart));
          record.recordDevice(address, guestPart);
        }
        return 0n;
      }
      return run.deviceValue ?? this.readPart(io, address, record);
    }
    (record.hooks ??= []).push({
      name: hook.checked.name,
      decision: ending === Ending.Handled ? 'handled' : 'emulate',
    });
    if (access.isWrite) {
      if (ending === Ending.Emulate) {
        const part = (run.value >> shift) & mask;
        io.write(size === 8 ? part : Number(part));
        record.recordDevice(address, part);
      }
      return 0n;
    }
    if (ending === Ending.Handled) return (run.value >> shift) & mask;
    return this.readPart(io, address, record);
  }

  private readPart(io: PartIo, address: number, record: AccessRecord): bigint {
    const part = BigInt(io.read());
    record.recordDevice(address, part);
    return part;
  }

  private fault(hook: ActiveHook, message: string): void {
    hook.enabled = false;
    hook.lastError = message;
    this.rebuildIndex();
    this.options.onFault?.(this.hookInfo(hook), message);
  }

  emitLog(message: string, hook: ActiveHook, record: AccessRecord): void {
    if (this.traceBuffer) (record.logs ??= []).push(message);
    this.options.onLog?.(message, this.hookInfo(hook));
  }

  /** Watchpoints, hook breaks and the trace record, once the access is complete. */
  private finish(access: DeviceAccess, guestOrResult: bigint, record: AccessRecord): void {
    const value = access.isWrite ? (record.deviceTouched ? record.deviceValue : guestOrResult) : guestOrResult;
    const watchHits = record.watchAfter ? this.checkWatchpoints(access, value) : undefined;
    const trace = this.traceBuffer;
    if (!watchHits && !record.breaks && !trace) return;
    const located = this.directory.locate(access.space, access.address);
    const deviceName = located.device?.name ?? access.region.device;
    const registerName = located.register?.name;
    if (trace?.accepts(deviceName)) {
      const decisions = record.hooks ?? [];
      const decision: HookDecision = decisions.some((h) => h.decision === 'handled')
        ? 'handled'
        : decisions.some((h) => h.decision === 'emulate')
          ? 'emulate'
          : 'none';
      trace.add({
        time: this.context.now(),
        eip: this.context.eip() >>> 0,
        space: access.space,
        address: access.address,
        size: access.size,
        isWrite: access.isWrite,
        device: deviceName,
        register: registerName,
        before: access.isWrite ? guestOrResult : record.deviceTouched ? record.deviceValue : undefined,
        after: access.isWrite ? (record.deviceTouched ? record.deviceValue : undefined) : guestOrResult,
        decision,
        hooks: decisions,
        logs: record.logs ?? [],
      });
    }
    const onStop = this.options.onStop;
    if (!onStop || (!watchHits && !record.breaks)) return;
    const eip = this.context.eip() >>> 0;
    const what = this.describeAccess(
      access,
      value,
      located.register ? located.registerAddress : undefined,
      registerName,
      deviceName,
      eip,
    );
    const base = {
      space: access.space,
      address: access.address,
      size: access.size,
      value,
      isWrite: access.isWrite,
      device: deviceName,
      register: registerName,
      eip,
    };
    for (const w of watchHits ?? []) {
      onStop({
        ...base,
        reason: 'watchpoint',
        watchpointId: w.id,
        hookId: undefined,
        message: undefined,
        description: what,
      });
    }
    for (const b of record.breaks ?? []) {
      onStop({
        ...base,
        reason: 'hook',
        watchpointId: undefined,
        hookId: b.hook.id,
        message: b.reason,
        description: `${b.reason}: ${what}`,
      });
    }
  }

  /**
   * Checks watchpoints before the access is performed. When one matches and the CPU can restart the instruction,
   * reports the stop and throws StopBeforeAccess: the access never happens, and the guest stops on the
   * accessing instruction. Returns false when the check must happen after the access instead.
   */
  private stopBeforeAccess(access: DeviceAccess): boolean {
    if (this.watchpointsSuppressed) return true;
    if (!(this.context.canStopBeforeAccess?.() ?? false)) return false;
    const value = access.isWrite ? BigInt.asUintN(access.size * 8, BigInt(access.value)) : this.peek(access);
    const hits = this.checkWatchpoints(access, value ?? 0n);
    if (!hits) return true;
    const onStop = this.options.onStop;
    if (onStop) {
      const located = this.directory.locate(access.space, access.address);
      const deviceName = located.device?.name ?? access.region.device;
      const eip = this.context.eip() >>> 0;
      const description = this.describeAccess(
        access,
        value,
        located.register ? located.registerAddress : undefined,
        located.register?.name,
        deviceName,
        eip,
      );
      for (const w of hits) {
        onStop({
          space: access.space,
          address: access.address,
          size: access.size,
          value: value ?? 0n,
          isWrite: access.isWrite,
          device: deviceName,
          register: located.register?.name,
          eip,
          reason: 'watchpoint',
          watchpointId: w.id,
          hookId: undefined,
          message: undefined,
          description,
          beforeAccess: true,
        });
      }
    }
    throw new StopBeforeAccess();
  }

  /** What a read would return, from the device's side-effect-free view; undefined when it has none. */
  private peek(access: DeviceAccess): bigint | undefined {
    const handler = access.region.handler;
    if (!handler.peek) return undefined;
    if (access.size !== 8) return BigInt(handler.peek(access.offset, access.size) >>> 0);
    return (BigInt(handler.peek(access.offset + 4, 4) >>> 0) << 32n) | BigInt(handler.peek(access.offset, 4) >>> 0);
  }

  /** While set, watchpoints neither stop nor count (the debugger re-runs the instruction it stopped on). */
  suppressWatchpoints(suppressed: boolean): void {
    this.watchpointsSuppressed = suppressed;
  }

  private describeAccess(
    access: DeviceAccess,
    value: bigint | undefined,
    registerAddress: number | undefined,
    registerName: string | undefined,
    deviceName: string,
    eip: number,
  ): string {
    let where: string;
    if (registerName !== undefined && registerAddress !== undefined) {
      const inside = access.address - registerAddress;
      where = `${deviceName}.${registerName}${inside === 0 ? '' : `+0x${inside.toString(16)}`}`;
    } else {
      where = this.directory.describeAddress(access.space, access.address);
    }
    const bytes = access.size === 1 ? '1 byte' : `${access.size} bytes`;
    const shown = value === undefined ? '' : ` = 0x${value.toString(16).padStart(access.size * 2, '0')}`;
    return `${access.isWrite ? 'write' : 'read'} ${where}, ${bytes}${shown} at eip 0x${eip.toString(16).padStart(8, '0')}`;
  }

  private checkWatchpoints(access: DeviceAccess, value: bigint): Watchpoint[] | undefined {
    let hits: Watchpoint[] | undefined;
    const end = access.address + access.size;
    for (const w of this.activeWatchpoints) {
      if (w.space !== access.space || !(access.isWrite ? w.onWrite : w.onRead)) continue;
      if (!(w.start < end && access.address < w.start + w.length)) continue;
      if (w.condition) {
        const delta = access.address - w.start;
        const inCoordinates = !w.register
          ? value
          : delta >= 0
            ? (value << BigInt(delta * 8)) & U64
            : value >> BigInt(-delta * 8);
        const frame = new ConditionFrame(
          inCoordinates,
          access.address,
          Math.max(0, delta),
          access.size,
          access.isWrite,
          w.hits + 1,
          this.context,
        );
        let matches: boolean;
        try {
          matches = w.condition(frame) === true;
        } catch {
          matches = true;
        }
        if (!matches) continue;
      }
      w.hits++;
      (hits ??= []).push(w);
    }
    return hits;
  }
}

function noRead(): number {
  throw new Error('internal: device read during a write access');
}

function noWrite(): void {
  throw new Error('internal: device write during a read access');
}

/** Byte storage behind a declared device that no model implements: reads return what was last written. */
function registerStore(size: number): RegionHandler {
  const bytes = new Uint8Array(size);
  const read = (offset: number, width: SmallAccessSize): number => {
    let v = 0;
    for (let i = width - 1; i >= 0; i--) v = v * 256 + (bytes[offset + i] ?? 0xff);
    return v >>> 0;
  };
  return {
    read,
    write(offset, width, value) {
      for (let i = 0; i < width; i++) if (offset + i < size) bytes[offset + i] = (value >>> (i * 8)) & 0xff;
    },
    peek: read,
  };
}
