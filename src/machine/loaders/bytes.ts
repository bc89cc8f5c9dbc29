/**
 * Bounds-checked little-endian access to an image file and to structures being built. Every read
 * past the end of the file becomes a `LoadError` naming the file, the field and the offsets, so
 * loaders never raise a RangeError on truncated input.
 */

import { LoadError } from "./errors.ts";

/** `0x`-prefixed lower-case hexadecimal (for error messages and documentation). */
export function hex(n: number): string {
  return n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`;
}

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const PAGE = 4096;

export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export function isPowerOfTwo(n: number): boolean {
  if (!Number.isSafeInteger(n) || n <= 0) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

/** Reads fields of an input file, failing with a `LoadError` naming `name` when out of bounds. */
export class ImageReader {
  readonly dv: DataView;
  constructor(readonly name: string, readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  fail(problem: string): never {
    throw new LoadError(this.name, problem);
  }

  /** Checks that `len` bytes at `off` are inside the file. */
  need(off: number, len: number, what: string): void {
    if (
      !Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < 0 ||
      off + len > this.bytes.length
    ) {
      this.fail(
        `${what} extends past the end of the file (offset ${hex(off)} + ${hex(len)} > ${
          hex(this.bytes.length)
        })`,
      );
    }
  }

  has(off: number, len: number): boolean {
    return Number.isSafeInteger(off) && Number.isSafeInteger(len) && off >= 0 && len >= 0 &&
      off + len <= this.bytes.length;
  }

  u8(off: number, what: string): number {
    this.need(off, 1, what);
    return this.bytes[off]!;
  }

  u16(off: number, what: string): number {
    this.need(off, 2, what);
    return this.dv.getUint16(off, true);
  }

  u32(off: number, what: string): number {
    this.need(off, 4, what);
    return this.dv.getUint32(off, true);
  }

  /**
   * A 64-bit field as a number: exact below 2^53, and above that still larger than any file or
   * address the loaders accept (so range checks against it stay correct).
   */
  u64(off: number, what: string): number {
    this.need(off, 8, what);
    return this.dv.getUint32(off + 4, true) * 2 ** 32 + this.dv.getUint32(off, true);
  }

  /** A 64-bit field, exactly. */
  u64big(off: number, what: string): bigint {
    this.need(off, 8, what);
    return this.dv.getBigUint64(off, true);
  }

  /** A copy of `len` bytes at `off`. */
  slice(off: number, len: number, what: string): Uint8Array {
    this.need(off, len, what);
    return this.bytes.slice(off, off + len);
  }

  /** A NUL-terminated string starting at `off` (at most `max` bytes), or null if unterminated. */
  cstring(off: number, max: number): string | null {
    if (!this.has(off, 0)) return null;
    let s = "";
    for (let i = off; i < this.bytes.length && i < off + max; i++) {
      const c = this.bytes[i]!;
      if (c === 0) return s;
      s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : "?";
    }
    return null;
  }
}

/** Little-endian writer over a new zeroed buffer (for boot structures). */
export class StructWriter {
  readonly bytes: Uint8Array;
  readonly dv: DataView;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.dv = new DataView(this.bytes.buffer);
  }
  u8(off: number, v: number): this {
    this.dv.setUint8(off, v);
    return this;
  }
  u16(off: number, v: number): this {
    this.dv.setUint16(off, v, true);
    return this;
  }
  u32(off: number, v: number): this {
    this.dv.setUint32(off, v >>> 0, true);
    return this;
  }
  /** `v` must be a non-negative safe integer. */
  u64(off: number, v: number): this {
    this.dv.setUint32(off, v % 2 ** 32, true);
    this.dv.setUint32(off + 4, Math.floor(v / 2 ** 32), true);
    return this;
  }
  set(off: number, b: Uint8Array): this {
    this.bytes.set(b, off);
    return this;
  }
}
