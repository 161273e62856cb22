/** The state PC firmware leaves for a loaded kernel, which our machine provides without a BIOS. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PcMachine } from '../../adapter/core/machine/pc';
import { findRegister } from '../../adapter/core/regs/describe';

void describe('machine firmware state', () => {
  void it('the 8259s are initialised like SeaBIOS leaves them: bases 0x08/0x70, all masked but the cascade', () => {
    const m = new PcMachine({ memoryMiB: 4 });
    const pic = m.pic;
    const peek = (name: string): bigint => pic.peekRegister(findRegister(pic.description, name)!);
    assert.equal(peek('MASTER_IMR'), 0xfbn);
    assert.equal(peek('SLAVE_IMR'), 0xffn);
    assert.equal(peek('MASTER_VECTOR_BASE'), 0x08n);
    assert.equal(peek('SLAVE_VECTOR_BASE'), 0x70n);
    // A raised IRQ0 stays masked: nothing reaches the CPU until the kernel programs the PIC.
    pic.setIrq(0, true);
    assert.equal(pic.hasInterrupt(), false);
  });
});
