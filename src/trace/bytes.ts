/**
 * Byte-level building blocks: a growable little-endian writer and a bounds-checked reader with
 * unsigned LEB128 varints. The reader never reads past its end and never returns a value it cannot
 * represent exactly; every problem is a DecodeError at the offending position.
 */
import { DecodeError } from "./errors.ts";

/** A growable byte buffer. Integers written here must already be validated by the caller. */
export class ByteWriter {
  #buf: Uint8Array<ArrayBuffer>;
  #len = 0;

  constructor(capacity = 256) {
    this.#buf = new Uint8Array(Math.max(16, capacity));
  }

  get length(): number {
    return this.#len;
  }

  /** Forgets the contents, keeps the memory. */
  reset(): void {
    this.#len = 0;
  }

  /** Drops everything after the first `n` bytes. */
  truncate(n: number): void {
    if (n < this.#len) this.#len = n;
  }

  #ensure(extra: number): void {
    const need = this.#len + extra;
    if (need <= this.#buf.length) return;
    let cap = this.#buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }

  byte(b: number): void {
    this.#ensure(1);
    this.#buf[this.#len++] = b;
  }

  bytes(b: Uint8Array): void {
    this.#ensure(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }

  /** Unsigned LEB128 of a non-negative safe integer (arithmetic, not 32-bit bitwise ops). */
  varint(n: number): void {
    this.#ensure(8);
    const buf = this.#buf;
    let len = this.#len;
    while (n >= 0x80) {
      buf[len++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[len++] = n;
    this.#len = len;
  }

  /** Unsigned LEB128 of a non-negative bigint. */
  varintBig(n: bigint): void {
    while (n >= 0x80n) {
      this.byte(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.byte(Number(n));
  }

  /** Unsigned LEB128 of the 64-bit value hi·2^32 + lo (both uint32). */
  varint64(hi: number, lo: number): void {
    while (hi !== 0 || lo >= 0x80) {
      this.byte((lo & 0x7f) | 0x80);
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    this.byte(lo);
  }

  /** The bytes of a validated lowercase hex string (two digits per byte). */
  hexBytes(s: string): void {
    const n = s.length >>> 1;
    this.#ensure(n);
    const buf = this.#buf;
    let at = this.#len;
    for (let i = 0; i < s.length; i += 2) {
      const a = s.charCodeAt(i);
      const b = s.charCodeAt(i + 1);
      buf[at++] = ((a <= 0x39 ? a - 0x30 : a - 0x57) << 4) | (b <= 0x39 ? b - 0x30 : b - 0x57);
    }
    this.#len = at;
  }

  /** One byte per character of a validated latin1 string. */
  latin1(s: string): void {
    this.#ensure(s.length);
    const buf = this.#buf;
    let at = this.#len;
    for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i);
    this.#len = at;
  }

  u16(n: number): void {
    this.byte(n & 0xff);
    this.byte((n >>> 8) & 0xff);
  }

  u32(n: number): void {
    this.#ensure(4);
    new DataView(this.#buf.buffer).setUint32(this.#len, n, true);
    this.#len += 4;
  }

  /** u64 little-endian of a non-negative safe integer. */
  u64(n: number): void {
    this.u32(n % 0x1_0000_0000);
    this.u32(Math.floor(n / 0x1_0000_0000));
  }

  /** A view of the contents; valid until the next write or reset. */
  view(): Uint8Array<ArrayBuffer> {
    return this.#buf.subarray(0, this.#len);
  }

  /** A copy of the contents. */
  copy(): Uint8Array<ArrayBuffer> {
    return this.#buf.slice(0, this.#len);
  }
}

/** Reads from `buf[start, end)`; `pos` is relative to the start of `buf`. */
export class ByteReader {
  readonly buf: Uint8Array;
  pos: number;
  end: number;

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  byte(what: string): number {
    if (this.pos >= this.end) throw new DecodeError(`${what} runs past the end`, this.pos);
    return this.buf[this.pos++];
  }

  /** `n` bytes as a view into the buffer. */
  bytes(n: number, what: string): Uint8Array {
    if (n > this.end - this.pos) {
      throw new DecodeError(`${what} (${n} bytes) runs past the end`, this.pos);
    }
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /**
   * A minimal-length unsigned LEB128 varint whose value is at most 2^53 − 1 (at most 8 bytes, the
   * 8th below 0x10). Overlong encodings (a final 0x00 byte after the first) are rejected so that
   * every accepted byte sequence is the canonical one.
   */
  varint(what: string): number {
    const start = this.pos;
    let result = 0;
    let mul = 1;
    for (let i = 0;; i++) {
      if (this.pos >= this.end) throw new DecodeError(`${what}: varint runs past the end`, start);
      const b = this.buf[this.pos++];
      if (i === 7 && b > 0x0f) {
        throw new DecodeError(`${what}: varint exceeds 2^53-1`, start);
      }
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (b === 0 && i > 0) throw new DecodeError(`${what}: varint is not minimal`, start);
        return result;
      }
      mul *= 0x80;
    }
  }

  /**
   * A minimal-length unsigned LEB128 varint of a 64-bit value (at most 10 bytes, the 10th at most
   * 0x01), returned as canonical lowercase hex "0x…".
   */
  varintU64(what: string): string {
    const start = this.pos;
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw new DecodeError(`${what}: varint runs past the end`, start);
      const b = this.buf[this.pos++];
      n += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (b === 0 && i > 0) throw new DecodeError(`${what}: varint is not minimal`, start);
        return "0x" + n.toString(16);
      }
      mul *= 0x80;
    }
    // Beyond 49 bits: finish in bigint.
    let big = BigInt(n);
    let shift = 49n;
    for (let i = 7;; i++) {
      if (this.pos >= this.end) throw new DecodeError(`${what}: varint runs past the end`, start);
      const b = this.buf[this.pos++];
      if (i === 9 && b > 0x01) throw new DecodeError(`${what}: varint exceeds 64 bits`, start);
      big |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) {
        if (b === 0) throw new DecodeError(`${what}: varint is not minimal`, start);
        return "0x" + big.toString(16);
      }
      shift += 7n;
    }
  }
}

/** Little-endian fixed-width reads on a byte array (no bounds checks beyond DataView's own). */
export function getU16(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}

export function getU32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

/** A u64 LE value, or -1 when it is above 2^53 − 1 (callers report that as corrupt). */
export function getU64Safe(b: Uint8Array, at: number): number {
  const lo = getU32(b, at);
  const hi = getU32(b, at + 4);
  if (hi > 0x1f_ffff) return -1;
  return hi * 0x1_0000_0000 + lo;
}

/** True when `b[at..]` starts with the bytes of `magic`. */
export function hasMagic(b: Uint8Array, at: number, magic: Uint8Array): boolean {
  if (at + magic.length > b.length) return false;
  for (let i = 0; i < magic.length; i++) if (b[at + i] !== magic[i]) return false;
  return true;
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
