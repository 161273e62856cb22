import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { guest } from '../support/cpu-harness';

void describe('real mode', () => {
  void it('forms linear addresses as segment * 16 + offset, with overrides', () => {
    const g = guest(
      `
      mov ax, 0x2000
      mov ds, ax
      mov ax, 0x3000
      mov es, ax
      mov byte [0x10], 0x55
      mov byte [es:0x10], 0x66
      mov ax, 0x2001
      mov fs, ax
      mov bl, [fs:0x0000]     ; 0x20010: the byte written through DS
      hlt`,
      { mode: 'real' },
    );
    g.runToHlt();
    assert.equal(g.r8(0x20010), 0x55);
    assert.equal(g.r8(0x30010), 0x66);
    assert.equal(g.ebx & 0xff, 0x55);
  });

  void it('decodes all eight 16-bit ModRM bases, BP-based ones through SS', () => {
    const g = guest(
      `
      mov ax, 0x2000
      mov ds, ax
      mov ax, 0x4000
      mov ss, ax
      mov sp, 0xf000
      mov bx, 0x100
      mov bp, 0x200
      mov si, 0x10
      mov di, 0x20
      mov byte [bx+si], 1        ; DS:0x110
      mov byte [bx+di], 2        ; DS:0x120
      mov byte [bp+si], 3        ; SS:0x210
      mov byte [bp+di], 4        ; SS:0x220
      mov byte [si], 5           ; DS:0x10
      mov byte [di], 6           ; DS:0x20
      mov byte [bp+5], 7         ; SS:0x205 (mod 01 r/m 110)
      mov byte [bx], 8           ; DS:0x100
      mov byte [0x300], 9        ; DS:0x300 (mod 00 r/m 110 = disp16)
      mov byte [bx+si+0x1234], 10 ; disp16
      mov byte [ds:bp+0x40], 11   ; override on a BP base
      hlt`,
      { mode: 'real' },
    );
    g.runToHlt();
    const ds = 0x20000;
    const ss = 0x40000;
    assert.equal(g.r8(ds + 0x110), 1);
    assert.equal(g.r8(ds + 0x120), 2);
    assert.equal(g.r8(ss + 0x210), 3);
    assert.equal(g.r8(ss + 0x220), 4);
    assert.equal(g.r8(ds + 0x10), 5);
    assert.equal(g.r8(ds + 0x20), 6);
    assert.equal(g.r8(ss + 0x205), 7);
    assert.equal(g.r8(ds + 0x100), 8);
    assert.equal(g.r8(ds + 0x300), 9);
    assert.equal(g.r8(ds + 0x1344), 10);
    assert.equal(g.r8(ds + 0x240), 11);
  });

  void it('wraps effective addresses at 64 KiB', () => {
    const g = guest(
      `
      mov ax, 0x2000
      mov ds, ax
      mov bx, 0xfff0
      mov si, 0x0020
      mov byte [bx+si], 0xaa     ; 0xfff0 + 0x20 = 0x10010 -> 0x0010
      mov di, 0xffff
      mov byte [di+2], 0xbb      ; -> 0x0001
      lea cx, [bx+si+0x100]
      hlt`,
      { mode: 'real' },
    );
    g.runToHlt();
    assert.equal(g.r8(0x20010), 0xaa);
    assert.equal(g.r8(0x30010), 0);
    assert.equal(g.r8(0x20001), 0xbb);
    assert.equal(g.ecx & 0xffff, 0x0110);
  });

  void it('raises #GP for a word access at offset 0xFFFF and #SS for one through SS', () => {
    const g = guest(
      `
      mov bx, 0xffff
      fault: mov ax, [bx]
      hlt`,
      { mode: 'real' },
    );
    const t = g.runToTrap();
    assert.equal(t.vector, 13);
    assert.equal(t.eip, g.sym('fault'));
    const s = guest(
      `
      mov bp, 0xffff
      fault: mov ax, [bp]
      hlt`,
      { mode: 'real' },
    );
    assert.equal(s.runToTrap().vector, 12);
  });

  void it('delivers INT n through the IVT and returns with IRET', () => {
    const g = guest(
      `
      mov word [0x40*4], handler
      mov word [0x40*4+2], 0
      sti
      stc
      int 0x40
      after: pushf
      pop dx
      hlt
      handler:
      pushf
      pop cx                  ; flags inside the handler: IF and TF clear
      mov bp, sp
      mov ax, [bp]            ; return IP
      mov bx, [bp+2]          ; return CS
      iret`,
      { mode: 'real', realCs: 0 },
    );
    g.runToHlt();
    assert.equal(g.eax & 0xffff, g.sym('after'));
    assert.equal(g.ebx & 0xffff, 0);
    assert.equal(g.ecx & 0x200, 0, 'IF clear in the handler');
    assert.equal(g.edx & 0x201, 0x201, 'IF and CF restored by IRET');
    assert.equal(g.esp & 0xffff, 0x8000);
  });

  void it('delivers #DE through the IVT with the faulting IP, and #UD for an invalid opcode', () => {
    const g = guest(
      `
      xor cx, cx
      mov ax, 5
      fault: div cl
      hlt`,
      { mode: 'real' },
    );
    const t = g.runToTrap();
    assert.equal(t.vector, 0);
    assert.equal(t.eip, g.sym('fault'));
    const u = guest('fault: ud2\nhlt', { mode: 'real' });
    const tu = u.runToTrap();
    assert.equal(tu.vector, 6);
    assert.equal(tu.eip, u.sym('fault'));
  });

  void it('performs far JMP, far CALL and RETF between segments', () => {
    // The program sits at physical 0x1000; segment 0x0100 with offset (x - 0x1000) reaches the same bytes.
    const g = guest(
      `
      jmp 0x0100:(in_seg - 0x1000)
      in_seg:
      mov ax, cs
      mov [0x2000], ax
      call 0x0000:far_fn            ; direct far call: pushes CS=0x100 and IP
      mov [0x2002], bx
      mov word [0x2010], far_fn2 - 0x1000
      mov word [0x2012], 0x0100
      call far [0x2010]             ; indirect far call through memory
      mov [0x2004], cx
      jmp far [jump_ptr]
      jump_ptr: dw done, 0
      far_fn:
      mov bx, cs                    ; 0
      mov bp, sp
      mov si, [bp+2]                ; pushed CS
      retf
      far_fn2:
      mov cx, cs                    ; 0x100
      retf
      done:
      mov dx, cs
      hlt`,
      { mode: 'real' },
    );
    g.runToHlt();
    assert.equal(g.r16(0x2000), 0x100);
    assert.equal(g.r16(0x2002), 0);
    assert.equal(g.esi & 0xffff, 0x100);
    assert.equal(g.r16(0x2004), 0x100);
    assert.equal(g.edx & 0xffff, 0);
    assert.equal(g.cpu.seg[1].base, 0);
    assert.equal(g.esp & 0xffff, 0x8000);
  });

  void it('RETF imm16 releases parameters', () => {
    const g = guest(
      `
      push 1
      push 2
      call 0:fn
      hlt
      fn: retf 4`,
      { mode: 'real' },
    );
    g.runToHlt();
    assert.equal(g.esp & 0xffff, 0x8000);
  });

  void it('PUSHA/POPA save and restore the eight 16-bit registers', () => {
    const g = guest(
      `
      mov ax, 0x1111
      mov cx, 0x2222
      mov dx, 0x3333
      mov bx, 0x4444
      mov bp, 0x5555
      mov si, 0x6666
      mov di, 0x7777
      pusha
      mov ax, 0
      mov cx, 0
      mov dx, 0
      mov bx, 0
      mov bp, 0
      mov si, 0
      mov di, 0
      popa
      hlt`,
      { mode: 'real' },
    );
    g.runToHlt();
    // PUSHA order: AX CX DX BX SP(original) BP SI DI, DI at the lowest address.
    const expected = [0x7777, 0x6666, 0x5555, 0x8000, 0x4444, 0x3333, 0x2222, 0x1111];
    expected.forEach((v, i) => assert.equal(g.r16(0x8000 - 16 + i * 2), v, `slot ${i}`));
    assert.deepEqual(
      [g.eax, g.ecx, g.edx, g.ebx, g.esp, g.ebp, g.esi, g.edi].map((v) => v & 0xffff),
      [0x1111, 0x2222, 0x3333, 0x4444, 0x8000, 0x5555, 0x6666, 0x7777],
    );
  });

  void it('runs string instructions with 16-bit SI/DI/CX that wrap at 64 KiB', () => {
    const g = guest(
      `
      mov ax, 0x2000
      mov ds, ax
      mov ax, 0x3000
      mov es, ax
      mov dword [0xfffe - 0xfffe], 0    ; clear
      mov byte [0xfffe], 0xa1
      mov byte [0xffff], 0xa2
      mov byte [0x0000], 0xa3
      mov byte [0x0001], 0xa4
      mov si, 0xfffe
      mov di, 0xfffe
      mov cx, 4
      cld
      rep movsb
      mov [es:0x100], si
      mov [es:0x102], di
      mov [es:0x104], cx
      ; backwards word store
      std
      mov di, 0x0202
      mov ax, 0xbeef
      mov cx, 2
      rep stosw
      cld
      mov [es:0x106], di
      hlt`,
      { mode: 'real' },
    );
    g.runToHlt();
    assert.deepEqual([...g.phys.debugRead(0x3fffe, 2)], [0xa1, 0xa2]);
    assert.deepEqual([...g.phys.debugRead(0x30000, 2)], [0xa3, 0xa4]);
    assert.equal(g.r8(0x40000), 0, 'DI wrapped instead of crossing into the next 64 KiB');
    assert.equal(g.r16(0x30100), 2);
    assert.equal(g.r16(0x30102), 2);
    assert.equal(g.r16(0x30104), 0);
    assert.equal(g.r16(0x30200), 0xbeef);
    assert.equal(g.r16(0x30202), 0xbeef);
    assert.equal(g.r16(0x30106), 0x01fe);
  });

  void it('address-size prefix 0x67 uses 32-bit addressing in real mode', () => {
    const g = guest(
      `
      mov ax, 0x2000
      mov ds, ax
      mov ebx, 0x100
      mov esi, 0x10
      a32 mov byte [ebx+esi*2], 0x77     ; DS:0x120
      mov ecx, 3
      a32 lea dx, [ecx*8+ebx]
      hlt`,
      { mode: 'real' },
    );
    g.runToHlt();
    assert.equal(g.r8(0x20120), 0x77);
    assert.equal(g.edx & 0xffff, 0x118);
  });

  void it('switches to protected mode (LGDT, CR0.PE, far jump) and back to real mode', () => {
    const g = guest(
      `
      cli
      lgdt [gdt_ptr]
      mov eax, cr0
      or al, 1
      mov cr0, eax
      jmp 0x08:pm32
      bits 32
      pm32:
      mov ax, 0x10
      mov ds, ax
      mov es, ax
      mov ss, ax
      mov esp, 0x9000
      mov dword [0x200000], 0x12345678   ; above 1 MiB
      mov eax, [0x200000]
      mov [0x2100], eax
      jmp 0x18:pm16                        ; 16-bit protected-mode code
      bits 16
      pm16:
      mov ax, 0x20
      mov ds, ax
      mov ss, ax
      mov eax, cr0
      and al, 0xfe
      mov cr0, eax
      jmp 0x0000:rm
      rm:
      xor ax, ax
      mov ds, ax
      mov ss, ax
      mov sp, 0x7000
      mov ax, [0x2100]
      mov bx, cs
      push 0x1234
      pop cx
      hlt
      align 8
      gdt:
      dq 0
      dq 0x00cf9a000000ffff    ; 0x08 flat 32-bit code
      dq 0x00cf92000000ffff    ; 0x10 flat data
      dq 0x00009a000000ffff    ; 0x18 16-bit code, base 0, limit 0xffff
      dq 0x000092000000ffff    ; 0x20 16-bit data
      gdt_ptr: dw 5*8-1
      dd gdt`,
      { mode: 'real' },
    );
    g.runToHlt();
    assert.equal(g.r32(0x200000), 0x12345678);
    assert.equal(g.eax & 0xffff, 0x5678);
    assert.equal(g.ebx & 0xffff, 0);
    assert.equal(g.ecx & 0xffff, 0x1234);
    assert.equal(g.cpu.protectedMode, false);
    assert.equal(g.cpu.seg[1].base, 0);
    assert.equal(g.cpu.seg[2].base, 0);
  });
});
