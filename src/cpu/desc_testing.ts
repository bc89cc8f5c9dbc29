/**
 * Test support for far transfers and event delivery: raw descriptor and gate encoders, GDT and IDT
 * writers, the GDT layout the tests share, a 32-bit protected-mode machine with a TSS, and run
 * helpers that capture the first exception raised.
 */

import type { Cpu } from "./cpu.ts";
import { CR0_PE, CR0_PG, CS, DS, ES, FS, GS, RSP, SS } from "./regs.ts";
import { makeCpu, type TestMachine } from "./testing.ts";

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

/** The GDT the legacy tests share: null, ring-0 code 0x08 and data 0x10, ring-3 0x1b and 0x23. */
export const FLAT_GDT: readonly Desc[] = [[0, 0], code32(0), data32(0), code32(3), data32(3)];
/** The same for IA-32e mode: 64-bit code at 0x08 and 0x1b. */
export const LONG_GDT: readonly Desc[] = [[0, 0], code64(0), data32(0), code64(3), data32(3)];

/** Options of `protected32`. */
export interface Protected32Options {
  /** GDT address (default 0x1000). */
  gdt?: number;
  /** Address of the busy 32-bit TSS 0x28 in TR. */
  tss: number;
  /** Its limit (default 0x67). */
  tssLimit?: number;
  /** GDT entries from 0x30 on. */
  extra?: readonly Desc[];
  /** CPL 3: CS 0x1b and the data registers 0x23 (else 0x08 and 0x10). */
  cpl?: 0 | 3;
  /** ESP0 in the TSS, with SS0 = 0x10. */
  esp0?: number;
}

/**
 * A CPU with 4 MiB of RAM in 32-bit protected mode without paging: `FLAT_GDT`, the TSS 0x28 in TR,
 * then `extra`.
 */
export function protected32(opts: Protected32Options): TestMachine {
  const t = makeCpu(4 << 20);
  const limit = opts.tssLimit ?? 0x67;
  setGdt(t, opts.gdt ?? 0x1000, [
    ...FLAT_GDT,
    tss32(opts.tss, limit, 0, true),
    ...opts.extra ?? [],
  ]);
  if (opts.cpl === 3) enterProtected32(t.cpu, 0x1b, 0x23);
  else enterProtected32(t.cpu);
  t.cpu.setSegment(7, 0x28, opts.tss, limit, 0x8b);
  if (opts.esp0 !== undefined) {
    t.mem.dv.setUint32(opts.tss + 4, opts.esp0, true);
    t.mem.dv.setUint32(opts.tss + 8, 0x10, true);
  }
  return t;
}

/**
 * Writes a 32-bit task's state into its TSS at `base`: EIP, EFLAGS, the GPRs in encoding order with
 * ESP = `esp` and the others 1-8 (EAX = 1 … EDI = 8), and ES, CS, SS, DS, FS, GS = `sels`.
 */
export function writeTss32(
  t: TestMachine,
  base: number,
  eip: number,
  eflags: number,
  esp: number,
  sels: readonly number[],
): void {
  const dv = t.mem.dv;
  dv.setUint32(base + 0x20, eip, true);
  dv.setUint32(base + 0x24, eflags, true);
  for (let r = 0; r < 8; r++) dv.setUint32(base + 0x28 + r * 4, r === RSP ? esp : r + 1, true);
  sels.forEach((s, i) => dv.setUint32(base + 0x48 + i * 4, s, true));
}

/**
 * Turns on 2-level paging that identity-maps the first 4 MiB: page directory at `pd`, page table at
 * `pt`, page i's entry flags `flags(i)` (0 for not present).
 */
export function paging32(t: TestMachine, pd: number, pt: number, flags: (page: number) => number) {
  const { cpu, mem } = t;
  mem.dv.setUint32(pd, pt | 7, true);
  for (let i = 0; i < 1024; i++) mem.dv.setUint32(pt + i * 4, (i << 12) | flags(i), true);
  cpu.cr3 = pd;
  cpu.cr0 = (cpu.cr0 | CR0_PG) | 0;
  cpu.updateMode();
  cpu.flushTlbAll();
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
 * Writes IDT gates ([vector, gate]: a legacy gate, or the two slots of a 64-bit one) at `base` and
 * loads IDTR (limit 0x7ff for 8-byte gates, 0xfff for 16-byte ones).
 */
export function setIdt(t: TestMachine, base: number, gates: [number, Desc | Desc[]][]): void {
  let size = 8;
  for (const [vec, g] of gates) {
    const slots = typeof g[0] === "number" ? [g as Desc] : g as Desc[];
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
