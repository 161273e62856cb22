import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ESP0, KCODE, KDATA, UCODE, UDATA, guest } from '../support/cpu-harness';

const SEL_A = 0x40;
const SEL_B = 0x48;

/** Enters ring 3 at `label` with IRET (EFLAGS given), user stack at USTACK. */
function toRing3(label: string, eflags = 0x2): string {
  return `
      mov ax, UDATA
      mov ds, ax
      mov es, ax
      ENTER_RING3 ${label}, ${eflags}`;
}

void describe('protected mode: segment register loads', () => {
  const cases: {
    name: string;
    setup: (g: ReturnType<typeof guest>) => void;
    code: string;
    vector: number;
    error: number;
  }[] = [
    {
      name: 'not-present data segment → #NP(selector)',
      setup: (g) => g.descriptor(SEL_A, 0, 0xfffff, 0x13, 0xc),
      code: `mov ax, ${SEL_A}\nfault: mov ds, ax`,
      vector: 11,
      error: SEL_A,
    },
    {
      name: 'selector beyond the GDT limit → #GP(selector)',
      setup: () => undefined,
      code: `mov ax, 0x1f8 + 8\nfault: mov es, ax`,
      vector: 13,
      error: 0x200,
    },
    {
      name: 'system descriptor into DS → #GP(selector)',
      setup: () => undefined,
      code: `mov ax, TSS_SEL\nfault: mov ds, ax`,
      vector: 13,
      error: 0x28,
    },
    {
      name: 'execute-only code into DS → #GP(selector)',
      setup: (g) => g.descriptor(SEL_A, 0, 0xfffff, 0x98, 0xc),
      code: `mov ax, ${SEL_A}\nfault: mov fs, ax`,
      vector: 13,
      error: SEL_A,
    },
    {
      name: 'read-only data into SS → #GP(selector)',
      setup: (g) => g.descriptor(SEL_A, 0, 0xfffff, 0x91, 0xc),
      code: `mov ax, ${SEL_A}\nfault: mov ss, ax`,
      vector: 13,
      error: SEL_A,
    },
    {
      name: 'DPL 3 data into SS at CPL 0 → #GP(selector)',
      setup: () => undefined,
      code: `mov ax, UDATA & ~3\nfault: mov ss, ax`,
      vector: 13,
      error: 0x20,
    },
    {
      name: 'not-present stack segment → #SS(selector)',
      setup: (g) => g.descriptor(SEL_A, 0, 0xfffff, 0x13, 0xc),
      code: `mov ax, ${SEL_A}\nfault: mov ss, ax`,
      vector: 12,
      error: SEL_A,
    },
    {
      name: 'null selector into SS → #GP(0)',
      setup: () => undefined,
      code: `xor eax, eax\nfault: mov ss, ax`,
      vector: 13,
      error: 0,
    },
    {
      name: 'access through a null DS → #GP(0)',
      setup: () => undefined,
      code: `xor eax, eax\nmov ds, ax\nfault: mov ebx, [0x100]`,
      vector: 13,
      error: 0,
    },
    {
      name: 'POP DS with a bad selector → #GP(selector), ESP unchanged',
      setup: () => undefined,
      code: `push dword 0x1003\nfault: pop ds`,
      vector: 13,
      error: 0x1000,
    },
    {
      name: 'LDS with a not-present selector → #NP(selector)',
      setup: (g) => g.descriptor(SEL_A, 0, 0xfffff, 0x13, 0xc),
      code: `mov dword [SCRATCH], 0x1234\nmov word [SCRATCH+4], ${SEL_A}\nfault: lds eax, [SCRATCH]`,
      vector: 11,
      error: SEL_A,
    },
  ];
  for (const c of cases) {
    void it(c.name, () => {
      const g = guest(`mov ecx, 0x11\n${c.code}\nhlt`);
      c.setup(g);
      const t = g.runToTrap();
      assert.equal(t.vector, c.vector);
      assert.equal(t.errorCode, c.error);
      assert.equal(t.eip, g.sym('fault'));
      assert.equal(g.cpu.seg[3].selector === KDATA || c.name.includes('null DS'), true, 'DS unchanged');
    });
  }

  void it('keeps ESP at the faulting POP', () => {
    const g = guest(`push dword 0x1003\nfault: pop ds\nhlt`);
    const t = g.runToTrap();
    assert.equal(t.eip, g.sym('fault'));
    // Stub frame: vector, error, eip, cs, eflags (20 bytes) pushed below the faulting instruction's ESP.
    assert.equal(g.esp + 20, 0x9000 - 4);
  });
});

void describe('protected mode: limits and non-flat segments', () => {
  void it('checks expand-up limits for DS and SS (#GP(0) / #SS(0))', () => {
    const g = guest(`
      mov ax, ${SEL_A}
      mov ds, ax
      mov eax, [0xffc]
      fault: mov eax, [0xffd]
      hlt`);
    g.descriptor(SEL_A, 0x30000, 0xfff, 0x93, 0x4);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode, t.eip], [13, 0, g.sym('fault')]);

    const s = guest(`
      mov ax, ${SEL_A}
      mov ss, ax
      mov esp, 0x800
      mov ebp, 0xffc
      mov eax, [ebp]
      inc ebp
      fault: mov eax, [ebp]             ; SS is the default segment for EBP
      hlt`);
    s.descriptor(SEL_A, 0x30000, 0xfff, 0x93, 0x4);
    const ts = s.runToTrap();
    assert.deepEqual([ts.vector, ts.errorCode, ts.eip], [12, 0, s.sym('fault')]);
  });

  void it('checks expand-down limits', () => {
    const g = guest(`
      mov ax, ${SEL_A}
      mov es, ax
      mov dword [es:0x1000], 0x11223344   ; lowest valid offset is limit + 1
      mov dword [es:0xfffffffc], 0x55667788
      fault: mov [es:0xfff], al
      hlt`);
    g.descriptor(SEL_A, 0x300000, 0xfff, 0x97, 0x4); // expand-down, B=1, byte granular
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode, t.eip], [13, 0, g.sym('fault')]);
    assert.equal(g.r32(0x301000), 0x11223344);
    assert.equal(g.r32(0x300000 - 4), 0x55667788);
  });

  void it('writes to a read-only segment and to a code segment → #GP(0)', () => {
    const g = guest(`
      mov ax, ${SEL_A}
      mov ds, ax
      mov eax, [0x10]
      fault: mov [0x10], eax
      hlt`);
    g.descriptor(SEL_A, 0, 0xfffff, 0x91, 0xc);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode, t.eip], [13, 0, g.sym('fault')]);
    const c = guest(`fault: mov [cs:0x30000], eax\nhlt`);
    const tc = c.runToTrap();
    assert.deepEqual([tc.vector, tc.errorCode, tc.eip], [13, 0, c.sym('fault')]);
  });

  void it('adds non-zero segment bases for data, stack and string accesses', () => {
    const g = guest(`
      mov ax, ${SEL_A}
      mov ds, ax
      mov ax, ${SEL_B}
      mov es, ax
      mov ss, ax
      mov esp, 0x1000
      mov dword [0x10], 0xcafebabe      ; DS base 0x30000
      mov ebx, 0x10
      mov ecx, [ebx]
      add dword [ebx], 1
      push dword 0x99                   ; SS base 0x38000
      mov esi, 0x10
      mov edi, 0x20
      movsd                             ; DS:0x10 -> ES:0x20
      mov esi, 0x10
      mov edi, 0x40
      mov ecx, 3
      rep movsd
      lea edx, [ebx+4]
      pop ebp
      hlt`);
    g.descriptor(SEL_A, 0x30000, 0xfffff, 0x93, 0xc);
    g.descriptor(SEL_B, 0x38000, 0xfffff, 0x93, 0xc);
    g.runToHlt();
    assert.equal(g.r32(0x30010), 0xcafebabf);
    assert.equal(g.r32(0x38ffc), 0x99);
    assert.equal(g.r32(0x38020), 0xcafebabf);
    assert.equal(g.r32(0x38040), 0xcafebabf);
    assert.equal(g.edx, 0x14, 'LEA ignores the segment base');
    assert.equal(g.ebp, 0x99);
    assert.equal(g.esp, 0x1000);
  });

  void it('runs code in a segment with a non-zero base (relative jumps, CALL/RET, far return)', () => {
    // The code segment's base is CODE: labels are assembled at org 0, so subtract nothing.
    const g = guest(
      `
      start:
      call fn
      jmp .next
      .next:
      mov ebx, [ss:esp-4]
      call 0x08:flatfn + 0x10000        ; far call into the flat code segment
      hlt
      fn:
      mov eax, .here
      .here:
      ret
      flatfn:
      mov ecx, cs
      retf`,
      { org: 0, loadAt: 0x10000 },
    );
    g.descriptor(SEL_A, 0x10000, 0xffff, 0x9b, 0x4);
    g.cpu.seg[1].set(SEL_A, 0x10000, 0xffff, 0x409b);
    g.cpu.segmentChanged();
    g.cpu.eip = 0;
    g.runToHlt();
    assert.equal(g.eax, g.sym('fn.here'));
    assert.equal(g.ecx, KCODE);
    assert.equal(g.cpu.seg[1].selector, SEL_A);
    assert.equal(g.ebx, 5, 'return address pushed as an offset in CS');
  });

  void it('faults with #GP(0) when EIP leaves the CS limit', () => {
    const g = guest(`nop\nnop\nfault: jmp 0x2000\nhlt`, { org: 0, loadAt: 0x10000 });
    g.cpu.seg[1].set(SEL_A, 0x10000, 0xfff, 0x409b);
    g.cpu.segmentChanged();
    g.cpu.eip = 0;
    const t = g.runToTrap();
    // JMP to an EIP beyond the limit faults on the jump itself (SDM: #GP(0) if the target is outside CS).
    assert.deepEqual([t.vector, t.errorCode, t.eip], [13, 0, g.sym('fault')]);
    // Running off the end of the segment faults on the fetch of the first instruction beyond the limit.
    const f = guest(`times 0x100 nop\nend: hlt`, { org: 0xf00, loadAt: 0x10f00 });
    f.cpu.seg[1].set(SEL_A, 0x10000, 0xfff, 0x409b);
    f.cpu.segmentChanged();
    const tf = f.runToTrap();
    assert.deepEqual([tf.vector, tf.errorCode, tf.eip], [13, 0, 0x1000]);
  });
});

void describe('protected mode: privilege levels', () => {
  void it('goes to ring 3 with IRET and back to ring 0 through an INT gate and the TSS stack', () => {
    const g = guest(`
      ${toRing3('user')}
      user:
      mov eax, 0x1234
      int 0x80
      after:
      mov ebx, cs
      mov ecx, ss
      mov edx, esp
      int 0x81
      handler:                  ; ring 0: look at the frame, then return
      mov esi, [esp+4]          ; CS
      mov edi, [esp+16]         ; SS
      mov ebp, esp
      iret`);
    g.gate(0x80, g.sym('handler'), { dpl: 3 });
    g.gate(0x81, 0x6000 + 0x81 * 16, { dpl: 3 });
    const t = g.runToTrap();
    assert.equal(t.vector, 0x81);
    assert.equal(g.esi, UCODE);
    assert.equal(g.edi, UDATA);
    assert.equal(g.ebp, ESP0 - 20, 'handler stack from TSS.ESP0');
    assert.equal(g.ebx, UCODE);
    assert.equal(g.ecx, UDATA);
    assert.equal(g.edx, 0xb000);
    assert.equal(t.cs, UCODE);
    assert.equal(t.ss, UDATA);
    assert.equal(t.esp, 0xb000);
    assert.equal(g.cpu.cpl, 0);
  });

  void it('INT n to a DPL 0 gate from ring 3 → #GP(vector * 8 + 2)', () => {
    const g = guest(`
      ${toRing3('user')}
      user:
      fault: int 0x40
      hlt`);
    const t = g.runToTrap();
    assert.equal(t.vector, 13);
    assert.equal(t.errorCode, 0x40 * 8 + 2);
    assert.equal(t.eip, g.sym('fault'));
    assert.equal(t.cs, UCODE);
  });

  void it('calls ring 0 through a call gate with parameter copy and returns with RETF n', () => {
    const GATE = 0x50;
    const g = guest(`
      ${toRing3('user')}
      user:
      push dword 0x11
      push dword 0x22
      call ${GATE | 3}:0
      back:
      mov edi, esp
      mov esi, cs
      hlt_user: jmp hlt_user
      kernel:
      mov eax, [esp+8]         ; parameter 2 (pushed first)
      mov ebx, [esp+12]        ; parameter 1... see layout below
      mov ecx, cs
      mov edx, esp
      mov ebp, [esp+4]         ; caller CS
      retf 8`);
    // Call gate: type 0xC, DPL 3, 2 dword parameters, target KCODE:kernel.
    const kernel = g.sym('kernel');
    g.w32(0x1000 + GATE, (KCODE << 16) | (kernel & 0xffff));
    g.w32(0x1000 + GATE + 4, (kernel & 0xffff0000) | 0x8000 | (3 << 13) | (0xc << 8) | 2);
    g.cpu.run(200);
    // New stack: EIP, CS, param(0x22), param(0x11)... the SDM copies parameters in order: ESP+8 = last pushed.
    assert.equal(g.ecx, KCODE);
    assert.equal(g.edx, ESP0 - 24);
    assert.equal(g.ebp, UCODE);
    assert.equal(g.eax, 0x22);
    assert.equal(g.ebx, 0x11);
    assert.equal(g.esi, UCODE);
    assert.equal(g.edi, 0xb000, 'RETF 8 released the parameters on the user stack');
    assert.equal(g.cpu.cpl, 3);
  });

  const privileged: [string, string][] = [
    ['HLT', 'hlt'],
    ['CLI with IOPL 0', 'cli'],
    ['STI with IOPL 0', 'sti'],
    ['MOV CR0', 'mov eax, cr0'],
    ['MOV to CR3', 'mov cr3, eax'],
    ['MOV DR7', 'mov eax, dr7'],
    ['LGDT', 'lgdt [0x30000]'],
    ['LIDT', 'lidt [0x30000]'],
    ['LLDT', 'lldt ax'],
    ['LTR', 'ltr ax'],
    ['LMSW', 'lmsw ax'],
    ['CLTS', 'clts'],
    ['INVLPG', 'invlpg [0x30000]'],
    ['WBINVD', 'wbinvd'],
    ['INVD', 'invd'],
    ['RDMSR', 'rdmsr'],
    ['WRMSR', 'wrmsr'],
    ['IN with IOPL 0 and the port denied', 'in al, 0x71'],
    ['OUT DX with IOPL 0 and the port denied', 'mov dx, 0x71\nfault2: out dx, al'],
    ['INSB with the port denied', 'mov dx, 0x71\nmov edi, 0x30000\nfault2: insb'],
    ['POPF does not fault but MOV to SS with DPL 0 does', 'mov ax, KDATA\nfault2: mov ss, ax'],
  ];
  for (const [name, insn] of privileged) {
    void it(`${name} at CPL 3 → #GP`, () => {
      const g = guest(`
        ${toRing3('user')}
        user:
        ${insn.includes('fault2') ? insn : `fault: ${insn}`}
        jmp $`);
      g.w32(0x3068 + (0x71 >> 3), 1 << (0x71 & 7)); // deny port 0x71 in the I/O bitmap
      const t = g.runToTrap(1000);
      assert.equal(t.vector, 13);
      const expectedError = name.startsWith('POPF') ? KDATA : 0;
      assert.equal(t.errorCode, expectedError);
      assert.equal(t.eip, g.sym(insn.includes('fault2') ? 'fault2' : 'fault'));
      assert.equal(t.cs, UCODE);
    });
  }

  void it('allows I/O at CPL 3 through the TSS bitmap, and everything with IOPL 3', () => {
    const seen: string[] = [];
    const g = guest(`
      ${toRing3('user')}
      user:
      mov al, 0x5a
      out 0x70, al             ; bitmap bit clear: allowed
      in al, 0x70
      mov dx, 0x70
      out dx, ax               ; 16-bit access covers 0x70 and 0x71: 0x71 denied
      jmp $`);
    g.ports.register(
      0x70,
      2,
      {
        read: (o, s) => {
          seen.push(`r${o}/${s}`);
          return 0xa5;
        },
        write: (o, s, v) => {
          seen.push(`w${o}/${s}=${v}`);
        },
      },
      { device: 'test', valid: { min: 1, max: 2 }, impl: { min: 1, max: 2 } },
    );
    g.w32(0x3068 + (0x71 >> 3), 1 << (0x71 & 7));
    const t = g.runToTrap(1000);
    assert.equal(t.vector, 13);
    assert.equal(t.errorCode, 0);
    assert.deepEqual(seen, ['w0/1=90', 'r0/1']);
    assert.equal(g.eax & 0xff, 0xa5);

    const h = guest(`
      ${toRing3('user', 0x3002)}
      user:
      mov al, 0x5a
      mov dx, 0x70
      out dx, ax
      cli
      sti
      int3`);
    h.w32(0x3068 + (0x71 >> 3), 1 << (0x71 & 7));
    h.gate(3, 0x6000 + 3 * 16, { dpl: 3 });
    const th = h.runToTrap(1000);
    assert.equal(th.vector, 3, 'IOPL 3 allows I/O, CLI and STI at CPL 3');
  });

  void it('a TSS whose I/O bitmap offset is beyond its limit denies all ports', () => {
    const g = guest(`
      ${toRing3('user')}
      user:
      fault: in al, 0x80
      jmp $`);
    g.w32(0x3064, 0x3000 << 16);
    const t = g.runToTrap(1000);
    assert.deepEqual([t.vector, t.errorCode, t.eip], [13, 0, g.sym('fault')]);
  });

  void it('IRET to ring 3 nulls data segment registers with DPL < CPL', () => {
    const g = guest(`
      mov ax, KDATA
      mov fs, ax
      mov ax, UDATA
      mov gs, ax
      ${toRing3('user')}
      user:
      mov eax, fs
      mov ebx, gs
      int 0x80`);
    g.gate(0x80, 0x6000 + 0x80 * 16, { dpl: 3 });
    g.runToTrap(1000);
    assert.equal(g.eax & 0xffff, 0);
    assert.equal(g.ebx & 0xffff, UDATA);
  });

  void it('far JMP to a ring 3 code segment from ring 0 → #GP(selector)', () => {
    const g = guest(`fault: jmp UCODE:0x10000\nhlt`);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode, t.eip], [13, UCODE & ~3, g.sym('fault')]);
  });

  void it('far CALL to a not-present code segment → #NP(selector)', () => {
    const g = guest(`fault: call ${SEL_A}:0\nhlt`);
    g.descriptor(SEL_A, 0, 0xfffff, 0x1b, 0xc);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode, t.eip], [11, SEL_A, g.sym('fault')]);
  });

  void it('loads a 16-bit code segment with a far jump and runs 16-bit code', () => {
    const g = guest(`
      jmp ${SEL_B}:code16 - 0x10000
      bits 16
      code16:
      mov ax, 0x1234
      mov bx, sp
      push ax
      mov cx, sp
      jmp dword KCODE:back
      bits 32
      back:
      hlt`);
    g.descriptor(SEL_B, 0x10000, 0xffff, 0x9b, 0);
    g.runToHlt();
    assert.equal(g.eax & 0xffff, 0x1234);
    assert.equal(g.ecx, g.ebx - 2, 'a 16-bit PUSH on the 32-bit stack moves ESP by 2');
    assert.equal(g.esp, 0x9000 - 2);
  });
});

void describe('protected mode: alignment check', () => {
  void it('#AC(0) on a misaligned access at CPL 3 with CR0.AM and EFLAGS.AC; aligned accesses and CPL 0 are fine', () => {
    const g = guest(`
      mov eax, cr0
      or eax, 1 << 18         ; CR0.AM
      mov eax, eax
      mov cr0, eax
      mov ebx, [data + 1]     ; CPL 0: no alignment checking
      ${toRing3('user', 0x40002)}
      user:
      mov ecx, [data]         ; aligned: fine
      fault: mov edx, [data + 1]
      hlt
      align 4
      data: dd 0x11223344, 0x55667788`);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode, t.eip], [17, 0, g.sym('fault')]);
    assert.equal(g.ecx >>> 0, 0x11223344);
    assert.equal(g.ebx >>> 0, 0x88112233);
  });

  void it('no #AC when EFLAGS.AC is clear', () => {
    const g = guest(`
      mov eax, cr0
      or eax, 1 << 18
      mov cr0, eax
      ${toRing3('user', 0x2)}
      user:
      mov edx, [data + 1]
      hlt
      align 4
      data: dd 0x11223344, 0x55667788`);
    const t = g.runToTrap();
    // HLT at CPL 3 is #GP(0): the misaligned load before it completed.
    assert.equal(t.vector, 13);
    assert.equal(g.edx >>> 0, 0x88112233);
  });
});
