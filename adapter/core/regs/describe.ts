/**
 * Register descriptions as data: defined once per device and used by the device model, the hook language,
 * the debugger's register views and the language server.
 */

/** How software may access a field (or a whole register). */
export type FieldAccess =
  | 'RO' // read-only: writes are ignored
  | 'RW' // read/write
  | 'WO' // write-only: reads return 0
  | 'W1C' // write 1 to clear, write 0 has no effect
  | 'W1S' // write 1 to set
  | 'RC' // read clears
  | 'RSVD'; // reserved: reads 0, writes ignored

export interface EnumValue {
  readonly value: number;
  readonly name: string;
  readonly doc?: string;
}

export interface FieldDescription {
  readonly name: string;
  /** Lowest bit of the field within the register. */
  readonly lsb: number;
  /** Highest bit of the field within the register (inclusive). */
  readonly msb: number;
  readonly access: FieldAccess;
  /** One line of documentation. */
  readonly doc: string;
  /** Named values; also used to explain a value when decoding, e.g. NUM_TIM_CAP = 3 (4 timers). */
  readonly enum?: readonly EnumValue[];
  /** Explains a value that has no enum entry, e.g. (v) => `${v + 1} timers`. */
  readonly explain?: (value: bigint) => string;
  readonly format?: 'hex' | 'dec' | 'bool';
}

export interface RegisterDescription {
  readonly name: string;
  /** Byte offset from the start of the device's region. */
  readonly offset: number;
  /** Width in bits. */
  readonly width: 8 | 16 | 32 | 64;
  readonly access: FieldAccess;
  readonly doc: string;
  readonly fields: readonly FieldDescription[];
  /** Value after reset (may depend on the device's configuration). */
  readonly reset?: bigint;
  /**
   * True for state not decoded at base + offset (reached through an index register, or not visible to software
   * at all, like an 8259's ISR); `offset` is then only a stable key, not an address to watch.
   */
  readonly internal?: boolean;
}

export interface DeviceDescription {
  /** Short lower-case name used in hooks and expressions: `hpet`. */
  readonly name: string;
  readonly title: string;
  readonly space: 'mmio' | 'pio';
  readonly base: number;
  /** Size of the decoded region in bytes. */
  readonly size: number;
  readonly registers: readonly RegisterDescription[];
  readonly doc?: string;
}

/** A device whose registers the debugger can show and change. */
export interface InspectableDevice {
  readonly description: DeviceDescription;
  /** Current value of a register with no side effect on the device (no status clearing, no latching). */
  peekRegister(register: RegisterDescription): bigint;
  /**
   * Writes a register. `guest` goes through the same path as a guest write (with its side effects);
   * `debugger` sets the stored state directly, without side effects beyond the value itself.
   */
  pokeRegister(register: RegisterDescription, value: bigint, path: 'guest' | 'debugger'): void;
}

export function fieldMask(field: FieldDescription): bigint {
  return ((1n << BigInt(field.msb - field.lsb + 1)) - 1n) << BigInt(field.lsb);
}

export function getField(value: bigint, field: FieldDescription): bigint {
  return (value & fieldMask(field)) >> BigInt(field.lsb);
}

export function setField(value: bigint, field: FieldDescription, fieldValue: bigint): bigint {
  const mask = fieldMask(field);
  return (value & ~mask) | ((fieldValue << BigInt(field.lsb)) & mask);
}

export function findRegister(device: DeviceDescription, name: string): RegisterDescription | undefined {
  const upper = name.toUpperCase();
  return device.registers.find((r) => r.name.toUpperCase() === upper);
}

export function findField(register: RegisterDescription, name: string): FieldDescription | undefined {
  const upper = name.toUpperCase();
  return register.fields.find((f) => f.name.toUpperCase() === upper);
}

/** Meaning of a field value: the enum name or the field's own explanation, if any. */
export function explainField(field: FieldDescription, value: bigint): string | undefined {
  const named = field.enum?.find((e) => BigInt(e.value) === value);
  if (named) return named.name;
  return field.explain?.(value);
}

export function formatHex(value: bigint, widthBits: number): string {
  return '0x' + value.toString(16).padStart(Math.ceil(widthBits / 4), '0');
}

/** `REV_ID=1, NUM_TIM_CAP=3 (4 timers), ...` */
/**
 * "NAME=value (meaning), ..." for the register's fields. With `bits` (an access to part of the register, e.g. the
 * upper dword of a 64-bit register), only the fields it covers are decoded; a field it covers in part is marked.
 */
export function decodeFields(
  register: RegisterDescription,
  value: bigint,
  bits?: { readonly lsb: number; readonly msb: number },
): string {
  return register.fields
    .filter((f) => f.access !== 'RSVD' && (!bits || (f.msb >= bits.lsb && f.lsb <= bits.msb)))
    .map((f) => {
      const v = getField(value, f);
      const shown =
        f.format === 'dec' || f.msb === f.lsb ? v.toString() : v < 10n ? v.toString() : '0x' + v.toString(16);
      // The meaning of part of a field's bits would mislead: a partly accessed field shows its bits only.
      if (bits && (f.lsb < bits.lsb || f.msb > bits.msb)) return `${f.name}=${shown} (partly accessed)`;
      const meaning = explainField(f, v);
      return meaning === undefined ? `${f.name}=${shown}` : `${f.name}=${shown} (${meaning})`;
    })
    .join(', ');
}
