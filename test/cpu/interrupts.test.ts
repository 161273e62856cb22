import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RunExit } from '../../adapter/core/cpu/cpu';
import { PcMachine } from '../../adapter/core/machine/pc';
import type { Guest } from '../support/cpu-harness';
import { guest } from '../support/cpu-harness';

/** A one-vector interrupt source the test raises by hand. */
function source(g: Guest, vector = 0x40): { pending: boolean; acks: number } {
  const s = { pending: false, acks: 0 };
  g.cpu.interrupts = {
    hasInterrupt: () => s.pending,
    acknowledge: () => {
      s.pending = false;
      s.acks++;
      return vector;
    },
  };
  return s;
}

void describe('interrupts', () => {
  void it('holds a pending interrupt while IF is clear and takes it after the instruction following STI', () => {
    const g = guest(`
      cli
      nop
      nop
      sti
      shadow: nop
      taken: nop
      nop
      hlt`);
    const s = source(g);
    s.pending = true;
    const t = g.runToTrap();
    assert.equal(t.vector, 0x40);
    assert.equal(t.eip, g.sym('taken'));
    assert.equal(s.acks, 1);
    assert.equal(t.eflags & 0x200, 0x200);
  });

  void it('STI shadow with single steps', () => {
    const g = guest(`cli\nsti\nnop\nnop\nhlt`);
    const s = source(g);
    g.cpu.step();
    g.cpu.step(); // sti
    s.pending = true;
    g.cpu.step(); // the shadowed nop
    assert.equal(s.acks, 0);
    assert.equal(g.cpu.eip, 0x10003);
    g.cpu.step(); // delivers
    assert.equal(s.acks, 1);
    assert.equal(g.trapFrameEip(), 0x10003);
  });

  void it('POPF setting IF has no shadow', () => {
    const g = guest(`
      cli
      push dword 0x202
      popf
      taken: nop
      hlt`);
    const s = source(g);
    s.pending = true;
    const t = g.runToTrap();
    assert.equal(t.eip, g.sym('taken'));
  });

  for (const [name, load] of [
    ['MOV SS', 'mov ss, ax'],
    ['POP SS', 'pop ss'],
  ] as const) {
    void it(`${name} inhibits interrupts for one instruction`, () => {
      const g = guest(`
        mov ax, KDATA
        push eax
        sti
        nop
        load: ${load}
        shadowed: mov esp, 0x8800
        taken: nop
        hlt`);
      const s = source(g);
      while (g.cpu.eip !== g.sym('load')) g.cpu.step();
      g.cpu.step();
      s.pending = true;
      g.cpu.step();
      assert.equal(s.acks, 0, 'not taken right after the SS load');
      assert.equal(g.esp, 0x8800);
      g.cpu.step();
      assert.equal(s.acks, 1);
      assert.equal(g.trapFrameEip(), g.sym('taken'));
    });

    void it(`${name} shadow through run()`, () => {
      const g = guest(`
        mov ax, KDATA
        push eax
        sti
        nop
        nop
        load: ${load}
        shadowed: mov esp, 0x8800
        taken: nop
        nop
        hlt`);
      const s = source(g);
      while (g.cpu.eip !== g.sym('load')) g.cpu.step();
      g.cpu.step();
      s.pending = true;
      const t = g.runToTrap();
      assert.equal(t.eip, g.sym('taken'));
    });
  }

  void it('delivers an NMI with IF clear and blocks further NMIs until IRET', () => {
    const g = guest(`
      cli
      l: inc ebx
      jmp l
      nmi:
      inc ecx
      nop
      nop
      iret`);
    g.gate(2, g.sym('nmi'));
    g.cpu.step();
    g.cpu.nmiPending = true;
    g.cpu.step();
    assert.equal(g.cpu.eip, g.sym('nmi'));
    g.cpu.nmiPending = true; // a second NMI while the first handler runs
    g.cpu.step();
    g.cpu.step();
    g.cpu.step();
    assert.equal(g.ecx, 1, 'still in the first handler');
    assert.equal(g.cpu.eip, g.sym('nmi') + 3);
    g.cpu.step(); // IRET unblocks
    g.cpu.step(); // second NMI delivered
    assert.equal(g.cpu.eip, g.sym('nmi'));
    g.cpu.run(5);
    assert.equal(g.ecx, 2);
  });

  void it('HLT is woken by a PIT interrupt on the PC machine, with virtual time skipped', () => {
    const machine = new PcMachine({ memoryMiB: 16 });
    const g = guest(
      `
      ; 8259: vector base 0x20, only IRQ0 unmasked
      mov al, 0x11
      out 0x20, al
      mov al, 0x20
      out 0x21, al
      mov al, 0x04
      out 0x21, al
      mov al, 0x01
      out 0x21, al
      mov al, 0xfe
      out 0x21, al
      ; PIT channel 0, mode 2, divisor 1193 (about 1 ms)
      mov al, 0x34
      out 0x43, al
      mov ax, 1193
      out 0x40, al
      mov al, ah
      out 0x40, al
      xor ebx, ebx
      sti
      idle: hlt
      cmp ebx, 3
      jb idle
      cli
      done: hlt
      irq0:
      inc ebx
      push eax
      mov al, 0x20
      out 0x20, al
      pop eax
      iret`,
      { machine },
    );
    g.gate(0x20, g.sym('irq0'));
    const before = machine.clock.now();
    const r = machine.run(1_000_000);
    assert.equal(r.kind, 'shutdown');
    assert.match((r as { reason: string }).reason, /halted with interrupts disabled/);
    assert.equal(g.ebx, 3);
    assert.equal(g.cpu.eip, g.sym('done') + 1);
    const elapsed = machine.clock.now() - before;
    assert.ok(elapsed > 2_500_000 && elapsed < 4_000_000, `elapsed ${elapsed} ns`);
    assert.ok(g.cpu.icount < 1000, 'HLT skipped time instead of spinning');
  });

  void it('HLT with nothing pending returns Halted from run()', () => {
    const g = guest(`sti\nhlt\nmov eax, 1\nhlt\nresume: mov eax, 0x77\nhlt`);
    const s = source(g);
    assert.equal(g.cpu.run(100), RunExit.Halted);
    assert.equal(g.cpu.halted, true);
    s.pending = true;
    g.gate(0x40, g.sym('resume'));
    assert.equal(g.cpu.run(100), RunExit.Halted);
    assert.equal(g.eax, 0x77);
  });
});
