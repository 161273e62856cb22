import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  Cr0,
  Flag,
  GuestFault,
  Reg,
  Seg,
  Vec,
  descriptorAccess,
  descriptorBase,
  descriptorLimit,
} from '../../adapter/core/cpu/state';
import {
  checkIoPermission,
  deliverInterrupt,
  farCall,
  farJump,
  farReturn,
  interruptReturn,
  lar,
  loadLdt,
  loadSegment,
  loadTaskRegister,
  lsl,
  verr,
  verw,
} from '../../adapter/core/cpu/system';
import { FakeCpu, gate, putDescriptor, segment, system } from '../support/fake-cpu';

const GDT = 0x1000;
const IDT = 0x2000;
const TSS = 0x3000;
const TSS2 = 0x5000;
const LDT = 0x4000;
const KSTACK = 0x8000;
const USTACK = 0x9000;
const IOMAP = 0x68;

const KCODE = 0x08;
const KDATA = 0x10;
const UCODE = 0x1b;
const UDATA = 0x23;
const TSS_SEL = 0x28;
const LDT_SEL = 0x30;
const XCODE = 0x38; // execute-only code, DPL 0
const ABSENT = 0x40; // not-present data, DPL 0
const CONFORMING = 0x48; // conforming readable code, DPL 0
const RODATA = 0x50; // read-only data, DPL 0
const GATE_U = 0x58; // 32-bit call gate, DPL 3, to KCODE:0x1000 with 2 parameters
const GATE_K = 0x60; // 32-bit call gate, DPL 0
const CODE16 = 0x68; // 16-bit code, DPL 0, limit 0xffff
const TSS2_SEL = 0x70;
const SMALL = 0x78; // code DPL 0 with limit 0xfff
const GATE16 = 0x80; // 16-bit call gate, DPL 0, to CODE16:0x0100
const DATA16 = 0x88; // 16-bit read/write data (B = 0), DPL 0, limit 0xffff
const TASKGATE = 0x90; // task gate to TSS2, DPL 3

function expectFault(fn: () => unknown, vector: number, errorCode?: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof GuestFault, `expected a GuestFault, got ${String(e)}`);
    assert.equal(e.vector, vector, `vector ${e.vector} (error code ${e.errorCode})`);
    assert.equal(e.errorCode, errorCode, `error code of vector ${vector}`);
    return true;
  });
}

/** Loads a cache straight from the GDT, as a loader would. */
function setCache(cpu: FakeCpu, seg: Seg, selector: number): void {
  const a = GDT + (selector & ~7);
  const lo = cpu.r32(a);
  const hi = cpu.r32(a + 4);
  cpu.seg[seg].set(selector, descriptorBase(lo, hi), descriptorLimit(lo, hi), descriptorAccess(hi));
}

/** A protected-mode machine at CPL 0 with a flat GDT, an IDT, an LDT and a 32-bit TSS with an I/O bitmap. */
function protectedCpu(): FakeCpu {
  const cpu = new FakeCpu();
  cpu.gdtr.base = GDT;
  cpu.gdtr.limit = 0x98 + 7;
  cpu.idtr.base = IDT;
  cpu.idtr.limit = 0x7ff;
  const put = (sel: number, d: [number, number]): void => putDescriptor(cpu, GDT, sel >> 3, d);
  put(KCODE, segment({ type: 0xa }));
  put(KDATA, segment({ type: 0x2 }));
  put(UCODE, segment({ type: 0xb, dpl: 3 }));
  put(UDATA, segment({ type: 0x3, dpl: 3 }));
  put(TSS_SEL, system(9, TSS, IOMAP + 0x20));
  put(LDT_SEL, system(2, LDT, 0x17));
  put(XCODE, segment({ type: 0x8 }));
  put(ABSENT, segment({ type: 0x3, present: false }));
  put(CONFORMING, segment({ type: 0xe }));
  put(RODATA, segment({ type: 0x0 }));
  put(GATE_U, gate({ type: 12, selector: KCODE, offset: 0x1000, dpl: 3, params: 2 }));
  put(GATE_K, gate({ type: 12, selector: KCODE, offset: 0x1000, dpl: 0 }));
  put(CODE16, segment({ type: 0xb, limit: 0xffff, big: false }));
  put(TSS2_SEL, system(9, TSS2, 0x67));
  put(SMALL, segment({ type: 0xb, limit: 0xfff, granular: false }));
  put(GATE16, gate({ type: 4, selector: CODE16, offset: 0x0100 }));
  put(DATA16, segment({ type: 0x3, limit: 0xffff, big: false }));
  put(TASKGATE, gate({ type: 5, selector: TSS2_SEL, dpl: 3 }));

  cpu.w32(TSS + 4, KSTACK);
  cpu.w16(TSS + 8, KDATA);
  cpu.w16(TSS + 0x66, IOMAP);
  cpu.mem.fill(0xff, TSS + IOMAP, TSS + IOMAP + 0x21);

  cpu.cr0 = Cr0.PE;
  setCache(cpu, Seg.CS, KCODE);
  setCache(cpu, Seg.SS, KDATA);
  setCache(cpu, Seg.DS, KDATA);
  setCache(cpu, Seg.ES, KDATA);
  cpu.regs[Reg.ESP] = KSTACK;
  loadTaskRegister(cpu, TSS_SEL);
  return cpu;
}

/** The same machine running user code at CPL 3. */
function userCpu(): FakeCpu {
  const cpu = protectedCpu();
  setCache(cpu, Seg.CS, UCODE);
  setCache(cpu, Seg.SS, UDATA);
  setCache(cpu, Seg.DS, UDATA);
  setCache(cpu, Seg.ES, UDATA);
  cpu.setCpl(3);
  cpu.regs[Reg.ESP] = USTACK;
  return cpu;
}

const accessedBit = (cpu: FakeCpu, sel: number): boolean => (cpu.r8(GDT + (sel & ~7) + 5) & 1) !== 0;

void describe('segment register loads', () => {
  void test('real mode: base = selector * 16, limit and access rights kept (unreal mode)', () => {
    const cpu = new FakeCpu();
    cpu.seg[Seg.DS].set(0, 0, 0xffffffff, 0xc093);
    loadSegment(cpu, Seg.DS, 0x1234);
    const ds = cpu.seg[Seg.DS];
    assert.equal(ds.selector, 0x1234);
    assert.equal(ds.base, 0x12340);
    assert.equal(ds.limit, 0xffffffff);
    assert.equal(ds.access, 0xc093);
    assert.ok(cpu.segmentChanges > 0);
  });

  void test('protected mode: loads the descriptor and sets its accessed bit', () => {
    const cpu = protectedCpu();
    assert.equal(accessedBit(cpu, RODATA), false);
    loadSegment(cpu, Seg.FS, RODATA);
    const fs = cpu.seg[Seg.FS];
    assert.equal(fs.selector, RODATA);
    assert.equal(fs.base, 0);
    assert.equal(fs.limit, 0xffffffff);
    assert.equal(fs.access & 0xff, 0x91);
    assert.ok(fs.valid);
    assert.equal(accessedBit(cpu, RODATA), true);
  });

  void test('null selector: allowed for data registers (unusable), #GP(0) for SS', () => {
    const cpu = protectedCpu();
    loadSegment(cpu, Seg.GS, 3);
    assert.equal(cpu.seg[Seg.GS].valid, false);
    assert.equal(cpu.seg[Seg.GS].selector, 3);
    expectFault(() => loadSegment(cpu, Seg.SS, 0), Vec.GP, 0);
  });

  void test('selector beyond the GDT or into an absent LDT: #GP(selector)', () => {
    const cpu = protectedCpu();
    expectFault(() => loadSegment(cpu, Seg.DS, 0xa3), Vec.GP, 0xa0);
    expectFault(() => loadSegment(cpu, Seg.DS, 0x0f), Vec.GP, 0x0c);
  });

  void test('LDT selectors use the LDT loaded by LLDT', () => {
    const cpu = protectedCpu();
    putDescriptor(cpu, LDT, 1, segment({ base: 0x40000, limit: 0xff, type: 3, granular: false }));
    loadLdt(cpu, LDT_SEL);
    assert.equal(cpu.ldtr.base, LDT);
    assert.equal(cpu.ldtr.limit, 0x17);
    loadSegment(cpu, Seg.DS, 0x0c);
    assert.equal(cpu.seg[Seg.DS].base, 0x40000);
    assert.equal(cpu.seg[Seg.DS].limit, 0xff);
    expectFault(() => loadSegment(cpu, Seg.DS, 0x1c), Vec.GP, 0x1c);
  });

  void test('data registers need data or readable code with max(CPL, RPL) <= DPL unless conforming', () => {
    const cpu = userCpu();
    expectFault(() => loadSegment(cpu, Seg.DS, KDATA), Vec.GP, KDATA);
    expectFault(() => loadSegment(cpu, Seg.DS, XCODE | 3), Vec.GP, XCODE);
    loadSegment(cpu, Seg.DS, CONFORMING | 3);
    assert.equal(cpu.seg[Seg.DS].selector, CONFORMING | 3);
    const k = protectedCpu();
    expectFault(() => loadSegment(k, Seg.ES, KDATA | 1), Vec.GP, KDATA);
    expectFault(() => loadSegment(k, Seg.ES, XCODE), Vec.GP, XCODE);
    expectFault(() => loadSegment(k, Seg.ES, TSS_SEL), Vec.GP, TSS_SEL);
  });

  void test('not present: #NP(selector), or #SS(selector) for SS', () => {
    const cpu = protectedCpu();
    expectFault(() => loadSegment(cpu, Seg.DS, ABSENT), Vec.NP, ABSENT);
    expectFault(() => loadSegment(cpu, Seg.SS, ABSENT), Vec.SS, ABSENT);
  });

  void test('SS needs a writable data segment with RPL = DPL = CPL', () => {
    const cpu = protectedCpu();
    expectFault(() => loadSegment(cpu, Seg.SS, RODATA), Vec.GP, RODATA);
    expectFault(() => loadSegment(cpu, Seg.SS, KDATA | 3), Vec.GP, KDATA);
    expectFault(() => loadSegment(cpu, Seg.SS, UDATA), Vec.GP, UDATA & ~3);
    expectFault(() => loadSegment(cpu, Seg.SS, KCODE), Vec.GP, KCODE);
    loadSegment(cpu, Seg.SS, DATA16);
    assert.equal(cpu.seg[Seg.SS].big, false);
    const user = userCpu();
    expectFault(() => loadSegment(user, Seg.SS, KDATA | 3), Vec.GP, KDATA);
    loadSegment(user, Seg.SS, UDATA);
    assert.equal(user.seg[Seg.SS].selector, UDATA);
  });
});

void describe('far JMP, CALL and RET', () => {
  void test('real mode far call and far return', () => {
    const cpu = new FakeCpu();
    cpu.seg[Seg.CS].set(0x1000, 0x10000, 0xffff, 0x9b);
    cpu.seg[Seg.SS].set(0x2000, 0x20000, 0xffff, 0x93);
    cpu.regs[Reg.ESP] = 0x100;
    farCall(cpu, 0x3000, 0x0456, 2, 0x0123);
    assert.equal(cpu.seg[Seg.CS].base, 0x30000);
    assert.equal(cpu.eip, 0x0456);
    assert.equal(cpu.regs[Reg.ESP], 0xfc);
    assert.equal(cpu.r16(0x200fc), 0x0123);
    assert.equal(cpu.r16(0x200fe), 0x1000);
    farReturn(cpu, 2, 4);
    assert.equal(cpu.seg[Seg.CS].selector, 0x1000);
    assert.equal(cpu.seg[Seg.CS].base, 0x10000);
    assert.equal(cpu.eip, 0x123);
    assert.equal(cpu.regs[Reg.ESP], 0x104);
  });

  void test('real mode: a push wrapping past SP = 0 is a stack fault', () => {
    const cpu = new FakeCpu();
    cpu.regs[Reg.ESP] = 1;
    expectFault(() => farCall(cpu, 0, 0, 2, 0), Vec.SS, 0);
  });

  void test('direct jump to a code segment at the same privilege, and the checks on the target', () => {
    const cpu = protectedCpu();
    farJump(cpu, SMALL, 0x800, 0);
    assert.equal(cpu.seg[Seg.CS].selector, SMALL);
    assert.equal(cpu.seg[Seg.CS].limit, 0xfff);
    assert.equal(cpu.eip, 0x800);
    farJump(cpu, KCODE, 0x2000, 0);
    expectFault(() => farJump(cpu, SMALL, 0x1000, 0), Vec.GP, 0);
    expectFault(() => farJump(cpu, KDATA, 0, 0), Vec.GP, KDATA);
    expectFault(() => farJump(cpu, 0, 0, 0), Vec.GP, 0);
    expectFault(() => farJump(cpu, UCODE, 0, 0), Vec.GP, UCODE & ~3);
    expectFault(() => farJump(cpu, KCODE | 3, 0, 0), Vec.GP, KCODE);
  });

  void test('conforming code can be entered from CPL 3 and keeps the CPL', () => {
    const cpu = userCpu();
    farJump(cpu, CONFORMING, 0x10, 0);
    assert.equal(cpu.cpl, 3);
    assert.equal(cpu.seg[Seg.CS].selector, CONFORMING | 3);
    expectFault(() => farJump(cpu, KCODE, 0, 0), Vec.GP, KCODE);
  });

  void test('direct far call pushes CS:EIP (32-bit) and far return pops them', () => {
    const cpu = protectedCpu();
    farCall(cpu, SMALL, 0x10, 4, 0xabcd);
    assert.equal(cpu.regs[Reg.ESP], KSTACK - 8);
    assert.equal(cpu.r32(KSTACK - 8), 0xabcd);
    assert.equal(cpu.r32(KSTACK - 4), KCODE);
    assert.equal(cpu.seg[Seg.CS].selector, SMALL);
    assert.equal(accessedBit(cpu, SMALL), true);
    farReturn(cpu, 4, 0);
    assert.equal(cpu.seg[Seg.CS].selector, KCODE);
    assert.equal(cpu.eip, 0xabcd);
    assert.equal(cpu.regs[Reg.ESP], KSTACK);
  });

  void test('call gate from CPL 3 to CPL 0: stack switch from the TSS, parameter copy, and the matching RETF', () => {
    const cpu = userCpu();
    cpu.regs[Reg.ESP] = USTACK - 8;
    cpu.w32(USTACK - 8, 0x11111111);
    cpu.w32(USTACK - 4, 0x22222222);
    farCall(cpu, GATE_U, 0xdead, 4, 0x4444);
    assert.equal(cpu.cpl, 0);
    assert.equal(cpu.seg[Seg.CS].selector, KCODE);
    assert.equal(cpu.eip, 0x1000);
    assert.equal(cpu.seg[Seg.SS].selector, KDATA);
    const esp = cpu.regs[Reg.ESP];
    assert.equal(esp, KSTACK - 24);
    assert.deepEqual(
      [0, 4, 8, 12, 16, 20].map((o) => cpu.r32(esp + o)),
      [0x4444, UCODE, 0x11111111, 0x22222222, USTACK - 8, UDATA],
    );
    assert.ok(
      cpu.writes.every((w) => !w[3]),
      'pushes onto the CPL 0 stack are supervisor accesses',
    );

    loadSegment(cpu, Seg.ES, KDATA);
    loadSegment(cpu, Seg.FS, CONFORMING);
    farReturn(cpu, 4, 8);
    assert.equal(cpu.cpl, 3);
    assert.equal(cpu.seg[Seg.CS].selector, UCODE);
    assert.equal(cpu.eip, 0x4444);
    assert.equal(cpu.seg[Seg.SS].selector, UDATA);
    assert.equal(cpu.regs[Reg.ESP], USTACK);
    assert.equal(cpu.seg[Seg.ES].valid, false, 'ES with DPL 0 is nulled');
    assert.equal(cpu.seg[Seg.ES].selector, 0);
    assert.equal(cpu.seg[Seg.DS].selector, UDATA, 'DS with DPL 3 is kept');
    assert.ok(cpu.seg[Seg.DS].valid);
    assert.ok(cpu.seg[Seg.FS].valid, 'conforming code is kept');
  });

  void test('call gate privilege and presence checks', () => {
    const cpu = userCpu();
    expectFault(() => farCall(cpu, GATE_K, 0, 4, 0), Vec.GP, GATE_K);
    putDescriptor(cpu, GDT, GATE_K >> 3, gate({ type: 12, selector: KCODE, dpl: 3, present: false }));
    expectFault(() => farCall(cpu, GATE_K | 3, 0, 4, 0), Vec.NP, GATE_K);
    putDescriptor(cpu, GDT, GATE_K >> 3, gate({ type: 12, selector: KDATA, dpl: 3 }));
    expectFault(() => farCall(cpu, GATE_K | 3, 0, 4, 0), Vec.GP, KDATA);
    putDescriptor(cpu, GDT, GATE_K >> 3, gate({ type: 12, selector: ABSENT & ~7, dpl: 3 }));
    putDescriptor(cpu, GDT, ABSENT >> 3, segment({ type: 0xb, present: false }));
    expectFault(() => farCall(cpu, GATE_K | 3, 0, 4, 0), Vec.NP, ABSENT);
    expectFault(() => farJump(cpu, GATE_U, 0, 0), Vec.GP, KCODE);
  });

  void test('an invalid inner stack in the TSS is #TS(SS selector); an absent one #SS(SS selector)', () => {
    const cpu = userCpu();
    cpu.w16(TSS + 8, UDATA);
    expectFault(() => farCall(cpu, GATE_U, 0, 4, 0), Vec.TS, UDATA & ~3);
    cpu.w16(TSS + 8, ABSENT);
    expectFault(() => farCall(cpu, GATE_U, 0, 4, 0), Vec.SS, ABSENT);
    cpu.w16(TSS + 8, 0);
    expectFault(() => farCall(cpu, GATE_U, 0, 4, 0), Vec.TS, 0);
    assert.equal(cpu.cpl, 3);
    assert.equal(cpu.regs[Reg.ESP], USTACK);
  });

  void test('16-bit call gate at the same privilege pushes 16-bit CS:IP', () => {
    const cpu = protectedCpu();
    farCall(cpu, GATE16, 0, 4, 0x12345678);
    assert.equal(cpu.seg[Seg.CS].selector, CODE16);
    assert.equal(cpu.eip, 0x100);
    assert.equal(cpu.regs[Reg.ESP], KSTACK - 4);
    assert.equal(cpu.r16(KSTACK - 4), 0x5678);
    assert.equal(cpu.r16(KSTACK - 2), KCODE);
    farReturn(cpu, 2, 0);
    assert.equal(cpu.eip, 0x5678);
    assert.equal(cpu.seg[Seg.CS].selector, KCODE);
  });

  void test('a 16-bit stack (B = 0) wraps SP and keeps the upper half of ESP', () => {
    const cpu = protectedCpu();
    loadSegment(cpu, Seg.SS, DATA16);
    cpu.regs[Reg.ESP] = 0x12340008;
    farCall(cpu, SMALL, 0, 4, 0x55);
    assert.equal(cpu.regs[Reg.ESP], 0x12340000);
    assert.equal(cpu.r32(0), 0x55);
    farCall(cpu, SMALL, 0, 4, 0x66);
    assert.equal(cpu.regs[Reg.ESP], 0x1234fff8);
    assert.equal(cpu.r32(0xfff8), 0x66);
    cpu.regs[Reg.ESP] = 0x12340002;
    expectFault(() => farCall(cpu, SMALL, 0, 4, 0), Vec.SS, 0);
  });

  void test('an expand-down stack faults at or below its limit', () => {
    const cpu = protectedCpu();
    putDescriptor(cpu, LDT, 2, segment({ type: 0x7, limit: 0x0fff, granular: false }));
    loadLdt(cpu, LDT_SEL);
    loadSegment(cpu, Seg.SS, 0x14);
    cpu.regs[Reg.ESP] = 0x1008;
    farCall(cpu, SMALL, 0, 4, 0);
    assert.equal(cpu.regs[Reg.ESP], 0x1000);
    expectFault(() => farCall(cpu, SMALL, 0, 4, 0), Vec.SS, 0);
    assert.equal(cpu.regs[Reg.ESP], 0x1000);
  });

  void test('RETF to an outer level checks the popped SS: #GP(SS) for a mismatch, #SS(SS) when not present', () => {
    const cpu = protectedCpu();
    cpu.regs[Reg.ESP] = KSTACK - 16;
    [0x10, UCODE, USTACK, KDATA | 3].forEach((v, i) => cpu.w32(KSTACK - 16 + 4 * i, v));
    expectFault(() => farReturn(cpu, 4, 0), Vec.GP, KDATA);
    cpu.w32(KSTACK - 4, 0);
    expectFault(() => farReturn(cpu, 4, 0), Vec.GP, 0);
    putDescriptor(cpu, GDT, ABSENT >> 3, segment({ type: 0x3, dpl: 3, present: false }));
    cpu.w32(KSTACK - 4, ABSENT | 3);
    expectFault(() => farReturn(cpu, 4, 0), Vec.SS, ABSENT);
    assert.equal(cpu.cpl, 0);
    assert.equal(cpu.regs[Reg.ESP], KSTACK - 16);
  });

  void test('RETF checks: return to an inner level or a null CS is #GP', () => {
    const cpu = userCpu();
    cpu.w32(USTACK, 0);
    cpu.w32(USTACK + 4, KCODE);
    expectFault(() => farReturn(cpu, 4, 0), Vec.GP, KCODE);
    cpu.w32(USTACK + 4, 0);
    expectFault(() => farReturn(cpu, 4, 0), Vec.GP, 0);
    cpu.w32(USTACK + 4, UCODE);
    cpu.w32(USTACK, 0x77);
    farReturn(cpu, 4, 0);
    assert.equal(cpu.eip, 0x77);
    assert.equal(cpu.regs[Reg.ESP], USTACK + 8);
  });
});

void describe('interrupt delivery and IRET', () => {
  const putIdt = (cpu: FakeCpu, vector: number, d: [number, number]): void => putDescriptor(cpu, IDT, vector, d);

  void test('real mode: through the IVT, pushing FLAGS, CS, IP and clearing IF, TF, AC', () => {
    const cpu = new FakeCpu();
    cpu.w16(0x21 * 4, 0x5678);
    cpu.w16(0x21 * 4 + 2, 0x1234);
    cpu.seg[Seg.CS].set(0x0700, 0x7000, 0xffff, 0x9b);
    cpu.regs[Reg.ESP] = 0x1000;
    cpu.setEflags(Flag.IF | Flag.TF | Flag.AC | Flag.CF, -1);
    deliverInterrupt(cpu, 0x21, 'software', undefined, 0x0102);
    assert.equal(cpu.seg[Seg.CS].selector, 0x1234);
    assert.equal(cpu.seg[Seg.CS].base, 0x12340);
    assert.equal(cpu.eip, 0x5678);
    assert.equal(cpu.regs[Reg.ESP], 0xffa);
    assert.equal(cpu.r16(0xffa), 0x0102);
    assert.equal(cpu.r16(0xffc), 0x0700);
    assert.equal(cpu.r16(0xffe), (Flag.IF | Flag.TF | Flag.CF | Flag.RESERVED1) & 0xffff);
    assert.equal(cpu.getEflags() & (Flag.IF | Flag.TF | Flag.AC), 0);
    interruptReturn(cpu, 2);
    assert.equal(cpu.eip, 0x0102);
    assert.equal(cpu.seg[Seg.CS].base, 0x7000);
    assert.equal(cpu.getEflags() & (Flag.IF | Flag.TF | Flag.CF), Flag.IF | Flag.TF | Flag.CF);
    assert.equal(cpu.regs[Reg.ESP], 0x1000);
  });

  void test('CPL 3 to CPL 0 through a 32-bit interrupt gate: stack switch, frame with error code, IF cleared', () => {
    const cpu = userCpu();
    putIdt(cpu, 13, gate({ type: 14, selector: KCODE, offset: 0xc0de }));
    cpu.setEflags(Flag.IF | Flag.ZF | Flag.TF | Flag.NT, -1);
    cpu.regs[Reg.ESP] = USTACK - 0x10;
    deliverInterrupt(cpu, 13, 'exception', 0x1234, 0x4000);
    assert.equal(cpu.cpl, 0);
    assert.equal(cpu.seg[Seg.CS].selector, KCODE);
    assert.equal(cpu.eip, 0xc0de);
    assert.equal(cpu.seg[Seg.SS].selector, KDATA);
    const esp = cpu.regs[Reg.ESP];
    assert.equal(esp, KSTACK - 24);
    assert.deepEqual(
      [0, 4, 8, 12, 16, 20].map((o) => cpu.r32(esp + o)),
      [0x1234, 0x4000, UCODE, Flag.IF | Flag.ZF | Flag.TF | Flag.NT | Flag.RESERVED1, USTACK - 0x10, UDATA],
    );
    assert.equal(cpu.getEflags() & (Flag.IF | Flag.TF | Flag.NT), 0);
    assert.equal(cpu.getEflags() & Flag.ZF, Flag.ZF);
  });

  void test('a trap gate keeps IF; a same-privilege interrupt uses the current stack', () => {
    const cpu = protectedCpu();
    putIdt(cpu, 0x80, gate({ type: 15, selector: KCODE, offset: 0x300 }));
    cpu.setEflags(Flag.IF, Flag.IF);
    deliverInterrupt(cpu, 0x80, 'software', undefined, 0x99);
    assert.equal(cpu.getEflags() & Flag.IF, Flag.IF);
    assert.equal(cpu.regs[Reg.ESP], KSTACK - 12);
    assert.deepEqual(
      [0, 4, 8].map((o) => cpu.r32(KSTACK - 12 + o)),
      [0x99, KCODE, Flag.IF | Flag.RESERVED1],
    );
    interruptReturn(cpu, 4);
    assert.equal(cpu.eip, 0x99);
    assert.equal(cpu.regs[Reg.ESP], KSTACK);
  });

  void test('16-bit interrupt gate pushes 16-bit values', () => {
    const cpu = protectedCpu();
    putIdt(cpu, 0x30, gate({ type: 6, selector: CODE16, offset: 0x12345678 }));
    deliverInterrupt(cpu, 0x30, 'hardware', undefined, 0xabcdef);
    assert.equal(cpu.eip, 0x5678);
    assert.equal(cpu.regs[Reg.ESP], KSTACK - 6);
    assert.deepEqual(
      [0, 2, 4].map((o) => cpu.r16(KSTACK - 6 + o)),
      [0xcdef, KCODE, Flag.RESERVED1],
    );
  });

  void test('software INT with CPL > gate DPL is #GP(vector*8+2); hardware interrupts ignore the gate DPL', () => {
    const cpu = userCpu();
    putIdt(cpu, 0x40, gate({ type: 14, selector: KCODE, offset: 0x10, dpl: 0 }));
    expectFault(() => deliverInterrupt(cpu, 0x40, 'software', undefined, 0), Vec.GP, 0x40 * 8 + 2);
    expectFault(() => deliverInterrupt(cpu, 0x40, 'int3', undefined, 0), Vec.GP, 0x40 * 8 + 2);
    assert.equal(cpu.cpl, 3);
    deliverInterrupt(cpu, 0x40, 'hardware', undefined, 0);
    assert.equal(cpu.cpl, 0);
    assert.equal(cpu.eip, 0x10);
  });

  void test('not-present gate: #NP(vector*8+2), with EXT for external events', () => {
    const cpu = protectedCpu();
    putIdt(cpu, 0x41, gate({ type: 14, selector: KCODE, present: false, dpl: 3 }));
    expectFault(() => deliverInterrupt(cpu, 0x41, 'software', undefined, 0), Vec.NP, 0x41 * 8 + 2);
    expectFault(() => deliverInterrupt(cpu, 0x41, 'hardware', undefined, 0), Vec.NP, 0x41 * 8 + 3);
  });

  void test('IDT limit and gate type violations are #GP(vector*8+2+EXT); a bad target CS is #GP(selector+EXT)', () => {
    const cpu = protectedCpu();
    cpu.idtr.limit = 0x42 * 8 - 1;
    expectFault(() => deliverInterrupt(cpu, 0x42, 'exception', 0, 0), Vec.GP, 0x42 * 8 + 3);
    cpu.idtr.limit = 0x7ff;
    putIdt(cpu, 0x42, gate({ type: 12, selector: KCODE }));
    expectFault(() => deliverInterrupt(cpu, 0x42, 'exception', 0, 0), Vec.GP, 0x42 * 8 + 3);
    putIdt(cpu, 0x42, gate({ type: 14, selector: KDATA }));
    expectFault(() => deliverInterrupt(cpu, 0x42, 'hardware', undefined, 0), Vec.GP, KDATA | 1);
    putIdt(cpu, 0x42, gate({ type: 14, selector: 0 }));
    expectFault(() => deliverInterrupt(cpu, 0x42, 'hardware', undefined, 0), Vec.GP, 1);
    putIdt(cpu, 0x42, gate({ type: 14, selector: SMALL, offset: 0x1000 }));
    expectFault(() => deliverInterrupt(cpu, 0x42, 'hardware', undefined, 0), Vec.GP, 1);
  });

  void test('IRET back to CPL 3 restores SS:ESP, nulls a DS with DPL 0 and applies the EFLAGS rules', () => {
    const cpu = userCpu();
    putIdt(cpu, 0x20, gate({ type: 14, selector: KCODE, offset: 0x500 }));
    cpu.setEflags(Flag.IF, Flag.IF);
    deliverInterrupt(cpu, 0x20, 'hardware', undefined, 0x7777);
    loadSegment(cpu, Seg.DS, KDATA);
    const esp = cpu.regs[Reg.ESP];
    // The handler tampers with the saved EFLAGS: IOPL 3 and VIP; IF stays from the frame.
    cpu.w32(esp + 8, Flag.IF | Flag.IOPL | Flag.CF | Flag.RESERVED1);
    interruptReturn(cpu, 4);
    assert.equal(cpu.cpl, 3);
    assert.equal(cpu.seg[Seg.CS].selector, UCODE);
    assert.equal(cpu.eip, 0x7777);
    assert.equal(cpu.seg[Seg.SS].selector, UDATA);
    assert.equal(cpu.regs[Reg.ESP], USTACK);
    assert.equal(cpu.seg[Seg.DS].valid, false);
    assert.equal(cpu.seg[Seg.DS].selector, 0);
    assert.ok(cpu.seg[Seg.ES].valid);
    assert.equal(cpu.getEflags() & (Flag.IF | Flag.IOPL | Flag.CF), Flag.IF | Flag.IOPL | Flag.CF);
  });

  void test('IRET at CPL 3 cannot change IF or IOPL when CPL > IOPL', () => {
    const cpu = userCpu();
    cpu.regs[Reg.ESP] = USTACK - 12;
    cpu.w32(USTACK - 12, 0x10);
    cpu.w32(USTACK - 8, UCODE);
    cpu.w32(USTACK - 4, Flag.IF | Flag.IOPL | Flag.OF);
    interruptReturn(cpu, 4);
    assert.equal(cpu.getEflags() & (Flag.IF | Flag.IOPL | Flag.OF), Flag.OF);
    assert.equal(cpu.regs[Reg.ESP], USTACK);
  });

  void test('IRET to an inner level is #GP(selector)', () => {
    const cpu = userCpu();
    cpu.regs[Reg.ESP] = USTACK - 12;
    cpu.w32(USTACK - 12, 0x10);
    cpu.w32(USTACK - 8, KCODE);
    cpu.w32(USTACK - 4, 0);
    expectFault(() => interruptReturn(cpu, 4), Vec.GP, KCODE);
  });

  void test('virtual-8086 mode: interrupt to CPL 0 saves and nulls the data segments; IRETD returns to vm86', () => {
    const cpu = protectedCpu();
    putIdt(cpu, 0x0d, gate({ type: 14, selector: KCODE, offset: 0x600 }));
    // Enter vm86 through IRETD from CPL 0.
    const frame = [0x0100, 0x2000, Flag.VM | Flag.IF | Flag.RESERVED1, 0x0ffe, 0x3000, 0x4000, 0x5000, 0x6000, 0x7000];
    cpu.regs[Reg.ESP] = KSTACK - 36;
    frame.forEach((v, i) => cpu.w32(KSTACK - 36 + 4 * i, v));
    interruptReturn(cpu, 4);
    assert.ok(cpu.vm86);
    assert.equal(cpu.cpl, 3);
    assert.equal(cpu.eip, 0x100);
    assert.deepEqual(
      cpu.seg.map((s) => s.base),
      [0x40000, 0x20000, 0x30000, 0x50000, 0x60000, 0x70000],
    );
    assert.equal(cpu.regs[Reg.ESP], 0x0ffe);
    expectFault(() => deliverInterrupt(cpu, 0x0d, 'software', undefined, 0x102), Vec.GP, 0);

    deliverInterrupt(cpu, 0x0d, 'exception', 0, 0x100);
    assert.equal(cpu.vm86, false);
    assert.equal(cpu.cpl, 0);
    assert.equal(cpu.eip, 0x600);
    for (const s of [Seg.ES, Seg.DS, Seg.FS, Seg.GS]) assert.equal(cpu.seg[s].valid, false);
    const esp = cpu.regs[Reg.ESP];
    assert.equal(esp, KSTACK - 40);
    assert.deepEqual(
      [4, 8, 16, 20, 24, 28, 32, 36].map((o) => cpu.r32(esp + o)),
      [0x100, 0x2000, 0x0ffe, 0x3000, 0x4000, 0x5000, 0x6000, 0x7000],
    );
    assert.equal(cpu.r32(esp + 12) & Flag.VM, Flag.VM);
    cpu.regs[Reg.ESP] = esp + 4;
    interruptReturn(cpu, 4);
    assert.ok(cpu.vm86);
    assert.equal(cpu.seg[Seg.DS].base, 0x50000);
  });
});

void describe('LLDT, LTR, LAR, LSL, VERR, VERW', () => {
  void test('LTR marks the TSS busy and a second LTR of it fails', () => {
    const cpu = protectedCpu();
    assert.equal(cpu.r8(GDT + TSS_SEL + 5) & 0xf, 11);
    assert.equal(cpu.tr.base, TSS);
    expectFault(() => loadTaskRegister(cpu, TSS_SEL), Vec.GP, TSS_SEL);
    expectFault(() => loadTaskRegister(cpu, KDATA), Vec.GP, KDATA);
    expectFault(() => loadTaskRegister(cpu, 0), Vec.GP, 0);
    const user = userCpu();
    expectFault(() => loadTaskRegister(user, TSS2_SEL), Vec.GP, 0);
    expectFault(() => loadLdt(user, LDT_SEL), Vec.GP, 0);
  });

  void test('LLDT rejects non-LDT descriptors and LDT-relative selectors', () => {
    const cpu = protectedCpu();
    expectFault(() => loadLdt(cpu, TSS2_SEL), Vec.GP, TSS2_SEL);
    expectFault(() => loadLdt(cpu, LDT_SEL | 4), Vec.GP, LDT_SEL | 4);
    loadLdt(cpu, 0);
    assert.equal(cpu.ldtr.valid, false);
    const real = new FakeCpu();
    expectFault(() => loadLdt(real, LDT_SEL), Vec.UD, undefined);
  });

  void test('LAR and LSL report access rights and limits, subject to type and privilege', () => {
    const cpu = userCpu();
    assert.equal(lar(cpu, UDATA), 0x00c0f300);
    assert.equal(lsl(cpu, UDATA), 0xffffffff);
    assert.equal(lar(cpu, KDATA), undefined);
    assert.equal(lar(cpu, CONFORMING), segment({ type: 0xe })[1] & 0x00f0ff00);
    assert.equal(lar(cpu, 0), undefined);
    assert.equal(lar(cpu, 0x1000), undefined);
    const k = protectedCpu();
    assert.equal(lsl(k, SMALL), 0xfff);
    assert.equal(lsl(k, TSS2_SEL), 0x67);
    assert.equal(lar(k, GATE_K), gate({ type: 12, selector: KCODE, offset: 0x1000 })[1] & 0x00f0ff00);
    assert.equal(lsl(k, GATE_K), undefined);
  });

  void test('VERR and VERW', () => {
    const cpu = protectedCpu();
    assert.equal(verr(cpu, KDATA), true);
    assert.equal(verw(cpu, KDATA), true);
    assert.equal(verr(cpu, XCODE), false);
    assert.equal(verr(cpu, KCODE), true);
    assert.equal(verw(cpu, KCODE), false);
    assert.equal(verw(cpu, RODATA), false);
    assert.equal(verr(cpu, TSS_SEL), false);
    const user = userCpu();
    assert.equal(verr(user, KDATA), false);
    assert.equal(verr(user, CONFORMING), true);
    assert.equal(verw(user, UDATA), true);
  });
});

void describe('I/O permission bitmap', () => {
  void test('CPL <= IOPL needs no bitmap; otherwise every bit of the access must be clear', () => {
    const cpu = userCpu();
    const bitmap = TSS + IOMAP;
    cpu.mem[bitmap + (0x60 >> 3)] = 0xff & ~0x01;
    cpu.mem[bitmap + (0x70 >> 3)] = 0xff & ~0x03;
    cpu.mem[bitmap + (0x3f8 >> 3)] = 0;
    checkIoPermission(cpu, 0x60, 1);
    expectFault(() => checkIoPermission(cpu, 0x61, 1), Vec.GP, 0);
    expectFault(() => checkIoPermission(cpu, 0x60, 2), Vec.GP, 0);
    checkIoPermission(cpu, 0x70, 2);
    expectFault(() => checkIoPermission(cpu, 0x70, 4), Vec.GP, 0);
    expectFault(() => checkIoPermission(cpu, 0x3f8, 1), Vec.GP, 0);
    cpu.setEflags(Flag.IOPL, Flag.IOPL);
    checkIoPermission(cpu, 0x3f8, 1);
    checkIoPermission(cpu, 0x61, 4);
  });

  void test('an access whose bitmap bytes lie beyond the TSS limit is denied', () => {
    const cpu = userCpu();
    cpu.mem.fill(0, TSS + IOMAP, TSS + IOMAP + 0x21);
    checkIoPermission(cpu, 0xf8, 1);
    expectFault(() => checkIoPermission(cpu, 0x100, 1), Vec.GP, 0);
    const real = new FakeCpu();
    checkIoPermission(real, 0x100, 1);
  });
});

void describe('hardware task switching', () => {
  /** A second task at TSS2 running user code. */
  function withTask(cpu: FakeCpu): void {
    cpu.w32(TSS2 + 0x20, 0x2222);
    cpu.w32(TSS2 + 0x24, Flag.IF | Flag.RESERVED1);
    for (let i = 0; i < 8; i++) cpu.w32(TSS2 + 0x28 + 4 * i, 0x100 + i);
    cpu.w32(TSS2 + 0x38, USTACK);
    [UDATA, UCODE, UDATA, UDATA, 0, 0].forEach((s, i) => cpu.w16(TSS2 + 0x48 + 4 * i, s));
    cpu.w16(TSS2 + 0x60, 0);
  }

  void test('JMP to a TSS saves the old task, loads the new one and moves the busy bit', () => {
    const cpu = protectedCpu();
    withTask(cpu);
    cpu.regs[Reg.EAX] = 0xaaaa;
    farJump(cpu, TSS2_SEL, 0, 0x1234);
    assert.equal(cpu.tr.selector, TSS2_SEL);
    assert.equal(cpu.cpl, 3);
    assert.equal(cpu.eip, 0x2222);
    assert.equal(cpu.regs[Reg.ECX], 0x101);
    assert.equal(cpu.regs[Reg.ESP], USTACK);
    assert.equal(cpu.seg[Seg.CS].selector, UCODE);
    assert.equal(cpu.seg[Seg.FS].valid, false);
    assert.equal(cpu.cr0 & Cr0.TS, Cr0.TS);
    assert.equal(cpu.getEflags() & Flag.NT, 0);
    assert.equal(cpu.r32(TSS + 0x20), 0x1234);
    assert.equal(cpu.r32(TSS + 0x28), 0xaaaa);
    assert.equal(cpu.r16(TSS + 0x4c), KCODE);
    assert.equal(cpu.r8(GDT + TSS_SEL + 5) & 0xf, 9, 'old TSS no longer busy');
    assert.equal(cpu.r8(GDT + TSS2_SEL + 5) & 0xf, 11, 'new TSS busy');
  });

  void test('CALL through a task gate nests (NT, back link) and IRET returns to the caller', () => {
    const cpu = userCpu();
    withTask(cpu);
    cpu.regs[Reg.EBX] = 0xbbbb;
    farCall(cpu, TASKGATE, 0, 4, 0x4321);
    assert.equal(cpu.tr.selector, TSS2_SEL);
    assert.equal(cpu.getEflags() & Flag.NT, Flag.NT);
    assert.equal(cpu.r16(TSS2), TSS_SEL);
    assert.equal(cpu.r8(GDT + TSS_SEL + 5) & 0xf, 11, 'the caller stays busy');
    interruptReturn(cpu, 4, 0x2224);
    assert.equal(cpu.tr.selector, TSS_SEL);
    assert.equal(cpu.eip, 0x4321);
    assert.equal(cpu.regs[Reg.EBX], 0xbbbb);
    assert.equal(cpu.seg[Seg.CS].selector, UCODE);
    assert.equal(cpu.r8(GDT + TSS2_SEL + 5) & 0xf, 9, 'the returning task is no longer busy');
    assert.equal(cpu.r32(TSS2 + 0x20), 0x2224);
    assert.equal(cpu.r32(TSS2 + 0x24) & Flag.NT, 0);
  });

  void test('a busy TSS cannot be entered; an interrupt through a task gate pushes the error code', () => {
    const cpu = protectedCpu();
    withTask(cpu);
    expectFault(() => farJump(cpu, TSS_SEL, 0, 0), Vec.GP, TSS_SEL);
    putDescriptor(cpu, IDT, 8, gate({ type: 5, selector: TSS2_SEL }));
    deliverInterrupt(cpu, 8, 'exception', 0, 0x10);
    assert.equal(cpu.tr.selector, TSS2_SEL);
    assert.equal(cpu.regs[Reg.ESP], USTACK - 4);
    assert.equal(cpu.r32(USTACK - 4), 0);
    assert.equal(cpu.getEflags() & Flag.NT, Flag.NT);
  });

  void test('JMP to a 16-bit TSS loads 16-bit state and saves the old 32-bit state', () => {
    const cpu = protectedCpu();
    const TSS16 = 0x6000;
    const TSS16_SEL = 0x98;
    putDescriptor(cpu, GDT, TSS16_SEL >> 3, system(1, TSS16, 0x2b));
    cpu.w16(TSS16 + 0x0e, 0x0042);
    cpu.w16(TSS16 + 0x10, Flag.CF | Flag.RESERVED1);
    for (let i = 0; i < 8; i++) cpu.w16(TSS16 + 0x12 + 2 * i, 0x10 * i);
    [KDATA, CODE16, KDATA, KDATA].forEach((s, i) => cpu.w16(TSS16 + 0x22 + 2 * i, s));
    loadSegment(cpu, Seg.FS, KDATA);
    farJump(cpu, TSS16_SEL, 0, 0x99);
    assert.equal(cpu.tr.selector, TSS16_SEL);
    assert.equal(cpu.r8(GDT + TSS16_SEL + 5) & 0xf, 3);
    assert.equal(cpu.eip, 0x42);
    assert.equal(cpu.seg[Seg.CS].selector, CODE16);
    assert.equal(cpu.regs[Reg.EDX] >>> 0, 0xffff0020);
    assert.equal(cpu.seg[Seg.FS].valid, false);
    assert.equal(cpu.getEflags() & Flag.CF, Flag.CF);
    assert.equal(cpu.r32(TSS + 0x20), 0x99);
  });

  void test('IRET with NT set needs a busy TSS in the back link', () => {
    const cpu = protectedCpu();
    cpu.setEflags(Flag.NT, Flag.NT);
    cpu.w16(TSS, TSS2_SEL);
    expectFault(() => interruptReturn(cpu, 4, 0), Vec.TS, TSS2_SEL);
    cpu.w16(TSS, KDATA);
    expectFault(() => interruptReturn(cpu, 4, 0), Vec.TS, KDATA);
  });

  void test('an invalid CS in the new TSS is #TS(selector) raised in the new task', () => {
    const cpu = protectedCpu();
    withTask(cpu);
    cpu.w16(TSS2 + 0x4c, KDATA);
    expectFault(() => farJump(cpu, TSS2_SEL, 0, 0), Vec.TS, KDATA);
    assert.equal(cpu.tr.selector, TSS2_SEL);
  });
});
