import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PhysicalAddressSpace } from '../../adapter/core/bus/physical';
import { LocalApic } from '../../adapter/core/devices/apic';
import type { LegacyPic } from '../../adapter/core/devices/interrupt-router';
import { InterruptRouter } from '../../adapter/core/devices/interrupt-router';
import { IoApic } from '../../adapter/core/devices/ioapic';
import { Pic } from '../../adapter/core/devices/pic';
import { PortSpace } from '../../adapter/core/bus/ports';
import { Scheduler } from '../../adapter/core/time/scheduler';

/** An 8259 pair reduced to a queue of requested vectors; the real one lives in pic.ts. */
class QueuePic implements LegacyPic {
  onIntrChange: ((level: boolean) => void) | undefined;
  private readonly queue: number[] = [];
  request(vector: number): void {
    this.queue.push(vector);
    this.onIntrChange?.(true);
  }
  hasInterrupt(): boolean {
    return this.queue.length > 0;
  }
  acknowledge(): number {
    const vector = this.queue.shift() ?? 0x0f;
    if (this.queue.length === 0) this.onIntrChange?.(false);
    return vector;
  }
}

function setup() {
  const space = new PhysicalAddressSpace(0x100000);
  const lapic = new LocalApic({ scheduler: new Scheduler({ now: () => 0 }) });
  lapic.attach(space);
  const pic = new QueuePic();
  const router = new InterruptRouter(lapic, pic);
  const write = (offset: number, value: number) => space.write(lapic.base + offset, 4, value);
  return { space, lapic, pic, router, write };
}

const SVR = 0xf0;
const TPR = 0x80;
const LVT_LINT0 = 0x350;
const LVT_LINT1 = 0x360;

void describe('interrupt router', () => {
  void it('virtual wire: a software-disabled APIC passes the 8259 straight to the CPU', () => {
    const { router, pic, lapic } = setup();
    assert.equal(lapic.softwareEnabled, false);
    assert.equal(router.hasInterrupt(), false);
    pic.request(0x20);
    assert.equal(router.hasInterrupt(), true);
    assert.equal(router.acknowledge(), 0x20);
    assert.equal(router.hasInterrupt(), false);
  });

  void it('virtual wire: a globally disabled APIC passes the 8259 and NMI straight through', () => {
    const { router, pic, lapic, write } = setup();
    write(SVR, 0x1ff);
    assert.equal(lapic.writeMsrBase(0xfee00000n | 0x100n), true);
    pic.request(0x21);
    assert.equal(router.acknowledge(), 0x21);
    router.raiseNmi();
    assert.equal(router.hasNmi(), true);
    assert.equal(router.takeNmi(), true);
    assert.equal(router.takeNmi(), false);
  });

  void it('enabled APIC with LINT0 ExtINT: the 8259 comes in through LINT0, ignoring TPR', () => {
    const { router, pic, write } = setup();
    write(SVR, 0x1ff);
    write(LVT_LINT0, 0x700);
    write(TPR, 0xff);
    pic.request(0x28);
    assert.equal(router.hasInterrupt(), true);
    assert.equal(router.acknowledge(), 0x28);
    assert.equal(router.counters.extIntAcknowledged, 1);
  });

  void it('enabled APIC with LINT0 masked: the 8259 is ignored, the APIC IRR is used', () => {
    const { router, pic, write, lapic } = setup();
    write(SVR, 0x1ff);
    write(LVT_LINT0, 0x10700);
    pic.request(0x28);
    assert.equal(router.hasInterrupt(), false);
    lapic.deliverMsi(0xfee00000, 0x41);
    assert.equal(router.hasInterrupt(), true);
    assert.equal(router.acknowledge(), 0x41);
    assert.equal(router.counters.apicAcknowledged, 1);
  });

  void it('spurious: a TPR raised after the request yields the spurious vector', () => {
    const { router, write, lapic } = setup();
    write(SVR, 0x1f7);
    lapic.deliverMsi(0xfee00000, 0x41);
    write(TPR, 0x40);
    assert.equal(router.hasInterrupt(), false);
    assert.equal(router.acknowledge(), 0xf7);
    assert.equal(router.counters.spuriousAcknowledged, 1);
  });

  void it('ExtINT from an I/O APIC pin fetches the vector from the 8259', () => {
    const { router, pic, write, lapic } = setup();
    write(SVR, 0x1ff);
    const ioapic = new IoApic(lapic);
    ioapic.writeIndirect(0x10, 0x700);
    assert.equal(router.hasInterrupt(), false);
    pic.request(0x30);
    assert.equal(router.hasInterrupt(), false, 'LINT0 is masked and no ExtINT message yet');
    ioapic.setIrq(0, true);
    assert.equal(router.hasInterrupt(), true);
    assert.equal(router.acknowledge(), 0x30);
    assert.equal(lapic.internalState.extIntRequested, false);
  });

  void it('NMI through LVT LINT1: delivered when programmed NMI, dropped when masked', () => {
    const { router, write } = setup();
    write(SVR, 0x1ff);
    write(LVT_LINT1, 0x10400);
    router.raiseNmi();
    assert.equal(router.takeNmi(), false);
    write(LVT_LINT1, 0x400);
    router.raiseNmi();
    router.raiseNmi();
    assert.equal(router.takeNmi(), true);
    assert.equal(router.takeNmi(), false, 'NMIs pending together merge');
  });

  void it('tells the CPU when the pending state changes', () => {
    const { router, pic, lapic, write } = setup();
    let changes = 0;
    router.onPendingChange = () => changes++;
    pic.request(0x20);
    assert.equal(changes, 1);
    write(SVR, 0x1ff);
    const before = changes;
    lapic.deliverMsi(0xfee00000, 0x41);
    assert.ok(changes > before);
  });

  void it('works with the 8259 model: IRQ1 reaches the CPU in virtual wire mode and through LINT0', () => {
    const ports = new PortSpace();
    const pic = new Pic(ports);
    const space = new PhysicalAddressSpace(0x100000);
    const lapic = new LocalApic({ scheduler: new Scheduler({ now: () => 0 }) });
    lapic.attach(space);
    const router = new InterruptRouter(lapic, pic);
    for (const [port, value] of [
      [0x20, 0x11],
      [0xa0, 0x11],
      [0x21, 0x20],
      [0xa1, 0x28],
      [0x21, 0x04],
      [0xa1, 0x02],
      [0x21, 0x01],
      [0xa1, 0x01],
      [0x21, 0x00],
      [0xa1, 0x00],
    ]) {
      ports.write(port, 1, value);
    }
    pic.setIrq(1, true);
    assert.equal(router.hasInterrupt(), true);
    assert.equal(router.acknowledge(), 0x21);
    ports.write(0x20, 1, 0x20);
    pic.setIrq(1, false);
    space.write(lapic.base + SVR, 4, 0x1ff);
    space.write(lapic.base + LVT_LINT0, 4, 0x700);
    pic.setIrq(1, true);
    assert.equal(router.hasInterrupt(), true);
    assert.equal(router.acknowledge(), 0x21);
    assert.equal(router.counters.extIntAcknowledged, 2);
  });
});
