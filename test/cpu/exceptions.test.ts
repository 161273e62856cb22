import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { RunExit } from '../../adapter/core/cpu/cpu';
import { IDT, guest } from '../support/cpu-harness';

void describe('exceptions: fault and trap EIPs', () => {
  const cases: [string, string, number, 'fault' | 'after'][] = [
    ['#DE from DIV by zero', 'xor ecx, ecx\nfault: div ecx\nafter:', 0, 'fault'],
    ['#DE from IDIV overflow', 'mov eax, 0x80000000\nmov edx, -1\nmov ecx, -1\nfault: idiv ecx\nafter:', 0, 'fault'],
    ['#UD from UD2', 'fault: ud2\nafter:', 6, 'fault'],
    ['#GP from a bad selector load', 'mov ax, 0x400\nfault: mov ds, ax\nafter:', 13, 'fault'],
    [
      '#BR from BOUND',
      'mov dword [SCRATCH], 1\nmov dword [SCRATCH+4], 5\nmov eax, 6\nfault: bound eax, [SCRATCH]\nafter:',
      5,
      'fault',
    ],
    ['#BP from INT3 returns after it', 'fault: int3\nafter:', 3, 'after'],
    ['INT 0x30 returns after it', 'fault: int 0x30\nafter:', 0x30, 'after'],
    ['#OF from INTO with OF set', 'mov al, 0x7f\nadd al, 1\nfault: into\nafter:', 4, 'after'],
    ['INT1 (ICEBP) returns after it', 'fault: int1\nafter:', 1, 'after'],
  ];
  for (const [name, code, vector, where] of cases) {
    void it(name, () => {
      const g = guest(`${code}\nhlt`);
      const t = g.runToTrap();
      assert.equal(t.vector, vector);
      assert.equal(t.eip, g.sym(where));
      assert.equal(t.cs, 0x08);
    });
  }

  void it('INTO with OF clear does nothing', () => {
    const g = guest(`xor eax, eax\ninto\nmov ebx, 1\nhlt`);
    g.runToHlt();
    assert.equal(g.ebx, 1);
  });

  void it('a fault in the middle of a block leaves registers and lazy flags as before the instruction', () => {
    const g = guest(`
      mov eax, 0x7fffffff
      mov ebx, 1
      add eax, ebx            ; OF SF AF PF set lazily
      mov esi, 0x1111
      push esi
      xor ecx, ecx
      lea edi, [esi + 4]
      fault: div ecx
      hlt`);
    const t = g.runToTrap();
    assert.equal(t.vector, 0);
    assert.equal(t.eip, g.sym('fault'));
    // Flags of ADD 0x7fffffff + 1: OF, SF, AF, (PF of 0x00) set; ZF, CF clear. XOR ECX,ECX then made them
    // ZF PF, OF=CF=0 (SF=0, AF undefined).
    assert.equal(t.eflags & 0x8c5, 0x44);
    assert.equal(g.eax, 0x80000000);
    assert.equal(g.esi, 0x1111);
    assert.equal(g.edi, 0x1115);
    assert.equal(g.ecx, 0);
    // The stub pushed 20 bytes on top of the 4 pushed by the program.
    assert.equal(g.esp, 0x9000 - 4 - 20);
  });

  void it('a fault right after a flag-setting instruction reports its lazy flags in the pushed EFLAGS', () => {
    const g = guest(`
      mov eax, 0x7fffffff
      add eax, 1
      fault: mov ds, [bad]
      hlt
      bad: dw 0x400`);
    const t = g.runToTrap();
    assert.equal(t.eip, g.sym('fault'));
    assert.equal(t.eflags & 0x8d5, 0x894, 'OF SF AF PF set; ZF CF clear');
  });
});

void describe('exceptions: escalation', () => {
  void it('a #NP while delivering #PF becomes #DF(0) pointing at the faulting instruction', () => {
    const g = guest(`fault: mov eax, [0x400000]\nhlt`, { mode: 'paging' });
    g.w32(IDT + 14 * 8 + 4, g.r32(IDT + 14 * 8 + 4) & ~0x8000); // #PF gate not present
    const t = g.runToTrap();
    assert.equal(t.vector, 8);
    assert.equal(t.errorCode, 0);
    assert.equal(t.eip, g.sym('fault'));
    assert.equal(g.cpu.cr2 >>> 0, 0x400000);
  });

  void it('a #GP while delivering #PF (gate selector beyond the GDT) becomes #DF(0)', () => {
    const g = guest(`fault: mov eax, [0x400000]\nhlt`, { mode: 'paging' });
    g.gate(14, 0x6000 + 14 * 16, { selector: 0x800 });
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode, t.eip], [8, 0, g.sym('fault')]);
  });

  void it('benign + contributory does not escalate: #GP while delivering INT3 is a plain #GP', () => {
    const g = guest(`fault: int3\nhlt`);
    g.gate(3, 0x6000 + 3 * 16, { selector: 0x800, dpl: 3 });
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode], [13, 0x800]);
    assert.equal(t.eip, g.sym('fault'));
  });

  void it('a fault while delivering #DF is a triple fault: RunExit.Shutdown with a reason', () => {
    const g = guest(`mov eax, [0x400000]\nhlt`, { mode: 'paging' });
    g.w32(IDT + 14 * 8 + 4, g.r32(IDT + 14 * 8 + 4) & ~0x8000);
    g.w32(IDT + 8 * 8 + 4, g.r32(IDT + 8 * 8 + 4) & ~0x8000);
    assert.equal(g.cpu.run(100), RunExit.Shutdown);
    assert.match(g.cpu.stopReason, /triple fault/);
    assert.doesNotMatch(g.cpu.stopReason, /internal/);
  });

  void it('an empty IDT triple-faults on the first exception', () => {
    const g = guest(`lidt [zero]\nint3\nhlt\nzero: dw 0\ndd 0`);
    assert.equal(g.cpu.run(100), RunExit.Shutdown);
    assert.match(g.cpu.stopReason, /triple fault/);
  });

  void it('a stack that faults while pushing the exception frame escalates to a triple fault', () => {
    // #PF on the handler's stack push → #DF whose push faults again → shutdown.
    const g = guest(`mov esp, 0x400010\nmov eax, [0x400000]\nhlt`, { mode: 'paging' });
    assert.equal(g.cpu.run(100), RunExit.Shutdown);
    assert.match(g.cpu.stopReason, /triple fault/);
  });

  void it('real mode: an interrupt through an IVT entry beyond the IDTR limit shuts down', () => {
    const g = guest(`lidt [zero]\nint 0x21\nhlt\nzero: dw 0\ndd 0`, { mode: 'real' });
    assert.equal(g.cpu.run(100), RunExit.Shutdown);
    assert.match(g.cpu.stopReason, /triple fault/);
  });
});

void describe('exceptions: invalid encodings', () => {
  const cases: [string, string, number][] = [
    ['UD0', 'db 0x0f, 0xff, 0xc0', 6],
    ['LOCK on MOV', 'db 0xf0, 0x89, 0xd8', 6],
    ['LOCK ADD with a register destination', 'db 0xf0, 0x01, 0xd8', 6],
    ['LOCK NOP', 'db 0xf0, 0x90', 6],
    ['MOV to CS', 'db 0x8e, 0xc8', 6],
    ['LEA with a register operand', 'db 0x8d, 0xc0', 6],
    ['LDS with a register operand', 'db 0x66, 0xc5, 0xc0', 6],
    ['POP CS (0x0F with a bad second byte)', 'db 0x0f, 0x0e', 6],
    ['an instruction longer than 15 bytes', 'times 15 db 0x66\nnop', 13],
  ];
  for (const [name, bytes, vector] of cases) {
    void it(`${name} → ${vector === 6 ? '#UD' : '#GP(0)'}`, () => {
      const g = guest(`mov eax, 1\nmov ebx, 2\nfault: ${bytes}\nhlt`);
      const t = g.runToTrap();
      assert.equal(t.vector, vector);
      assert.equal(t.eip, g.sym('fault'));
      assert.equal(t.errorCode, 0);
      assert.equal(g.eax, 1);
    });
  }

  void it('LOCK ADD to memory is valid', () => {
    const g = guest(`mov dword [SCRATCH], 5\nlock add dword [SCRATCH], 3\nlock xadd [SCRATCH], eax\nhlt`);
    g.runToHlt();
    assert.equal(g.r32(0x30000), 8);
  });

  void it('random byte soup never produces a host error', () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 24;
    };
    for (let round = 0; round < 30; round++) {
      const g = guest(`hlt`, { mode: round % 3 === 0 ? 'real' : round % 3 === 1 ? 'flat' : 'paging' });
      const soup = new Uint8Array(256);
      for (let i = 0; i < soup.length; i++) soup[i] = rand();
      const at = g.mode === 'real' ? 0x1000 : 0x10000;
      g.phys.debugWrite(at, soup);
      g.cpu.run(2000);
      assert.doesNotMatch(g.cpu.stopReason, /internal/, `round ${round}: ${g.cpu.stopReason}`);
    }
  });
});

void describe('encodings of later extensions', () => {
  void it('F3 0F BC / F3 0F BD (TZCNT/LZCNT on BMI1 parts) execute as BSF/BSR on this i686, as Linux expects', () => {
    const g = guest(`
      mov eax, 0x00f00010
      db 0xf3, 0x0f, 0xbc, 0xc8   ; tzcnt ecx, eax → bsf ecx, eax
      db 0xf3, 0x0f, 0xbd, 0xd0   ; lzcnt edx, eax → bsr edx, eax
      hlt`);
    g.runToHlt();
    assert.equal(g.ecx, 4);
    assert.equal(g.edx, 23);
  });
});
