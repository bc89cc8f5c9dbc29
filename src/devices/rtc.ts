/**
 * MC146818-compatible real-time clock with 128 bytes of CMOS RAM: index port 0x70 (bit 7 = NMI
 * disable, stored for the machine), data port 0x71.
 *
 * Time comes from virtual time only: with no guest writes, the RTC shows
 * startEpochSeconds + floor(now / tscHz) (UTC). Internally the clock is a base date/time
 * (binary, 24-hour, full year) anchored at a virtual second; writes to the time registers
 * re-anchor it (the second boundaries stay aligned to multiples of tscHz instructions).
 *
 * - Registers 0x00-0x09 (seconds, alarm seconds, minutes, alarm minutes, hours, alarm hours,
 *   day of week 1=Sunday, day of month, month, year) and the century byte 0x32, shown in BCD or
 *   binary (register B bit 2) and 24- or 12-hour form (B bit 1, PM = hour bit 7). Changing those
 *   format bits converts at once (QEMU behaves the same; the real part keeps the old encodings).
 * - Register A: UIP (bit 7) is set during the last 244 µs of every virtual second while the clock
 *   runs; divider bits 6:4 = 11x hold the divider chain in reset (clock stopped, no periodic
 *   interrupt); other divider values run as the normal 32.768 kHz setting; rate bits 3:0 select
 *   the periodic interrupt (1 → 256 Hz, 2 → 128 Hz, n ≥ 3 → 65536 >> n Hz).
 * - Register B: SET (bit 7) stops the clock so the guest can write the time (and clears UIE, as
 *   QEMU); PIE/AIE/UIE (6:4) enable the periodic, alarm and update-ended interrupts; SQWE, DM,
 *   24/12 and DSE are stored (DSE has no effect).
 * - Register C: IRQF/PF/AF/UF; reading returns and clears them and releases IRQ8. Flags are set
 *   whether or not their interrupt is enabled.
 * - Register D: 0x80 (valid RAM and time).
 * - Alarm: a byte with bits 7:6 = 11 matches anything; compared in the current format.
 *
 * IRQ8 carries IRQF (level; the ISA wiring makes it an edge for the 8259). `nextDeadline(now)` is
 * the instruction count at which IRQF would next rise; the machine calls `update(now)` there.
 *
 * NVRAM content at construction (what the firmware would leave): register A 0x26, B 0x02
 * (24-hour, BCD), equipment byte 0x14 = 0x02 (FPU, no floppy, EGA/VGA-class video bits 00),
 * base memory 640 KiB (0x15/0x16), extended memory above 1 MiB in KiB capped at 65535
 * (0x17/0x18 and 0x30/0x31), memory above 16 MiB in 64 KiB units capped at 65535 (0x34/0x35),
 * memory above 4 GiB in 64 KiB units (0x5b-0x5d), CPU count - 1 (0x5f, as QEMU/SeaBIOS), and the
 * standard checksum of 0x10-0x2d at 0x2e (MSB)/0x2f (LSB).
 */

import type { PortDevice } from "./bus.ts";
import type { IrqLine } from "./irq.ts";
import { floorDiv, mulDivCeil, mulDivFloor } from "./pit8254.ts";

/** A calendar date and time (binary, 24-hour, full year). */
export interface RtcTime {
  readonly sec: number;
  readonly min: number;
  readonly hour: number;
  /** Day of week, 1 = Sunday. */
  readonly dow: number;
  readonly day: number;
  readonly month: number;
  readonly year: number;
}

const REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d, CENTURY = 0x32;
const B_SET = 0x80, B_PIE = 0x40, B_AIE = 0x20, B_UIE = 0x10, B_DM_BINARY = 0x04, B_24H = 0x02;
const C_IRQF = 0x80, C_PF = 0x40, C_AF = 0x20, C_UF = 0x10;
const RTC_HZ = 32768;

function mod(a: number, m: number): number {
  return ((a % m) + m) % m;
}

/** Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12, any integer d). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (m + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Seconds since the epoch of `t` (out-of-range fields roll over: month 13 is next January). */
export function timeToEpoch(t: RtcTime): number {
  const y = t.year + Math.floor((t.month - 1) / 12);
  const m = mod(t.month - 1, 12) + 1;
  const days = daysFromCivil(y, m, 1) + t.day - 1;
  return days * 86400 + t.hour * 3600 + t.min * 60 + t.sec;
}

/** The calendar time at epoch second `e` (day of week computed). */
export function epochToTime(e: number): RtcTime {
  const days = Math.floor(e / 86400);
  const tod = e - days * 86400;
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return {
    sec: tod % 60,
    min: Math.floor(tod / 60) % 60,
    hour: Math.floor(tod / 3600),
    dow: mod(days + 4, 7) + 1, // 1970-01-01 was a Thursday
    day,
    month,
    year: yoe + era * 400 + (month <= 2 ? 1 : 0),
  };
}

/** `t` advanced by `delta` seconds; the day of week counts the midnights crossed. */
function advance(t: RtcTime, delta: number): RtcTime {
  if (delta === 0) return t;
  const e0 = timeToEpoch(t);
  const e1 = e0 + delta;
  const r = epochToTime(e1);
  const days = Math.floor(e1 / 86400) - Math.floor(e0 / 86400);
  return { ...r, dow: mod(t.dow - 1 + days, 7) + 1 };
}

export interface RtcOptions {
  /** Instructions per second. */
  readonly tscHz: number;
  /** The current global instruction count (the machine's `now()`). */
  readonly now: () => number;
  /** Wall-clock time at instruction 0, in integer seconds since 1970-01-01 UTC. */
  readonly startEpochSeconds: number;
  /** Guest RAM below 4 GiB, in bytes (for the NVRAM memory-size bytes). */
  readonly memBelow4G: number;
  /** Guest RAM above 4 GiB, in bytes (default 0). */
  readonly memAbove4G?: number;
  /** Number of CPUs (byte 0x5f = cpus - 1; default 1). */
  readonly cpus?: number;
  /** ISA IRQ8. Can also be set later through the `irq8` field. */
  readonly irq8?: IrqLine;
}

/** Ports 0x70-0x71. */
export class Rtc implements PortDevice {
  readonly name = "rtc";
  readonly tscHz: number;
  readonly #now: () => number;
  irq8: IrqLine;
  /** Called when `nextDeadline` may have changed. */
  onDeadlineChanged: () => void = () => {};
  /** CMOS RAM. Bytes 0x00-0x0d and 0x32 live in the clock state below, not here. */
  readonly ram = new Uint8Array(128);
  index = 0;
  /** Port 0x70 bit 7 as last written (NMI disabled). */
  nmiDisabled = false;
  regA = 0x26;
  regB = B_24H;
  /** Register C flag bits PF/AF/UF. */
  flags = 0;
  /** The clock: `base` at virtual second `baseSecond` (frozen while halted). */
  base: RtcTime;
  baseSecond = 0;
  /** Instruction count up to which the flags have been evaluated. */
  flagsAt = 0;
  #line = false;
  #deadline = Infinity;
  /** Instruction offset within a second from which UIP reads 1 (the last 244 µs). */
  readonly #uipStart: number;

  constructor(opts: RtcOptions) {
    this.tscHz = opts.tscHz;
    this.#now = opts.now;
    this.irq8 = opts.irq8 ?? (() => {});
    this.#uipStart = opts.tscHz - Math.floor(opts.tscHz * 244 / 1_000_000);
    this.base = epochToTime(Math.floor(opts.startEpochSeconds));
    this.flagsAt = opts.now();
    const r = this.ram;
    r[0x14] = 0x02;
    r[0x15] = 0x80;
    r[0x16] = 0x02;
    const below = Math.max(0, opts.memBelow4G);
    const ext = Math.min(65535, Math.max(0, Math.floor(below / 1024) - 1024));
    r[0x17] = r[0x30] = ext & 0xff;
    r[0x18] = r[0x31] = ext >>> 8;
    const ext16 = Math.min(65535, Math.max(0, Math.floor((below - 16 * 1024 * 1024) / 65536)));
    r[0x34] = ext16 & 0xff;
    r[0x35] = ext16 >>> 8;
    const high = Math.min(0xffffff, Math.floor(Math.max(0, opts.memAbove4G ?? 0) / 65536));
    r[0x5b] = high & 0xff;
    r[0x5c] = (high >>> 8) & 0xff;
    r[0x5d] = high >>> 16;
    r[0x5f] = Math.max(0, (opts.cpus ?? 1) - 1) & 0xff;
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += r[i]!;
    r[0x2e] = (sum >>> 8) & 0xff;
    r[0x2f] = sum & 0xff;
  }

  // ---- time --------------------------------------------------------------------------------------

  #second(now: number): number {
    return floorDiv(now, this.tscHz);
  }

  get halted(): boolean {
    return (this.regB & B_SET) !== 0 || (this.regA & 0x60) === 0x60;
  }

  /** The clock's date and time at instruction count `now`. */
  timeAt(now: number): RtcTime {
    if (this.halted) return this.base;
    return advance(this.base, this.#second(now) - this.baseSecond);
  }

  /** Periodic interrupt period in 32.768 kHz ticks, or 0 when off. */
  #period(): number {
    if ((this.regA & 0x60) === 0x60) return 0;
    const rs = this.regA & 0x0f;
    if (rs === 0) return 0;
    return rs <= 2 ? 1 << (rs + 6) : 1 << (rs - 1);
  }

  #k32(now: number): number {
    return mulDivFloor(now, RTC_HZ, this.tscHz);
  }

  /** Epoch second shown right after the update at virtual second s (s > baseSecond). */
  #epochAtSecond(s: number): number {
    return timeToEpoch(this.base) + (s - this.baseSecond);
  }

  #fmt(v: number): number {
    if (this.regB & B_DM_BINARY) return v & 0xff;
    const x = mod(v, 100);
    return (Math.floor(x / 10) << 4) | (x % 10);
  }

  #dec(b: number): number {
    return this.regB & B_DM_BINARY ? b : (b >>> 4) * 10 + (b & 0x0f);
  }

  #fmtHour(h: number): number {
    if (this.regB & B_24H) return this.#fmt(h);
    const h12 = h % 12 === 0 ? 12 : h % 12;
    return this.#fmt(h12) | (h >= 12 ? 0x80 : 0);
  }

  #decHour(b: number): number {
    if (this.regB & B_24H) return this.#dec(b);
    return (this.#dec(b & 0x7f) % 12) + (b & 0x80 ? 12 : 0);
  }

  /** The first epoch second ≥ `from` whose time matches the alarm bytes, or Infinity. */
  #nextAlarm(from: number): number {
    const as = this.ram[0x01]!, am = this.ram[0x03]!, ah = this.ram[0x05]!;
    const any = (b: number) => (b & 0xc0) === 0xc0;
    const hs: boolean[] = [], ms: boolean[] = [], ss: boolean[] = [];
    for (let h = 0; h < 24; h++) hs.push(any(ah) || this.#fmtHour(h) === ah);
    for (let m = 0; m < 60; m++) ms.push(any(am) || this.#fmt(m) === am);
    for (let s = 0; s < 60; s++) ss.push(any(as) || this.#fmt(s) === as);
    if (!hs.includes(true) || !ms.includes(true) || !ss.includes(true)) return Infinity;
    const day = Math.floor(from / 86400) * 86400;
    const tod0 = from - day;
    // Search today from tod0, then tomorrow from midnight (the pattern repeats daily).
    for (let pass = 0; pass < 2; pass++) {
      const start = pass === 0 ? tod0 : 0;
      const h0 = Math.floor(start / 3600), m0 = Math.floor(start / 60) % 60, s0 = start % 60;
      for (let h = h0; h < 24; h++) {
        if (!hs[h]) continue;
        for (let m = h === h0 ? m0 : 0; m < 60; m++) {
          if (!ms[m]) continue;
          for (let s = h === h0 && m === m0 ? s0 : 0; s < 60; s++) {
            if (ss[s]) return day + pass * 86400 + h * 3600 + m * 60 + s;
          }
        }
      }
    }
    return Infinity;
  }

  // ---- flags, IRQ8, deadlines ----------------------------------------------------------------

  #irqf(): boolean {
    // PF/AF/UF (register C bits 6:4) line up with PIE/AIE/UIE (register B bits 6:4).
    return (this.flags & this.regB & 0x70) !== 0;
  }

  /** Sets the flags for everything that happened in (flagsAt, now] (configuration constant). */
  #refresh(now: number): void {
    const a = this.flagsAt;
    if (now <= a) return;
    const p = this.#period();
    if (p !== 0 && Math.floor(this.#k32(now) / p) > Math.floor(this.#k32(a) / p)) {
      this.flags |= C_PF;
    }
    if (!this.halted) {
      const sa = this.#second(a), sb = this.#second(now);
      if (sb > sa) {
        this.flags |= C_UF;
        if (this.#nextAlarm(this.#epochAtSecond(sa + 1)) <= this.#epochAtSecond(sb)) {
          this.flags |= C_AF;
        }
      }
    }
    this.flagsAt = now;
  }

  #computeDeadline(): number {
    if (this.#irqf()) return Infinity;
    const at = this.flagsAt;
    let d = Infinity;
    const p = this.#period();
    if ((this.regB & B_PIE) && p !== 0) {
      const k = (Math.floor(this.#k32(at) / p) + 1) * p;
      d = Math.min(d, mulDivCeil(k, this.tscHz, RTC_HZ));
    }
    if (!this.halted) {
      const s1 = this.#second(at) + 1;
      if (this.regB & B_UIE) d = Math.min(d, s1 * this.tscHz);
      if (this.regB & B_AIE) {
        const e1 = this.#epochAtSecond(s1);
        const m = this.#nextAlarm(e1);
        if (m !== Infinity) d = Math.min(d, (s1 + (m - e1)) * this.tscHz);
      }
    }
    return d;
  }

  /** Drives IRQ8 from IRQF and re-plans the deadline. */
  #settle(): void {
    const level = this.#irqf();
    if (level !== this.#line) {
      this.#line = level;
      this.irq8(level);
    }
    const d = this.#computeDeadline();
    if (d !== this.#deadline) {
      this.#deadline = d;
      this.onDeadlineChanged();
    }
  }

  /** The instruction count at which IRQF would next rise (`now` if overdue), or Infinity. */
  nextDeadline(now: number): number {
    return this.#deadline <= now ? now : this.#deadline;
  }

  /** Evaluates the interrupt flags up to `now` and drives IRQ8. */
  update(now: number): void {
    this.#refresh(now);
    this.#settle();
  }

  // ---- registers ---------------------------------------------------------------------------------

  #read(now: number): number {
    const i = this.index;
    switch (i) {
      case 0x00:
        return this.#fmt(this.timeAt(now).sec);
      case 0x02:
        return this.#fmt(this.timeAt(now).min);
      case 0x04:
        return this.#fmtHour(this.timeAt(now).hour);
      case 0x06:
        return this.#fmt(this.timeAt(now).dow);
      case 0x07:
        return this.#fmt(this.timeAt(now).day);
      case 0x08:
        return this.#fmt(this.timeAt(now).month);
      case 0x09:
        return this.#fmt(mod(this.timeAt(now).year, 100));
      case CENTURY:
        return this.#fmt(Math.floor(this.timeAt(now).year / 100));
      case REG_A: {
        const uip = !this.halted && now - this.#second(now) * this.tscHz >= this.#uipStart;
        return this.regA | (uip ? 0x80 : 0);
      }
      case REG_B:
        return this.regB;
      case REG_C: {
        this.#refresh(now);
        const v = this.flags | (this.#irqf() ? C_IRQF : 0);
        this.flags = 0;
        this.#settle();
        return v;
      }
      case REG_D:
        return 0x80;
    }
    return this.ram[i]!;
  }

  #setTime(now: number, f: (t: RtcTime) => RtcTime): void {
    if (this.halted) {
      this.base = f(this.base);
    } else {
      this.base = f(this.timeAt(now));
      this.baseSecond = this.#second(now);
    }
  }

  #write(now: number, v: number): void {
    const i = this.index;
    this.#refresh(now);
    switch (i) {
      case 0x00:
        this.#setTime(now, (t) => ({ ...t, sec: this.#dec(v) }));
        break;
      case 0x02:
        this.#setTime(now, (t) => ({ ...t, min: this.#dec(v) }));
        break;
      case 0x04:
        this.#setTime(now, (t) => ({ ...t, hour: this.#decHour(v) }));
        break;
      case 0x06:
        this.#setTime(now, (t) => ({ ...t, dow: this.#dec(v) }));
        break;
      case 0x07:
        this.#setTime(now, (t) => ({ ...t, day: this.#dec(v) }));
        break;
      case 0x08:
        this.#setTime(now, (t) => ({ ...t, month: this.#dec(v) }));
        break;
      case 0x09:
        this.#setTime(now, (t) => ({ ...t, year: Math.floor(t.year / 100) * 100 + this.#dec(v) }));
        break;
      case CENTURY:
        this.#setTime(now, (t) => ({ ...t, year: this.#dec(v) * 100 + mod(t.year, 100) }));
        break;
      case REG_A:
      case REG_B: {
        const was = this.halted;
        const cur = this.timeAt(now);
        if (i === REG_A) this.regA = v & 0x7f;
        else this.regB = v & B_SET ? v & ~B_UIE : v;
        const is = this.halted;
        if (!was && is) this.base = cur;
        if (was && !is) this.baseSecond = this.#second(now);
        break;
      }
      case REG_C:
      case REG_D:
        break;
      default:
        this.ram[i] = v;
    }
    this.#settle();
  }

  ioRead(port: number, size: 1 | 2 | 4): number {
    let v = 0;
    for (let k = 0; k < size; k++) {
      const p = port + k;
      const b = p === 0x71 ? this.#read(this.#now()) : 0xff; // 0x70 is write-only
      v |= b << (8 * k);
    }
    return v >>> 0;
  }

  ioWrite(port: number, size: 1 | 2 | 4, value: number): void {
    for (let k = 0; k < size; k++) {
      const p = port + k, b = (value >>> (8 * k)) & 0xff;
      if (p === 0x70) {
        this.index = b & 0x7f;
        this.nmiDisabled = (b & 0x80) !== 0;
      } else if (p === 0x71) {
        this.#write(this.#now(), b);
      }
    }
  }

  snapshot(): Record<string, unknown> {
    return {
      ram: [...this.ram],
      index: this.index,
      nmiDisabled: this.nmiDisabled,
      regA: this.regA,
      regB: this.regB,
      flags: this.flags,
      base: { ...this.base },
      baseSecond: this.baseSecond,
      flagsAt: this.flagsAt,
      line: this.#line,
      deadline: this.#deadline === Infinity ? null : this.#deadline,
    };
  }
}
