import { PhysicalAddressSpace } from '../../adapter/core/bus/physical';
import type { AccessRules, RegionHandler, SmallAccessSize } from '../../adapter/core/bus/types';
import type { DeviceDescription, FieldDescription, RegisterDescription } from '../../adapter/core/regs/describe';
import type { AccessContext } from '../../adapter/hooks/compiler';
import type { HookEngineOptions } from '../../adapter/hooks/engine';
import { HookEngine } from '../../adapter/hooks/engine';

export const HPET_BASE = 0xfed00000;
/** GCAP_ID of a 4-timer Intel HPET at 14.318180 MHz: NUM_TIM_CAP = 3, 64-bit counter, legacy route. */
export const GCAP_ID_VALUE = 0x0429b17f_8086a301n;

const field = (
  name: string,
  msb: number,
  lsb: number,
  access: FieldDescription['access'],
  doc = name,
): FieldDescription => ({
  name,
  msb,
  lsb,
  access,
  doc,
});

const register = (
  name: string,
  offset: number,
  access: RegisterDescription['access'],
  fields: FieldDescription[] = [],
): RegisterDescription => ({
  name,
  offset,
  width: 64,
  access,
  doc: name,
  fields,
});

/** A test description of the HPET registers (IA-PC HPET 1.0a section 2.3), independent of the HPET model. */
export const HPET_FIXTURE: DeviceDescription = {
  name: 'hpet',
  title: 'High Precision Event Timer',
  space: 'mmio',
  base: HPET_BASE,
  size: 0x400,
  registers: [
    register('GCAP_ID', 0x0, 'RO', [
      field('REV_ID', 7, 0, 'RO'),
      field('NUM_TIM_CAP', 12, 8, 'RO'),
      field('COUNT_SIZE_CAP', 13, 13, 'RO'),
      field('LEG_RT_CAP', 15, 15, 'RO'),
      field('VENDOR_ID', 31, 16, 'RO'),
      field('COUNTER_CLK_PERIOD', 63, 32, 'RO'),
    ]),
    register('GEN_CONF', 0x10, 'RW', [field('ENABLE_CNF', 0, 0, 'RW'), field('LEG_RT_CNF', 1, 1, 'RW')]),
    register('GINTR_STA', 0x20, 'W1C', [field('T0_INT_STS', 0, 0, 'W1C')]),
    register('MAIN_CNT', 0xf0, 'RW'),
    register('T0_CONF_CAP', 0x100, 'RW', [
      field('Tn_INT_TYPE_CNF', 1, 1, 'RW'),
      field('Tn_INT_ENB_CNF', 2, 2, 'RW'),
      field('Tn_TYPE_CNF', 3, 3, 'RW'),
      field('Tn_PER_INT_CAP', 4, 4, 'RO'),
      field('Tn_SIZE_CAP', 5, 5, 'RO'),
      field('Tn_INT_ROUTE_CNF', 13, 9, 'RW'),
      field('Tn_INT_ROUTE_CAP', 63, 32, 'RO'),
    ]),
    register('T0_COMPARATOR', 0x108, 'RW'),
  ],
};

export const UART_FIXTURE: DeviceDescription = {
  name: 'com1',
  title: '16550 UART',
  space: 'pio',
  base: 0x3f8,
  size: 8,
  registers: [
    { name: 'THR', offset: 0, width: 8, access: 'RW', doc: 'transmit/receive buffer', fields: [] },
    { name: 'LSR', offset: 5, width: 8, access: 'RO', doc: 'line status', fields: [field('THRE', 5, 5, 'RO')] },
  ],
};

export interface DeviceAccessLog {
  readonly kind: 'read' | 'write';
  readonly offset: number;
  readonly size: number;
  readonly value: number;
}

/**
 * A fake device with 0x400 bytes of little-endian registers: reads return the stored bytes, writes store them,
 * and every access the device receives is logged.
 */
export class FakeDevice implements RegionHandler {
  readonly bytes = new Uint8Array(0x400);
  readonly log: DeviceAccessLog[] = [];

  constructor() {
    this.set64(0, GCAP_ID_VALUE);
  }

  set64(offset: number, value: bigint): void {
    new DataView(this.bytes.buffer).setBigUint64(offset, value, true);
  }

  get64(offset: number): bigint {
    return new DataView(this.bytes.buffer).getBigUint64(offset, true);
  }

  read(offset: number, size: SmallAccessSize): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.bytes[offset + i];
    this.log.push({ kind: 'read', offset, size, value: v });
    return v;
  }

  write(offset: number, size: SmallAccessSize, value: number): void {
    for (let i = 0; i < size; i++) this.bytes[offset + i] = Math.floor(value / 256 ** i) & 0xff;
    this.log.push({ kind: 'write', offset, size, value });
  }
}

export class FakeContext implements AccessContext {
  eipValue = 0x00100a3c;
  cplValue = 0;
  time = 0;
  eip(): number {
    return this.eipValue;
  }
  cpl(): number {
    return this.cplValue;
  }
  now(): number {
    return this.time;
  }
}

export interface Rig {
  readonly bus: PhysicalAddressSpace;
  readonly device: FakeDevice;
  readonly engine: HookEngine;
  readonly context: FakeContext;
}

/** A real PhysicalAddressSpace with the fake device at the HPET's address, and a HookEngine attached to it. */
export function makeRig(options: Partial<HookEngineOptions> = {}, rules?: Partial<AccessRules>): Rig {
  const bus = new PhysicalAddressSpace(0x100000);
  const device = new FakeDevice();
  bus.registerMmio(HPET_BASE, 0x400, device, { device: 'hpet', ...rules });
  const context = new FakeContext();
  const engine = new HookEngine({ devices: [HPET_FIXTURE], context, ...options });
  engine.attach(bus);
  return { bus, device, engine, context };
}

export function loadOk(engine: HookEngine, fileName: string, text: string): void {
  const result = engine.load(fileName, text);
  if (!result.ok) {
    throw new Error(
      `${fileName} did not load:\n${result.diagnostics.map((d) => `${d.range.start.line}:${d.range.start.column} ${d.message}`).join('\n')}`,
    );
  }
}
