import { LoaderError } from './types';

/** Little-endian reads from an image with bounds checks that name the structure being read. */
export class ImageReader {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  require(offset: number, size: number, what: string): void {
    if (offset < 0 || size < 0 || offset + size > this.bytes.length) {
      throw new LoaderError(
        'truncated',
        `truncated image: ${what} needs bytes ${offset}..${offset + size - 1} but the file has ${this.bytes.length} bytes`,
      );
    }
  }

  u8(offset: number, what: string): number {
    this.require(offset, 1, what);
    return this.view.getUint8(offset);
  }

  u16(offset: number, what: string): number {
    this.require(offset, 2, what);
    return this.view.getUint16(offset, true);
  }

  u32(offset: number, what: string): number {
    this.require(offset, 4, what);
    return this.view.getUint32(offset, true);
  }

  u64(offset: number, what: string): bigint {
    this.require(offset, 8, what);
    return this.view.getBigUint64(offset, true);
  }

  slice(offset: number, size: number, what: string): Uint8Array {
    this.require(offset, size, what);
    return this.bytes.subarray(offset, offset + size);
  }

  /** A NUL-terminated string starting at `offset`, or up to the end of `limit` bytes. */
  cString(offset: number, limit: number): string {
    let end = offset;
    const stop = Math.min(this.bytes.length, offset + limit);
    while (end < stop && this.bytes[end] !== 0) end++;
    return new TextDecoder('latin1').decode(this.bytes.subarray(offset, end));
  }
}

/** A growable little-endian byte buffer for building boot structures. */
export class StructWriter {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u8(offset: number, value: number): void {
    this.view.setUint8(offset, value);
  }
  u16(offset: number, value: number): void {
    this.view.setUint16(offset, value, true);
  }
  u32(offset: number, value: number): void {
    this.view.setUint32(offset, value >>> 0, true);
  }
  u64(offset: number, value: number): void {
    this.view.setBigUint64(offset, BigInt(value), true);
  }
  set(offset: number, bytes: Uint8Array): void {
    this.bytes.set(bytes, offset);
  }
}

export function cStringBytes(text: string): Uint8Array {
  const encoded = new TextEncoder().encode(text);
  const out = new Uint8Array(encoded.length + 1);
  out.set(encoded);
  return out;
}

export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
