/**
 * SMP bring-up for the kit's kernels, as an OS does it (Intel MP Specification 1.4 appendix B.4,
 * SDM Vol. 3A §9.4.4): a real-mode trampoline copied to a page below 1 MiB, then INIT (assert,
 * de-assert) and two STARTUP IPIs to all other processors with the page number as the vector.
 *
 * The trampoline runs at CS:IP = 0x2000:0000 (vector 0x20). Each AP records, in its slot at
 * TRAMPOLINE + 0x800 + APIC ID × 16: CS (word 0), CR0 (dword 4), an entry count (dword 8) and
 * FLAGS (word 12) as it found them, then loads the kit's GDT, sets CR0.PE and far-jumps to the
 * kit's 32-bit AP entry (`MbKit.ap32`), which continues in the kernel's mode and calls
 * `apMain`.
 */

import { dword, mem, word } from "../asm.ts";
import { ax, bx, eax, ebx, ecx, edi, esi, reg, si } from "../asm/operands.ts";
import { KV, type MbKit, SEL, TRAMPOLINE } from "./kit.ts";

export const SLOTS = TRAMPOLINE + 0x800;

/** AP slot fields (byte offsets). */
export const SLOT = { cs: 0, cr0: 4, entries: 8, flags: 12 } as const;

/**
 * Emits the trampoline (jumped over) and code that copies it to TRAMPOLINE and clears the
 * slots. Then `startAps` sends the IPIs.
 */
export function installTrampoline(k: MbKit): void {
  const a = k.a, mode = a.mode, skip = a.label(), t0 = a.label(), t1 = a.label();
  const gdtp = a.label();
  const off = (l: typeof t0) => () => a.addressOf(l) - a.addressOf(t0);
  a.jmp(skip);
  a.bits(16).bind(t0);
  a.pushf().pop(si); // FLAGS at entry
  a.cli();
  a.mov(ax, reg("cs")).mov(reg("ds"), ax);
  a.mov(eax, reg("cr0")).mov(edi, eax); // CR0 at entry
  a.mov(eax, 1).cpuid().shr(ebx, 24).shl(bx, 4); // slot offset: initial APIC ID × 16
  a.mov(ax, reg("cs")).mov(word(bx, SLOTS - TRAMPOLINE + SLOT.cs), ax);
  a.mov(dword(bx, SLOTS - TRAMPOLINE + SLOT.cr0), edi);
  a.lock().i("inc", dword(bx, SLOTS - TRAMPOLINE + SLOT.entries));
  a.mov(word(bx, SLOTS - TRAMPOLINE + SLOT.flags), si);
  a.lgdt(mem(off(gdtp)).withSize(6));
  a.mov(eax, reg("cr0")).or(eax, 1).mov(reg("cr0"), eax);
  a.jmpFar(SEL.code32, k.ap32, 32);
  a.align(4).bind(gdtp).dw(k.gdt.limit).dd(k.gdt.table);
  a.bind(t1);
  a.bits(mode).bind(skip);
  // Copy it below 1 MiB and clear the slots.
  k.save(ecx, esi, edi);
  a.mov(esi, t0).mov(edi, TRAMPOLINE).mov(ecx, () => a.addressOf(t1) - a.addressOf(t0));
  a.rep().movsb();
  a.mov(edi, SLOTS).mov(ecx, 0x100).xor(eax, eax).rep().stosb();
  k.restore(ecx, esi, edi);
}

/**
 * INIT, INIT de-assert, STARTUP, STARTUP to all excluding self (ICR shorthand 11), with short
 * delays between them, as the MP specification's universal start-up algorithm.
 */
export function startAps(k: MbKit): void {
  const a = k.a;
  a.mov(dword(KV.aliveMask), 1); // the BSP
  k.ipi(0xc4500, 0); // INIT, level assert
  k.delay(10_000);
  k.ipi(0xc8500, 0); // INIT, level de-assert (trigger mode level)
  k.delay(10_000);
  k.ipi(0xc4600 | (TRAMPOLINE >>> 12), 0); // STARTUP, vector = page number
  k.delay(2_000);
  k.ipi(0xc4600 | (TRAMPOLINE >>> 12), 0);
}
