/**
 * Mnemonic → semantic builder. Each instruction family module registers its mnemonics here; the
 * code cache looks builders up when decoding. A builder turns one decoded `Insn` into an `Op`
 * closure with everything static (registers, sizes, immediates, addressing) pre-bound.
 */

import type { Mnemonic } from "iced-x86";
import type { Op } from "../cpu.ts";
import type { Insn } from "../insn.ts";
import { VEC_UD } from "../regs.ts";

export type Builder = (d: Insn) => Op;

const builders = new Map<Mnemonic, Builder>();
const isolated = new Map<Mnemonic, (d: Insn) => boolean>();

export function define(mnemonics: readonly Mnemonic[], b: Builder): void {
  for (const m of mnemonics) {
    if (builders.has(m)) throw new Error(`duplicate builder for mnemonic ${m}`);
    builders.set(m, b);
  }
}

/**
 * Marks mnemonics that must run as single-instruction blocks: they read the clock or talk to the
 * machine (I/O, MSRs, hypercalls, HLT …), so the retired-instruction count must be exact when they
 * execute, and the machine may need control right after them.
 */
export function isolate(...mnemonics: Mnemonic[]): void {
  for (const m of mnemonics) isolated.set(m, () => true);
}

/** Like `isolate`, for the forms of a mnemonic matching `pred`. */
export function isolateIf(m: Mnemonic, pred: (d: Insn) => boolean): void {
  isolated.set(m, pred);
}

export function builderFor(m: Mnemonic): Builder | undefined {
  return builders.get(m);
}

export function isIsolated(d: Insn): boolean {
  const p = isolated.get(d.mnemonic);
  return p !== undefined && p(d);
}

/** An op that raises #UD (invalid or unimplemented instruction). */
export function udOp(): Op {
  return (c) => c.raise(VEC_UD);
}
