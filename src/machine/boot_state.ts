/**
 * The result of loading a guest image, independent of the machine: bytes to place in guest
 * physical memory and the boot processor's entry state. Loaders (src/machine/loaders/) are pure
 * functions producing a `LoadPlan`; loader.ts performs one on a machine (the memory writes, then
 * `applyEntryState` on the boot processor).
 */

import type { Cpu } from "../cpu/cpu.ts";
import { CR0_ET, CR0_PE, CS, DS, ES, FS, GS, SS } from "../cpu/regs.ts";

export interface MemoryWrite {
  /** Guest physical address. */
  readonly addr: number;
  readonly bytes: Uint8Array;
  /** What this is, for error messages ("kernel segment 2", "boot_params", …). */
  readonly what: string;
}

/** A segment register's hidden state (HV_X64_SEGMENT_REGISTER attribute layout). */
export interface SegmentState {
  readonly sel: number;
  readonly base: number;
  readonly limit: number;
  readonly attr: number;
}

export interface EntryState {
  /** "real": real mode; "prot32": 32-bit protected mode, paging off; "long64": long mode. */
  readonly mode: "real" | "prot32" | "long64";
  readonly rip: number;
  /** General-purpose registers by name (rax … r15), 64-bit values as numbers. */
  readonly regs: Readonly<Record<string, number>>;
  readonly cs: SegmentState;
  /** DS, ES, FS, GS, and SS unless `ss` is given. */
  readonly data: SegmentState;
  /** SS when it differs from the data segments (a real-mode stack below the image). */
  readonly ss?: SegmentState;
  readonly gdt?: { readonly base: number; readonly limit: number };
  readonly idt?: { readonly base: number; readonly limit: number };
  readonly cr0?: number;
  readonly cr3?: number;
  readonly cr4?: number;
  readonly efer?: number;
  readonly rflags?: number;
}

export interface LoadPlan {
  readonly writes: readonly MemoryWrite[];
  readonly entry: EntryState;
}

const GPR: Record<string, number> = {
  rax: 0,
  rcx: 1,
  rdx: 2,
  rbx: 3,
  rsp: 4,
  rbp: 5,
  rsi: 6,
  rdi: 7,
  r8: 8,
  r9: 9,
  r10: 10,
  r11: 11,
  r12: 12,
  r13: 13,
  r14: 14,
  r15: 15,
};

/** Sets the CPU to `e` (the memory writes are the caller's business). */
export function applyEntryState(cpu: Cpu, e: EntryState): void {
  cpu.reset();
  for (const [name, v] of Object.entries(e.regs)) {
    const i = GPR[name];
    if (i === undefined) throw new Error(`unknown register ${name}`);
    cpu.setReg(i, v);
  }
  cpu.cr0 = (e.cr0 ?? (e.mode === "real" ? 0x60000010 : CR0_PE | CR0_ET)) | 0;
  cpu.cr3 = e.cr3 ?? 0;
  cpu.cr4 = e.cr4 ?? 0;
  cpu.efer = e.efer ?? 0;
  if (e.gdt) {
    cpu.gdtBase = e.gdt.base;
    cpu.gdtLimit = e.gdt.limit;
  }
  if (e.idt) {
    cpu.idtBase = e.idt.base;
    cpu.idtLimit = e.idt.limit;
  }
  cpu.setRflags(e.rflags ?? 2);
  cpu.setSegment(CS, e.cs.sel, e.cs.base, e.cs.limit, e.cs.attr);
  for (const s of [DS, ES, FS, GS]) {
    cpu.setSegment(s, e.data.sel, e.data.base, e.data.limit, e.data.attr);
  }
  const ss = e.ss ?? e.data;
  cpu.setSegment(SS, ss.sel, ss.base, ss.limit, ss.attr);
  cpu.rip = e.rip;
  cpu.updateMode();
  cpu.flushTlbAll();
}

/** Flat 32-bit protected-mode segments (code 0x10, data 0x18), as multiboot and Linux expect. */
export const FLAT32_CS: SegmentState = { sel: 0x10, base: 0, limit: 0xffffffff, attr: 0xc09b };
export const FLAT32_DS: SegmentState = { sel: 0x18, base: 0, limit: 0xffffffff, attr: 0xc093 };
