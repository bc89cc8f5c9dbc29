/**
 * Partition reference time and the reference TSC page (TLFS §12 `timers.md` "Reference Counter",
 * "Partition Reference Time Enlightenment"; spec/vsm.md §7.3).
 *
 * Time in vtlrr is the global count of retired instructions; the TSC counts them at
 * `config.tscHz` (TSC = instruction count + the VP's IA32_TSC offset, which is 0 unless the guest
 * writes IA32_TSC). The partition reference time (HV_X64_MSR_TIME_REF_COUNT, synthetic timers) is
 *
 *     ReferenceTime(n) = floor(n × 10^7 / tscHz)        (100 ns units, n = instruction count)
 *
 * computed exactly (no BigInt, no float rounding: `mulDivFloor`). The reference TSC page gives
 * the guest the same value from a TSC read: ((TSC × TscScale) >> 64) + TscOffset with
 *
 *     TscScale = ceil(10^7 × 2^64 / tscHz),  TscOffset = 0
 *
 * (OpenVMM rounds down; rounding down is off by one at every exact multiple, rounding up is exact
 * over a bounded range). Why it is exact: write 10^7/tscHz = N/D in lowest terms and
 * e = TscScale × D − N × 2^64, 0 ≤ e < D. For a TSC value T, T × N = q × D + j with 0 ≤ j < D, and
 * T × TscScale / 2^64 = q + (j + T × e / 2^64) / D. While T × e < 2^64 the fraction stays below 1,
 * so the page formula yields q = floor(T × 10^7 / tscHz) = ReferenceTime(T). The page is
 * published valid only when this holds for every T below 2^53 (every instruction count a run can
 * reach): e ≤ 2048, true for every frequency whose ratio to 10 MHz has a small denominator
 * (1 GHz: D = 100, e = 84; 3 GHz: D = 300). A frequency where it fails, or a TSC at or below
 * 10 MHz (TscScale would not fit in 64 bits), gets a page with TscSequence 0 — "not a reliable
 * source of reference time", so the guest falls back to the MSR (TLFS §12.7).
 *
 * TSC offsets: the page is one partition-wide page (TLFS: "a partition-wide virtual reference TSC
 * page"), so it can only describe one TSC. While every VP's TSC in every VTL is the instruction
 * count (offset 0) the page is valid; once a guest WRMSR to IA32_TSC gives some (VP, VTL) another
 * TSC, TscSequence becomes 0 (as KVM does when the vCPUs' TSCs stop matching), and it becomes
 * valid again (with a new sequence number) if all offsets return to 0.
 *
 * HV_REFERENCE_TSC_PAGE: TscSequence u32 @0, Reserved1 u32 @4, TscScale u64 @8, TscOffset i64
 * @16, Reserved2 (zero) up to 4096 bytes.
 */

import { mulU64 } from "../cpu/u64.ts";
import { mulDivCeil, mulDivFloor } from "../devices/pit8254.ts";

/** Reference time runs at 10 MHz (100 ns units). */
export const REFERENCE_TIME_HZ = 10_000_000;

/** Offsets in HV_REFERENCE_TSC_PAGE. */
export const REFERENCE_TSC_OFFSET_SEQUENCE = 0;
export const REFERENCE_TSC_OFFSET_SCALE = 8;
export const REFERENCE_TSC_OFFSET_OFFSET = 16;

/** The largest instruction count (TSC with offset 0) the page must be exact for: 2^53 − 1. */
export const REFERENCE_TSC_EXACT_LIMIT = Number.MAX_SAFE_INTEGER;

/** Reference time (100 ns) at instruction count `icount` ≥ 0: floor(icount × 10^7 / tscHz). */
export function referenceTimeAt(icount: number, tscHz: number): number {
  return mulDivFloor(icount, REFERENCE_TIME_HZ, tscHz);
}

/**
 * The smallest instruction count whose reference time is ≥ `ref`: where the machine must stop to
 * fire a timer due at `ref`. Infinity stays Infinity; `ref` ≤ 0 gives 0. Exact (ceil(ref × tscHz /
 * 10^7)) while that is below 2^52; beyond (expiries millennia away) the float estimate.
 */
export function icountForReferenceTime(ref: number, tscHz: number): number {
  if (ref === Infinity) return Infinity;
  if (ref <= 0) return 0;
  const r = Math.ceil(ref);
  const estimate = Math.ceil(r * tscHz / REFERENCE_TIME_HZ);
  if (estimate >= 2 ** 52 || r >= 2 ** 52) return estimate;
  return mulDivCeil(r, tscHz, REFERENCE_TIME_HZ);
}

/** TscScale for `tscHz`, as (lo, hi) int32 halves, and whether the page can be valid. */
export interface ReferenceTscScale {
  readonly scaleLo: number;
  readonly scaleHi: number;
  /** Whether ((T × scale) >> 64) = floor(T × 10^7 / tscHz) for every T ≤ 2^53 − 1. */
  readonly exact: boolean;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/**
 * Computes TscScale = ceil(10^7 × 2^64 / tscHz) and checks the exactness bound (module comment).
 * Runs once per partition (BigInt is fine here; nothing on the hot path uses it).
 */
export function referenceTscScale(tscHz: number): ReferenceTscScale {
  const two64 = 1n << 64n;
  const hz = BigInt(tscHz);
  const n = BigInt(REFERENCE_TIME_HZ);
  const scale = (n * two64 + hz - 1n) / hz;
  if (scale >= two64) return { scaleLo: 0, scaleHi: 0, exact: false };
  const g = gcd(n, hz);
  const e = scale * (hz / g) - (n / g) * two64;
  return {
    scaleLo: Number(BigInt.asIntN(32, scale)),
    scaleHi: Number(BigInt.asIntN(32, scale >> 32n)),
    exact: e * BigInt(REFERENCE_TSC_EXACT_LIMIT) < two64,
  };
}

const mulOut = new Int32Array(4);

/**
 * The guest's formula, without BigInt: ((tsc × scale) >> 64) + offset, all u64/i64 as (lo, hi)
 * int32 halves; the 64-bit result (mod 2^64) goes to out[0] (low) and out[1] (high).
 */
export function referenceTscFormula(
  tscLo: number,
  tscHi: number,
  scaleLo: number,
  scaleHi: number,
  offsetLo: number,
  offsetHi: number,
  out: Int32Array,
): void {
  mulU64(tscLo, tscHi, scaleLo, scaleHi, mulOut);
  const lo = (mulOut[2]! >>> 0) + (offsetLo >>> 0);
  out[0] = lo | 0;
  out[1] = (mulOut[3]! + offsetHi + (lo > 0xffffffff ? 1 : 0)) | 0;
}

/**
 * The partition-wide reference TSC page's contents and its sequence number. The host page is
 * allocated when some VTL first enables its HV_X64_MSR_REFERENCE_TSC and kept up to date from then
 * on; the overlays that show it are the partition's business (partition.ts).
 */
export class ReferenceTscPage {
  readonly scale: ReferenceTscScale;
  /** Current TscSequence (0: invalid). */
  sequence: number;
  /** Last nonzero sequence published (the next valid one is one more, skipping 0). */
  #lastValid: number;
  /** Host byte offset of the page, or -1 before the first enable. */
  #hostOff = -1;
  /** Whether every (VP, VTL) TSC equals the instruction count, as last reported. */
  #offsetsZero = true;

  constructor(tscHz: number) {
    this.scale = referenceTscScale(tscHz);
    this.#lastValid = 1;
    this.sequence = this.scale.exact ? 1 : 0;
  }

  get allocated(): boolean {
    return this.#hostOff >= 0;
  }

  /** Host byte offset of the page (valid once `allocated`). */
  get hostOffset(): number {
    return this.#hostOff;
  }

  /** Binds the page to its host storage (once) and writes the contents. */
  attach(mem: PageMemory, hostOff: number): void {
    if (this.#hostOff >= 0) return;
    this.#hostOff = hostOff;
    this.#write(mem);
  }

  /**
   * Reports whether every (VP, VTL) TSC offset is 0 now; updates TscSequence (0 while not) and
   * rewrites the page when the sequence changes.
   */
  tscOffsetsChanged(mem: PageMemory, allZero: boolean): void {
    if (allZero === this.#offsetsZero) return;
    this.#offsetsZero = allZero;
    let next = 0;
    if (allZero && this.scale.exact) {
      this.#lastValid = this.#lastValid === 0xffffffff ? 1 : this.#lastValid + 1;
      next = this.#lastValid;
    }
    this.sequence = next;
    if (this.#hostOff >= 0) this.#write(mem);
  }

  #write(mem: PageMemory): void {
    const o = this.#hostOff;
    mem.u8.fill(0, o, o + 4096);
    mem.dv.setUint32(o + REFERENCE_TSC_OFFSET_SEQUENCE, this.sequence >>> 0, true);
    mem.dv.setInt32(o + REFERENCE_TSC_OFFSET_SCALE, this.scale.scaleLo, true);
    mem.dv.setInt32(o + REFERENCE_TSC_OFFSET_SCALE + 4, this.scale.scaleHi, true);
    // TscOffset stays 0: the TSC and the reference time both start at instruction 0.
    mem.touch(o, 4096);
  }
}

/** The part of GuestMemory the page writer needs. */
export interface PageMemory {
  readonly u8: Uint8Array;
  readonly dv: DataView;
  touch(off: number, len: number): void;
}
