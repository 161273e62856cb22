/** The adapter's store of disassembly listings, on a fake guest memory (no emulator). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FunctionExtent, ListingContext } from '../../adapter/session/listing';
import { Listings } from '../../adapter/session/listing';

const BASE = 0x1000;

/** A guest memory of `code` at BASE, with one sized function `f` over [BASE + 4, BASE + 4 + fSize). */
function context(memory: Uint8Array, fSize: number): ListingContext {
  const f: FunctionExtent = { name: 'f', address: BASE + 4, size: fSize };
  return {
    read: (linear, length) => {
      const start = linear - BASE;
      if (start < 0 || start >= memory.length) return new Uint8Array(0);
      return memory.subarray(start, Math.min(memory.length, start + length));
    },
    bitness: 32,
    symbolAt: (a) => (a >= f.address && a < f.address + f.size ? { name: 'f', offset: a - f.address } : undefined),
    functionAt: (a) => (a >= f.address && a < f.address + f.size ? f : undefined),
  };
}

/** 4 NOPs, then f: push ebp; mov ebp, esp; inc eax; inc eax; pop ebp; ret (8 bytes), then 200 NOPs. */
function memory(): Uint8Array {
  const f = [0x55, 0x89, 0xe5, 0x40, 0x40, 0x5d, 0xc3];
  return new Uint8Array([0x90, 0x90, 0x90, 0x90, ...f, ...new Array<number>(200).fill(0x90)]);
}

void describe('disassembly listing store', () => {
  void it('lists a sized function whole, one line per instruction under its label', () => {
    const listings = new Listings();
    const located = listings.locate(BASE + 7, context(memory(), 7));
    assert.ok(located);
    const lines = located.listing.text.trimEnd().split('\n');
    assert.equal(located.listing.name, 'f.dis');
    assert.equal(lines[0], '; f: 0x00001004-0x0000100a, 32-bit code disassembled from guest memory');
    assert.equal(lines[1], 'f:');
    assert.equal(lines.length, 2 + 6);
    assert.match(lines[located.line - 1], /^ {2}0x00001007 {2}40\s+inc\s+eax$/);
    assert.deepEqual(listings.addressForLine(located.listing.reference, 2), { address: BASE + 4, line: 3 });
    assert.equal(listings.addressForLine(located.listing.reference, 99), undefined);
  });

  void it('reuses a listing while its bytes are unchanged, and makes a new one when the code changed', () => {
    const mem = memory();
    const ctx = context(mem, 7);
    const listings = new Listings();
    const first = listings.locate(BASE + 4, ctx);
    const again = listings.locate(BASE + 8, ctx);
    assert.equal(again?.listing.reference, first?.listing.reference);
    mem[BASE + 7 - BASE] = 0x48; // inc eax -> dec eax
    const changed = listings.locate(BASE + 8, ctx);
    assert.ok(changed && first);
    assert.notEqual(changed.listing.reference, first.listing.reference);
    assert.match(changed.listing.text, /dec\s+eax/);
    // The old reference still serves its text, for an editor that shows it.
    assert.match(listings.get(first.listing.reference)?.text ?? '', /0x00001007 {2}40 /);
  });

  void it('lists a window around an address no sized function covers, and a new window near its end', () => {
    const ctx = context(memory(), 7);
    const listings = new Listings();
    const window = listings.locate(BASE + 100, ctx);
    assert.ok(window);
    assert.equal(window.listing.window, true);
    assert.equal(window.listing.name, '0x00001064.dis');
    assert.match(window.listing.text.split('\n')[0], /^; instructions around 0x00001064: /);
    // Back to the function's ret at most: the window does not reach back into a symbol the address is not in.
    const nearEnd = window.listing.lineAddresses.filter((a) => a !== undefined).at(-3);
    assert.ok(nearEnd !== undefined);
    const next = listings.locate(nearEnd, ctx);
    assert.notEqual(next?.listing.reference, window.listing.reference);
    const inside = listings.locate(BASE + 101, ctx);
    assert.equal(inside?.listing.reference, window.listing.reference);
  });

  void it('marks where the source line changes, when the image has line information', () => {
    const ctx: ListingContext = {
      ...context(memory(), 7),
      sourceLineAt: (a) => (a < BASE + 7 ? 'f.c:10' : 'f.c:11'),
    };
    const located = new Listings().locate(BASE + 7, ctx);
    assert.ok(located);
    const lines = located.listing.text.trimEnd().split('\n');
    assert.deepEqual(lines.slice(1, 3), ['f:', '    ; f.c:10']);
    assert.equal(lines[located.line - 2], '    ; f.c:11');
    assert.equal(lines.filter((l) => l.includes('; f.c:')).length, 2);
  });

  void it('lists an undecodable instruction as ?? with its byte, so that a stop on #UD has its line', () => {
    // nop; 0f 04 (no such opcode); nop...
    const mem = new Uint8Array([0x90, 0x0f, 0x04, ...new Array<number>(64).fill(0x90)]);
    const located = new Listings().locate(BASE + 1, context(mem, 0));
    assert.ok(located);
    assert.match(located.listing.text.split('\n')[located.line - 1], /^ {2}0x00001001 {2}0f\s+\?\?$/);
  });

  void it('has no listing where nothing can be read, and forgets everything on clear', () => {
    const ctx = context(memory(), 7);
    const listings = new Listings();
    assert.equal(listings.locate(0x9000_0000, ctx), undefined);
    const located = listings.locate(BASE + 4, ctx);
    assert.ok(located);
    listings.clear();
    assert.equal(listings.get(located.listing.reference), undefined);
    const after = listings.locate(BASE + 4, ctx);
    assert.ok(after && after.listing.reference > located.listing.reference);
  });
});
