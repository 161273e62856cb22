/**
 * Deterministic MMIO trace records shaped like a real hpet-probe run (as the adapter's `mmiodbg/trace` returns them):
 * mostly HPET main-counter polling, COM1 output with its status reads, PIT and PIC port writes, hooked GCAP_ID
 * reads and the odd access to an address no device claims. Used by the trace webview's benchmark and tests, in
 * Node (expected results) and inside the page (the fake extension host), so both see the same rows.
 */
import type { TraceRecordView } from '../../src/trace/messages';

function hex(n: number, digits: number): string {
  return '0x' + n.toString(16).padStart(digits, '0');
}

/** Record `seq` of the synthetic trace; the same `seq` always gives the same record. */
export function traceRecord(seq: number): TraceRecordView {
  const time = 1_000_000 + seq * 9;
  const kind = seq % 100;
  const common = { seq, time, decision: 'none' as const, hooks: [] as string[] };
  if (kind < 70) {
    const count = 0x11000 + Math.floor(seq / 8);
    return {
      ...common,
      eip: 0x00101c21,
      space: 'mmio',
      isWrite: false,
      address: 0xfed000f0,
      size: 4,
      device: 'hpet',
      register: 'MAIN_CNT',
      after: hex(count, 8),
      fields: `MAIN_CNT=${hex(count, 0)}`,
    };
  }
  if (kind < 80) {
    return {
      ...common,
      eip: 0x00100a70,
      space: 'pio',
      isWrite: false,
      address: 0x3fd,
      size: 1,
      device: 'com1',
      register: 'LSR',
      after: '0x60',
      fields: 'DR=0, OE=0, PE=0, FE=0, BI=0, THRE=1 (THR empty), TEMT=1, ERR=0',
    };
  }
  if (kind < 90) {
    const byte = 0x20 + (seq % 95);
    return {
      ...common,
      eip: 0x00100a7c,
      space: 'pio',
      isWrite: true,
      address: 0x3f8,
      size: 1,
      device: 'com1',
      register: 'THR',
      before: hex(byte, 2),
      after: hex(byte, 2),
      fields: `DATA=${hex(byte, 2)}`,
    };
  }
  if (kind < 94) {
    return {
      ...common,
      eip: 0x00100e12,
      space: 'pio',
      isWrite: true,
      address: 0x40,
      size: 1,
      device: 'pit',
      register: 'COUNTER0',
      before: '0x9c',
      after: '0x9c',
      fields: 'COUNT=0x9c',
    };
  }
  if (kind < 97) {
    return {
      ...common,
      eip: 0x00100e40,
      space: 'pio',
      isWrite: true,
      address: 0x20,
      size: 1,
      device: 'pic',
      register: 'OCW2',
      before: '0x20',
      after: '0x20',
      fields: 'LEVEL=0, EOI=1, SL=0, R=0',
    };
  }
  if (kind < 99) {
    return {
      ...common,
      eip: 0x001001e4,
      space: 'mmio',
      isWrite: false,
      address: 0xfed00000,
      size: 4,
      device: 'hpet',
      register: 'GCAP_ID',
      before: '0x80868301',
      after: '0x80868201',
      decision: 'handled',
      hooks: ['hooks.mmh:2: handled'],
      fields: 'REV_ID=1, NUM_TIM_CAP=2 (3 timers), COUNT_SIZE_CAP=0 (32-bit), LEG_RT_CAP=1, VENDOR_ID=0x8086 (Intel)',
    };
  }
  return {
    ...common,
    eip: 0x00100b02,
    space: 'mmio',
    isWrite: true,
    address: 0xfebf0010,
    size: 4,
    device: '',
    before: '0x00000000',
    after: '0x00000000',
  };
}

/** Records `from` … `from + count - 1`. */
export function traceRecords(from: number, count: number): TraceRecordView[] {
  const out: TraceRecordView[] = [];
  for (let seq = from; seq < from + count; seq++) out.push(traceRecord(seq));
  return out;
}
