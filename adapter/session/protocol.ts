/**
 * Every custom DAP request and event between the mmiodbg debug adapter and its clients (the VS Code extension,
 * tests), declared once. Standard DAP requests are not repeated here.
 *
 * Values of registers and fields travel as hex strings ("0x80868301") because they can be 64 bits wide.
 */

/** Launch arguments of the `mmiodbg` debug type (package.json's launch schema must agree; a test checks it). */
export interface LaunchArguments {
  /** Guest image: multiboot/ELF image, flat binary or Linux bzImage. */
  program: string;
  format?: 'auto' | 'multiboot' | 'elf' | 'bin' | 'bzimage';
  /** Guest RAM in MiB (default 128). */
  memory?: number;
  /** Kernel command line. */
  cmdline?: string;
  /** Initial ramdisk (bzImage) or first multiboot module. */
  initrd?: string;
  /** HPET model: a preset name (`ich`, `qemu`), `key=value,...` text, or an object of custom values. */
  hpet?: string | Record<string, unknown>;
  /** Hook files (.mmh), compiled at launch and swapped live when they change. */
  hooks?: string[];
  /** Stop at the guest's first instruction. */
  stopOnEntry?: boolean;
  /** Also write every device access as JSON lines to this file. */
  trace?: string;
  /** Guest time follows the host clock instead of the instruction count. */
  realtime?: boolean;
}

// ---- views of device state ----------------------------------------------------------------------------------

export type { FieldView, RegisterView } from '../core/regs/view';
import type { RegisterView } from '../core/regs/view';

export interface DeviceView {
  name: string;
  title: string;
  space: 'mmio' | 'pio';
  base: number;
  size: number;
  registers: RegisterView[];
}

// ---- custom requests ----------------------------------------------------------------------------------------

export interface CustomRequests {
  /** All devices with their registers and fields, read without side effects (guest must be stopped). */
  'mmiodbg/devices': { args: { device?: string }; result: { devices: DeviceView[] } };
  /** Writes a register or one field. `path: 'guest'` goes through the guest write path with its side effects. */
  'mmiodbg/writeRegister': {
    args: { device: string; register: string; field?: string; value: string; path: 'guest' | 'debugger' };
    result: { register: RegisterView };
  };
  /** A page of the MMIO trace: records with sequence numbers >= from (oldest kept when omitted). */
  'mmiodbg/trace': {
    args: { from?: number; count: number; device?: string };
    result: { records: TraceRecordView[]; first: number; total: number };
  };
  /** Compiles and swaps in unsaved hook text (the file on disk is not read). */
  'mmiodbg/hookText': { args: { file: string; text: string }; result: { ok: boolean; diagnostics: HookDiagnostic[] } };
  /** Every loaded hook with its state and hit count. */
  'mmiodbg/hooks': { args: Record<string, never>; result: { hooks: HookView[] } };
  /** Bytes typed by the user for COM1's receiver. */
  'mmiodbg/serialInput': { args: { text: string }; result: Record<string, never> };
  /** Decodes a number as a register's fields (for the editor's "decode as register" command and hovers). */
  'mmiodbg/decode': { args: { register: string; value: string }; result: { register: RegisterView } };
  /**
   * The disassembly listing (a DAP source with a sourceReference, as stack frames without a source file get)
   * that shows the instruction at a linear address, and its line there.
   */
  'mmiodbg/listing': {
    args: { address: number };
    result: { source: { name: string; path: string; sourceReference: number }; line: number };
  };
}

export type CustomRequestName = keyof CustomRequests;
export type CustomRequestArgs<K extends CustomRequestName> = CustomRequests[K]['args'];
export type CustomRequestResult<K extends CustomRequestName> = CustomRequests[K]['result'];

export interface TraceRecordView {
  seq: number;
  /** Virtual time in ns. */
  time: number;
  eip: number;
  space: 'mmio' | 'pio';
  isWrite: boolean;
  address: number;
  size: number;
  device: string;
  register?: string;
  /** Value the guest wrote / the device returned, before hooks. */
  before?: string;
  /** Value the device received / the guest saw, after hooks. */
  after?: string;
  decision: 'none' | 'emulate' | 'handled';
  hooks: string[];
  /** Decoded fields of the value the guest saw or wrote, e.g. "NUM_TIM_CAP=3 (4 timers), ...". */
  fields?: string;
}

export interface HookDiagnostic {
  severity: 'error' | 'warning' | 'info';
  message: string;
  /** 1-based line and column, as the hook compiler reports them. */
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

export interface HookView {
  id: number;
  file: string;
  line: number;
  name: string;
  target: string;
  enabled: boolean;
  hits: number;
  lastError?: string;
}

// ---- custom events --------------------------------------------------------------------------------------------

export interface CustomEvents {
  /** A hook file was compiled (at launch, on save or on pushed text); errors keep the previous version active. */
  'mmiodbg/hookDiagnostics': { file: string; ok: boolean; diagnostics: HookDiagnostic[] };
  /** `log "..."` output of a hook (also sent as an output event). */
  'mmiodbg/hookLog': { message: string; hook: string };
  /** A hook faulted at run time and was disabled. */
  'mmiodbg/hookFault': { hook: string; message: string };
  /** Hooks were loaded, swapped, disabled or hit (throttled). */
  'mmiodbg/hooksChanged': { hooks: HookView[] };
  /** New MMIO trace records exist up to `total` (throttled). */
  'mmiodbg/traceAppended': { total: number };
}

export type CustomEventName = keyof CustomEvents;

/**
 * MMIO watchpoints can also be set as function breakpoints whose name starts with an access kind:
 * `read hpet.GCAP_ID`, `write 0xfed00010`, `access hpet.T0_CONF_CAP`, `write port 0x3f8` (the breakpoint's
 * condition is the watchpoint's value condition). This is how the Peripherals view adds breakpoints that show
 * in VS Code's Breakpoints view.
 */
export const MMIO_FUNCTION_BREAKPOINT = /^(read|write|access)\s+(.+)$/;
