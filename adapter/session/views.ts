/** Conversions from core objects to the protocol views in protocol.ts. */
import type { PcMachine } from '../core/machine/pc';
import type { InspectableDevice } from '../core/regs/describe';
import { decodeFields, findRegister, formatHex } from '../core/regs/describe';
import { registerView } from '../core/regs/view';
import type { Diagnostic, HookInfo, TraceRecord } from '../hooks';
import type { DeviceView, HookDiagnostic, HookView, TraceRecordView } from './protocol';

export { registerView };

export function deviceView(device: InspectableDevice): DeviceView {
  const d = device.description;
  return {
    name: d.name,
    title: d.title,
    space: d.space,
    base: d.base,
    size: d.size,
    registers: d.registers.map((r) => registerView(r, device.peekRegister(r))),
  };
}

export function hookDiagnostic(d: Diagnostic): HookDiagnostic {
  return {
    severity: d.severity,
    message: d.message,
    line: d.range.start.line,
    column: d.range.start.column,
    endLine: d.range.end.line,
    endColumn: d.range.end.column,
  };
}

export function hookView(h: HookInfo): HookView {
  const target =
    h.space === 'pio'
      ? `port 0x${h.start.toString(16)}+${h.length}`
      : `0x${h.start.toString(16).padStart(8, '0')}+${h.length}`;
  return {
    id: h.id,
    file: h.file,
    line: h.line,
    name: h.name,
    target,
    enabled: h.enabled,
    hits: h.hits,
    ...(h.lastError !== undefined ? { lastError: h.lastError } : {}),
  };
}

export function traceView(machine: PcMachine, r: TraceRecord): TraceRecordView {
  const width = r.size * 8;
  const device = machine.findDevice(r.device);
  const register = device && r.register !== undefined ? findRegister(device.description, r.register) : undefined;
  const seen = r.isWrite ? r.before : r.after;
  let fields: string | undefined;
  if (register && seen !== undefined) {
    const delta = device ? r.address - (device.description.base + register.offset) : 0;
    const inRegister = delta >= 0 ? seen << BigInt(delta * 8) : seen >> BigInt(-delta * 8);
    const lsb = Math.max(0, delta * 8);
    const msb = Math.min(register.width, (delta + r.size) * 8) - 1;
    // An access to part of the register decodes only the fields it covers.
    const partial = lsb > 0 || msb < register.width - 1;
    fields = decodeFields(register, inRegister, partial ? { lsb, msb } : undefined);
  }
  return {
    seq: r.seq,
    time: r.time,
    eip: r.eip,
    space: r.space,
    isWrite: r.isWrite,
    address: r.address,
    size: r.size,
    device: r.device,
    ...(r.register !== undefined ? { register: r.register } : {}),
    ...(r.before !== undefined ? { before: formatHex(r.before, width) } : {}),
    ...(r.after !== undefined ? { after: formatHex(r.after, width) } : {}),
    decision: r.decision,
    hooks: r.hooks.map((h) => `${h.name}: ${h.decision}`),
    ...(fields !== undefined ? { fields } : {}),
  };
}
