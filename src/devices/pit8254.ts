/**
 * 8254 programmable interval timer (ports 0x40-0x43) and the PC/AT NMI status and control port
 * 0x61 (channel 2 gate, speaker data, refresh toggle, channel 2 OUT), after the Intel 82C54
 * data sheet.
 *
 * The input clock is 1 193 182 Hz derived from virtual time: PIT tick(now) =
 * floor(now * 1193182 / tscHz), computed exactly (no BigInt, no float rounding). A channel's
 * state is a function of elapsed ticks since its count was loaded, so nothing runs per tick.
 *
 * - Channels 0-2, modes 0-5 (6 and 7 alias 2 and 3), binary or BCD, access modes LSB, MSB,
 *   LSB-then-MSB, counter latch command, read-back command (count and/or status), status byte
 *   (OUT, NULL COUNT, access, mode as programmed, BCD).
 * - Channel 0 and 1 gates are tied high; channel 2's gate is port 0x61 bit 0. Mode 0/4 pause
 *   while the gate is low; mode 2/3 stop (OUT forced high) and reload on the gate's rising
 *   edge; mode 1/5 trigger on the gate's rising edge.
 * - A new count written in mode 2 takes effect at the end of the current period, in mode 3 at the
 *   end of the current half-cycle, in modes 0 and 4 on the next tick (restart), in modes 1 and 5
 *   at the next trigger.
 * - Channel 0 OUT drives `irq0` (ISA IRQ0) with its level: edge consumers see the rising edges.
 *   `nextDeadline(now)` is the instruction count of the next change of channel 0's OUT; the
 *   machine calls `update(now)` at (or after) it.
 *
 * Reset (power-on) state, as QEMU's: every channel in mode 3, binary, LSB-then-MSB, count 0
 * (= 65536) loaded at tick 0, so channel 0 runs at 18.2 Hz and IRQ0 toggles until the guest
 * reprograms it; channel 2's gate is low (port 0x61 = 0), so channel 2 is stopped, OUT high.
 */

import type { PortDevice } from "./bus.ts";
import type { IrqLine } from "./irq.ts";

export const PIT_HZ = 1193182;

// ---- exact virtual-time arithmetic --------------------------------------------------------------

/** floor(a / d) exactly, for safe integers a ≥ 0 and d ≥ 1. */
export function floorDiv(a: number, d: number): number {
  let q = Math.floor(a / d);
  while (q * d > a) q--;
  while ((q + 1) * d <= a) q++;
  return q;
}

function mulDiv(a: number, b: number, d: number, ceil: boolean): number {
  const q = floorDiv(a, d);
  const r = a - q * d;
  // floor(r * b / d) with r < d, long division over the bytes of b (every partial term stays
  // below 512 * d, exact for d < 2^44).
  let hi = 0, rem = 0, nb = 0;
  for (let x = b; x >= 1; x = Math.floor(x / 256)) nb++;
  for (let i = nb - 1; i >= 0; i--) {
    const byte = Math.floor(b / 2 ** (8 * i)) % 256;
    const t = rem * 256 + r * byte;
    const tq = floorDiv(t, d);
    hi = hi * 256 + tq;
    rem = t - tq * d;
  }
  const res = q * b + hi;
  return ceil && rem > 0 ? res + 1 : res;
}

/**
 * floor(a * b / d) exactly, for non-negative safe integers with 1 ≤ d < 2^44 and a safe result.
 * Used to turn instruction counts into device clock ticks (and back) without precision loss.
 */
export function mulDivFloor(a: number, b: number, d: number): number {
  return mulDiv(a, b, d, false);
}

/** ceil(a * b / d) exactly, same domain as `mulDivFloor`. */
export function mulDivCeil(a: number, b: number, d: number): number {
  return mulDiv(a, b, d, true);
}

// ---- one counter ----------------------------------------------------------------------------------

function outAt(mode: number, n: number, d: number): boolean {
  switch (mode) {
    case 0:
    case 1:
      return d >= n;
    case 2:
      return n === 1 || d % n !== n - 1;
    case 3:
      return n === 1 || d % n < (n + 1) >>> 1;
    default: // 4, 5
      return d !== n;
  }
}

/** The smallest d' > d at which OUT changes (out(d') != out(d'-1)), or Infinity. */
function nextD(mode: number, n: number, d: number): number {
  switch (mode) {
    case 0:
    case 1:
      return d < n ? n : Infinity;
    case 2: {
      if (n === 1) return Infinity;
      const p = d % n;
      return p < n - 1 ? d - p + n - 1 : d - p + n;
    }
    case 3: {
      if (n === 1) return Infinity;
      const p = d % n, h = (n + 1) >>> 1;
      return p < h ? d - p + h : d - p + n;
    }
    default:
      return d < n ? n : d === n ? n + 1 : Infinity;
  }
}

function countAt(mode: number, n: number, d: number, modulus: number): number {
  let v: number;
  switch (mode) {
    case 2:
      v = n - (d % n);
      break;
    case 3: {
      if (n === 1) return 1;
      const p = d % n, h = (n + 1) >>> 1;
      // Even n: n, n-2, ..., 2 per half; odd n: n-1, ..., 0 in the high half, n-1, ..., 2 low.
      v = (n & ~1) - 2 * (p < h ? p : p - h);
      break;
    }
    default:
      v = n - d;
  }
  return ((v % modulus) + modulus) % modulus;
}

function toBcd(v: number): number {
  return (v % 10) | (Math.floor(v / 10) % 10) << 4 | (Math.floor(v / 100) % 10) << 8 |
    (Math.floor(v / 1000) % 10) << 12;
}

/** Count register value → initial count N (0 means the maximum; BCD digits at face value). */
function decodeCount(raw: number, bcd: boolean): number {
  if (!bcd) return raw === 0 ? 0x10000 : raw;
  const v = (raw & 0xf) + ((raw >>> 4) & 0xf) * 10 + ((raw >>> 8) & 0xf) * 100 +
    ((raw >>> 12) & 0xf) * 1000;
  return v === 0 ? 10000 : v;
}

/** One 8254 counter. Tick arguments never decrease. */
class Counter {
  readonly index: number;
  /** Mode bits as programmed (0-7, for the status byte) and the effective mode (0-5). */
  modeBits = 3;
  mode = 3;
  bcd = false;
  /** 1 LSB only, 2 MSB only, 3 LSB then MSB. */
  access = 3;
  gate: boolean;
  /** The count register (raw 16-bit value as written) or -1 when none since the control word. */
  cr = 0;
  writeLsbPending = false;
  lsb = 0;
  readMsbNext = false;
  /** Latched count (encoded) or -1. */
  latch = -1;
  latchMsbNext = false;
  /** Latched status byte or -1. */
  status = -1;
  nullCount = false;
  /** Counting: the counting element holds a count. */
  counting = true;
  /** Initial count of the current run (1..65536, BCD 1..10000). */
  n = 0x10000;
  /** Tick at which the current run's elapsed count d was 0. */
  start = 0;
  /** Elapsed count frozen while the gate stops/pauses counting, or -1 while running. */
  pausedD = -1;
  /** A new count waiting for the end of the period/half-cycle (mode 2/3): at tick `pendingAt`
   * the run restarts with `pendingN` at elapsed `pendingPhase`. pendingAt -1 = none. */
  pendingAt = -1;
  pendingN = 0;
  pendingPhase = 0;
  /** OUT while not counting (after a control word, or a mode 1/5 count not yet triggered). */
  idleOut = true;
  /** Count shown while not counting. */
  frozenCount = 0;

  constructor(index: number) {
    this.index = index;
    this.gate = index !== 2;
    if (!this.gate) this.pausedD = 0;
  }

  get modulus(): number {
    return this.bcd ? 10000 : 0x10000;
  }

  /** Commits a pending reload due at or before tick t. */
  sync(t: number): void {
    if (this.pendingAt >= 0 && t >= this.pendingAt && this.pausedD < 0) {
      this.n = this.pendingN;
      this.start = this.pendingAt - this.pendingPhase;
      this.pendingAt = -1;
      this.nullCount = false;
    }
  }

  #d(t: number): number {
    return this.pausedD >= 0 ? this.pausedD : t - this.start;
  }

  /** OUT at tick t (synced). */
  out(t: number): boolean {
    if (!this.counting) return this.idleOut;
    if (!this.gate && (this.mode === 2 || this.mode === 3)) return true;
    return outAt(this.mode, this.n, this.#d(t));
  }

  /** The counting element at tick t (synced), 0..65535 or 0..9999. */
  count(t: number): number {
    if (!this.counting) return this.frozenCount;
    return countAt(this.mode, this.n, this.#d(t), this.modulus);
  }

  encodedCount(t: number): number {
    const c = this.count(t);
    return this.bcd ? toBcd(c) : c;
  }

  /** The smallest tick T > t (synced at t) at which OUT changes, or Infinity. */
  next(t: number): number {
    if (!this.counting || this.pausedD >= 0) return Infinity;
    const t1 = this.start + nextD(this.mode, this.n, t - this.start);
    if (this.pendingAt < 0 || t1 < this.pendingAt) return t1;
    const at = this.pendingAt;
    const before = outAt(this.mode, this.n, at - 1 - this.start);
    const after = outAt(this.mode, this.pendingN, this.pendingPhase);
    if (before !== after) return at;
    return at - this.pendingPhase + nextD(this.mode, this.pendingN, this.pendingPhase);
  }

  statusByte(t: number): number {
    return (this.out(t) ? 0x80 : 0) | (this.nullCount ? 0x40 : 0) | (this.access << 4) |
      (this.modeBits << 1) | (this.bcd ? 1 : 0);
  }

  #stop(t: number): void {
    if (this.counting) this.frozenCount = this.count(t);
    this.counting = false;
    this.pendingAt = -1;
  }

  latchCount(t: number): void {
    if (this.latch < 0) {
      this.latch = this.encodedCount(t);
      this.latchMsbNext = false;
    }
  }

  latchStatus(t: number): void {
    if (this.status < 0) this.status = this.statusByte(t);
  }

  /** Control word with RW != 0: reprogram. */
  program(t: number, v: number): void {
    this.#stop(t);
    this.modeBits = (v >>> 1) & 7;
    this.mode = this.modeBits > 5 ? this.modeBits & 3 : this.modeBits;
    this.bcd = (v & 1) !== 0;
    this.access = (v >>> 4) & 3;
    this.writeLsbPending = false;
    this.readMsbNext = false;
    this.latch = -1;
    this.latchMsbNext = false;
    this.status = -1;
    this.cr = -1;
    this.nullCount = true;
    this.idleOut = this.mode !== 0;
  }

  writeData(t: number, b: number): void {
    switch (this.access) {
      case 1:
        this.#load(t, b);
        return;
      case 2:
        this.#load(t, b << 8);
        return;
    }
    if (!this.writeLsbPending) {
      this.lsb = b;
      this.writeLsbPending = true;
      if (this.mode === 0) {
        // Mode 0: writing the first byte stops counting and sets OUT low at once.
        this.#stop(t);
        this.idleOut = false;
        this.nullCount = true;
      }
      return;
    }
    this.writeLsbPending = false;
    this.#load(t, this.lsb | (b << 8));
  }

  #load(t: number, raw: number): void {
    this.cr = raw;
    const n = decodeCount(raw, this.bcd);
    switch (this.mode) {
      case 0:
      case 4:
        this.counting = true;
        this.n = n;
        this.start = t;
        this.pausedD = this.gate ? -1 : 0;
        this.pendingAt = -1;
        this.nullCount = false;
        return;
      case 1:
      case 5:
        this.nullCount = true; // loaded into the counting element by the next trigger
        return;
    }
    // Modes 2 and 3.
    if (this.counting && this.pausedD < 0) {
      const d = t - this.start;
      const cur = this.n;
      this.nullCount = true;
      this.pendingN = n;
      if (cur === 1) {
        this.pendingAt = t + 1;
        this.pendingPhase = 0;
      } else if (this.mode === 2) {
        this.pendingAt = this.start + d - (d % cur) + cur;
        this.pendingPhase = 0;
      } else {
        const p = d % cur, h = (cur + 1) >>> 1;
        if (p < h) {
          this.pendingAt = this.start + d - p + h;
          this.pendingPhase = (n + 1) >>> 1; // continue with the new count's low half
        } else {
          this.pendingAt = this.start + d - p + cur;
          this.pendingPhase = 0;
        }
      }
      return;
    }
    if (this.counting) {
      // Stopped by a low gate: the gate's rising edge reloads from the count register.
      this.nullCount = true;
      return;
    }
    this.counting = true;
    this.n = n;
    this.start = t;
    this.pausedD = this.gate ? -1 : 0;
    this.pendingAt = -1;
    this.nullCount = false;
  }

  readData(t: number): number {
    if (this.status >= 0) {
      const s = this.status;
      this.status = -1;
      return s;
    }
    if (this.latch >= 0) {
      const l = this.latch;
      if (this.access === 3 && !this.latchMsbNext) {
        this.latchMsbNext = true;
        return l & 0xff;
      }
      this.latch = -1;
      this.latchMsbNext = false;
      return this.access === 1 ? l & 0xff : (l >>> 8) & 0xff;
    }
    const c = this.encodedCount(t);
    switch (this.access) {
      case 1:
        return c & 0xff;
      case 2:
        return (c >>> 8) & 0xff;
    }
    const msb = this.readMsbNext;
    this.readMsbNext = !msb;
    return msb ? (c >>> 8) & 0xff : c & 0xff;
  }

  setGate(t: number, g: boolean): void {
    if (g === this.gate) return;
    this.gate = g;
    const m = this.mode;
    if (g) {
      if (m === 0 || m === 4) {
        if (this.counting && this.pausedD >= 0) {
          this.start = t - this.pausedD;
          this.pausedD = -1;
        }
      } else if (this.cr >= 0) {
        // Trigger (modes 1, 5) or reload (modes 2, 3) from the count register.
        this.counting = true;
        this.n = decodeCount(this.cr, this.bcd);
        this.start = t;
        this.pausedD = -1;
        this.pendingAt = -1;
        this.nullCount = false;
      }
    } else if (m !== 1 && m !== 5 && this.counting && this.pausedD < 0) {
      this.pausedD = t - this.start;
      this.pendingAt = -1;
    }
  }

  snapshot(): Record<string, unknown> {
    return {
      modeBits: this.modeBits,
      mode: this.mode,
      bcd: this.bcd,
      access: this.access,
      gate: this.gate,
      countRegister: this.cr,
      writeLsbPending: this.writeLsbPending,
      lsb: this.lsb,
      readMsbNext: this.readMsbNext,
      latch: this.latch,
      latchMsbNext: this.latchMsbNext,
      status: this.status,
      nullCount: this.nullCount,
      counting: this.counting,
      n: this.n,
      start: this.start,
      pausedD: this.pausedD,
      pendingAt: this.pendingAt,
      pendingN: this.pendingN,
      pendingPhase: this.pendingPhase,
      idleOut: this.idleOut,
      frozenCount: this.frozenCount,
    };
  }
}

// ---- the device ---------------------------------------------------------------------------------

export interface Pit8254Options {
  /** Instructions per second (one retired instruction = one TSC tick). */
  readonly tscHz: number;
  /** The current global instruction count (the machine's `now()`). */
  readonly now: () => number;
  /** ISA IRQ0 (channel 0 OUT). Can also be set later through the `irq0` field. */
  readonly irq0?: IrqLine;
}

/** Ports 0x40-0x43 and 0x61 (claim both ranges with this one device). */
export class Pit8254 implements PortDevice {
  readonly name = "pit8254";
  readonly tscHz: number;
  readonly #now: () => number;
  irq0: IrqLine;
  /** Called when `nextDeadline` may have changed (the machine re-plans its slice). */
  onDeadlineChanged: () => void = () => {};
  readonly channels: readonly Counter[] = [new Counter(0), new Counter(1), new Counter(2)];
  /** Port 0x61 bits 3:0 (channel 2 gate, speaker data, parity/IOCHK check enables). */
  port61 = 0;
  /** The PIT tick up to which channel 0's OUT has been applied to IRQ0. */
  #lastTick = 0;
  /** The level currently driven on IRQ0 (OUT at reset is high; no edge is signalled). */
  #line = true;
  #deadline = Infinity;

  constructor(opts: Pit8254Options) {
    this.tscHz = opts.tscHz;
    this.#now = opts.now;
    this.irq0 = opts.irq0 ?? (() => {});
    this.#deadline = this.#computeDeadline();
  }

  /** The PIT tick at instruction count `now`. */
  tickAt(now: number): number {
    return mulDivFloor(now, PIT_HZ, this.tscHz);
  }

  /** The first instruction count at which the PIT tick is ≥ `tick`. */
  instrAt(tick: number): number {
    return mulDivCeil(tick, this.tscHz, PIT_HZ);
  }

  /**
   * The instruction count of the next change of channel 0's OUT not yet applied by `update`
   * (`now` itself if that is overdue), or Infinity. Cached: cheap to call every slice.
   */
  nextDeadline(now: number): number {
    return this.#deadline <= now ? now : this.#deadline;
  }

  /** Applies channel 0's OUT changes up to `now` to IRQ0 (missed edges are replayed as one). */
  update(now: number): void {
    this.#advance(this.tickAt(now));
    this.#replan();
  }

  #drive(level: boolean): void {
    if (level === this.#line) return;
    this.#line = level;
    this.irq0(level);
  }

  #advance(t: number): void {
    if (t < this.#lastTick) return;
    const c = this.channels[0]!;
    const t1 = c.next(this.#lastTick);
    if (t1 <= t) {
      c.sync(t1);
      const rising = c.out(t1) || c.next(t1) <= t;
      c.sync(t);
      if (rising) {
        this.#drive(false);
        this.#drive(true);
      }
      this.#drive(c.out(t));
    } else {
      c.sync(t);
    }
    this.#lastTick = t;
  }

  #computeDeadline(): number {
    const t = this.channels[0]!.next(this.#lastTick);
    return t === Infinity ? Infinity : this.instrAt(t);
  }

  #replan(): void {
    const d = this.#computeDeadline();
    if (d !== this.#deadline) {
      this.#deadline = d;
      this.onDeadlineChanged();
    }
  }

  /** Brings everything to the current instruction and returns the current tick. */
  #sync(): number {
    const t = this.tickAt(this.#now());
    this.#advance(t);
    for (const c of this.channels) c.sync(this.#lastTick);
    this.#replan(); // an access at a due deadline has just applied it
    return this.#lastTick;
  }

  #readByte(port: number): number {
    switch (port) {
      case 0x40:
      case 0x41:
      case 0x42: {
        const t = this.#sync();
        return this.channels[port - 0x40]!.readData(t);
      }
      case 0x43:
        return 0; // the control word register is write-only
      case 0x61: {
        const t = this.#sync();
        const refresh = Math.floor(t / 18) & 1; // ~15.09 µs refresh toggle
        const out2 = this.channels[2]!.out(t) ? 1 : 0;
        return this.port61 | (refresh << 4) | (out2 << 5);
      }
    }
    return 0xff;
  }

  #writeByte(port: number, v: number): void {
    if (port < 0x40 || (port > 0x43 && port !== 0x61)) return;
    const t = this.#sync();
    if (port === 0x61) {
      this.port61 = v & 0x0f;
      this.channels[2]!.setGate(t, (v & 1) !== 0);
      return;
    }
    if (port < 0x43) {
      this.channels[port - 0x40]!.writeData(t, v);
    } else if ((v >>> 6) === 3) {
      // Read-back: bit 5 clear = latch count, bit 4 clear = latch status, bits 3:1 = counters.
      for (let i = 0; i < 3; i++) {
        if (!(v & (2 << i))) continue;
        const c = this.channels[i]!;
        if (!(v & 0x10)) c.latchStatus(t);
        if (!(v & 0x20)) c.latchCount(t);
      }
      return;
    } else {
      const c = this.channels[v >>> 6]!;
      if (((v >>> 4) & 3) === 0) c.latchCount(t);
      else c.program(t, v);
    }
    this.#drive(this.channels[0]!.out(t));
    this.#replan();
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.#readByte(port + i) << (8 * i);
    return v >>> 0;
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    for (let i = 0; i < size; i++) this.#writeByte(port + i, (value >>> (8 * i)) & 0xff);
  }

  snapshot(): Record<string, unknown> {
    return {
      channel0: this.channels[0]!.snapshot(),
      channel1: this.channels[1]!.snapshot(),
      channel2: this.channels[2]!.snapshot(),
      port61: this.port61,
      lastTick: this.#lastTick,
      line: this.#line,
      deadline: this.#deadline === Infinity ? null : this.#deadline,
    };
  }
}
