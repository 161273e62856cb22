/**
 * Breakpoint bookkeeping: code breakpoints (source lines, functions, instructions) become the CPU's instruction
 * breakpoints; MMIO watchpoints (data breakpoints, `read hpet.GCAP_ID` function breakpoints) live in the hook engine.
 * The requests are kept so that a restart applies them to the new emulator.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { WatchDirection, WatchpointSpec } from '../hooks';
import { MMIO_FUNCTION_BREAKPOINT } from './protocol';
import type { Emulator } from '../runtime/emulator';

export type CodeKind = 'source' | 'function' | 'instruction';

export interface CodeBreakpoint {
  readonly id: number;
  readonly kind: CodeKind;
  readonly addresses: readonly number[];
}

export interface WatchBreakpoint {
  readonly id: number;
  readonly kind: 'data' | 'function';
  readonly spec: WatchpointSpec;
  watchpointId: number | undefined;
  message: string | undefined;
}

/** A data breakpoint id: `reg:hpet.GCAP_ID`, `mmio:0xfed00000:4`, `pio:0x3f8:1`. */
export function parseDataId(dataId: string, direction: WatchDirection, condition?: string): WatchpointSpec | undefined {
  const withCondition = condition !== undefined && condition.trim() !== '' ? { condition } : {};
  if (dataId.startsWith('reg:')) return { target: { name: dataId.slice(4) }, direction, ...withCondition };
  const m = /^(mmio|pio):(0x[0-9a-f]+):(\d+)$/i.exec(dataId);
  if (!m) return undefined;
  const space = m[1].toLowerCase() === 'pio' ? 'pio' : 'mmio';
  return { target: { space, address: Number(m[2]), length: Number(m[3]) }, direction, ...withCondition };
}

/** `read hpet.GCAP_ID`, `write 0xfed00010`, `access hpet.T0_CONF_CAP`, `write port 0x3f8` as a watchpoint spec. */
export function parseWatchName(name: string, condition?: string): WatchpointSpec | undefined {
  const m = MMIO_FUNCTION_BREAKPOINT.exec(name.trim());
  if (!m) return undefined;
  const direction = m[1] as WatchDirection;
  const target = m[2].trim();
  const withCondition = condition !== undefined && condition.trim() !== '' ? { condition } : {};
  const port = /^port\s+(0x[0-9a-f]+|\d+)(?:\s+len\s+(\d+))?$/i.exec(target);
  if (port) {
    return {
      target: { space: 'pio', address: Number(port[1]), length: Number(port[2] ?? 1) },
      direction,
      ...withCondition,
    };
  }
  const address = /^(0x[0-9a-f]+|\d+)(?:\s+len\s+(\d+))?$/i.exec(target);
  if (address) {
    return {
      target: { space: 'mmio', address: Number(address[1]), length: Number(address[2] ?? 4) },
      direction,
      ...withCondition,
    };
  }
  return { target: { name: target }, direction, ...withCondition };
}

export class Breakpoints {
  private nextId = 1;
  private readonly code = new Map<string, CodeBreakpoint[]>();
  private readonly watch = new Map<'data' | 'function', WatchBreakpoint[]>();
  readonly exceptionFilters = new Set<string>();
  /** Vectors named in the condition of the "CPU exceptions" filter; undefined means all. */
  exceptionVectors: Set<number> | undefined;

  newId(): number {
    return this.nextId++;
  }

  setCode(group: string, list: CodeBreakpoint[]): void {
    this.code.set(group, list);
  }

  /** Every address where the CPU must stop. */
  addresses(): number[] {
    return [...this.code.values()].flatMap((list) => list.flatMap((b) => b.addresses));
  }

  codeAt(address: number): CodeBreakpoint[] {
    const a = address | 0;
    return [...this.code.values()].flatMap((list) => list.filter((b) => b.addresses.some((x) => (x | 0) === a)));
  }

  /** Replaces a group of watchpoints in the emulator; returns the DAP view of each. */
  setWatch(emulator: Emulator, group: 'data' | 'function', list: WatchBreakpoint[]): void {
    for (const old of this.watch.get(group) ?? []) {
      if (old.watchpointId !== undefined) emulator.hooks.removeWatchpoint(old.watchpointId);
    }
    for (const w of list) Breakpoints.install(emulator, w);
    this.watch.set(group, list);
  }

  private static install(emulator: Emulator, w: WatchBreakpoint): void {
    const result = emulator.hooks.addWatchpoint(w.spec);
    if (result.ok) {
      w.watchpointId = result.id;
      w.message = undefined;
    } else {
      w.watchpointId = undefined;
      w.message = result.diagnostics.map((d) => d.message).join('; ');
    }
  }

  watchFor(watchpointId: number | undefined): WatchBreakpoint | undefined {
    if (watchpointId === undefined) return undefined;
    for (const list of this.watch.values()) {
      const found = list.find((w) => w.watchpointId === watchpointId);
      if (found) return found;
    }
    return undefined;
  }

  /** Installs every watchpoint again in a new emulator (after a restart). */
  reinstall(emulator: Emulator): void {
    for (const list of this.watch.values()) for (const w of list) Breakpoints.install(emulator, w);
  }

  static view(w: WatchBreakpoint): DebugProtocol.Breakpoint {
    return w.watchpointId !== undefined
      ? { id: w.id, verified: true }
      : { id: w.id, verified: false, message: w.message ?? 'not installed' };
  }
}
