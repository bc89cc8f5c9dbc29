/**
 * Virtual-8086 mode (SDM Vol. 3A chapter 20), without the VME/PVI extensions (CPUID does not
 * advertise VME; CR4.VME cannot be set): the segment state a virtual-8086 task runs with, IRET
 * into it from CPL 0, IRET inside it, and the parts of an interrupt or exception that leaves it
 * (the rest of that delivery is in cpu.ts). Everything else V86-specific is a check where the
 * instruction lives: CPL 3 makes the privileged instructions #GP(0), CLI/STI/PUSHF/POPF/INT n/
 * IRET are IOPL-sensitive, I/O always consults the TSS permission bitmap, and the descriptor
 * instructions (LAR, LSL, VERR, VERW, ARPL, LLDT, SLDT, LTR, STR) are #UD.
 */

import type { Cpu } from "./cpu.ts";
import {
  CS,
  DS,
  ES,
  FLAG_IOPL,
  FLAG_VIF,
  FLAG_VIP,
  FLAG_VM,
  FS,
  GS,
  RSP,
  SEG_ATTR_UNUSABLE,
  SS,
  VEC_GP,
} from "./regs.ts";

/** Segment attributes in virtual-8086 mode: present, DPL 3, read/write data, accessed. */
export const V86_SEG_ATTR = 0xf3;

/**
 * Loads all six segment registers (selectors in ES, CS, SS, DS, FS, GS order) the way
 * virtual-8086 mode has them: base = selector × 16, limit 0xFFFF, `V86_SEG_ATTR`. EFLAGS.VM must
 * already be set (CPL becomes 3).
 */
export function loadV86Segments(c: Cpu, sels: readonly number[]): void {
  for (let s = 0; s < 6; s++) {
    const sel = sels[s]! & 0xffff;
    c.segSel[s] = sel;
    c.segBase[s] = sel * 16;
    c.segLimit[s] = 0xffff;
    c.segAttr[s] = V86_SEG_ATTR;
  }
  c.updateMode();
}

/**
 * The rest of a 32-bit IRET at CPL 0 in legacy protected mode whose EFLAGS image has VM = 1 (SDM
 * IRET, RETURN-TO-VIRTUAL-8086-MODE), after EIP, CS and EFLAGS were popped: pops ESP, SS, ES, DS,
 * FS and GS (32 bits each), then loads EFLAGS whole and the segments real-mode style. The caller
 * snapshots the state first (`saveFar`) and rolls it back on a fault.
 */
export function iretToV86(c: Cpu, eip: number, cs: number, eflags: number): void {
  const esp = c.popN(4);
  const sels = [0, cs, 0, 0, 0, 0];
  sels[SS] = c.popN(4);
  sels[ES] = c.popN(4);
  sels[DS] = c.popN(4);
  sels[FS] = c.popN(4);
  sels[GS] = c.popN(4);
  if (eip > 0xffff) c.raise(VEC_GP, 0); // beyond the limit of the virtual-8086 CS
  c.setRflags(eflags);
  loadV86Segments(c, sels);
  c.lo[RSP] = esp;
  c.rip = eip;
}

/** EFLAGS bits an IRET or POPF inside virtual-8086 mode cannot change. */
const V86_KEEP = FLAG_VM | FLAG_IOPL | FLAG_VIP | FLAG_VIF;

/**
 * IRET inside virtual-8086 mode (SDM IRET, RETURN-FROM-VIRTUAL-8086-MODE): #GP(0) unless IOPL =
 * 3, which traps to the virtual-8086 monitor; else pops IP, CS and FLAGS like real mode, keeping
 * VM, IOPL, VIP and VIF. `size` is the operand size (2 or 4). The caller snapshots the state
 * first (`saveFar`) and rolls it back on a fault.
 */
export function iretInV86(c: Cpu, size: number): void {
  if ((c.eflags & FLAG_IOPL) !== FLAG_IOPL) c.raise(VEC_GP, 0);
  const ip = size === 4 ? c.popN(4) >>> 0 : c.popN(2);
  const cs = c.popN(size) & 0xffff;
  const fl = c.popN(size);
  if (ip > c.segLimit[CS]!) c.raise(VEC_GP, 0);
  const keep = size === 2 ? V86_KEEP | 0xffff0000 : V86_KEEP;
  c.setRflags((c.getRflags() & keep) | (fl & ~keep));
  c.loadSegReal(CS, cs);
  c.rip = ip;
}

/**
 * An interrupt or exception leaving virtual-8086 mode, on the ring-0 stack it switched to: pushes
 * GS, FS, DS and ES (before SS, ESP, EFLAGS, CS and EIP), 32 bits each through a 32-bit gate, 16
 * bits through a 16-bit gate (`size` 2).
 */
export function pushV86DataSegments(c: Cpu, size = 4): void {
  for (const s of [GS, FS, DS, ES]) {
    if (size === 4) c.push32(c.segSel[s]!);
    else c.push16(c.segSel[s]!);
  }
}

/** After `pushV86DataSegments` and the rest of the frame: DS, ES, FS and GS become null. */
export function nullV86DataSegments(c: Cpu): void {
  for (const s of [ES, DS, FS, GS]) {
    c.segSel[s] = 0;
    c.segBase[s] = 0;
    c.segLimit[s] = 0;
    c.segAttr[s] = SEG_ATTR_UNUSABLE;
  }
}
