/** A plain description of one decoded instruction, kept for instructions that run in the interpreter. */
import type { Instruction } from 'iced-x86';
import { MemorySizeExt, OpKind, Register, RegisterExt } from 'iced-x86';

export interface Decoded {
  readonly code: number;
  readonly mnemonic: number;
  readonly eip: number;
  readonly nextEip: number;
  readonly length: number;
  readonly opCount: number;
  readonly kinds: readonly number[];
  readonly regs: readonly number[];
  /** Immediate value per operand (numbers as the operand size sees them; 8-to-32 sign-extended). */
  readonly imms: readonly number[];
  /** Segment of the memory operand (Seg order), or -1. */
  readonly memSeg: number;
  /** Size of the memory operand in bytes (0 when none). */
  readonly memSize: number;
  /** Operand-size attribute in bytes. */
  readonly opSize: 2 | 4;
  /** Address-size attribute is 32 bits. */
  readonly addr32: boolean;
  /** Index of the first opcode byte in `bytes` (after the legacy prefixes). */
  readonly opcodeOffset: number;
  readonly nearBranch: number;
  readonly farSelector: number;
  readonly farOffset: number;
  /** 0 none, 1 REP/REPE, 2 REPNE. */
  readonly rep: 0 | 1 | 2;
  readonly lock: boolean;
  readonly bytes: Uint8Array;
}

export interface GprInfo {
  index: number;
  size: 1 | 2 | 4;
  high: boolean;
}

export const GPR = new Map<number, GprInfo>();
for (let r = Register.AL; r <= Register.EDI; r++) {
  const size = RegisterExt.size(r);
  if (size !== 1 && size !== 2 && size !== 4) continue;
  const num = RegisterExt.number(r);
  if (size === 1 && r >= Register.AH && r <= Register.BH) GPR.set(r, { index: num - 4, size: 1, high: true });
  else GPR.set(r, { index: num % 8, size: size, high: false });
}

function immediateOf(insn: Instruction, i: number): number {
  switch (insn.opKind(i)) {
    case OpKind.Immediate8:
      return insn.immediate8;
    case OpKind.Immediate8_2nd:
      return insn.immediate8_2nd;
    case OpKind.Immediate16:
      return insn.immediate16;
    case OpKind.Immediate32:
      return insn.immediate32 | 0;
    case OpKind.Immediate8to16:
      return insn.immediate8to16 & 0xffff;
    case OpKind.Immediate8to32:
      return insn.immediate8to32 | 0;
    default:
      return 0;
  }
}

/** Legacy prefixes (SDM 2.1.1): operand size, address size, LOCK, REP/REPNE, segment overrides. */
const LEGACY_PREFIXES = new Set([0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65]);

/** Operand and address size from the legacy prefixes, and where the opcode starts. */
export function prefixSizes(
  bytes: Uint8Array,
  code32: boolean,
): { opSize: 2 | 4; addr32: boolean; opcodeOffset: number } {
  let op = code32;
  let addr = code32;
  let i = 0;
  for (; i < bytes.length && LEGACY_PREFIXES.has(bytes[i]); i++) {
    if (bytes[i] === 0x66) op = !code32;
    else if (bytes[i] === 0x67) addr = !code32;
  }
  return { opSize: op ? 4 : 2, addr32: addr, opcodeOffset: i };
}

export function describe(insn: Instruction, bytes: Uint8Array, code32: boolean): Decoded {
  const kinds: number[] = [];
  const regs: number[] = [];
  const imms: number[] = [];
  let memSeg = -1;
  let memSize = 0;
  for (let i = 0; i < insn.opCount; i++) {
    const kind = insn.opKind(i);
    kinds.push(kind);
    regs.push(kind === OpKind.Register ? insn.opRegister(i) : Register.None);
    imms.push(immediateOf(insn, i));
    if (kind === OpKind.Memory || kind === OpKind.MemorySegSI || kind === OpKind.MemorySegESI) {
      memSeg = insn.memorySegment - Register.ES;
      memSize = MemorySizeExt.size(insn.memorySize);
    }
  }
  const sizes = prefixSizes(bytes, code32);
  const ipMask = code32 ? -1 : 0xffff;
  let nearBranch = 0;
  let farSelector = 0;
  let farOffset = 0;
  if (insn.opCount > 0) {
    const k0 = insn.op0Kind;
    if (k0 === OpKind.NearBranch16) nearBranch = insn.nearBranch16;
    else if (k0 === OpKind.NearBranch32) nearBranch = insn.nearBranch32 | 0;
    else if (k0 === OpKind.FarBranch16) {
      farSelector = insn.farBranchSelector;
      farOffset = insn.farBranch16;
    } else if (k0 === OpKind.FarBranch32) {
      farSelector = insn.farBranchSelector;
      farOffset = insn.farBranch32 | 0;
    }
  }
  return {
    code: insn.code,
    mnemonic: insn.mnemonic,
    eip: insn.ip32 & ipMask,
    nextEip: insn.nextIP32 & ipMask,
    length: insn.length,
    opCount: insn.opCount,
    kinds,
    regs,
    imms,
    memSeg,
    memSize,
    opSize: sizes.opSize,
    addr32: sizes.addr32,
    opcodeOffset: sizes.opcodeOffset,
    nearBranch,
    farSelector,
    farOffset,
    rep: insn.hasRepePrefix || insn.hasRepPrefix ? 1 : insn.hasRepnePrefix ? 2 : 0,
    lock: insn.hasLockPrefix,
    bytes: bytes.slice(0, insn.length),
  };
}
