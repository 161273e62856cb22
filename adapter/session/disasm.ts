/** Disassembly for the Disassembly view and for stepping decisions, with iced-x86 (Intel syntax). */
import {
  Decoder,
  DecoderOptions,
  FlowControl,
  Formatter,
  FormatterSyntax,
  Instruction,
  Mnemonic,
  Register,
} from 'iced-x86';

/** Reads guest bytes at a linear address; may return fewer bytes than asked (unmapped memory). */
export type ReadCode = (linear: number, length: number) => Uint8Array;
export type SymbolLookup = (address: number) => { name: string; offset: number } | undefined;

export interface DisassembledInstruction {
  readonly address: number;
  readonly bytes: Uint8Array;
  /** Intel syntax; undefined for memory that could not be read or decoded. */
  readonly text: string | undefined;
  /** `guest_start+0x12` for a branch target or a displacement that names a symbol. */
  readonly comment?: string;
}

/** What a step needs to know about one instruction. */
export interface StepInfo {
  readonly length: number;
  /** CALL, INT n/INTO/INT3, or a REP-prefixed string instruction: `next` runs to the following instruction. */
  readonly stepOver: boolean;
  readonly isReturn: boolean;
  readonly isCall: boolean;
}

const MAX_LENGTH = 15;

/** Code segment default operand size: 32-bit for a big CS in protected mode, else 16-bit (real mode, vm86). */
export function codeBitness(cpu: {
  readonly seg: readonly { readonly big: boolean }[];
  readonly protectedMode: boolean;
  readonly vm86: boolean;
}): 16 | 32 {
  return cpu.seg[1].big && cpu.protectedMode && !cpu.vm86 ? 32 : 16;
}

let sharedFormatter: Formatter | undefined;
let sharedInstruction: Instruction | undefined;

function formatter(): Formatter {
  if (!sharedFormatter) {
    const f = new Formatter(FormatterSyntax.Intel);
    f.hexPrefix = '0x';
    f.hexSuffix = '';
    f.uppercaseHex = false;
    f.spaceAfterOperandSeparator = true;
    f.firstOperandCharIndex = 8;
    sharedFormatter = f;
  }
  return sharedFormatter;
}

function instruction(): Instruction {
  sharedInstruction ??= new Instruction();
  return sharedInstruction;
}

function decodeOne(bytes: Uint8Array, address: number, bitness: 16 | 32): Instruction | undefined {
  if (bytes.length === 0) return undefined;
  const decoder = new Decoder(bitness, bytes, DecoderOptions.None);
  try {
    decoder.ip = BigInt(address >>> 0);
    const instr = instruction();
    decoder.decodeOut(instr);
    return instr.isInvalid ? undefined : instr;
  } finally {
    decoder.free();
  }
}

export function stepInfo(read: ReadCode, linear: number, bitness: 16 | 32): StepInfo | undefined {
  const instr = decodeOne(read(linear, MAX_LENGTH), linear, bitness);
  if (!instr) return undefined;
  const flow = instr.flowControl;
  const isCall = flow === FlowControl.Call || flow === FlowControl.IndirectCall;
  const isInterrupt = flow === FlowControl.Interrupt;
  const isRep = instr.isStringInstruction && (instr.hasRepPrefix || instr.hasRepePrefix || instr.hasRepnePrefix);
  const mnemonic = instr.mnemonic;
  const isReturn = flow === FlowControl.Return && mnemonic !== Mnemonic.Iret && mnemonic !== Mnemonic.Iretd;
  return { length: instr.length, stepOver: isCall || isInterrupt || isRep, isReturn, isCall };
}

function describe(read: ReadCode, address: number, bitness: 16 | 32, symbols: SymbolLookup): DisassembledInstruction {
  const raw = read(address, MAX_LENGTH);
  const instr = decodeOne(raw, address, bitness);
  if (!instr) return { address, bytes: raw.subarray(0, Math.min(1, raw.length)), text: undefined };
  const text = formatter().format(instr);
  let comment: string | undefined;
  const flow = instr.flowControl;
  if (flow === FlowControl.Call || flow === FlowControl.UnconditionalBranch || flow === FlowControl.ConditionalBranch) {
    const target = Number(instr.nearBranchTarget);
    const s = symbols(target);
    if (s) comment = s.offset === 0 ? s.name : `${s.name}+0x${s.offset.toString(16)}`;
  } else if (
    Number(instr.memoryDisplacement) >= 0x1000 &&
    instr.memoryBase === Register.None &&
    instr.memoryIndex === Register.None
  ) {
    const s = symbols(Number(instr.memoryDisplacement));
    if (s) comment = s.offset === 0 ? s.name : `${s.name}+0x${s.offset.toString(16)}`;
  }
  return { address, bytes: raw.slice(0, instr.length), text, ...(comment !== undefined ? { comment } : {}) };
}

/** Decodes forward from `start` until `end` is reached or passed; returns instruction start addresses. */
function walk(read: ReadCode, start: number, end: number, bitness: 16 | 32): number[] {
  const starts: number[] = [];
  let a = start;
  while (a < end) {
    starts.push(a);
    const instr = decodeOne(read(a, MAX_LENGTH), a, bitness);
    a += instr ? instr.length : 1;
  }
  if (a !== end) starts.push(-1);
  return starts;
}

/**
 * Start addresses of the `count` instructions that end at `reference`. x86 cannot be decoded backwards: decoding
 * starts from a known boundary (`anchor`, e.g. the enclosing symbol) or from candidate points before the reference,
 * and a start is accepted when its instruction stream lands exactly on the reference.
 */
function instructionsBefore(
  read: ReadCode,
  reference: number,
  count: number,
  bitness: 16 | 32,
  anchor: number | undefined,
): number[] {
  if (count <= 0) return [];
  const window = count * MAX_LENGTH;
  const candidates: number[] = [];
  if (anchor !== undefined && anchor < reference && reference - anchor <= 0x4000) candidates.push(anchor);
  for (let back = Math.min(window, reference); back >= Math.min(count * 4, reference); back -= 1) {
    candidates.push(reference - back);
    if (candidates.length > 64) break;
  }
  for (const start of candidates) {
    const starts = walk(read, start, reference, bitness);
    if (starts[starts.length - 1] === -1) continue;
    if (starts.length >= count || start === anchor) return starts.slice(-count);
  }
  // No decoding lands on the reference: show the bytes one by one.
  const out: number[] = [];
  for (let i = Math.min(count, reference); i > 0; i--) out.push(reference - i);
  return out;
}

/**
 * The DAP disassemble request: `count` instructions starting `offset` instructions from the one at `reference`
 * (negative offsets reach back). Addresses below 0 or above 4 GiB come back as invalid placeholders.
 */
export function disassemble(
  read: ReadCode,
  reference: number,
  offset: number,
  count: number,
  bitness: 16 | 32,
  symbols: SymbolLookup,
): DisassembledInstruction[] {
  const out: DisassembledInstruction[] = [];
  let skip = 0;
  if (offset < 0) {
    const anchorSymbol = symbols(reference);
    const anchor = anchorSymbol ? reference - anchorSymbol.offset : undefined;
    const before = instructionsBefore(read, reference, -offset, bitness, anchor);
    const missing = -offset - before.length;
    for (let i = 0; i < missing && out.length < count; i++) {
      out.push({ address: reference - missing + i - before.length, bytes: new Uint8Array(0), text: undefined });
    }
    for (const a of before) {
      if (out.length >= count) break;
      out.push(describe(read, a, bitness, symbols));
    }
  } else skip = offset;
  let a = reference;
  while (out.length < count) {
    if (a > 0xffffffff) {
      out.push({ address: a, bytes: new Uint8Array(0), text: undefined });
      a++;
      continue;
    }
    const d = describe(read, a, bitness, symbols);
    a += Math.max(1, d.bytes.length);
    if (skip > 0) {
      skip--;
      continue;
    }
    out.push(d);
  }
  return out;
}
