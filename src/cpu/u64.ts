/**
 * 64-bit helpers on (lo, hi) int32 pairs, without BigInt. Linear addresses and RIP are kept as
 * JS numbers in canonical signed form (-2^47 .. 2^47-1 in 64-bit mode), which float64 holds
 * exactly.
 */

export const TWO32 = 4294967296;

/** (lo, hi) → number, exact when the value is within ±2^53 (always true for canonical addresses). */
export function toNum(lo: number, hi: number): number {
  return hi * TWO32 + (lo >>> 0);
}

/** Unsigned (lo, hi) → number; exact below 2^53. */
export function toUnum(lo: number, hi: number): number {
  return (hi >>> 0) * TWO32 + (lo >>> 0);
}

export function loOf(n: number): number {
  return n | 0;
}

export function hiOf(n: number): number {
  return Math.floor(n / TWO32) | 0;
}

/** The little-endian 64-bit value at `off` of `dv`, unsigned, as a number (exact below 2^53). */
export function getU64(dv: DataView, off: number): number {
  return toUnum(dv.getInt32(off, true), dv.getInt32(off + 4, true));
}

/**
 * The little-endian 64-bit value at `off` of `dv`, signed, as a number (exact within ±2^53:
 * canonical addresses).
 */
export function getI64(dv: DataView, off: number): number {
  return toNum(dv.getInt32(off, true), dv.getInt32(off + 4, true));
}

/** Writes the integer `n` (exact within ±2^53) at `off` of `dv` as a little-endian 64-bit value. */
export function setU64(dv: DataView, off: number, n: number): void {
  dv.setInt32(off, loOf(n), true);
  dv.setInt32(off + 4, hiOf(n), true);
}

/** True when (lo, hi) is a canonical 48-bit address (bits 63:47 equal). */
export function isCanonical(hi: number): boolean {
  const t = hi >> 15;
  return t === 0 || t === -1;
}

/** Canonical check for a linear address held as a number. */
export function isCanonicalNum(n: number): boolean {
  return n >= -140737488355328 && n < 140737488355328;
}

/** Lowercase "0x…" hex of (lo, hi) as unsigned 64-bit, no leading zeros. */
export function hex64(lo: number, hi: number): string {
  const h = hi >>> 0, l = lo >>> 0;
  if (h === 0) return "0x" + l.toString(16);
  return "0x" + h.toString(16) + l.toString(16).padStart(8, "0");
}

/** Hex of a number that may be negative (canonical signed address) as unsigned 64-bit. */
export function hexNum(n: number): string {
  return hex64(loOf(n), hiOf(n));
}

/** Parses "0x…" (≤ 64 bits) into (lo, hi); returns null if malformed. */
export function parseHex64(s: string): [number, number] | null {
  if (!/^0x[0-9a-f]{1,16}$/i.test(s)) return null;
  const d = s.slice(2).padStart(16, "0");
  return [parseInt(d.slice(8), 16) | 0, parseInt(d.slice(0, 8), 16) | 0];
}

/** 2^-16: multiplying by it is exact, unlike a floating-point `%` (a slow library call). */
const INV65536 = 1 / 65536;

/**
 * 64×64 → 128-bit unsigned multiply of (alo, ahi) × (blo, bhi) using 16-bit limbs.
 * Writes the four 32-bit words (low first) into `out`.
 */
export function mulU64(alo: number, ahi: number, blo: number, bhi: number, out: Int32Array): void {
  const a0 = alo & 0xffff, a1 = alo >>> 16, a2 = ahi & 0xffff, a3 = ahi >>> 16;
  const b0 = blo & 0xffff, b1 = blo >>> 16, b2 = bhi & 0xffff, b3 = bhi >>> 16;
  // Column sums; each partial product < 2^32, sums kept below 2^53. q = carry, w = 16-bit digit.
  let c = a0 * b0;
  let q = Math.floor(c * INV65536);
  const w0 = c - q * 65536;
  c = q + a0 * b1 + a1 * b0;
  q = Math.floor(c * INV65536);
  const w1 = c - q * 65536;
  c = q + a0 * b2 + a1 * b1 + a2 * b0;
  q = Math.floor(c * INV65536);
  const w2 = c - q * 65536;
  c = q + a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0;
  q = Math.floor(c * INV65536);
  const w3 = c - q * 65536;
  c = q + a1 * b3 + a2 * b2 + a3 * b1;
  q = Math.floor(c * INV65536);
  const w4 = c - q * 65536;
  c = q + a2 * b3 + a3 * b2;
  q = Math.floor(c * INV65536);
  const w5 = c - q * 65536;
  c = q + a3 * b3;
  q = Math.floor(c * INV65536);
  const w6 = c - q * 65536;
  out[0] = w0 | (w1 << 16);
  out[1] = w2 | (w3 << 16);
  out[2] = w4 | (w5 << 16);
  out[3] = w6 | (q << 16);
}

/** Low 64 bits of a 64×64 multiply (signedness does not matter for the low half). */
export function mulLo64(alo: number, ahi: number, blo: number, bhi: number, out: Int32Array): void {
  const a0 = alo & 0xffff, a1 = alo >>> 16;
  const b0 = blo & 0xffff, b1 = blo >>> 16;
  let c = a0 * b0;
  let q = Math.floor(c * INV65536);
  const w0 = c - q * 65536;
  c = q + a0 * b1 + a1 * b0;
  q = Math.floor(c * INV65536); // < 2^18
  const w1 = c - q * 65536;
  out[0] = w0 | (w1 << 16);
  // High word: a1*b1 + carry + lo×hi cross terms, all mod 2^32.
  out[1] = (Math.imul(a1, b1) + q + Math.imul(alo, bhi) + Math.imul(ahi, blo)) | 0;
}

/** Signed 64×64 → 128 multiply: out = 4 words, low first. */
export function mulS64(alo: number, ahi: number, blo: number, bhi: number, out: Int32Array): void {
  mulU64(alo, ahi, blo, bhi, out);
  // Correct the high 64 bits: subtract b<<64 if a<0, a<<64 if b<0.
  if (ahi < 0) sub64Into(out, blo, bhi);
  if (bhi < 0) sub64Into(out, alo, ahi);
}

/**
 * Truncating signed 64×64 multiply (IMUL r64, r/m64[, imm]): the low 64 bits to out[0..1];
 * returns whether the signed product does not fit in 64 bits (CF = OF). The product's magnitude
 * estimated in floating point (relative error below 2^-51) settles that without the high half
 * unless it lies between 2^62 and 2^64.
 */
export function imulTrunc64(
  alo: number,
  ahi: number,
  blo: number,
  bhi: number,
  out: Int32Array,
): boolean {
  const p = Math.abs((ahi * TWO32 + (alo >>> 0)) * (bhi * TWO32 + (blo >>> 0)));
  if (p < 4611686018427387904 || p >= 18446744073709551616) {
    mulLo64(alo, ahi, blo, bhi, out);
    return p >= 18446744073709551616;
  }
  mulS64(alo, ahi, blo, bhi, out);
  const s = out[1]! >> 31;
  return out[2] !== s || out[3] !== s;
}

function sub64Into(out: Int32Array, lo: number, hi: number): void {
  const l = (out[2]! >>> 0) - (lo >>> 0);
  const borrow = l < 0 ? 1 : 0;
  out[2] = l | 0;
  out[3] = (out[3]! - hi - borrow) | 0;
}

/**
 * Unsigned 128 / 64 division: (n3 n2 n1 n0) / (dhi dlo). Returns false if the quotient does not
 * fit in 64 bits or the divisor is 0. Quotient to out[0..1], remainder to out[2..3].
 */
export function divU128by64(
  n0: number,
  n1: number,
  n2: number,
  n3: number,
  dlo: number,
  dhi: number,
  out: Int32Array,
): boolean {
  if ((dlo | dhi) === 0) return false;
  // Overflow if high 64 bits >= divisor.
  const h = n3 >>> 0, dh = dhi >>> 0;
  if (h > dh || (h === dh && (n2 >>> 0) >= (dlo >>> 0))) return false;
  // Restoring shift-subtract division, 64 iterations over the low 64 bits.
  let rhi = n3 >>> 0, rlo = n2 >>> 0; // remainder (< divisor)
  let qhi = 0, qlo = 0;
  let lhi = n1 >>> 0, llo = n0 >>> 0;
  const dL = dlo >>> 0;
  for (let i = 0; i < 64; i++) {
    // remainder = remainder << 1 | next bit
    const top = rhi >>> 31;
    rhi = ((rhi << 1) | (rlo >>> 31)) >>> 0;
    rlo = ((rlo << 1) | (lhi >>> 31)) >>> 0;
    lhi = ((lhi << 1) | (llo >>> 31)) >>> 0;
    llo = (llo << 1) >>> 0;
    qhi = ((qhi << 1) | (qlo >>> 31)) >>> 0;
    qlo = (qlo << 1) >>> 0;
    if (top || rhi > dh || (rhi === dh && rlo >= dL)) {
      const nlo = rlo - dL;
      rlo = (nlo + (nlo < 0 ? TWO32 : 0)) >>> 0;
      rhi = (rhi - dh - (nlo < 0 ? 1 : 0)) >>> 0;
      qlo = (qlo | 1) >>> 0;
    }
  }
  out[0] = qlo | 0;
  out[1] = qhi | 0;
  out[2] = rlo | 0;
  out[3] = rhi | 0;
  return true;
}
