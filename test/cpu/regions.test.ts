/**
 * Regions: hot blocks compiled together into one function (see Translator.buildRegion). Every test runs the same
 * program twice, with regions from the second execution of a block on and with no regions at all, and expects
 * the same architectural state at every stop.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RunExit } from '../../adapter/core/cpu/cpu';
import type { Guest, GuestOptions } from '../support/cpu-harness';
import { PT0, guest } from '../support/cpu-harness';

function pair(source: string, options: GuestOptions = {}): { on: Guest; off: Guest } {
  const on = guest(source, options);
  const off = guest(source, options);
  on.cpu.translator.regionThreshold = 2;
  off.cpu.translator.regionThreshold = Infinity;
  return { on, off };
}

function state(g: Guest): Record<string, number | boolean> {
  const cpu = g.cpu;
  return {
    eax: g.eax,
    ecx: g.ecx,
    edx: g.edx,
    ebx: g.ebx,
    esp: g.esp,
    ebp: g.ebp,
    esi: g.esi,
    edi: g.edi,
    eip: cpu.eip >>> 0,
    eflags: cpu.getEflags() >>> 0,
    icount: cpu.icount,
    cr2: cpu.cr2 >>> 0,
    halted: cpu.halted,
  };
}

function assertSameState(on: Guest, off: Guest, what: string): void {
  assert.deepEqual(state(on), state(off), what);
}

/** A loop of several blocks: a conditional branch over an else-part, a counter, a sum. */
const LOOP = `
  xor eax, eax
  xor ebx, ebx
  mov ecx, 1000
  l: test ecx, 1
  jz even
  add eax, ecx
  jmp next
  even: add ebx, ecx
  shl ebx, 1
  next: dec ecx
  jnz l
  hlt`;

void describe('translator: regions', () => {
  void it('a hot loop of several blocks runs as a region with the results of block-by-block execution', () => {
    const { on, off } = pair(LOOP);
    on.runToHlt();
    off.runToHlt();
    assertSameState(on, off, 'state at HLT');
    assert.ok(on.cpu.translator.stats.regions >= 1, 'a region was compiled');
    assert.equal(off.cpu.translator.stats.regions, 0);
  });

  void it('stops at the instruction budget at the same block boundaries as the block chain', () => {
    const { on, off } = pair(LOOP);
    for (const budget of [1, 5, 7, 64, 333, 1000, 17]) {
      assert.equal(on.cpu.run(budget), off.cpu.run(budget));
      assertSameState(on, off, `after a slice of ${budget}`);
    }
    assert.ok(on.cpu.translator.stats.regions >= 1);
  });

  void it('a page fault in the second block of a region reports its EIP, CR2 and the registers before it', () => {
    const source = `
      mov esi, 0x30000
      xor ebx, ebx
      xor ecx, ecx
      jz l
      ; The loop's first block becomes the region's first member, so the load is in the second.
      l: inc ecx
      cmp ecx, 0x7fffffff
      jae done
      add ebx, ecx
      load: mov eax, [esi]
      add esi, 0x100
      jmp l
      done: hlt`;
    const { on, off } = pair(source, { mode: 'paging' });
    for (const g of [on, off]) {
      // Page 0x40000 is not present: the 257th load faults.
      g.w32(PT0 + 0x40 * 4, 0);
      g.cpu.mmu.flushAll();
    }
    const t = on.runToTrap();
    off.runToTrap();
    assert.equal(t.vector, 14);
    assert.equal(t.eip, on.sym('load'));
    assert.equal(on.cpu.cr2 >>> 0, 0x40000);
    assert.equal(on.ecx, 257);
    assert.equal(on.ebx, (257 * 258) / 2);
    assert.equal(on.esi, 0x40000);
    assertSameState(on, off, 'state in the #PF handler');
    assert.ok(on.cpu.translator.stats.regions >= 1);
  });

  void it('a divide error inside a region is raised with the state of the faulting instruction', () => {
    const source = `
      mov ecx, 300
      mov ebx, 7
      test ecx, ecx
      jnz l
      l: mov eax, ecx
      xor edx, edx
      cmp ecx, 50
      jne nz
      xor ebx, ebx
      nz:
      div_here: div ebx
      add esi, eax
      dec ecx
      jnz l
      hlt`;
    const { on, off } = pair(source);
    const t = on.runToTrap();
    off.runToTrap();
    assert.equal(t.vector, 0);
    assert.equal(t.eip, on.sym('div_here'));
    assert.equal(on.ecx, 50);
    assertSameState(on, off, 'state in the #DE handler');
  });

  void it('code written inside a running region takes effect: the region is dropped and rebuilt', () => {
    const source = `
      xor ebx, ebx
      mov ecx, 400
      l:
      imm: mov eax, 1
      add ebx, eax
      cmp ecx, 200
      jne skip
      mov byte [imm + 1], 3
      skip: dec ecx
      jnz l
      hlt`;
    const { on, off } = pair(source);
    on.runToHlt();
    off.runToHlt();
    // 201 iterations add 1 (ECX 400..200, the last one patching), then the new instruction adds 3 (ECX 199..1).
    assert.equal(on.ebx, 201 * 1 + 199 * 3);
    assertSameState(on, off, 'state at HLT');
    assert.ok(on.cpu.translator.stats.regions >= 2, 'a region before and one after the patch');
  });

  void it('a store into another block of the region from a string instruction takes effect', () => {
    const source = `
      xor ebx, ebx
      mov ecx, 300
      l:
      imm: mov eax, 1
      add ebx, eax
      cmp ecx, 100
      jne skip
      push ecx
      mov esi, patch
      mov edi, imm + 1
      mov ecx, 1
      rep movsb
      pop ecx
      skip: dec ecx
      jnz l
      hlt
      patch: db 5`;
    const { on, off } = pair(source);
    on.runToHlt();
    off.runToHlt();
    assert.equal(on.ebx, 201 * 1 + 99 * 5);
    assertSameState(on, off, 'state at HLT');
  });

  void it('an interrupt raised between slices of a hot loop is taken at the same instruction', () => {
    const source = `
      sti
      xor eax, eax
      l: inc eax
      test eax, 3
      jnz x
      inc ebx
      x: jmp l`;
    const { on, off } = pair(source);
    const sources = [on, off].map((g) => {
      const s = { pending: false, acks: 0 };
      g.cpu.interrupts = {
        hasInterrupt: () => s.pending,
        acknowledge: () => {
          s.pending = false;
          s.acks++;
          return 0x40;
        },
      };
      return s;
    });
    for (let i = 0; i < 20; i++) {
      assert.equal(on.cpu.run(501), RunExit.Budget);
      assert.equal(off.cpu.run(501), RunExit.Budget);
      assertSameState(on, off, `slice ${i}`);
    }
    for (const s of sources) s.pending = true;
    const t = on.runToTrap();
    off.runToTrap();
    assert.equal(t.vector, 0x40);
    assert.equal(sources[0].acks, 1);
    assertSameState(on, off, 'in the interrupt handler');
    assert.ok(on.cpu.translator.stats.regions >= 1);
  });

  void it('a breakpoint set inside a hot region stops before its instruction', () => {
    const source = `
      xor eax, eax
      xor ebx, ebx
      l: inc eax
      test eax, 7
      jnz x
      add ebx, eax
      here: add ebx, 1
      x: cmp eax, 100000
      jne l
      hlt`;
    const { on, off } = pair(source);
    for (const g of [on, off]) assert.equal(g.cpu.run(5000), RunExit.Budget);
    assert.ok(on.cpu.translator.stats.regions >= 1);
    for (const g of [on, off]) {
      g.cpu.setDebuggerBreakpoints([g.sym('here')]);
      assert.equal(g.cpu.run(100_000), RunExit.Stopped);
      assert.equal(g.cpu.eip, g.sym('here'));
      assert.equal(g.cpu.breakpointHit, g.sym('here'));
      assert.equal(g.eax % 8, 0);
    }
    assertSameState(on, off, 'at the breakpoint');
    for (const g of [on, off]) {
      g.cpu.setDebuggerBreakpoints([]);
      g.runToHlt(1_000_000);
    }
    assertSameState(on, off, 'at HLT');
  });

  void it('devices see the instruction count and EIP of each port access inside a hot loop', () => {
    const source = `
      mov ecx, 200
      mov dx, 0x510
      l: test ecx, 3
      jnz x
      inport: in al, dx
      x: add ebx, eax
      dec ecx
      jnz l
      hlt`;
    const { on, off } = pair(source);
    const seen = [on, off].map((g) => {
      const log: string[] = [];
      g.ports.register(
        0x510,
        1,
        {
          read: () => (log.push(`${g.cpu.icount + g.cpu.accessInsnInBlock}@${g.cpu.accessEip}`), 1),
          write: () => undefined,
          peek: () => 1,
        },
        { device: 'probe', valid: { min: 1, max: 1 }, impl: { min: 1, max: 1 } },
      );
      return log;
    });
    on.runToHlt();
    off.runToHlt();
    assert.equal(seen[0].length, 50);
    assert.deepEqual(seen[0], seen[1]);
    assertSameState(on, off, 'state at HLT');
  });
});
