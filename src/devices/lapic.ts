/**
 * Local APIC (Intel SDM vol. 3 ch. 11): xAPIC MMIO and x2APIC MSR access to the same register
 * file, IRR/ISR/TMR, task and processor priority, EOI, the timer (one-shot, periodic,
 * TSC-deadline) driven by virtual time, and IPIs through the ICR (delivered by the platform via
 * `sendIpi`). Under VSM every (VP, VTL) pair has its own instance with the same APIC ID.
 */

import { DM_NMI } from "./irq.ts";

export const APIC_BASE_DEFAULT = 0xfee00000;
export const APIC_BASE_BSP = 1 << 8;
export const APIC_BASE_EXTD = 1 << 10;
export const APIC_BASE_EN = 1 << 11;

/** Register indices (xAPIC offset >> 4, x2APIC MSR - 0x800). */
export const REG_ID = 0x02, REG_VERSION = 0x03, REG_TPR = 0x08, REG_PPR = 0x0a, REG_EOI = 0x0b;
export const REG_LDR = 0x0d, REG_DFR = 0x0e, REG_SVR = 0x0f, REG_ISR = 0x10, REG_TMR = 0x18;
export const REG_IRR = 0x20, REG_ESR = 0x28, REG_LVT_CMCI = 0x2f, REG_ICR = 0x30, REG_ICR2 = 0x31;
export const REG_LVT_TIMER = 0x32, REG_LVT_THERMAL = 0x33, REG_LVT_PERF = 0x34;
export const REG_LVT_LINT0 = 0x35, REG_LVT_LINT1 = 0x36, REG_LVT_ERROR = 0x37;
export const REG_TIMER_INITIAL = 0x38, REG_TIMER_CURRENT = 0x39, REG_TIMER_DIVIDE = 0x3e;
export const REG_SELF_IPI = 0x3f;

export const MSR_IA32_APIC_BASE = 0x1b;
export const MSR_IA32_TSC_DEADLINE = 0x6e0;

const LVT_MASKED = 1 << 16;
const TIMER_PERIODIC = 1 << 17;
const TIMER_TSC_DEADLINE = 2 << 17;

/** Whether physical destination `dest` names local APIC `l`: its ID, or the broadcast ID. */
export function physicalMatch(l: Lapic, dest: number, x2: boolean): boolean {
  return dest === l.id || dest === (x2 ? 0xffffffff : 0xff);
}

/**
 * The target of a lowest-priority message among `lapics` (SDM 11.6.2.4): the lowest processor
 * priority class; ties go to the first (the lowest VP index), which keeps delivery deterministic.
 */
export function lowestPriority(lapics: readonly Lapic[]): Lapic | undefined {
  let low: Lapic | undefined;
  for (const l of lapics) if (low === undefined || (l.ppr() & 0xf0) < (low.ppr() & 0xf0)) low = l;
  return low;
}

/**
 * Whether logical destination `dest` names local APIC `l` (SDM 11.6.2.2): x2APIC cluster
 * (`x2`), else the xAPIC flat or cluster model of its DFR.
 */
export function logicalMatch(l: Lapic, dest: number, x2: boolean): boolean {
  if (x2) {
    const ldr = l.read(REG_LDR);
    return (ldr >>> 16) === (dest >>> 16) && ((ldr & dest) & 0xffff) !== 0;
  }
  const ldr = l.ldr >>> 24;
  if ((l.dfr >>> 28) === 0xf) return (ldr & dest) !== 0; // flat model
  return (ldr >>> 4) === (dest >>> 4) && ((ldr & dest) & 0xf) !== 0; // cluster model
}

/** What the APIC needs from the platform. */
export interface LapicEnv {
  /** Current global instruction count. */
  now(): number;
  /** The owning VP's TSC offset (TSC = now + offset). */
  tscOffset(): number;
  /** Instructions per APIC timer tick (at divide-by-1). */
  readonly instrPerTick: number;
  /** The interrupt state changed: something may now be deliverable. */
  changed(): void;
  /** The timer deadline changed. */
  timerChanged(): void;
  /** ICR write: deliver an IPI (destination, mode, vector…). */
  sendIpi(icrLo: number, icrHi: number): void;
  /** An NMI for this APIC's processor (ICR delivery mode NMI, LINT0/LINT1 in NMI mode). */
  nmi?(): void;
  /** An EOI happened (after the ISR bit was cleared); `level`: the vector was level-triggered. */
  onEoi?(vector: number, level: boolean): void;
}

export class Lapic {
  readonly env: LapicEnv;
  id: number;
  base: number;
  tpr = 0;
  svr = 0xff;
  ldr = 0;
  dfr = 0xffffffff;
  esr = 0;
  icrLo = 0;
  icrHi = 0;
  readonly irr = new Uint32Array(8);
  readonly isr = new Uint32Array(8);
  readonly tmr = new Uint32Array(8);
  readonly lvt = new Uint32Array(7); // cmci, timer, thermal, perf, lint0, lint1, error
  timerInitial = 0;
  timerDivide = 0;
  timerStart = 0;
  /** Global icount at which the timer fires next, or Infinity. */
  timerDeadline = Infinity;
  tscDeadline = 0;
  /**
   * A one-shot timer that expired stays idle (current count 0) until the initial count is written
   * again: re-arming on a divide or LVT write must not fire it a second time (SDM 11.5.4).
   */
  #oneShotDone = false;

  constructor(env: LapicEnv, id: number, bsp: boolean) {
    this.env = env;
    this.id = id;
    this.base = APIC_BASE_DEFAULT | APIC_BASE_EN | (bsp ? APIC_BASE_BSP : 0);
    this.lvt.fill(LVT_MASKED);
  }

  get hwEnabled(): boolean {
    return (this.base & APIC_BASE_EN) !== 0;
  }
  get x2apic(): boolean {
    return (this.base & APIC_BASE_EXTD) !== 0;
  }
  get swEnabled(): boolean {
    return (this.svr & 0x100) !== 0;
  }

  // ---- interrupt state -------------------------------------------------------------------

  /** What raised each vector most recently (for event records). */
  readonly sources: string[] = new Array(256).fill("ext");
  /** Vectors accepted with auto-EOI (Hyper-V SINT AutoEOI, VINA): acknowledged without ISR. */
  readonly autoEoi = new Uint8Array(256);

  /** Accepts a fixed interrupt `vector` into the IRR (level: sets TMR). */
  accept(vector: number, level = false, source = "ext", autoEoi = false): void {
    if (!this.hwEnabled || vector < 16) {
      if (vector < 16) this.esr |= 0x40; // received illegal vector
      return;
    }
    const w = vector >>> 5, b = 1 << (vector & 31);
    this.irr[w]! |= b;
    this.sources[vector] = source;
    this.autoEoi[vector] = autoEoi ? 1 : 0;
    if (level) this.tmr[w]! |= b;
    else this.tmr[w]! &= ~b;
    this.env.changed();
  }

  /** Delivers an NMI to the processor (SDM 11.6.1 delivery mode 100b: the vector is ignored). */
  acceptNmi(): void {
    if (this.hwEnabled) this.env.nmi?.();
  }

  /**
   * A rising edge on LINT0/LINT1 (`pin` 0 or 1): an NMI if its LVT entry is unmasked with delivery
   * mode NMI (100b; NMI is always edge-triggered, SDM 11.5.1). Other modes do nothing here:
   * ExtINT is the platform's virtual wire (Machine.extIntPending); fixed mode is not modelled.
   */
  lint(pin: 0 | 1): void {
    const e = this.lvt[4 + pin]!;
    if ((e & LVT_MASKED) === 0 && ((e >>> 8) & 7) === DM_NMI) this.acceptNmi();
  }

  static #highest(v: Uint32Array): number {
    for (let w = 7; w >= 0; w--) {
      const x = v[w]!;
      if (x !== 0) return w * 32 + 31 - Math.clz32(x);
    }
    return -1;
  }

  /** Processor priority (SDM 11.8.3.1). */
  ppr(): number {
    const isrv = Lapic.#highest(this.isr);
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    return (this.tpr & 0xf0) >= isrClass ? this.tpr & 0xff : isrClass;
  }

  /** The vector that would be delivered now (ignoring RFLAGS.IF), or -1. */
  deliverable(): number {
    if (!this.hwEnabled) return -1;
    const v = Lapic.#highest(this.irr);
    if (v < 0) return -1;
    if ((v & 0xf0) <= (this.ppr() & 0xf0)) return -1;
    return v;
  }

  /** INTA: moves the highest deliverable vector from IRR to ISR and returns it (or -1). */
  ack(): number {
    const v = this.deliverable();
    if (v < 0) return -1;
    const w = v >>> 5, b = 1 << (v & 31);
    this.irr[w]! &= ~b;
    if (this.autoEoi[v] === 0) this.isr[w]! |= b;
    return v;
  }

  eoi(): void {
    this.eoiVector(Lapic.#highest(this.isr));
  }

  /**
   * Ends the service of vector `v` (-1: none), as an EOI does for the highest vector in service;
   * the VP assist page's EOI assist (hv/eoi_assist.ts) names the vector it completes.
   */
  eoiVector(v: number): void {
    let level = false;
    if (v >= 0) {
      this.isr[v >>> 5]! &= ~(1 << (v & 31));
      // Level-triggered vectors broadcast the EOI to the IOAPIC unless SVR bit 12 suppresses it.
      level = ((this.tmr[v >>> 5]! >>> (v & 31)) & 1) === 1 && (this.svr & 0x1000) === 0;
    }
    this.env.changed();
    this.env.onEoi?.(v, level);
  }

  // ---- timer -----------------------------------------------------------------------------

  #divisor(): number {
    const d = ((this.timerDivide & 8) >> 1) | (this.timerDivide & 3);
    return d === 7 ? 1 : 2 << d;
  }

  #period(): number {
    return this.timerInitial * this.#divisor() * this.env.instrPerTick;
  }

  #timerMode(): number {
    return this.lvt[1]! & (3 << 17);
  }

  #armTimer(): void {
    const mode = this.#timerMode();
    if (mode === TIMER_TSC_DEADLINE) {
      this.timerDeadline = this.tscDeadline === 0
        ? Infinity
        : Math.max(this.tscDeadline - this.env.tscOffset(), this.env.now());
    } else if (this.timerInitial === 0 || this.#oneShotDone) this.timerDeadline = Infinity;
    else this.timerDeadline = this.timerStart + this.#period();
    this.env.timerChanged();
  }

  /** Called by the platform when the global icount reaches timerDeadline. */
  fireTimer(now: number): void {
    if (now < this.timerDeadline) return;
    const lvt = this.lvt[1]!;
    const mode = this.#timerMode();
    if (mode === TIMER_PERIODIC && this.timerInitial !== 0) {
      this.timerStart = this.timerDeadline;
      this.timerDeadline = this.timerStart + this.#period();
    } else {
      this.timerDeadline = Infinity;
      if (mode === TIMER_TSC_DEADLINE) this.tscDeadline = 0;
      else this.#oneShotDone = true;
    }
    this.env.timerChanged();
    if (!(lvt & LVT_MASKED) && this.swEnabled) this.accept(lvt & 0xff, false, "lapic_timer");
  }

  #currentCount(): number {
    if (this.#timerMode() === TIMER_TSC_DEADLINE || this.timerInitial === 0) return 0;
    const per = this.#divisor() * this.env.instrPerTick;
    const elapsed = Math.floor((this.env.now() - this.timerStart) / per);
    if (this.#timerMode() === TIMER_PERIODIC) {
      return this.timerInitial - (elapsed % this.timerInitial);
    }
    return elapsed >= this.timerInitial ? 0 : this.timerInitial - elapsed;
  }

  // ---- register file -----------------------------------------------------------------------

  /** Reads register `reg` (xAPIC offset >> 4). Returns -1 (as a flag) for an invalid register. */
  read(reg: number): number {
    if (reg >= REG_ISR && reg < REG_ISR + 8) return this.isr[reg - REG_ISR]!;
    if (reg >= REG_TMR && reg < REG_TMR + 8) return this.tmr[reg - REG_TMR]!;
    if (reg >= REG_IRR && reg < REG_IRR + 8) return this.irr[reg - REG_IRR]!;
    switch (reg) {
      case REG_ID:
        return this.x2apic ? this.id : this.id << 24;
      case REG_VERSION:
        return 0x00050014; // version 0x14, 6 LVT entries (max LVT index 5)
      case REG_TPR:
        return this.tpr;
      case REG_PPR:
        return this.ppr();
      case REG_LDR:
        return this.x2apic ? ((this.id >>> 4) << 16) | (1 << (this.id & 15)) : this.ldr;
      case REG_DFR:
        return this.dfr;
      case REG_SVR:
        return this.svr;
      case REG_ESR:
        return this.esr;
      case REG_LVT_CMCI:
        return this.lvt[0]!;
      case REG_ICR:
        return this.icrLo;
      case REG_ICR2:
        return this.icrHi;
      case REG_LVT_TIMER:
      case REG_LVT_THERMAL:
      case REG_LVT_PERF:
      case REG_LVT_LINT0:
      case REG_LVT_LINT1:
      case REG_LVT_ERROR:
        return this.lvt[reg - REG_LVT_TIMER + 1]!;
      case REG_TIMER_INITIAL:
        return this.timerInitial;
      case REG_TIMER_CURRENT:
        return this.#currentCount();
      case REG_TIMER_DIVIDE:
        return this.timerDivide;
      case REG_EOI:
      case REG_SELF_IPI:
        return 0;
    }
    return -1;
  }

  /** Writes register `reg`. Returns false for an invalid or read-only register. */
  write(reg: number, v: number): boolean {
    v >>>= 0;
    switch (reg) {
      case REG_ID:
        if (this.x2apic) return false;
        this.id = v >>> 24;
        return true;
      case REG_TPR:
        this.tpr = v & 0xff;
        this.env.changed();
        return true;
      case REG_EOI:
        this.eoi();
        return true;
      case REG_LDR:
        if (this.x2apic) return false;
        this.ldr = v & 0xff000000;
        return true;
      case REG_DFR:
        if (this.x2apic) return false;
        this.dfr = (v | 0x0fffffff) >>> 0; // unsigned: -1 from read() means "no register"
        return true;
      case REG_SVR:
        this.svr = v & 0x13ff;
        if (!(v & 0x100)) { for (let i = 0; i < 7; i++) this.lvt[i]! |= LVT_MASKED; }
        this.env.changed();
        return true;
      case REG_ESR:
        this.esr = 0;
        return true;
      case REG_ICR:
        this.icrLo = v & ~0x1000; // delivery status always idle
        this.env.sendIpi(this.icrLo, this.icrHi);
        return true;
      case REG_ICR2:
        if (this.x2apic) return false;
        this.icrHi = v & 0xff000000;
        return true;
      case REG_LVT_CMCI:
        this.lvt[0] = this.swEnabled ? v & 0x107ff : (v & 0x107ff) | LVT_MASKED;
        return true;
      case REG_LVT_TIMER: {
        const old = this.lvt[1]!;
        this.lvt[1] = (v & 0x700ff) | (this.swEnabled ? 0 : LVT_MASKED);
        // Entering or leaving TSC-deadline mode disarms the timer (SDM 11.5.4.1); between
        // one-shot and periodic the count keeps running (KVM, QEMU; kvm-unit-tests apic.c).
        if ((old ^ this.lvt[1]!) & TIMER_TSC_DEADLINE) {
          this.timerInitial = 0;
          this.tscDeadline = 0;
        }
        this.#armTimer();
        return true;
      }
      case REG_LVT_THERMAL:
      case REG_LVT_PERF:
      case REG_LVT_ERROR:
        this.lvt[reg - REG_LVT_TIMER + 1] = (v & 0x107ff) | (this.swEnabled ? 0 : LVT_MASKED);
        return true;
      case REG_LVT_LINT0:
      case REG_LVT_LINT1:
        this.lvt[reg - REG_LVT_TIMER + 1] = (v & 0x1a7ff) | (this.swEnabled ? 0 : LVT_MASKED);
        return true;
      case REG_TIMER_INITIAL:
        if (this.#timerMode() === TIMER_TSC_DEADLINE) return true;
        this.timerInitial = v;
        this.timerStart = this.env.now();
        this.#oneShotDone = false;
        this.#armTimer();
        return true;
      case REG_TIMER_DIVIDE:
        this.timerDivide = v & 0xb;
        this.#armTimer();
        return true;
      case REG_SELF_IPI:
        if (!this.x2apic) return false;
        this.accept(v & 0xff, false, "ipi");
        return true;
    }
    return false;
  }

  // ---- MSR interface -------------------------------------------------------------------------

  /** x2APIC MSR read (0x800-0x8ff) and IA32_APIC_BASE / TSC_DEADLINE. false → #GP. */
  readMsr(msr: number, out: Int32Array): boolean {
    if (msr === MSR_IA32_APIC_BASE) {
      out[0] = this.base;
      out[1] = 0;
      return true;
    }
    if (msr === MSR_IA32_TSC_DEADLINE) {
      // Outside TSC-deadline mode the MSR reads 0 and ignores writes (SDM 11.5.4.1).
      const d = this.#timerMode() === TIMER_TSC_DEADLINE ? this.tscDeadline : 0;
      out[0] = d | 0;
      out[1] = Math.floor(d / 4294967296) | 0;
      return true;
    }
    if (!this.x2apic || msr < 0x800 || msr > 0x8ff) return false;
    const reg = msr - 0x800;
    if (reg === REG_EOI || reg === REG_SELF_IPI || reg === REG_DFR || reg === REG_ICR2) {
      return false;
    }
    if (reg === REG_ICR) {
      out[0] = this.icrLo;
      out[1] = this.icrHi;
      return true;
    }
    const v = this.read(reg);
    if (v === -1 && reg !== REG_ID) return false;
    out[0] = v;
    out[1] = 0;
    return true;
  }

  writeMsr(msr: number, lo: number, hi: number): boolean {
    if (msr === MSR_IA32_APIC_BASE) {
      // Enable/EXTD transitions (SDM 11.12.5); the base address is fixed.
      const en = (lo & APIC_BASE_EN) !== 0, extd = (lo & APIC_BASE_EXTD) !== 0;
      if (extd && !en) return false;
      if (this.x2apic && !extd && en) return false; // x2APIC → xAPIC needs a disable first
      this.base = (this.base & APIC_BASE_BSP) | (lo & (APIC_BASE_EN | APIC_BASE_EXTD)) |
        APIC_BASE_DEFAULT;
      if (!en) {
        this.irr.fill(0);
        this.isr.fill(0);
      }
      this.env.changed();
      return hi === 0 || true;
    }
    if (msr === MSR_IA32_TSC_DEADLINE) {
      if (this.#timerMode() !== TIMER_TSC_DEADLINE) return true;
      this.tscDeadline = (hi >>> 0) * 4294967296 + (lo >>> 0);
      this.#armTimer();
      return true;
    }
    if (!this.x2apic || msr < 0x800 || msr > 0x8ff) return false;
    const reg = msr - 0x800;
    if (reg === REG_ICR) {
      this.icrHi = hi;
      this.icrLo = lo & ~0x1000;
      this.env.sendIpi(this.icrLo, this.icrHi);
      return true;
    }
    if (hi !== 0 && reg !== REG_ICR) return false;
    if (reg === REG_EOI && lo !== 0) return false;
    return this.write(reg, lo);
  }

  /**
   * INIT (SDM 11.4.7.3, "Local APIC State After an INIT Reset"): the power-up state of every
   * register except the APIC ID; IA32_APIC_BASE (enable, x2APIC mode) is kept.
   */
  initReset(): void {
    this.tpr = 0;
    this.svr = 0xff;
    this.ldr = 0;
    this.dfr = 0xffffffff;
    this.esr = 0;
    this.icrLo = 0;
    this.icrHi = 0;
    this.irr.fill(0);
    this.isr.fill(0);
    this.tmr.fill(0);
    this.lvt.fill(LVT_MASKED);
    this.timerInitial = 0;
    this.timerDivide = 0;
    this.timerStart = 0;
    this.tscDeadline = 0;
    this.timerDeadline = Infinity;
    this.#oneShotDone = false;
    this.env.timerChanged();
    this.env.changed();
  }

  snapshot(): Record<string, unknown> {
    return {
      id: this.id,
      base: this.base,
      tpr: this.tpr,
      svr: this.svr,
      ldr: this.ldr,
      dfr: this.dfr,
      esr: this.esr,
      icr: [this.icrLo, this.icrHi],
      irr: [...this.irr],
      isr: [...this.isr],
      tmr: [...this.tmr],
      lvt: [...this.lvt],
      timerInitial: this.timerInitial,
      timerDivide: this.timerDivide,
      timerStart: this.timerStart,
      timerDeadline: this.timerDeadline === Infinity ? null : this.timerDeadline,
      tscDeadline: this.tscDeadline,
    };
  }
}
