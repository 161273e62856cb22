import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { PcMachine } from '../../adapter/core/machine/pc';
import { KCODE, UCODE, UDATA, guest } from '../support/cpu-harness';

void describe('debug registers', () => {
  void it('a DR0 instruction breakpoint raises #DB before the instruction; RF lets it run once', () => {
    const g = guest(`
      mov eax, target
      mov dr0, eax
      mov eax, 1              ; L0, R/W0 = 00 (execute), LEN0 = 00
      mov dr7, eax
      xor ebx, ebx
      nop
      target: inc ebx
      inc ebx
      mov eax, dr6
      hlt
      db_handler:
      inc ecx
      or dword [esp + 8], 0x10000   ; RF in the pushed EFLAGS
      iret`);
    g.gate(1, g.sym('db_handler'));
    g.runToHlt();
    assert.equal(g.ecx, 1, 'one #DB');
    assert.equal(g.ebx, 2, 'the instruction ran once after the #DB');
    assert.equal(g.eax & 0xf, 1, 'DR6.B0');
    assert.equal(g.cpu.getEflags() & 0x10000, 0, 'RF cleared after the instruction');
  });

  void it('reports the #DB frame EIP at the breakpointed instruction, also when it is mid-block', () => {
    const g = guest(`
      mov eax, target
      mov dr1, eax
      mov eax, 1 << 2
      mov dr7, eax
      jmp start
      start:
      mov ecx, 1
      mov edx, 2
      target: mov ebx, 3
      hlt`);
    const t = g.runToTrap();
    assert.equal(t.vector, 1);
    assert.equal(t.eip, g.sym('target'));
    assert.equal(g.edx, 2);
    assert.equal(g.ebx, 0, 'not executed');
    assert.equal(g.cpu.dr[6] & 0xf, 2, 'DR6.B1');
  });

  void it('DR7 with the breakpoint disabled does not trap', () => {
    const g = guest(`
      mov eax, target
      mov dr0, eax
      mov eax, 1 << 16 | 0    ; R/W0 = write, not enabled
      mov dr7, eax
      target: mov ebx, 3
      hlt`);
    g.runToHlt();
    assert.equal(g.ebx, 3);
  });

  void it('DR7.GD makes a debug-register access raise #DB (fault) with DR6.BD, clearing GD', () => {
    const g = guest(`
      mov eax, 1 << 13
      mov dr7, eax
      fault: mov eax, dr0
      hlt`);
    const t = g.runToTrap();
    assert.equal(t.vector, 1);
    assert.equal(t.eip, g.sym('fault'));
    assert.equal(g.cpu.dr[6] & 0x2000, 0x2000);
    assert.equal(g.cpu.dr[7] & 0x2000, 0);
  });

  void it('MOV to DR4/DR5 with CR4.DE set is #UD', () => {
    const g = guest(`
      mov eax, cr4
      or eax, 1 << 3
      mov cr4, eax
      fault: mov eax, dr4
      hlt`);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.eip], [6, g.sym('fault')]);
  });
});

void describe('debug traps', () => {
  void it('a DR2 write breakpoint traps after the store, with EIP at the next instruction and DR6.B2', () => {
    const g = guest(`
      mov eax, watched
      mov dr2, eax
      mov eax, (1 << 4) | (0b01 << 24) | (0b11 << 26)   ; L2, R/W2 = write, LEN2 = 4 bytes
      mov dr7, eax
      mov ebx, [watched]      ; a read does not trigger a write breakpoint
      mov dword [watched], 7
      after: nop
      hlt
      align 4
      watched: dd 0`);
    const t = g.runToTrap();
    assert.equal(t.vector, 1);
    assert.equal(t.eip, g.sym('after'), 'trap: the store completed');
    assert.equal(g.cpu.phys.debugRead(g.sym('watched'), 1)[0], 7);
    assert.equal(g.cpu.dr[6] & 0xf, 4, 'DR6.B2');
  });

  void it('a DR0 read/write breakpoint traps on a read that overlaps its range', () => {
    const g = guest(`
      mov eax, watched + 2
      mov dr0, eax
      mov eax, 1 | (0b11 << 16) | (0b01 << 18)   ; L0, R/W0 = read/write, LEN0 = 2 bytes
      mov dr7, eax
      mov ecx, [watched]      ; bytes 0-3 overlap bytes 2-3
      after: hlt
      align 4
      watched: dd 0x12345678`);
    const t = g.runToTrap();
    assert.equal(t.vector, 1);
    assert.equal(t.eip, g.sym('after'));
    assert.equal(g.ecx >>> 0, 0x12345678);
    assert.equal(g.cpu.dr[6] & 0xf, 1);
  });

  void it('EFLAGS.TF traps after each instruction with DR6.BS until the handler clears it', () => {
    const g = guest(`
      pushfd
      or dword [esp], 0x100
      popfd                   ; TF takes effect after the next instruction
      inc ebx
      inc ebx
      inc ebx
      hlt
      db_handler:
      inc ecx
      cmp ecx, 2
      jne .keep
      and dword [esp + 8], ~0x100
      .keep:
      iret`);
    g.gate(1, g.sym('db_handler'));
    g.runToHlt();
    assert.equal(g.ecx, 2, 'two single-step traps, then TF cleared');
    assert.equal(g.ebx, 3);
    assert.equal(g.cpu.dr[6] & 0x4000, 0x4000, 'DR6.BS');
  });
});

void describe('x87, CPUID, TSC, MSRs', () => {
  void it('runs FLD/FADD/FMUL/FSTP and FILD/FISTP from guest code', () => {
    const g = guest(`
      fninit
      fld dword [a]
      fadd dword [b]
      fmul qword [c]
      fstp dword [SCRATCH]
      fild dword [i]
      fiadd dword [i]
      fistp dword [SCRATCH + 4]
      fldpi
      fld1
      fcompp
      fnstsw ax
      hlt
      a: dd 1.5
      b: dd 2.25
      c: dq 4.0
      i: dd -21`);
    g.runToHlt();
    const f = new DataView(g.phys.debugRead(0x30000, 8).buffer);
    assert.equal(f.getFloat32(0, true), 15);
    assert.equal(f.getInt32(4, true), -42);
    assert.equal(g.eax & 0x4500, 0x0100, 'C0 set: 1 < pi');
    assert.equal(g.cpu.fpu.top, 0, 'stack balanced');
  });

  void it('an x87 instruction with CR0.TS raises #NM; CLTS clears it', () => {
    const g = guest(`
      mov eax, cr0
      or eax, 1 << 3
      mov cr0, eax
      fault: fld1
      hlt`);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.eip], [7, g.sym('fault')]);
    const h = guest(`
      mov eax, cr0
      or eax, 1 << 3
      mov cr0, eax
      clts
      fld1
      mov ebx, cr0
      hlt`);
    h.runToHlt();
    assert.equal(h.ebx & 8, 0);
  });

  void it('CR0.EM makes x87 instructions #NM, and WAIT with TS and MP is #NM', () => {
    const g = guest(`
      mov eax, cr0
      or eax, 1 << 2
      mov cr0, eax
      fault: fadd st0, st1
      hlt`);
    assert.equal(g.runToTrap().vector, 7);
    const w = guest(`
      mov eax, cr0
      or eax, (1 << 3) | (1 << 1)
      mov cr0, eax
      fault: wait
      hlt`);
    const t = w.runToTrap();
    assert.deepEqual([t.vector, t.eip], [7, w.sym('fault')]);
  });

  void it('CPUID: vendor, family 6, and the feature bits the core implements', () => {
    const g = guest(`
      xor eax, eax
      cpuid
      mov [SCRATCH], ebx
      mov [SCRATCH + 4], edx
      mov [SCRATCH + 8], ecx
      mov [SCRATCH + 12], eax
      mov eax, 1
      cpuid
      hlt`);
    g.runToHlt();
    const vendor = new TextDecoder().decode(g.phys.debugRead(0x30000, 12));
    assert.match(vendor, /^[ -~]{12}$/);
    assert.ok(g.r32(0x3000c) >= 1, 'max basic leaf');
    assert.equal((g.eax >> 8) & 0xf, 6, 'family 6');
    for (const [bit, name] of [
      [0, 'FPU'],
      [4, 'TSC'],
      [5, 'MSR'],
      [8, 'CX8'],
      [11, 'SEP'],
    ] as const) {
      assert.equal((g.edx >>> bit) & 1, 1, name);
    }
    assert.equal((g.edx >>> 29) & 1, 0, 'no long mode bits in leaf 1 EDX (TM)');
  });

  void it('CPUID can be toggled detection via EFLAGS.ID', () => {
    const g = guest(`
      pushfd
      pop eax
      mov ebx, eax
      xor eax, 1 << 21
      push eax
      popfd
      pushfd
      pop eax
      xor eax, ebx
      hlt`);
    g.runToHlt();
    assert.equal(g.eax & (1 << 21), 1 << 21);
  });

  void it('RDTSC increases with virtual time on the PC machine', () => {
    const machine = new PcMachine({ memoryMiB: 16 });
    const g = guest(
      `
      rdtsc
      mov esi, eax
      mov edi, edx
      mov ecx, 1000
      l: dec ecx
      jnz l
      rdtsc
      sub eax, esi
      sbb edx, edi
      cli
      hlt`,
      { machine },
    );
    machine.run(100_000);
    assert.equal(g.edx, 0);
    assert.ok(g.eax > 0 && g.eax < 0x100000, `delta ${g.eax}`);
  });

  void it('RDTSC counts the instructions retired before it, also in the middle of a translated block', () => {
    const machine = new PcMachine({ memoryMiB: 16 });
    const g = guest(
      `
      rdtsc
      mov esi, eax
      nop
      nop
      nop
      rdtsc
      sub eax, esi
      cli
      hlt`,
      { machine },
    );
    machine.run(100_000);
    assert.equal(g.eax, 5);
  });

  void it('RDTSC after WRMSR to the TSC: values above 2^32 and a 64-bit wrap-around', () => {
    const machine = new PcMachine({ memoryMiB: 16 });
    const g = guest(
      `
      mov ecx, 0x10
      mov eax, 0x23456789
      mov edx, 1
      wrmsr
      rdtsc
      mov esi, eax
      mov edi, edx
      mov eax, -16
      mov edx, -1
      wrmsr
      times 16 nop
      rdtsc
      cli
      hlt`,
      { machine },
    );
    machine.run(100_000);
    assert.equal(g.edi, 1);
    assert.equal(g.esi, 0x23456789 + 1, 'the next instruction reads the value written plus one instruction');
    assert.equal(g.edx, 0, 'wrapped past 2^64');
    assert.equal(g.eax, 1, '17 instructions after writing 2^64 - 16');
  });

  void it('RDTSC at CPL 3 with CR4.TSD is #GP(0)', () => {
    const g = guest(`
      mov eax, cr4
      or eax, 1 << 2
      mov cr4, eax
      ENTER_RING3 user
      user:
      fault: rdtsc
      jmp $`);
    const t = g.runToTrap(1000);
    assert.deepEqual([t.vector, t.errorCode, t.eip], [13, 0, g.sym('fault')]);
  });

  void it('RDMSR/WRMSR: SYSENTER MSRs read back; an unknown MSR is #GP(0)', () => {
    const g = guest(`
      mov ecx, 0x175
      mov eax, 0x12345678
      xor edx, edx
      wrmsr
      xor eax, eax
      rdmsr
      mov ebx, eax
      mov ecx, 0x10      ; TSC
      rdmsr
      mov ecx, 0x12345
      fault: rdmsr
      hlt`);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode, t.eip], [13, 0, g.sym('fault')]);
    assert.equal(g.ebx, 0x12345678);
    const w = guest(`mov ecx, 0x4b564d00\nxor eax, eax\nxor edx, edx\nfault: wrmsr\nhlt`);
    const tw = w.runToTrap();
    assert.deepEqual([tw.vector, tw.errorCode, tw.eip], [13, 0, w.sym('fault')]);
  });

  void it('CMPXCHG8B: equal stores ECX:EBX and sets ZF; unequal loads EDX:EAX and clears ZF', () => {
    const g = guest(`
      mov dword [SCRATCH], 0x11111111
      mov dword [SCRATCH + 4], 0x22222222
      mov eax, 0x11111111
      mov edx, 0x22222222
      mov ebx, 0x33333333
      mov ecx, 0x44444444
      lock cmpxchg8b [SCRATCH]
      setz [SCRATCH + 16]
      mov eax, 0
      mov edx, 0
      cmpxchg8b [SCRATCH]
      setz [SCRATCH + 17]
      hlt`);
    g.runToHlt();
    assert.equal(g.r32(0x30000), 0x33333333);
    assert.equal(g.r32(0x30004), 0x44444444);
    assert.equal(g.r8(0x30010), 1);
    assert.equal(g.r8(0x30011), 0);
    assert.equal(g.eax, 0x33333333);
    assert.equal(g.edx, 0x44444444);
  });

  void it('CMPXCHG8B with a register operand is #UD', () => {
    const g = guest(`fault: db 0x0f, 0xc7, 0xc8\nhlt`);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.eip], [6, g.sym('fault')]);
  });

  void it('SYSENTER enters ring 0 from the MSRs and SYSEXIT returns to ring 3', () => {
    const g = guest(`
      mov ecx, 0x174
      mov eax, KCODE
      xor edx, edx
      wrmsr
      mov ecx, 0x175
      mov eax, 0x9800
      wrmsr
      mov ecx, 0x176
      mov eax, kernel
      wrmsr
      mov ax, UDATA
      mov ds, ax
      mov es, ax
      ENTER_RING3 user
      user:
      mov ecx, esp
      mov edx, back
      sysenter
      back:
      mov ebp, cs
      mov esi, ss
      mov edi, esp
      int3
      kernel:
      mov ebx, cs
      mov eax, esp
      sysexit`);
    g.gate(3, 0x6000 + 3 * 16, { dpl: 3 });
    const t = g.runToTrap(1000);
    assert.equal(t.vector, 3);
    assert.equal(g.ebx, KCODE);
    assert.equal(g.eax, 0x9800);
    assert.equal(g.ebp, UCODE);
    assert.equal(g.esi, UDATA);
    assert.equal(g.edi, 0xb000);
  });

  void it('SYSENTER with SYSENTER_CS = 0 is #GP(0); SYSEXIT at CPL 3 is #GP(0)', () => {
    const g = guest(`fault: sysenter\nhlt`);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode, t.eip], [13, 0, g.sym('fault')]);
    const u = guest(`
      mov ecx, 0x174
      mov eax, KCODE
      xor edx, edx
      wrmsr
      ENTER_RING3 user
      user:
      fault: sysexit
      jmp $`);
    const tu = u.runToTrap(1000);
    assert.deepEqual([tu.vector, tu.errorCode, tu.eip], [13, 0, u.sym('fault')]);
    void KCODE;
  });
});
