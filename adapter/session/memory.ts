/**
 * The debugger's view of guest memory. A memory reference is a guest linear (virtual) address in hex,
 * `0x00100000`, translated through the guest's page tables; `phys:0x1000` names a physical address instead.
 * Reads never touch devices (MMIO reads go through the device's side-effect-free peek); writes reach RAM only and
 * invalidate translated code over the written bytes.
 */
import type { PcMachine } from '../core/machine/pc';
import { invalidArgument } from './errors';

export interface MemoryReference {
  readonly physical: boolean;
  readonly address: number;
}

const REFERENCE = /^\s*(phys:)?\s*(0x[0-9a-f]+|\d+)\s*$/i;

export function parseMemoryReference(text: string, offset = 0): MemoryReference {
  const m = REFERENCE.exec(text);
  if (!m) throw invalidArgument(`"${text}" is not a memory reference: use a hex address (0x1000) or phys:0x1000`);
  const value = Number(m[2]) + offset;
  if (!Number.isSafeInteger(value) || value < 0 || value > 0xffffffff) {
    throw invalidArgument(`address ${m[2]} + ${offset} is outside the 32-bit address space`);
  }
  return { physical: m[1] !== undefined, address: value >>> 0 };
}

export function formatReference(ref: MemoryReference): string {
  const hex = '0x' + ref.address.toString(16).padStart(8, '0');
  return ref.physical ? `phys:${hex}` : hex;
}

/**
 * Reads up to `length` bytes. Stops at the first unmapped virtual page; returns the bytes read and how many
 * bytes at the start were unreadable (DAP's `unreadableBytes` counts from the end, so reads stop at a gap).
 */
export function readMemory(machine: PcMachine, ref: MemoryReference, length: number): Uint8Array {
  const length32 = Math.max(0, Math.min(length, 0x1_0000_0000 - ref.address));
  if (ref.physical) return machine.phys.debugRead(ref.address, length32);
  const out = new Uint8Array(length32);
  let done = 0;
  while (done < length32) {
    const linear = (ref.address + done) >>> 0;
    const physical = machine.cpu.mmu.debugTranslate(linear);
    if (physical === undefined) break;
    const n = Math.min(length32 - done, 0x1000 - (linear & 0xfff));
    out.set(machine.phys.debugRead(physical, n), done);
    done += n;
  }
  return out.subarray(0, done);
}

/** Writes bytes into RAM; returns how many bytes were written (stops at an unmapped page, skips MMIO). */
export function writeMemory(machine: PcMachine, ref: MemoryReference, bytes: Uint8Array): number {
  if (ref.physical) return machine.phys.debugWrite(ref.address, bytes);
  let done = 0;
  let written = 0;
  while (done < bytes.length) {
    const linear = (ref.address + done) >>> 0;
    const physical = machine.cpu.mmu.debugTranslate(linear);
    if (physical === undefined) break;
    const n = Math.min(bytes.length - done, 0x1000 - (linear & 0xfff));
    written += machine.phys.debugWrite(physical, bytes.subarray(done, done + n));
    done += n;
  }
  if (written > 0) machine.cpu.mmu.flushAll();
  return written;
}

/** Reads code bytes for the disassembler; addresses outside 4 GiB (a listing reaching past the end) read nothing. */
export function codeReader(machine: PcMachine, physical: boolean): (address: number, length: number) => Uint8Array {
  return (address, length) =>
    address < 0 || address > 0xffffffff ? new Uint8Array(0) : readMemory(machine, { physical, address }, length);
}

/** Reads `size` bytes little-endian at a linear address, or undefined when unmapped. */
export function readLinearValue(machine: PcMachine, address: number, size: number): bigint | undefined {
  const bytes = readMemory(machine, { physical: false, address }, size);
  if (bytes.length < size) return undefined;
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  return v;
}

/**
 * A hex dump, 16 bytes a line with their ASCII, of `bytes` read at `address`; the `requested - bytes.length` bytes
 * that could not be read (an unmapped page) are shown as `??`.
 */
export function hexDump(address: number, bytes: Uint8Array, requested: number): string {
  const lines: string[] = [];
  for (let offset = 0; offset < requested; offset += 16) {
    const hexes: string[] = [];
    let ascii = '';
    for (let i = offset; i < Math.min(offset + 16, requested); i++) {
      if (i < bytes.length) {
        const b = bytes[i];
        hexes.push(b.toString(16).padStart(2, '0'));
        ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else {
        hexes.push('??');
        ascii += ' ';
      }
    }
    const line = (address + offset) >>> 0;
    const text = hexes.slice(0, 8).join(' ') + (hexes.length > 8 ? '  ' + hexes.slice(8).join(' ') : '');
    lines.push(`0x${line.toString(16).padStart(8, '0')}  ${text.padEnd(48)}  ${ascii}`);
  }
  return lines.join('\n');
}
