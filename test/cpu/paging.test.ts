import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Guest } from '../support/cpu-harness';
import { PD, UCODE, UDATA, guest } from '../support/cpu-harness';

/** Maps the 4 KiB page at `virt` to `phys` with PTE flags `flags` (page tables for 4 MiB+ at 0x22000...). */
function map(g: Guest, virt: number, phys: number, flags = 7, pdeFlags = 7): number {
  const pdi = virt >>> 22;
  let pde = g.r32(PD + pdi * 4);
  if (!(pde & 1) || pdi === 0) {
    if (pdi !== 0) {
      pde = (0x22000 + pdi * 0x1000) | pdeFlags;
      g.w32(PD + pdi * 4, pde);
    }
  } else g.w32(PD + pdi * 4, (pde & ~0xfff) | pdeFlags);
  const pteAddress = (pde & ~0xfff) + ((virt >>> 12) & 0x3ff) * 4;
  g.w32(pteAddress, (phys & ~0xfff) | flags);
  return pteAddress;
}

const V = 0x400000; // first page of the second 4 MiB

const ring3 = (label: string): string => `
  mov ax, UDATA
  mov ds, ax
  mov es, ax
  ENTER_RING3 ${label}`;

void describe('paging', () => {
  void it('translates 4 KiB pages and sets accessed and dirty bits', () => {
    const g = guest(
      `
      mov eax, [${V}]
      mov [${V + 0x1000 + 8}], eax
      hlt`,
      { mode: 'paging' },
    );
    const pte1 = map(g, V, 0x50000);
    const pte2 = map(g, V + 0x1000, 0x60000);
    g.w32(0x50000, 0xdeadbeef);
    g.runToHlt();
    assert.equal(g.r32(0x60008), 0xdeadbeef);
    assert.equal(g.r32(pte1) & 0x60, 0x20, 'read: accessed, not dirty');
    assert.equal(g.r32(pte2) & 0x60, 0x60, 'write: accessed and dirty');
    assert.equal(g.r32(PD + 4) & 0x20, 0x20, 'PDE accessed');
  });

  void it('translates 4 MiB PSE pages and sets the dirty bit in the PDE', () => {
    const g = guest(
      `
      mov dword [0x800000 + 0x12344], 0x55aa55aa
      mov eax, [0x800000 + 0x12344]
      hlt`,
      { mode: 'paging', pse: true },
    );
    g.w32(PD + 2 * 4, 0x400000 | 0x87);
    g.runToHlt();
    assert.equal(g.r32(0x412344), 0x55aa55aa);
    assert.equal(g.eax, 0x55aa55aa);
    assert.equal(g.r32(PD + 8) & 0x60, 0x60);
  });

  void it('ignores the PS bit without CR4.PSE (the PDE points at a page table)', () => {
    const g = guest(`mov eax, [0x800000]\nhlt`, { mode: 'paging', pse: false });
    g.w32(PD + 2 * 4, 0x50000 | 0x87); // PS set, but treated as a page table at 0x50000
    g.w32(0x50000, 0x60000 | 7);
    g.w32(0x60000, 0x12345678);
    g.runToHlt();
    assert.equal(g.eax, 0x12345678);
  });

  const faults: {
    name: string;
    code: string;
    setup: (g: Guest) => void;
    error: number;
    cr2: number;
    user?: boolean;
    wp?: boolean;
  }[] = [
    {
      name: 'supervisor read, not present',
      code: `fault: mov eax, [${V + 0x10}]`,
      setup: () => undefined,
      error: 0,
      cr2: V + 0x10,
    },
    {
      name: 'supervisor write, not present',
      code: `fault: mov [${V + 0x20}], eax`,
      setup: () => undefined,
      error: 2,
      cr2: V + 0x20,
    },
    {
      name: 'supervisor write to a read-only page with CR0.WP',
      code: `fault: mov [${V + 4}], eax`,
      setup: (g) => map(g, V, 0x50000, 5),
      error: 3,
      cr2: V + 4,
      wp: true,
    },
    {
      name: 'user read of a supervisor page',
      code: `fault: mov eax, [${V + 8}]`,
      setup: (g) => map(g, V, 0x50000, 3),
      error: 5,
      cr2: V + 8,
      user: true,
    },
    {
      name: 'user write to a read-only user page',
      code: `fault: mov [${V + 8}], eax`,
      setup: (g) => map(g, V, 0x50000, 5),
      error: 7,
      cr2: V + 8,
      user: true,
    },
    {
      name: 'user read with U/S clear in the PDE only',
      code: `fault: mov eax, [${V}]`,
      setup: (g) => map(g, V, 0x50000, 7, 3),
      error: 5,
      cr2: V,
      user: true,
    },
    {
      name: 'user write, not present',
      code: `fault: mov [${V + 0xffc}], eax`,
      setup: () => undefined,
      error: 6,
      cr2: V + 0xffc,
      user: true,
    },
    {
      name: 'instruction fetch, not present',
      code: `fault: jmp ${V + 0x100}`,
      setup: () => undefined,
      error: 0,
      cr2: V + 0x100,
    },
  ];
  for (const f of faults) {
    void it(`#PF error code and CR2: ${f.name}`, () => {
      const g = guest(`${f.user ? ring3('user') : ''}\nuser:\nmov eax, 0x1234\n${f.code}\nhlt`, {
        mode: 'paging',
        wp: f.wp ?? false,
      });
      f.setup(g);
      const t = g.runToTrap();
      assert.equal(t.vector, 14);
      assert.equal(t.errorCode, f.error);
      assert.equal(g.cpu.cr2 >>> 0, f.cr2);
      if (f.name.startsWith('instruction fetch')) assert.equal(t.eip, f.cr2);
      else assert.equal(t.eip, g.sym('fault'));
      assert.equal(t.cs, f.user ? UCODE : 0x08);
      if (f.user) assert.equal(t.ss, UDATA);
    });
  }

  void it('lets supervisor writes through read-only pages without CR0.WP, and not after setting it', () => {
    const g = guest(
      `
      mov dword [${V}], 1         ; WP=0: allowed (and cached in the write TLB)
      mov eax, cr0
      or eax, 1 << 16
      mov cr0, eax
      fault: mov dword [${V}], 2
      hlt`,
      { mode: 'paging' },
    );
    map(g, V, 0x50000, 5);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode, t.eip], [14, 3, g.sym('fault')]);
    assert.equal(g.r32(0x50000), 1);
  });

  void it('INVLPG drops a stale translation', () => {
    const g = guest(
      `
      mov eax, [${V}]             ; fills the TLB with V -> 0x50000
      mov dword [pte], 0x60000 | 7
      invlpg [${V}]
      mov ebx, [${V}]
      hlt
      pte equ 0x23000`,
      { mode: 'paging' },
    );
    map(g, V, 0x50000);
    g.w32(0x50000, 0x1111);
    g.w32(0x60000, 0x2222);
    g.runToHlt();
    assert.equal(g.eax, 0x1111);
    assert.equal(g.ebx, 0x2222);
  });

  void it('a CR3 reload drops stale translations', () => {
    const g = guest(
      `
      mov eax, [${V}]
      mov dword [0x23000], 0x60000 | 7         ; remap V
      mov ecx, cr3
      mov cr3, ecx
      mov ebx, [${V}]
      hlt`,
      { mode: 'paging' },
    );
    map(g, V, 0x50000);
    g.w32(0x50000, 0x1111);
    g.w32(0x60000, 0x2222);
    g.runToHlt();
    assert.equal(g.eax, 0x1111);
    assert.equal(g.ebx, 0x2222);
  });

  void it('a write crossing into a not-present page faults with CR2 = the second page and writes nothing', () => {
    const g = guest(
      `
      mov dword [${V + 0xff8}], 0        ; warm the first page's write TLB
      mov eax, 0x44332211
      fault: mov [${V + 0xffe}], eax
      hlt`,
      { mode: 'paging' },
    );
    map(g, V, 0x50000);
    g.w32(0x50ffc, 0xaaaaaaaa);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode, t.eip], [14, 2, g.sym('fault')]);
    assert.equal(g.cpu.cr2 >>> 0, V + 0x1000);
    assert.equal(g.r32(0x50ffc), 0xaaaaaaaa, 'no byte of the first page was written');
  });

  void it('a read crossing into a not-present page faults with CR2 = the second page', () => {
    const g = guest(
      `
      mov ebx, 0x77
      fault: mov ebx, [${V + 0xffd}]
      hlt`,
      { mode: 'paging' },
    );
    map(g, V, 0x50000);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode, t.eip], [14, 0, g.sym('fault')]);
    assert.equal(g.cpu.cr2 >>> 0, V + 0x1000);
    assert.equal(g.ebx, 0x77);
  });

  void it('a page-crossing PUSH into a not-present page leaves ESP and memory alone', () => {
    const g = guest(
      `
      ${ring3('user')}
      user:
      mov esp, ${V + 0x1002}
      mov eax, 0x12345678
      fault: push eax
      hlt`,
      { mode: 'paging' },
    );
    map(g, V, 0x50000);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode, t.eip], [14, 6, g.sym('fault')]);
    assert.equal(g.cpu.cr2 >>> 0, V + 0x1000);
    assert.equal(t.esp, V + 0x1002);
    assert.equal(g.r16(0x50ffe), 0);
  });

  void it('rep movsd stops at the faulting element with ESI/EDI/ECX of that iteration', () => {
    const g = guest(
      `
      mov esi, 0x30000
      mov edi, ${V + 0xff8}
      mov ecx, 4
      cld
      fault: rep movsd
      hlt`,
      { mode: 'paging' },
    );
    map(g, V, 0x50000);
    g.w32(0x30000, 0xa);
    g.w32(0x30004, 0xb);
    const t = g.runToTrap();
    assert.deepEqual([t.vector, t.errorCode, t.eip], [14, 2, g.sym('fault')]);
    assert.equal(g.cpu.cr2 >>> 0, V + 0x1000);
    assert.equal(g.r32(0x50ff8), 0xa);
    assert.equal(g.r32(0x50ffc), 0xb);
    assert.equal(g.esi, 0x30008);
    assert.equal(g.edi, V + 0x1000);
    assert.equal(g.ecx, 2);
  });
});
