/**
 * The translator: decodes guest code with iced-x86 into basic blocks, compiles each block to a JavaScript
 * function once, caches it by physical address and CPU mode, chains successors, and invalidates blocks when the
 * memory holding their code is written.
 */
import { Decoder, DecoderOptions, Instruction, Mnemonic, OpKind } from 'iced-x86';
import { PageKind } from '../bus/physical';
import { BlockCodegen, assembleRegion, endsBlock } from './codegen';
import type { BlockMode, RegionPart } from './codegen';
import type { Cpu } from './cpu';
import { ALIGNMENT_CHECK_MODE } from './cpu';
import type { Decoded } from './decoded';
import { describe } from './decoded';
import { BlockHelpers } from './helpers';
import { TLB_INVALID } from './mmu';
import { Flag, GuestFault } from './state';

export interface Block {
  /**
   * Runs the block. A region takes the index of the member to start at and returns the index of the member it
   * left from (undefined after a fault).
   */
  readonly run: (entry: number) => number | undefined;
  /** Physical address of the first byte. */
  readonly physical: number;
  readonly mode: number;
  /** CS base + EIP at translation time. */
  readonly linear: number;
  readonly eip: number;
  readonly length: number;
  readonly count: number;
  /** Physical pages the block's bytes come from. */
  readonly pages: readonly number[];
  valid: boolean;
  /**
   * Successor cache with two ways (a conditional branch has two successors): the EIPs and blocks that followed,
   * each valid for one TLB generation.
   */
  nextEip: number;
  next: Block | undefined;
  nextGeneration: number;
  otherEip: number;
  other: Block | undefined;
  otherGeneration: number;
  executions: number;
  /** See CompiledBlock.inlineEnd. */
  readonly inlineEnd: boolean;
  /** A region this block is a member of, run in its place by the block chain (starting at member regionEntry). */
  region: Block | undefined;
  regionEntry: number;
  /** For a region: its blocks, the first being where it starts. */
  readonly members: readonly Block[] | undefined;
  /** Regions this block is a member of. */
  memberOf: Block[] | undefined;
}

export interface TranslatorStats {
  blocks: number;
  compiledInstructions: number;
  invalidations: number;
  lookups: number;
  chained: number;
  /** Regions compiled, and the blocks they hold in all. */
  regions: number;
  regionBlocks: number;
}

const MAX_BLOCK_INSTRUCTIONS = 64;
const MAX_FOLLOWED_JUMPS = 4;
const MAX_INSTRUCTION_LENGTH = 15;
const MAX_REGION_BLOCKS = 8;
const MAX_REGION_INSTRUCTIONS = 256;

interface DecodedBlock {
  insns: Instruction[];
  decoded: Decoded[];
  /** Bytes from the first instruction to the end of the last one decoded. */
  offset: number;
  pages: number[];
  firstPageBytes: number;
}

/** The target of a direct near JMP in 32-bit code that a block may continue at, or undefined. */
function followedJumpTarget(insn: Instruction, single: boolean, code32: boolean): number | undefined {
  if (single || !code32 || insn.mnemonic !== Mnemonic.Jmp) return undefined;
  return insn.op0Kind === OpKind.NearBranch32 ? insn.nearBranch32 >>> 0 : undefined;
}

/** The successor cache and execution count of a block that has not run yet. */
function unlinked(): Pick<
  Block,
  'nextEip' | 'next' | 'nextGeneration' | 'otherEip' | 'other' | 'otherGeneration' | 'executions'
> {
  return {
    nextEip: -1,
    next: undefined,
    nextGeneration: -1,
    otherEip: -1,
    other: undefined,
    otherGeneration: -1,
    executions: 0,
  };
}

export class Translator {
  private readonly cache = new Map<number, Block[]>();
  private readonly singles = new Map<number, Block[]>();
  private readonly pageBlocks = new Map<number, Set<Block>>();
  private readonly helpers: BlockHelpers;
  private current: Block | undefined;
  private previous: Block | undefined;
  /** Linear addresses where blocks must end before the instruction (debugger and DR0-3 instruction breakpoints). */
  private readonly breakpoints = new Set<number>();
  /** Block-chain executions after which a block becomes the start of a region (see buildRegion). */
  regionThreshold = 1000;
  readonly stats: TranslatorStats = {
    blocks: 0,
    compiledInstructions: 0,
    invalidations: 0,
    lookups: 0,
    chained: 0,
    regions: 0,
    regionBlocks: 0,
  };

  constructor(private readonly cpu: Cpu) {
    this.helpers = new BlockHelpers(cpu);
  }

  /** Runs the block at CS:EIP (translating it first if needed). */
  execute(): void {
    const block = this.nextBlock();
    if (block !== undefined) this.runBlock(block, 0);
  }

  /** The block at CS:EIP: the previous block's successor when cached, else looked up or translated. */
  private nextBlock(): Block | undefined {
    const cpu = this.cpu;
    const prev = this.previous;
    let block: Block | undefined;
    if (prev !== undefined) {
      const eip = cpu.eip;
      const generation = cpu.mmu.generation;
      if (prev.nextEip === eip && prev.nextGeneration === generation) block = prev.next;
      else if (prev.otherEip === eip && prev.otherGeneration === generation) block = prev.other;
      if (
        block !== undefined &&
        (!block.valid || block.mode !== cpu.mode || block.linear !== ((cpu.seg[1].base + eip) | 0))
      )
        block = undefined;
    }
    if (block !== undefined) this.stats.chained++;
    else {
      block = this.lookup(false);
      if (block === undefined) return undefined;
      if (prev !== undefined) {
        // The way that did not just miss keeps its successor: replace the primary only if it is stale.
        if (prev.nextGeneration !== cpu.mmu.generation || prev.next === undefined || !prev.next.valid) {
          prev.next = block;
          prev.nextEip = cpu.eip;
          prev.nextGeneration = cpu.mmu.generation;
        } else {
          prev.other = block;
          prev.otherEip = cpu.eip;
          prev.otherGeneration = cpu.mmu.generation;
        }
      }
    }
    return block;
  }

  /**
   * Runs blocks one after another for as long as nothing needs the run loop's attention: the budget is left,
   * no block asked to exit (I/O, MMIO, a pending-interrupt change, a fault being delivered with a stop), and
   * no instruction enabled interrupts, halted, set TF or opened an interrupt shadow. The caller checks
   * interrupts, breakpoints and single-stepping before calling it, and only when none is in use.
   */
  executeChain(): void {
    const cpu = this.cpu;
    for (;;) {
      const interruptsWereOff = ~cpu.eflags & Flag.IF;
      const block = this.nextBlock();
      if (block !== undefined) {
        // Blocks in the chain may run as part of a region: breakpoints and single-stepping never get here.
        if (block.region !== undefined) this.runBlock(block.region, block.regionEntry);
        else if (++block.executions === this.regionThreshold && this.buildRegion(block))
          this.runBlock(block.region!, 0);
        else this.runBlock(block, 0);
      }
      if (
        cpu.blockExit ||
        cpu.icount >= cpu.icountLimit ||
        cpu.eflags & (interruptsWereOff | Flag.TF) ||
        cpu.halted ||
        cpu.interruptShadow ||
        cpu.pendingDebugTrap !== 0 ||
        cpu.nmiPending ||
        cpu.exitRequested
      )
        return;
    }
  }

  /** Runs exactly one instruction. */
  executeOne(): void {
    const block = this.lookup(true);
    if (block !== undefined) this.runBlock(block, 0);
    this.previous = undefined;
  }

  private runBlock(block: Block, entry: number): void {
    const cpu = this.cpu;
    this.current = block;
    cpu.blockExit = false;
    cpu.accessInsnInBlock = 0;
    cpu.stopBeforeAccessAllowed = true;
    const last = block.run(entry);
    cpu.stopBeforeAccessAllowed = false;
    cpu.accessInsnInBlock = 0;
    this.current = undefined;
    // A region returns the member it left from: the chain goes on from that block's successors.
    const from = block.members === undefined ? block : last === undefined ? undefined : block.members[last];
    this.previous = block.valid && from?.valid ? from : undefined;
  }

  /** Forgets chaining (after a TLB flush or mode change the successor may differ). */
  flushSuccessors(): void {
    this.previous = undefined;
  }

  private lookup(single: boolean): Block | undefined {
    const cpu = this.cpu;
    const linear = (cpu.seg[1].base + cpu.eip) | 0;
    this.stats.lookups++;
    let physical: number;
    try {
      // Mode bit 128: CS is flat (base 0, 4 GiB limit), where no fetch can pass the limit.
      if (!(this.cpu.mode & 128)) this.checkFetchLimit();
      physical = this.fetchTranslate(linear);
    } catch (e) {
      if (e instanceof GuestFault) {
        this.previous = undefined;
        cpu.deliverException(e);
        return undefined;
      }
      throw e;
    }
    const map = single ? this.singles : this.cache;
    const list = map.get(physical);
    if (list) {
      for (const b of list) {
        if (b.mode === cpu.mode && b.linear === linear && b.valid && this.secondPageMatches(b)) return b;
      }
    }
    let block: Block | undefined;
    try {
      block = this.translate(linear, physical, single);
    } catch (e) {
      // An instruction that crosses into a page that cannot be fetched: #PF with CR2 = that page.
      if (e instanceof GuestFault) {
        this.previous = undefined;
        cpu.deliverException(e);
        return undefined;
      }
      throw e;
    }
    if (block === undefined) return undefined;
    const entry = map.get(physical);
    if (entry) entry.push(block);
    else map.set(physical, [block]);
    return block;
  }

  /** A block that continues on a second page is valid only while that page still maps to the same frame. */
  private secondPageMatches(block: Block): boolean {
    if (block.pages.length < 2) return true;
    try {
      return this.fetchTranslate(((block.linear & ~0xfff) + 0x1000) | 0) >>> 12 === block.pages[1];
    } catch (e) {
      if (e instanceof GuestFault) return false;
      throw e;
    }
  }

  /** EIP beyond the CS limit faults with #GP(0) before fetching (SDM 6.15, #GP). */
  private checkFetchLimit(): void {
    const cs = this.cpu.seg[1];
    if (this.cpu.eip >>> 0 > cs.limit) throw new GuestFault(13, 0);
  }

  private fetchTranslate(linear: number): number {
    const cpu = this.cpu;
    const user = cpu.cpl === 3;
    const entry = cpu.mmu.tlbs[user ? 2 : 0][linear >>> 12];
    if ((entry & TLB_INVALID) === 0) return (entry ^ linear) >>> 0;
    return cpu.mmu.translate(linear, false, user);
  }

  /** Reads up to `length` code bytes from `linear`, stopping at a page that cannot be translated. */
  private fetchBytes(
    linear: number,
    physical: number,
    length: number,
  ): { bytes: Uint8Array; pages: number[]; firstPageBytes: number } {
    const firstPageBytes = 0x1000 - (linear & 0xfff);
    const pages = [physical >>> 12];
    const first = this.cpu.phys.debugRead(physical, Math.min(length, firstPageBytes));
    if (length <= firstPageBytes) return { bytes: first, pages, firstPageBytes };
    let secondPhysical: number;
    try {
      secondPhysical = this.fetchTranslate((linear + firstPageBytes) | 0);
    } catch (e) {
      if (e instanceof GuestFault) return { bytes: first, pages, firstPageBytes };
      throw e;
    }
    const second = this.cpu.phys.debugRead(secondPhysical, Math.min(MAX_INSTRUCTION_LENGTH, length - firstPageBytes));
    const bytes = new Uint8Array(first.length + second.length);
    bytes.set(first);
    bytes.set(second, first.length);
    pages.push(secondPhysical >>> 12);
    return { bytes, pages, firstPageBytes };
  }

  private blockMode(): BlockMode {
    const m = this.cpu.mode;
    return {
      code32: (m & 1) !== 0,
      stack32: (m & 2) !== 0,
      protectedMode: (m & 4) !== 0,
      cpl: (m >> 3) & 3,
      vm86: (m & 32) !== 0,
      flatMask: (m >> 6) & 63,
      alignmentCheck: (m & ALIGNMENT_CHECK_MODE) !== 0,
    };
  }

  /**
   * Decodes the block at `eip` (linear and physical address of its first byte). With `length`, decodes again a
   * block that was translated from those bytes (of its first page) before.
   */
  private decode(
    linear: number,
    physical: number,
    eip: number,
    single: boolean,
    mode: BlockMode,
    length?: number,
  ): DecodedBlock {
    const cpu = this.cpu;
    // The rest of the page (and one instruction's length beyond): followed jumps may continue anywhere in it, and
    // every decode that starts on this page has its 15 bytes unless the next page cannot be fetched.
    const limit = length ?? (single ? MAX_INSTRUCTION_LENGTH : 0x1000 - (linear & 0xfff) + MAX_INSTRUCTION_LENGTH);
    const { bytes, pages, firstPageBytes } =
      length === undefined
        ? this.fetchBytes(linear, physical, limit)
        : {
            bytes: cpu.phys.debugRead(physical, length),
            pages: [physical >>> 12],
            firstPageBytes: 0x1000 - (linear & 0xfff),
          };
    const decoder = new Decoder(mode.code32 ? 32 : 16, bytes, DecoderOptions.None);
    decoder.ip = BigInt(eip >>> 0);
    const insns: Instruction[] = [];
    const decoded: Decoded[] = [];
    let offset = 0;
    let followed = 0;
    try {
      while (insns.length < (single ? 1 : MAX_BLOCK_INSTRUCTIONS) && decoder.canDecode) {
        const here = (linear + offset) | 0;
        if (insns.length > 0 && this.breakpoints.has(here)) break;
        // Instructions that start on the next page belong to another block.
        if (offset >= firstPageBytes && !single) break;
        // So do instructions beyond the CS limit: their fetch faults when their block is looked up.
        if (insns.length > 0 && !(cpu.mode & 128) && (eip + offset) >>> 0 > cpu.seg[1].limit) break;
        const insn = decoder.decode();
        // A truncated decode at the end of the fetched bytes means the instruction crosses into a page that
        // could not be fetched: translate it on its own so that its fetch raises the #PF.
        const truncated = insn.isInvalid && offset + MAX_INSTRUCTION_LENGTH > bytes.length && bytes.length < limit;
        if (truncated) {
          insn.free();
          if (insns.length === 0) {
            this.fetchTranslate((linear + firstPageBytes) | 0);
          }
          break;
        }
        insns.push(insn);
        decoded.push(describe(insn, bytes.subarray(offset, offset + insn.length), mode.code32));
        offset += insn.length;
        if (insn.isInvalid) break;
        if (endsBlock(insn)) {
          // A direct JMP forward within the fetched bytes: go on decoding at its target in the same block (the
          // code generator emits nothing for it), so that jumps over else-branches and to epilogues cost no
          // block transition. The loop's checks (breakpoints, page end, CS limit) then apply to the target.
          const target = followedJumpTarget(insn, single, mode.code32);
          const targetOffset = target === undefined ? -1 : (target - eip) >>> 0;
          if (target === undefined || targetOffset <= offset || targetOffset >= firstPageBytes) break;
          if (++followed > MAX_FOLLOWED_JUMPS) break;
          offset = targetOffset;
          decoder.position = targetOffset;
          decoder.ip = BigInt(target);
          continue;
        }
        if (!mode.code32 && insn.nextIP32 > 0xffff) break;
      }
      if (insns.length === 0) {
        // Nothing decodable: the fetch itself must fault or the bytes are invalid (#UD on execution).
        const insn = decoder.canDecode ? decoder.decode() : new Instruction();
        insns.push(insn);
        decoded.push(describe(insn, bytes.subarray(0, Math.max(1, insn.length)), mode.code32));
        offset += Math.max(1, insn.length);
      }
    } catch (e) {
      for (const insn of insns) insn.free();
      throw e;
    } finally {
      decoder.free();
    }
    return { insns, decoded, offset, pages, firstPageBytes };
  }

  /** Compiles generated block or region source into its function. */
  private instantiate(
    source: string,
    eips: readonly number[],
    decoded: Decoded[],
    kOffsets?: number[],
  ): (entry: number) => number | undefined {
    const cpu = this.cpu;
    const factory = new Function(
      'cpu',
      'R',
      'ram',
      'dv',
      'TRS',
      'TWS',
      'TRU',
      'TWU',
      'h',
      'E',
      'D',
      'KO',
      // Parenthesised, V8 compiles the block function with the factory instead of pre-parsing it now and parsing
      // it again on its first call (about a third less compile time per block).
      `return (function block(pc) {\n${source}\n});`,
    ) as (...args: unknown[]) => (entry: number) => number | undefined;
    const m = cpu.mmu;
    return factory(
      cpu,
      cpu.regs,
      cpu.phys.ram,
      cpu.phys.ramView,
      m.tlbs[0],
      m.tlbs[1],
      m.tlbs[2],
      m.tlbs[3],
      this.helpers,
      Int32Array.from(eips),
      decoded,
      kOffsets === undefined ? undefined : Int32Array.from(kOffsets),
    );
  }

  private translate(linear: number, physical: number, single: boolean): Block | undefined {
    const cpu = this.cpu;
    const mode = this.blockMode();
    const eip = cpu.eip;
    const { insns, decoded, offset, pages, firstPageBytes } = this.decode(linear, physical, eip, single, mode);
    try {
      const codegen = new BlockCodegen(mode, eip);
      const compiled = codegen.compile(insns);
      const usedPages = offset > firstPageBytes ? pages : [pages[0]];
      const run = this.instantiate(compiled.source, compiled.eips, decoded);
      const block: Block = {
        run,
        physical,
        mode: cpu.mode,
        linear,
        eip,
        length: offset,
        count: compiled.count,
        pages: usedPages,
        valid: true,
        ...unlinked(),
        inlineEnd: compiled.inlineEnd && !single,
        region: undefined,
        regionEntry: 0,
        members: undefined,
        memberOf: undefined,
      };
      this.register(block);
      this.stats.blocks++;
      this.stats.compiledInstructions += compiled.count;
      return block;
    } finally {
      for (const insn of insns) insn.free();
    }
  }

  /**
   * Compiles a region starting at the hot block `head`: the blocks the chain has gone to from it and from each
   * other (their successor caches), as long as they start and end on its page in flat 32-bit code and end in
   * branches of their own. A region runs exactly the blocks the chain would run, in one function; it is never
   * used while breakpoints exist or an instruction runs alone (single-stepping, interrupt shadows). Returns false
   * when there is nothing to gain (fewer than two blocks).
   */
  private buildRegion(head: Block): boolean {
    const cpu = this.cpu;
    const mode = head.mode;
    // Mode bits 1 and 128: 32-bit code, flat CS (so EIP is the linear address).
    if ((mode & 129) !== 129 || mode !== cpu.mode || !this.isRegionMember(head, head)) return false;
    const members = [head];
    const index = new Map<number, number>([[head.eip, 0]]);
    let instructions = head.count;
    for (let i = 0; i < members.length; i++) {
      const b = members[i];
      for (const s of [b.next, b.other]) {
        if (s === undefined || index.has(s.eip) || !this.isRegionMember(s, head)) continue;
        if (members.length >= MAX_REGION_BLOCKS || instructions + s.count > MAX_REGION_INSTRUCTIONS) continue;
        index.set(s.eip, members.length);
        members.push(s);
        instructions += s.count;
      }
    }
    if (members.length < 2) return false;
    const blockMode = this.blockMode();
    const parts: RegionPart[] = [];
    const eips: number[] = [];
    const kOffsets: number[] = [];
    const decodedAll: Decoded[] = [];
    for (const m of members) {
      const d = this.decode(m.linear, m.physical, m.eip, false, blockMode, m.length);
      try {
        if (d.offset !== m.length || d.insns.length !== m.count) return false;
        const codegen = new BlockCodegen(blockMode, m.eip, { kBase: eips.length, link: (eip) => index.get(eip) });
        const part = codegen.compileForRegion(d.insns);
        parts.push(part);
        part.eips.forEach((eip, i) => {
          eips.push(eip);
          kOffsets.push(i);
        });
        decodedAll.push(...d.decoded);
      } finally {
        for (const insn of d.insns) insn.free();
      }
    }
    const run = this.instantiate(assembleRegion(parts), eips, decodedAll, kOffsets);
    const region: Block = {
      ...head,
      run,
      count: eips.length,
      valid: true,
      ...unlinked(),
      region: undefined,
      regionEntry: 0,
      members,
      memberOf: undefined,
    };
    members.forEach((m, i) => {
      (m.memberOf ??= []).push(region);
      if (m.region === undefined) {
        m.region = region;
        m.regionEntry = i;
      }
    });
    this.stats.regions++;
    this.stats.regionBlocks += members.length;
    return true;
  }

  private isRegionMember(block: Block, head: Block): boolean {
    return (
      block.valid &&
      block.inlineEnd &&
      block.mode === head.mode &&
      block.pages.length === 1 &&
      block.pages[0] === head.pages[0] &&
      block.linear >>> 12 === head.linear >>> 12
    );
  }

  /** A region stops being used when one of its blocks is invalidated. */
  private dropRegion(region: Block): void {
    if (!region.valid) return;
    region.valid = false;
    const members = region.members!;
    for (const m of members) {
      if (m.region === region) m.region = undefined;
      const list = m.memberOf;
      if (list === undefined) continue;
      const i = list.indexOf(region);
      if (i >= 0) list.splice(i, 1);
    }
    if (region === this.current) this.cpu.blockExit = true;
    if (this.previous === region) this.previous = undefined;
  }

  private register(block: Block): void {
    const mmu = this.cpu.mmu;
    for (const page of block.pages) {
      let set = this.pageBlocks.get(page);
      if (!set) {
        set = new Set();
        this.pageBlocks.set(page, set);
      }
      set.add(block);
      if (!mmu.codePages[page]) {
        mmu.codePages[page] = 1;
        // Writes to this page must now take the slow path so they can invalidate the block.
        mmu.flushWrites();
      }
    }
  }

  /** Invalidates every block whose bytes overlap [physical, physical + length). */
  invalidate(physical: number, length: number): void {
    const end = physical + length;
    for (let page = physical >>> 12; page <= (end - 1) >>> 12; page++) {
      const set = this.pageBlocks.get(page);
      if (!set) continue;
      for (const block of set) {
        const start = block.physical;
        // A block may continue on a second page; its bytes there start at the page base.
        const overlaps = block.pages.length > 1 || (start < end && physical < start + block.length);
        if (!overlaps) continue;
        this.remove(block);
        if (block === this.current) this.cpu.blockExit = true;
      }
      if (set.size === 0) {
        this.pageBlocks.delete(page);
        this.cpu.mmu.codePages[page] = 0;
      }
    }
  }

  private remove(block: Block): void {
    block.valid = false;
    this.stats.invalidations++;
    for (const page of block.pages) this.pageBlocks.get(page)?.delete(block);
    for (const map of [this.cache, this.singles]) {
      const list = map.get(block.physical);
      if (!list) continue;
      const rest = list.filter((b) => b !== block);
      if (rest.length) map.set(block.physical, rest);
      else map.delete(block.physical);
    }
    if (block.memberOf !== undefined) for (const region of [...block.memberOf]) this.dropRegion(region);
    if (this.previous === block) this.previous = undefined;
  }

  /** Drops every translated block (after breakpoints change, or on reset). */
  flushAll(): void {
    for (const set of this.pageBlocks.values()) {
      for (const b of set) {
        b.valid = false;
        if (b.region !== undefined) this.dropRegion(b.region);
      }
    }
    for (const page of this.pageBlocks.keys()) this.cpu.mmu.codePages[page] = 0;
    this.pageBlocks.clear();
    this.cache.clear();
    this.singles.clear();
    this.previous = undefined;
  }

  /** Sets the linear addresses at which blocks end, so that a stop before those instructions is exact. */
  setBreakpoints(linears: Iterable<number>): void {
    this.breakpoints.clear();
    for (const a of linears) this.breakpoints.add(a | 0);
    this.flushAll();
  }

  hasBreakpoint(linear: number): boolean {
    return this.breakpoints.has(linear | 0);
  }

  debugRegistersChanged(): void {
    this.cpu.debugRegistersChanged();
  }

  /** Pages with translated code, for diagnostics. */
  codePageCount(): number {
    return this.pageBlocks.size;
  }

  isRam(physical: number): boolean {
    return this.cpu.phys.pageKind[physical >>> 12] === PageKind.Ram;
  }
}
