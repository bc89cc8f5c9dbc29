/** Small byte helpers for hypervisor structures (not on the CPU hot path). */

/** Reads a u64 at `off` as [lo, hi] int32 halves. */
export function u64At(dv: DataView, off: number): [number, number] {
  return [dv.getInt32(off, true), dv.getInt32(off + 4, true)];
}

/** True when bytes [off, off+len) are all zero. */
export function isZero(b: Uint8Array, off: number, len: number): boolean {
  for (let i = off; i < off + len; i++) if (b[i] !== 0) return false;
  return true;
}
