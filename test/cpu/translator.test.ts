import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RunExit } from '../../adapter/core/cpu/cpu';
import { PD, guest } from '../support/cpu-harness';

void describe('translator: self-modifying code', () => {
  void it('a store into the next instruction of the same block takes effect', () => {
    const g = guest(`
      mov ecx, 3
      mov byte [patch + 1], 0x42
      patch: mov eax, 0x11
      add eax, ecx
      hlt`);
    g.runToHlt();
    assert.equal(g.eax, 0x45);
  });

  void it('a store into the current instruction stream further down the block (loop) takes effect each time', () => {
    const g = guest(`
      xor ebx, ebx
      mov ecx, 5
      l:
      mov [imm + 1], cl
      imm: mov eax, 0
      add ebx, eax
      dec ecx
      jnz l
      hlt`);
    g.runToHlt();
    assert.equal(g.ebx, 5 + 4 + 3 + 2 + 1);
  });

  void it('a store into another, already translated block takes effect', () => {
    const g = guest(`
      call fn
      mov ebx, eax
      mov dword [fn + 1], 0x2222
      call fn
      hlt
      fn: mov eax, 0x1111
      ret`);
    g.runToHlt();
    assert.equal(g.ebx, 0x1111);
    assert.equal(g.eax, 0x2222);
  });

  void it('rep movsb copying code over translated code', () => {
    const g = guest(`
      mov esi, snippet1
      mov edi, 0x40000
      mov ecx, snippet_len
      rep movsb
      call 0x40000
      mov ebx, eax
      mov esi, snippet2
      mov edi, 0x40000
      mov ecx, snippet_len
      rep movsb
      call 0x40000
      hlt
      snippet1: mov eax, 1
      ret
      snippet_len equ $ - snippet1
      snippet2: mov eax, 2
      ret`);
    g.runToHlt();
    assert.equal(g.ebx, 1);
    assert.equal(g.eax, 2);
  });

  void it('code written through the debugger path (phys.debugWrite) invalidates translations', () => {
    const g = guest(`
      l: call fn
      hlt
      jmp l
      fn: mov eax, 0x1111
      ret`);
    g.runToHlt();
    assert.equal(g.eax, 0x1111);
    g.phys.debugWrite(g.sym('fn') + 1, Uint8Array.of(0x33, 0x33, 0, 0));
    g.cpu.halted = false;
    g.cpu.eip = g.sym('l');
    g.runToHlt();
    assert.equal(g.eax, 0x3333);
  });

  void it('a store through a different linear alias of the code page invalidates', () => {
    const g = guest(
      `
      call fn
      mov ebx, eax
      mov dword [0x400000 + ((fn - $$) & 0xfff) + 1], 0x5555   ; alias of fn's page
      call fn
      hlt
      align 4096
      fn: mov eax, 0x4444
      ret`,
      { mode: 'paging' },
    );
    // 0x400000 maps to fn's physical page.
    g.w32(PD + 4, 0x22000 | 7);
    g.w32(0x22000, (g.sym('fn') & ~0xfff) | 7);
    g.runToHlt();
    assert.equal(g.ebx, 0x4444);
    assert.equal(g.eax, 0x5555);
  });
});

void describe('translator: page boundaries', () => {
  void it('runs an instruction that crosses into the next page', () => {
    const g = guest(`
      times 0x1000 - 2 - ($ - $$) nop
      mov eax, 0x12345678       ; starts 2 bytes before the page boundary
      hlt`);
    g.runToHlt();
    assert.equal(g.eax, 0x12345678);
  });

  void it('an instruction crossing into a not-present page faults with CR2 = that page and EIP = its start', () => {
    const g = guest(
      `
      mov ebx, 7
      times 0x1000 - 2 - ($ - $$) nop
      fault: mov eax, 0x12345678
      hlt`,
      { mode: 'paging' },
    );
    g.w32(0x21000 + 0x11 * 4, 0); // unmap 0x11000
    const t = g.runToTrap();
    assert.equal(t.vector, 14);
    assert.equal(t.errorCode, 0);
    assert.equal(g.cpu.cr2 >>> 0, 0x11000);
    assert.equal(t.eip, g.sym('fault'));
    assert.equal(g.ebx, 7);
  });

  void it('the same with single steps', () => {
    const g = guest(
      `
      times 0x1000 - 2 - 5 - ($ - $$) nop
      mov ebx, 7
      fault: mov eax, 0x12345678
      hlt`,
      { mode: 'paging' },
    );
    g.w32(0x21000 + 0x11 * 4, 0);
    g.cpu.eip = g.sym('fault') - 5;
    const before = g.cpu.icount;
    assert.equal(g.cpu.step(), RunExit.Budget);
    assert.equal(g.cpu.eip, g.sym('fault'));
    assert.equal(g.cpu.icount, before + 1);
    g.cpu.step();
    assert.equal(g.cpu.eip, 0x6000 + 14 * 16, 'in the #PF handler');
    assert.equal(g.r32(g.esp + 4), g.sym('fault'), 'frame EIP (after the error code)');
    assert.equal(g.cpu.cr2 >>> 0, 0x11000);
  });

  void it('a block that runs to the end of a page continues correctly on the next page after remapping', () => {
    const g = guest(
      `
      jmp 0x400000 + 0xff0
      `,
      { mode: 'paging' },
    );
    // Virtual 0x400000 → physical 0x50000, 0x401000 → 0x60000 (not contiguous).
    g.w32(PD + 4, 0x22000 | 7);
    g.w32(0x22000, 0x50000 | 7);
    g.w32(0x22004, 0x60000 | 7);
    g.phys.debugWrite(0x50ff0, Uint8Array.from([...new Array<number>(14).fill(0x90), 0xb8, 0x78])); // nops, mov eax, ...
    g.phys.debugWrite(0x60000, Uint8Array.of(0x56, 0x34, 0x12, 0xf4)); // ..., 0x12345678 ; hlt
    g.runToHlt();
    assert.equal(g.eax, 0x12345678);
    // Remap the second page: the crossing instruction must see the new bytes.
    g.phys.debugWrite(0x61000, Uint8Array.of(0x66, 0x66, 0x66, 0xf4));
    g.w32(0x22004, 0x61000 | 7);
    g.cpu.mmu.flushAll();
    g.cpu.halted = false;
    g.cpu.eip = 0x400ff0;
    g.runToHlt();
    assert.equal(g.eax, 0x66666678);
  });
});

void describe('translator: stepping and budgets', () => {
  const programs: [string, string][] = [
    ['straight-line code', 'mov eax, 1\nadd eax, 2\nshl eax, 3\nhlt'],
    ['a string instruction', 'mov ecx, 3\nmov edi, SCRATCH\nrep stosb\nhlt'],
    ['a far jump', 'jmp KCODE:next\nnext: nop\nhlt'],
    ['a call and a ret', 'call f\nhlt\nf: ret'],
  ];
  for (const [name, code] of programs) {
    void it(`cpu.step() executes exactly one instruction: ${name}`, () => {
      const stepped = guest(code);
      const ran = guest(code);
      ran.runToHlt();
      const eips: number[] = [];
      let n = 0;
      while (!stepped.cpu.halted && n < 100) {
        const before = stepped.cpu.icount;
        stepped.cpu.step();
        assert.ok(stepped.cpu.icount - before <= 1);
        eips.push(stepped.cpu.eip);
        n++;
      }
      assert.equal(stepped.cpu.eip, ran.cpu.eip);
      assert.equal(stepped.eax, ran.eax);
      assert.equal(stepped.cpu.icount, ran.cpu.icount);
      assert.equal(new Set(eips).size >= 2, true);
    });
  }

  void it('rep stosb with single steps retires one element per step... or the whole instruction', () => {
    const g = guest('mov ecx, 3\nmov edi, SCRATCH\nmov al, 1\nrep stosb\nhlt');
    for (let i = 0; i < 3; i++) g.cpu.step();
    g.cpu.step();
    // Either the whole REP ran or a restartable part of it: EIP stays on the REP until ECX is 0.
    if (g.ecx !== 0) assert.equal(g.cpu.eip, 0x10000 + 5 + 5 + 2);
    else assert.equal(g.cpu.eip, 0x10000 + 5 + 5 + 2 + 2);
  });

  for (const budget of [1, 2, 3, 1000, 1001, 4097]) {
    void it(`a self-loop block stops at the budget, at an iteration boundary (${budget})`, () => {
      const g = guest(`
        xor eax, eax
        l: inc eax
        jmp l`);
      g.cpu.step();
      const start = g.cpu.icount;
      assert.equal(g.cpu.run(budget), RunExit.Budget);
      // Blocks are atomic: run() stops at the first block end at or past the budget. The loop block is 2
      // instructions, so an even budget is met exactly and an odd one overshoots by 1.
      const expected = budget + (budget % 2);
      assert.equal(g.cpu.icount - start, expected);
      assert.equal(g.eax, expected / 2);
      assert.equal(g.cpu.eip, g.sym('l'));
    });
  }

  void it('a counted loop block stops at the budget with its flags intact', () => {
    const g = guest(`
      mov ecx, 1000
      l: add eax, 3
      dec ecx
      jnz l
      hlt`);
    g.cpu.step();
    assert.equal(g.cpu.run(300), RunExit.Budget); // 100 iterations
    assert.equal(g.cpu.icount, 301);
    assert.equal(g.ecx, 900);
    assert.equal(g.eax, 300);
    assert.equal(g.cpu.eip, g.sym('l'));
    assert.equal(g.cpu.getEflags() & 0x40, 0, 'ZF of DEC ECX (900)');
    g.runToHlt();
    assert.equal(g.eax, 3000);
    assert.equal(g.ecx, 0);
    assert.equal(g.cpu.getEflags() & 0x40, 0x40);
  });

  void it('LOOP with a 16-bit address size counts CX', () => {
    const g = guest(`
      mov ecx, 0x10003
      xor eax, eax
      l: inc eax
      a16 loop l
      hlt`);
    g.runToHlt();
    assert.equal(g.eax, 3);
    assert.equal(g.ecx, 0x10000);
  });

  void it('JECXZ and 16-bit address-size forms of string instructions (a16)', () => {
    const g = guest(`
      mov esi, 0x1230000
      mov edi, 0x5670000
      mov si, 0
      mov edi, 0xabcd0000 | SCRATCH & 0xffff
      mov ecx, 0xffff0002
      mov ax, DATA16
      mov es, ax
      mov ax, 0x4141
      a16 rep stosw
      hlt`);
    g.runToHlt();
    assert.equal(g.ecx, 0xffff0000);
    assert.equal(g.edi, (0xabcd0000 | ((0x30000 + 4) & 0xffff)) >>> 0);
    assert.equal(g.r32(0x0000), 0x41414141);
  });
});

void describe('translator: multiplication without BigInt', () => {
  // Each case: the product, then CF and OF read back with SETC/SETO after the flags went lazy.
  const cases: [string, number, number, number, number][] = [
    // [operation, eax/first operand, ebx/second operand, expected edx (or 0), expected eax]
    ['imul eax, ebx', 0x7fffffff, 2, 0, -2],
    ['imul eax, ebx', -1, -1, 0, 1],
    ['imul eax, ebx', 0x80000000 | 0, -1, 0, 0x80000000 | 0],
    ['imul eax, ebx', 46341, 46341, 0, (46341 * 46341) | 0],
    ['imul eax, ebx', 46340, 46340, 0, 46340 * 46340],
    ['mul ebx', -1, -1, -2, 1],
    ['mul ebx', 0x10000, 0x10000, 1, 0],
    ['mul ebx', 12345, 6789, 0, 12345 * 6789],
    ['imul ebx', -2, 3, -1, -6],
    ['imul ebx', 0x80000000 | 0, 0x80000000 | 0, 0x40000000, 0],
    ['imul ebx', 0x7fffffff, 0x7fffffff, 0x3fffffff, 1],
  ];
  for (const [operation, a, b, high, low] of cases) {
    void it(`${operation} with ${a} and ${b}`, () => {
      const g = guest(`
        mov eax, ${a}
        mov ebx, ${b}
        xor edx, edx
        ${operation}
        setc cl
        seto ch
        hlt`);
      g.runToHlt();
      const wide = !operation.includes(',');
      const exact =
        BigInt(operation.startsWith('mul') ? a >>> 0 : a) * BigInt(operation.startsWith('mul') ? b >>> 0 : b);
      const overflow = operation.startsWith('mul') ? exact >> 32n !== 0n : BigInt.asIntN(32, exact) !== exact;
      assert.equal(g.eax, low >>> 0);
      if (wide) assert.equal(g.edx, high >>> 0);
      assert.equal(g.ecx & 0xffff, overflow ? 0x0101 : 0, 'CF and OF');
    });
  }
});

void describe('translator: blocks continue at forward JMP targets', () => {
  void it('runs the target and skips the bytes jumped over, counting each JMP as an instruction', () => {
    const g = guest(`
      mov eax, 1
      jmp over
      ud2
      mov eax, 99
      over: add eax, 4
      jmp done
      ud2
      done: hlt`);
    g.runToHlt();
    assert.equal(g.eax, 5);
    assert.equal(g.cpu.translator.stats.blocks, 1, 'one block from the first instruction to HLT');
    assert.equal(g.cpu.icount, 5, 'MOV, JMP, ADD, JMP, HLT');
  });

  void it('a fault after a followed JMP reports the faulting instruction at the target', () => {
    const g = guest(`
      xor ecx, ecx
      mov eax, 7
      jmp there
      times 40 nop
      there: nop
      fault: div ecx
      hlt`);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.eip], [0, g.sym('fault')]);
  });

  void it('a store into the jump target, ahead in the same block, takes effect', () => {
    const g = guest(`
      mov byte [patch + 1], 0x42
      jmp patch
      ud2
      patch: mov eax, 0x11
      hlt`);
    g.runToHlt();
    assert.equal(g.eax, 0x42);
  });
});

void describe('translator: the EIP devices see', () => {
  void it('port reads and writes in the middle of a block carry the EIP of their own instruction', () => {
    const g = guest(`
      mov dx, 0x510
      nop
      inport: in al, dx
      nop
      outport: out dx, al
      hlt`);
    const seen: number[] = [];
    g.ports.register(
      0x510,
      1,
      {
        read: () => (seen.push(g.cpu.accessEip), 0x5a),
        write: () => void seen.push(g.cpu.accessEip),
        peek: () => 0x5a,
      },
      { device: 'probe', valid: { min: 1, max: 1 }, impl: { min: 1, max: 1 } },
    );
    g.runToHlt();
    assert.deepEqual(seen, [g.sym('inport'), g.sym('outport')]);
  });
});
