/**
 * Synthetic timers (TLFS §12 `timers.md`, "Synthetic Timers"; spec/vsm.md §7.1): four per
 * (VP, VTL), each a HV_X64_MSR_STIMERn_CONFIG / HV_X64_MSR_STIMERn_COUNT pair. Time is the partition reference
 * time in 100 ns units; the owner (the SynIC) supplies it, nothing here reads host time.
 *
 * STIMERn_CONFIG:
 *
 * | Bits | Field |
 * |---|---|
 * | 0 | Enabled |
 * | 1 | Periodic |
 * | 2 | Lazy |
 * | 3 | AutoEnable |
 * | 11:4 | ApicVector (direct mode) |
 * | 12 | DirectMode |
 * | 15:13 | RsvdZ |
 * | 19:16 | SINTx |
 * | 63:20 | RsvdZ |
 *
 * Semantics (TLFS §12 "Synthetic Timer Configuration/Count Register" unless noted):
 * - A write setting any RsvdZ bit raises #GP (KVM does the same).
 * - COUNT is an absolute expiry for one-shot timers and the period for periodic ones. Writing 0
 *   clears Enabled; with AutoEnable a nonzero write sets it.
 * - "It is not permitted to set the SINTx field to zero for an enabled timer (that is not in
 *   direct mode). If attempted, the timer will be marked disabled (bit 0 cleared) immediately."
 *   Applied to CONFIG writes and to AutoEnable COUNT writes alike (KVM only checks CONFIG).
 * - A timer runs when Enabled = 1 and COUNT != 0. CONFIG with Enabled = 1 written while COUNT is 0
 *   keeps Enabled = 1 but arms nothing (KVM and OpenVMM behave the same); a later nonzero COUNT
 *   write starts it. So a periodic (or one-shot) timer with count 0 never fires.
 * - Every CONFIG or COUNT write re-arms from scratch (KVM `stimer_cleanup` + start): a periodic
 *   timer's first period begins at the reference time of the write ("The first period begins
 *   when the synthetic timer is enabled").
 * - A one-shot timer whose COUNT is already past is due immediately: `nextDeadline()` returns
 *   that past time and the next `fire()` expires it. It then clears Enabled.
 * - Periodic timers never drift: the next expiry is the previous *scheduled* expiry + period. If
 *   `fire` runs late by a full period or more, the missed periods are skipped and the next expiry
 *   is the first period boundary strictly after `refNow` (as KVM `stimer_start`; this is the
 *   TLFS "lazy" technique, applied to every timer: period modulation is not emulated). One
 *   message (or direct interrupt) is sent per `fire`, carrying the scheduled ExpirationTime.
 * - Lazy is stored and read back; it changes nothing (see the previous point).
 * - Expiry in direct mode asserts ApicVector in this VTL's local APIC (edge, no AutoEOI; the APIC
 *   itself rejects vectors below 16). Otherwise the SynIC posts HvMessageTypeTimerExpired to
 *   SINTx (see synic.ts for the pending/coalescing rules).
 * - Several timers due at once expire in index order (TLFS: "No ordering may be assumed").
 * - COUNT values at or above 2^53 are stored exactly for read-back but compared as the nearest
 *   double; such expiries lie millennia away.
 */

import { hex64, toUnum } from "../cpu/u64.ts";

export const HV_X64_MSR_STIMER0_CONFIG = 0x400000b0;
export const HV_X64_MSR_STIMER0_COUNT = 0x400000b1;
export const HV_X64_MSR_STIMER1_CONFIG = 0x400000b2;
export const HV_X64_MSR_STIMER1_COUNT = 0x400000b3;
export const HV_X64_MSR_STIMER2_CONFIG = 0x400000b4;
export const HV_X64_MSR_STIMER2_COUNT = 0x400000b5;
export const HV_X64_MSR_STIMER3_CONFIG = 0x400000b6;
export const HV_X64_MSR_STIMER3_COUNT = 0x400000b7;

/** HV_SYNIC_STIMER_COUNT: synthetic timers per virtual processor (per VTL under VSM). */
export const HV_SYNIC_STIMER_COUNT = 4;

/** STIMERn_CONFIG fields. */
export const HV_STIMER_ENABLED = 1 << 0;
export const HV_STIMER_PERIODIC = 1 << 1;
export const HV_STIMER_LAZY = 1 << 2;
export const HV_STIMER_AUTO_ENABLE = 1 << 3;
export const HV_STIMER_APIC_VECTOR_SHIFT = 4;
export const HV_STIMER_DIRECT_MODE = 1 << 12;
export const HV_STIMER_SINTX_SHIFT = 16;
/** Bits that are not RsvdZ in the low half (the high half is all RsvdZ). */
export const HV_STIMER_CONFIG_VALID = 0x000f1fff;

/** What the timers need from their owner (the SynIC of the same (VP, VTL)). */
export interface StimerHost {
  /** Reference time now (100 ns); read at CONFIG/COUNT writes to start periodic timers. */
  referenceTime(): number;
  /**
   * Timer `index` expired in message mode: post HvMessageTypeTimerExpired with ExpirationTime
   * `expiration` and DeliveryTime `delivery` to SINT `sint`.
   */
  postTimerMessage(index: number, sint: number, expiration: number, delivery: number): void;
  /** Timer expired in direct mode: assert `vector` (edge) in this VTL's local APIC. */
  interrupt(vector: number, autoEoi: boolean, source: string): void;
  /** `nextDeadline()` may have changed. */
  deadlineChanged(): void;
}

export interface StimerSnapshot {
  /** STIMERn_CONFIG as written (after the SINTx = 0 rule and one-shot self-disable). */
  config: string;
  /** STIMERn_COUNT as written. */
  count: string;
  /** Reference time of the next expiry, or null when not armed. */
  due: number | null;
}

/** The four synthetic timers of one (VP, VTL). */
export class SyntheticTimers {
  readonly host: StimerHost;
  /** STIMERn_CONFIG low halves (the high halves are RsvdZ, always 0). */
  readonly config = new Int32Array(HV_SYNIC_STIMER_COUNT);
  readonly countLo = new Int32Array(HV_SYNIC_STIMER_COUNT);
  readonly countHi = new Int32Array(HV_SYNIC_STIMER_COUNT);
  /** Next expiry in reference time, Infinity when not armed. */
  readonly due = new Float64Array(HV_SYNIC_STIMER_COUNT).fill(Infinity);

  constructor(host: StimerHost) {
    this.host = host;
  }

  /** Whether `msr` is one of the STIMERn_CONFIG/COUNT MSRs. */
  static handles(msr: number): boolean {
    return msr >= HV_X64_MSR_STIMER0_CONFIG && msr <= HV_X64_MSR_STIMER3_COUNT;
  }

  /** RDMSR; out = [lo, hi]. False (#GP) for an MSR that is not a timer MSR. */
  readMsr(msr: number, out: Int32Array): boolean {
    if (!SyntheticTimers.handles(msr)) return false;
    const n = (msr - HV_X64_MSR_STIMER0_CONFIG) >> 1;
    if (msr & 1) {
      out[0] = this.countLo[n]!;
      out[1] = this.countHi[n]!;
    } else {
      out[0] = this.config[n]!;
      out[1] = 0;
    }
    return true;
  }

  /** WRMSR; false → #GP (RsvdZ bits in CONFIG, or not a timer MSR). */
  writeMsr(msr: number, lo: number, hi: number): boolean {
    if (!SyntheticTimers.handles(msr)) return false;
    const n = (msr - HV_X64_MSR_STIMER0_CONFIG) >> 1;
    if (msr & 1) {
      this.countLo[n] = lo;
      this.countHi[n] = hi;
      if (lo === 0 && hi === 0) {
        // "Writing the value zero to the Count register will stop the counter, thereby
        // disabling the timer, independent of the setting of AutoEnable" (TLFS §12 "Synthetic
        // Timer Count Register").
        this.config[n] = this.config[n]! & ~HV_STIMER_ENABLED;
      } else if (this.config[n]! & HV_STIMER_AUTO_ENABLE) {
        this.config[n] = sintRule(this.config[n]! | HV_STIMER_ENABLED);
      }
    } else {
      if (hi !== 0 || (lo & ~HV_STIMER_CONFIG_VALID) !== 0) return false;
      this.config[n] = sintRule(lo);
    }
    this.#arm(n);
    return true;
  }

  /** Whether timer `n` is enabled (CONFIG bit 0). */
  enabled(n: number): boolean {
    return (this.config[n]! & HV_STIMER_ENABLED) !== 0;
  }

  /** The earliest due time (reference time, 100 ns) of any armed timer, or Infinity. */
  nextDeadline(): number {
    const d = this.due;
    return Math.min(d[0]!, d[1]!, d[2]!, d[3]!);
  }

  /**
   * Expires every timer due at reference time `refNow` (due ≤ refNow), in index order. Returns
   * the number of expiries. Calls `host.deadlineChanged()` when anything expired.
   */
  fire(refNow: number): number {
    let fired = 0;
    for (let n = 0; n < HV_SYNIC_STIMER_COUNT; n++) {
      const exp = this.due[n]!;
      if (!(exp <= refNow)) continue;
      const cfg = this.config[n]!;
      fired++;
      if (cfg & HV_STIMER_PERIODIC) {
        // No drift: from the scheduled expiry; late by ≥ 1 period → skip to the first boundary
        // after refNow.
        const period = toUnum(this.countLo[n]!, this.countHi[n]!);
        let next = exp + period;
        if (next <= refNow) next = exp + period * (Math.floor((refNow - exp) / period) + 1);
        if (next <= refNow) next = refNow + period; // float rounding guard for huge values
        this.due[n] = next;
      } else {
        // "When a one-shot timer expires, it is automatically marked as disabled."
        this.config[n] = cfg & ~HV_STIMER_ENABLED;
        this.due[n] = Infinity;
      }
      if (cfg & HV_STIMER_DIRECT_MODE) {
        this.host.interrupt((cfg >>> HV_STIMER_APIC_VECTOR_SHIFT) & 0xff, false, "stimer");
      } else {
        this.host.postTimerMessage(n, (cfg >>> HV_STIMER_SINTX_SHIFT) & 0xf, exp, refNow);
      }
    }
    if (fired > 0) this.host.deadlineChanged();
    return fired;
  }

  /**
   * VP reset (TLFS §12 "Synthetic Timer Configuration Register"): all CONFIG and COUNT registers
   * 0, nothing armed.
   */
  reset(): void {
    this.config.fill(0);
    this.countLo.fill(0);
    this.countHi.fill(0);
    this.due.fill(Infinity);
    this.host.deadlineChanged();
  }

  snapshot(): StimerSnapshot[] {
    const out: StimerSnapshot[] = [];
    for (let n = 0; n < HV_SYNIC_STIMER_COUNT; n++) {
      const d = this.due[n]!;
      out.push({
        config: hex64(this.config[n]!, 0),
        count: hex64(this.countLo[n]!, this.countHi[n]!),
        due: d === Infinity ? null : d,
      });
    }
    return out;
  }

  #arm(n: number): void {
    const cfg = this.config[n]!;
    const lo = this.countLo[n]!, hi = this.countHi[n]!;
    if (!(cfg & HV_STIMER_ENABLED) || (lo === 0 && hi === 0)) this.due[n] = Infinity;
    else if (cfg & HV_STIMER_PERIODIC) this.due[n] = this.host.referenceTime() + toUnum(lo, hi);
    else this.due[n] = toUnum(lo, hi);
    this.host.deadlineChanged();
  }
}

/**
 * TLFS §12 ("Synthetic Timer Configuration Register"): an enabled, non-direct timer with SINTx = 0
 * is marked disabled immediately.
 */
function sintRule(cfg: number): number {
  if (
    (cfg & HV_STIMER_ENABLED) && !(cfg & HV_STIMER_DIRECT_MODE) &&
    ((cfg >>> HV_STIMER_SINTX_SHIFT) & 0xf) === 0
  ) {
    return cfg & ~HV_STIMER_ENABLED;
  }
  return cfg;
}
