/**
 * Test support for far transfers: raw descriptor encoders, a GDT writer, a 32-bit protected-mode
 * setup, and a run helper that captures the CPU state when the first exception is raised.
 */

import type { Cpu } from "./cpu.ts";
import { CR0_PE, CS, DS, ES, FS, GS, RSP, SS } from "./regs.ts";
import type { TestMachine } from "./testing.ts";

/** A descriptor as its two little-endian dwords [low, high]; 16-byte ones are two entries. */
export type Desc = [number, number];

/** A code/data/system segment descriptor. `type` is the 5-bit S+type field (0x1b = code). */
export function segDesc(
  base: number,
  limit: number,
  type: number,
  dpl: number,
  flags = 0xc, // G=1, D/B=1 (bits 55, 54 as a nibble: G D L AVL)
  present = true,
): Desc {
  const lo = ((base & 0xffff) << 16) | (limit & 0xffff);
  const hi = ((base >>> 16) & 0xff) | (type << 8) | (dpl << 13) | (present ? 0x8000 : 0) |
    (limit & 0xf0000) | (flags << 20) | (base & 0xff000000);
  return [lo | 0, hi | 0];
}

/** Flat 32-bit code (type 0x1b, conforming 0x1f). */
export const code32 = (dpl: number, conforming = false): Desc =>
  segDesc(0, 0xfffff, conforming ? 0x1f : 0x1b, dpl);
/** 64-bit code (L=1, D=0). */
export const code64 = (dpl: number, conforming = false): Desc =>
  segDesc(0, 0xfffff, conforming ? 0x1f : 0x1b, dpl, 0xa);
/** Flat writable data. */
export const data32 = (dpl: number): Desc => segDesc(0, 0xfffff, 0x13, dpl);

/** A legacy call gate (type 0xc, or 4 for a 16-bit gate) or a task gate (type 5). */
export function gate(
  sel: number,
  off: number,
  type: number,
  dpl: number,
  params = 0,
  p = true,
): Desc {
  return [
    ((sel & 0xffff) << 16) | (off & 0xffff),
    (off & 0xffff0000) | (p ? 0x8000 : 0) | (dpl << 13) | (type << 8) | (params & 0x1f),
  ];
}

/** A 64-bit call gate: two GDT slots. */
export function gate64(sel: number, off: number, dpl: number, p = true, upper = 0): Desc[] {
  const lo = gate(sel, off % 0x100000000, 0xc, dpl, 0, p);
  return [lo, [Math.floor(off / 0x100000000) | 0, upper]];
}

/** A 32-bit TSS descriptor (type 9, busy 0xb). */
export const tss32 = (base: number, limit = 0x67, dpl = 0, busy = false): Desc =>
  segDesc(base, limit, busy ? 0xb : 9, dpl, 0);

/** Writes `entries` as a GDT at `base` and loads GDTR. */
export function setGdt(t: TestMachine, base: number, entries: readonly Desc[]): void {
  entries.forEach(([lo, hi], i) => {
    t.mem.dv.setInt32(base + i * 8, lo, true);
    t.mem.dv.setInt32(base + i * 8 + 4, hi, true);
  });
  t.cpu.gdtBase = base;
  t.cpu.gdtLimit = entries.length * 8 - 1;
}

/** 32-bit protected mode without paging: CS = `cs` (flat code), the data registers = `ds`. */
export function enterProtected32(cpu: Cpu, cs = 0x08, ds = 0x10): void {
  cpu.cr0 = (cpu.cr0 | CR0_PE) & ~0x60000000;
  cpu.setSegment(CS, cs, 0, 0xffffffff, 0xc09b | ((cs & 3) << 5));
  for (const s of [DS, ES, SS, FS, GS]) {
    cpu.setSegment(s, ds, 0, 0xffffffff, 0xc093 | ((ds & 3) << 5));
  }
  cpu.updateMode();
}

/** The state a test looks at when an exception is raised. */
export interface FaultState {
  vec: number;
  err: number;
  rip: number;
  cs: number;
  ss: number;
  cpl: number;
  rsp: number;
}

const STOP = new Error("stop at the first exception");

/**
 * Runs up to `n` instructions; returns the state at the first exception (before its delivery)
 * or null if none was raised.
 */
export function runToFault(t: TestMachine, n = 100): FaultState | null {
  const cpu = t.cpu;
  let at: FaultState | null = null;
  const saved = t.host.onException;
  t.host.onException = (vec: number, _has: boolean, err: number) => {
    at = {
      vec,
      err,
      rip: cpu.rip,
      cs: cpu.segSel[CS]!,
      ss: cpu.segSel[SS]!,
      cpl: cpu.cpl,
      rsp: cpu.reg(RSP),
    };
    throw STOP;
  };
  try {
    for (let i = 0; i < n && !cpu.halted && !cpu.shutdown; i++) cpu.run(1);
  } catch (e) {
    if (e !== STOP) throw e;
  } finally {
    t.host.onException = saved;
  }
  return at;
}

/** A 64-bit interrupt (type 0xe) or trap (0xf) gate: two IDT slots. */
export function gate64Int(sel: number, off: number, type: number, dpl: number, ist = 0): Desc[] {
  const lo = gate(sel, off % 0x100000000, type, dpl, ist);
  return [lo, [Math.floor(off / 0x100000000) | 0, 0]];
}

/**
 * Writes IDT gates ([vector, descriptor slots]: one for a legacy gate, two for a 64-bit one) at
 * `base` and loads IDTR (limit 0x7ff for 8-byte gates, 0xfff for 16-byte ones).
 */
export function setIdt(t: TestMachine, base: number, gates: [number, Desc[]][]): void {
  let size = 8;
  for (const [vec, slots] of gates) {
    size = slots.length * 8;
    slots.forEach(([lo, hi], i) => {
      t.mem.dv.setInt32(base + vec * size + i * 8, lo, true);
      t.mem.dv.setInt32(base + vec * size + i * 8 + 4, hi, true);
    });
  }
  t.cpu.idtBase = base;
  t.cpu.idtLimit = size * 256 - 1;
}

/** The first exception (vector, error code) raised while `act` runs, or null; later ones stop it. */
export function firstException(t: TestMachine, act: () => void): [number, number] | null {
  let at: [number, number] | null = null;
  const saved = t.host.onException;
  t.host.onException = (vec: number, _has: boolean, err: number) => {
    at = [vec, err];
    throw STOP;
  };
  try {
    act();
  } catch (e) {
    if (e !== STOP) throw e;
  } finally {
    t.host.onException = saved;
  }
  return at;
}
