import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PhysicalAddressSpace } from '../../adapter/core/bus/physical';
import type { ApicMessage, ApicMessageSink } from '../../adapter/core/devices/apic';
import { LocalApic } from '../../adapter/core/devices/apic';
import { IOAPIC_DEFAULT_BASE, IoApic } from '../../adapter/core/devices/ioapic';
import { findRegister } from '../../adapter/core/regs/describe';
import type { TimeSource } from '../../adapter/core/time/scheduler';
import { Scheduler } from '../../adapter/core/time/scheduler';

const FIXED_TIME: TimeSource = { now: () => 0 };
const MASKED = 1 << 16;
const LEVEL = 1 << 15;
const ACTIVE_LOW = 1 << 13;
const REMOTE_IRR = 1 << 14;

function setup() {
  const space = new PhysicalAddressSpace(0x100000);
  const lapic = new LocalApic({ scheduler: new Scheduler(FIXED_TIME) });
  lapic.attach(space);
  space.write(lapic.base + 0xf0, 4, 0x1ff);
  const ioapic = new IoApic(lapic);
  ioapic.map(space);
  lapic.onLevelEoi = (vector) => ioapic.endOfInterrupt(vector);
  const select = (index: number) => space.write(IOAPIC_DEFAULT_BASE, 4, index);
  const readIndex = (index: number) => {
    select(index);
    return space.read(IOAPIC_DEFAULT_BASE + 0x10, 4) as number;
  };
  const writeIndex = (index: number, value: number) => {
    select(index);
    space.write(IOAPIC_DEFAULT_BASE + 0x10, 4, value);
  };
  const program = (pin: number, low: number, destination = 0) => {
    writeIndex(0x11 + pin * 2, destination << 24);
    writeIndex(0x10 + pin * 2, low);
  };
  const irr = (vector: number) =>
    ((lapic.peekRegister(findRegister(lapic.description, `IRR${vector >>> 5}`)!) >> BigInt(vector & 31)) & 1n) === 1n;
  const eoi = () => space.write(lapic.base + 0xb0, 4, 0);
  return { space, lapic, ioapic, readIndex, writeIndex, program, irr, eoi };
}

class RecordingSink implements ApicMessageSink {
  readonly messages: ApicMessage[] = [];
  receiveMessage(message: ApicMessage): boolean {
    this.messages.push(message);
    return true;
  }
}

void describe('I/O APIC registers', () => {
  void it('reports ID, version and arbitration ID through IOREGSEL/IOWIN', () => {
    const { readIndex, writeIndex, space } = setup();
    assert.equal(readIndex(0x01), 0x00170011);
    writeIndex(0x00, 0x0a000000);
    assert.equal(readIndex(0x00), 0x0a000000);
    assert.equal(readIndex(0x02), 0x0a000000, 'arbitration ID follows an ID write');
    space.write(IOAPIC_DEFAULT_BASE, 1, 0x01);
    assert.equal(space.read(IOAPIC_DEFAULT_BASE, 4), 0x01);
    assert.equal(space.read(IOAPIC_DEFAULT_BASE + 0x10, 2), 0, 'IOWIN is dword-only');
  });

  void it('resets every redirection entry masked and keeps read-only bits', () => {
    const { readIndex, writeIndex } = setup();
    for (let pin = 0; pin < 24; pin++) {
      assert.equal(readIndex(0x10 + pin * 2), MASKED);
      assert.equal(readIndex(0x11 + pin * 2), 0);
    }
    writeIndex(0x10, 0xffffffff);
    assert.equal(readIndex(0x10), 0x1afff);
    writeIndex(0x11, 0xffffffff);
    assert.equal(readIndex(0x11), 0xff000000);
    assert.equal(readIndex(0x10 + 48), 0, 'beyond the table');
  });
});

void describe('I/O APIC delivery', () => {
  void it('edge: delivers on the rising edge only; edges on a masked pin are lost', () => {
    const { ioapic, program, irr, lapic, eoi } = setup();
    program(4, 0x34);
    ioapic.setIrq(4, true);
    assert.equal(irr(0x34), true);
    assert.equal(lapic.acknowledge(), 0x34);
    eoi();
    ioapic.setIrq(4, true);
    assert.equal(irr(0x34), false, 'a held line is not a new edge');
    ioapic.setIrq(4, false);
    program(4, MASKED | 0x34);
    ioapic.setIrq(4, true);
    ioapic.setIrq(4, false);
    program(4, 0x34);
    assert.equal(irr(0x34), false);
    assert.equal(ioapic.counters.edgesLostWhileMasked, 1);
  });

  void it('level: remote IRR holds the pin until EOI, then a still-asserted line fires again', () => {
    const { ioapic, program, irr, lapic, eoi, readIndex } = setup();
    program(9, LEVEL | 0x49);
    ioapic.setIrq(9, true);
    assert.equal(irr(0x49), true);
    assert.equal(readIndex(0x10 + 18) & REMOTE_IRR, REMOTE_IRR);
    assert.equal(lapic.acknowledge(), 0x49);
    ioapic.setIrq(9, true);
    assert.equal(irr(0x49), false, 'remote IRR blocks re-delivery');
    eoi();
    assert.equal(irr(0x49), true, 'still asserted after EOI');
    assert.equal(lapic.acknowledge(), 0x49);
    ioapic.setIrq(9, false);
    eoi();
    assert.equal(readIndex(0x10 + 18) & REMOTE_IRR, 0);
    assert.equal(irr(0x49), false);
  });

  void it('level: an asserted line on a masked pin is delivered when unmasked', () => {
    const { ioapic, program, irr } = setup();
    program(10, MASKED | LEVEL | 0x4a);
    ioapic.setIrq(10, true);
    assert.equal(irr(0x4a), false);
    program(10, LEVEL | 0x4a);
    assert.equal(irr(0x4a), true);
  });

  void it('polarity: an active-low pin is asserted by a low level', () => {
    const { ioapic, program, irr } = setup();
    ioapic.setIrq(11, true);
    program(11, ACTIVE_LOW | LEVEL | 0x4b);
    assert.equal(irr(0x4b), false);
    ioapic.setIrq(11, false);
    assert.equal(irr(0x4b), true);
  });

  void it('switching a pin to edge clears a stuck remote IRR', () => {
    const { ioapic, program, readIndex } = setup();
    program(12, LEVEL | 0x4c);
    ioapic.setIrq(12, true);
    assert.equal(readIndex(0x10 + 24) & REMOTE_IRR, REMOTE_IRR);
    program(12, 0x4c);
    assert.equal(readIndex(0x10 + 24) & REMOTE_IRR, 0);
  });

  void it('sends the programmed message: mode, destination, logical flag', () => {
    const sink = new RecordingSink();
    const ioapic = new IoApic(sink);
    ioapic.writeIndirect(0x11 + 2 * 3, 0x05000000);
    ioapic.writeIndirect(0x10 + 2 * 3, 0x800 | 0x100 | 0x63);
    ioapic.setIrq(3, true);
    ioapic.writeIndirect(0x10, 0x700);
    ioapic.setIrq(0, true);
    ioapic.writeIndirect(0x10 + 2, LEVEL | 0x400);
    ioapic.setIrq(1, true);
    assert.deepEqual(sink.messages, [
      { vector: 0x63, deliveryMode: 1, levelTriggered: false, destination: 5, logicalDestination: true },
      { vector: 0, deliveryMode: 7, levelTriggered: false, destination: 0, logicalDestination: false },
      { vector: 0, deliveryMode: 4, levelTriggered: false, destination: 0, logicalDestination: false },
    ]);
    assert.equal(ioapic.readIndirect(0x10 + 2) & REMOTE_IRR, 0, 'NMI is edge: no remote IRR');
  });

  void it('counts messages that no local APIC accepts', () => {
    const { ioapic, program, irr } = setup();
    program(5, 0x35, 7);
    ioapic.setIrq(5, true);
    assert.equal(irr(0x35), false);
    assert.equal(ioapic.counters.undelivered, 1);
  });
});

void describe('I/O APIC inspection', () => {
  void it('describes redirection entries as 64-bit registers; peek has no effect and matches IOWIN', () => {
    const { ioapic, program, readIndex, space } = setup();
    program(7, LEVEL | 0x47, 0x03);
    space.write(IOAPIC_DEFAULT_BASE, 4, 0x01);
    const redir7 = findRegister(ioapic.description, 'REDIR7')!;
    assert.equal(redir7.width, 64);
    assert.equal(ioapic.peekRegister(redir7), (0x03n << 56n) | BigInt(LEVEL | 0x47));
    assert.equal(ioapic.peekRegister(findRegister(ioapic.description, 'IOAPICVER')!), 0x00170011n);
    assert.equal(space.read(IOAPIC_DEFAULT_BASE, 4), 0x01, 'peek did not move IOREGSEL');
    ioapic.pokeRegister(redir7, (0x01n << 56n) | 0x10057n, 'debugger');
    assert.equal(readIndex(0x10 + 14), 0x10057);
    assert.equal(readIndex(0x11 + 14), 0x01000000);
    assert.equal(ioapic.description.registers.length, 2 + 3 + 24);
    for (const r of ioapic.description.registers.slice(2)) {
      assert.ok(r.offset >= ioapic.description.size, r.name);
      assert.equal(r.internal, true, r.name);
    }
  });
});
