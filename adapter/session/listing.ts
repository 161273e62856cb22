/**
 * Disassembly listings served as DAP sources (`sourceReference`) for stack frames that have no source file.
 *
 * VS Code focuses a stack frame after a stop only when the frame has a source, unless the stop came from an
 * instruction breakpoint or an instruction step. Without one, a stop on an MMIO watchpoint in code without line
 * information leaves the Variables view empty until the user clicks the frame. With a listing, VS Code focuses
 * the frame, opens the listing at the stopped instruction, and lets the user set breakpoints in its gutter.
 *
 * A listing covers the enclosing function when the image's symbols give its extent, otherwise a window of
 * instructions around the address. Listings are kept and reused across stops while the bytes they show are
 * unchanged in guest memory, so that VS Code keeps one editor per function.
 */
import type { DisassembledInstruction, ReadCode, SymbolLookup } from './disasm';
import { disassemble } from './disasm';

/** The language our package.json contributes for listings, picked by VS Code from the `source` response. */
export const LISTING_MIME_TYPE = 'text/x-mmiodbg-disassembly';

/** Functions up to this size are listed whole; a larger one gets a window around the address. */
const MAX_FUNCTION_BYTES = 0x2000;
const WINDOW_BEFORE = 24;
const WINDOW_AFTER = 100;
/** A window listing is not reused for an address this close to its end: a new window shows what follows. */
const WINDOW_MARGIN = 16;
const MAX_LISTINGS = 256;
/** Room for the bytes of a 7-byte instruction; longer ones push their text right. */
const BYTES_COLUMN = 21;

export interface FunctionExtent {
  readonly name: string;
  readonly address: number;
  readonly size: number;
}

export interface ListingContext {
  readonly read: ReadCode;
  readonly bitness: 16 | 32;
  readonly symbolAt: SymbolLookup;
  /** The function symbol containing `address`, with its size when the image records one. */
  readonly functionAt: (address: number) => FunctionExtent | undefined;
  /** `hello.c:34` from the image's line information, when it has some (its files need not be present). */
  readonly sourceLineAt?: (address: number) => string | undefined;
}

export interface Listing {
  readonly reference: number;
  /** The editor tab's title. */
  readonly name: string;
  readonly start: number;
  readonly end: number;
  readonly bitness: 16 | 32;
  readonly text: string;
  /** The address of each line (index = line - 1); undefined for header and label lines. */
  readonly lineAddresses: readonly (number | undefined)[];
  readonly window: boolean;
  /** Guest bytes [start, end) when the listing was made: a listing whose bytes changed is not reused. */
  readonly bytes: Uint8Array;
  readonly lineOf: ReadonlyMap<number, number>;
}

export interface ListingLocation {
  readonly listing: Listing;
  readonly line: number;
}

function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

function bytesText(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Listings {
  private nextReference = 1;
  private readonly byReference = new Map<number, Listing>();

  /** The listing line of the instruction at `address`, making a listing when no kept one shows it. */
  locate(address: number, context: ListingContext): ListingLocation | undefined {
    address >>>= 0;
    for (const listing of this.byReference.values()) {
      const line = listing.lineOf.get(address);
      if (line === undefined || listing.bitness !== context.bitness) continue;
      if (listing.window && line > listing.lineAddresses.length - WINDOW_MARGIN) continue;
      if (!sameBytes(context.read(listing.start, listing.end - listing.start), listing.bytes)) continue;
      // Most recently used last, so that eviction drops the listing used longest ago.
      this.byReference.delete(listing.reference);
      this.byReference.set(listing.reference, listing);
      return { listing, line };
    }
    const listing = this.make(address, context);
    if (!listing) return undefined;
    this.byReference.set(listing.reference, listing);
    while (this.byReference.size > MAX_LISTINGS) {
      const oldest = this.byReference.keys().next().value;
      if (oldest === undefined) break;
      this.byReference.delete(oldest);
    }
    const line = listing.lineOf.get(address);
    return line === undefined ? undefined : { listing, line };
  }

  get(reference: number): Listing | undefined {
    return this.byReference.get(reference);
  }

  /** The address a breakpoint on `line` stops at: that line's instruction, or the next one below a label. */
  addressForLine(reference: number, line: number): { address: number; line: number } | undefined {
    const listing = this.byReference.get(reference);
    if (!listing) return undefined;
    for (let l = Math.max(1, line); l <= listing.lineAddresses.length; l++) {
      const address = listing.lineAddresses[l - 1];
      if (address !== undefined) return { address, line: l };
    }
    return undefined;
  }

  /** A new machine (restart) invalidates every listing; references keep counting so none is ever reused. */
  clear(): void {
    this.byReference.clear();
  }

  private make(address: number, context: ListingContext): Listing | undefined {
    const fn = context.functionAt(address);
    if (fn && fn.size > 0 && fn.size <= MAX_FUNCTION_BYTES) {
      const start = fn.address >>> 0;
      const end = start + fn.size;
      const instructions = this.decodeRange(context, start, end);
      if (instructions.some((i) => i.address === address)) {
        return this.build(context, fn.name, start, end, instructions, false);
      }
    }
    const around = disassemble(
      context.read,
      address,
      -WINDOW_BEFORE,
      WINDOW_BEFORE + WINDOW_AFTER,
      context.bitness,
      context.symbolAt,
    ).filter((i) => i.address >= 0 && i.address <= 0xffffffff && (i.text !== undefined || i.bytes.length > 0));
    // Nothing decodable at the address (unmapped memory): no listing.
    if (!around.some((i) => i.address === address)) return undefined;
    // The window starts no earlier than the symbol the address is in: what lies before it is other code or data.
    const symbol = context.symbolAt(address);
    if (symbol) {
      const anchor = address - symbol.offset;
      const at = around.findIndex((i) => i.address === anchor);
      if (at > 0) around.splice(0, at);
    }
    const first = around[0];
    const last = around[around.length - 1];
    const start = first.address;
    const end = last.address + Math.max(1, last.bytes.length);
    const name = symbol
      ? symbol.offset === 0
        ? symbol.name
        : `${symbol.name}+0x${symbol.offset.toString(16)}`
      : hex32(address);
    return this.build(context, name, start, end, around, true);
  }

  private decodeRange(context: ListingContext, start: number, end: number): DisassembledInstruction[] {
    const out: DisassembledInstruction[] = [];
    let address = start;
    while (address < end) {
      const [instruction] = disassemble(context.read, address, 0, 1, context.bitness, context.symbolAt);
      out.push(instruction);
      address += Math.max(1, instruction.bytes.length);
    }
    return out;
  }

  private build(
    context: ListingContext,
    name: string,
    start: number,
    end: number,
    instructions: readonly DisassembledInstruction[],
    window: boolean,
  ): Listing {
    const reference = this.nextReference++;
    const what = window ? `instructions around ${name}` : name;
    const lines: string[] = [
      `; ${what}: ${hex32(start)}-${hex32(end - 1)}, ${context.bitness}-bit code disassembled from guest memory`,
    ];
    const lineAddresses: (number | undefined)[] = [undefined];
    const lineOf = new Map<number, number>();
    let lastSourceLine: string | undefined;
    for (const i of instructions) {
      const symbol = context.symbolAt(i.address);
      if (symbol && symbol.offset === 0) {
        lines.push(`${symbol.name}:`);
        lineAddresses.push(undefined);
      }
      const sourceLine = context.sourceLineAt?.(i.address);
      if (sourceLine !== undefined && sourceLine !== lastSourceLine) {
        lines.push(`    ; ${sourceLine}`);
        lineAddresses.push(undefined);
      }
      lastSourceLine = sourceLine;
      const text = i.text === undefined ? '??' : i.comment !== undefined ? `${i.text}  ; ${i.comment}` : i.text;
      lines.push(`  ${hex32(i.address)}  ${bytesText(i.bytes).padEnd(BYTES_COLUMN)} ${text}`);
      lineAddresses.push(i.address);
      // An undecodable instruction (`??`) has a line too: a stop on #UD shows its bytes.
      if (i.bytes.length > 0) lineOf.set(i.address, lines.length);
    }
    return {
      reference,
      name: `${name}.dis`,
      start,
      end,
      bitness: context.bitness,
      text: lines.join('\n') + '\n',
      lineAddresses,
      window,
      bytes: context.read(start, end - start).slice(),
      lineOf,
    };
  }
}
