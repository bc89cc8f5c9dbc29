/**
 * The decoded form of one instruction: what iced-x86 told us, converted once into plain numbers
 * that semantic builders (src/cpu/ops/*) turn into an `Op` closure. No iced objects survive
 * decoding.
 */

import type { Code, Mnemonic } from "iced-x86";

/** Operand kinds (our own small enum, derived from iced's OpKind). */
export const K_NONE = 0;
export const K_REG = 1;
export const K_MEM = 2;
export const K_IMM = 3;
export const K_BRANCH = 4;
export const K_FAR = 5;
/** Implicit string-instruction memory operand ([seg:rSI] or [es:rDI]). */
export const K_STR = 6;

/** Register classes of register operands. */
export const RC_GPR = 0;
export const RC_SEG = 1;
export const RC_CR = 2;
export const RC_DR = 3;
export const RC_XMM = 4;
export const RC_ST = 5;
export const RC_MM = 6;
export const RC_OTHER = 7;

export interface MemRef {
  /** Segment register index (ES=0..GS=5). */
  readonly seg: number;
  /** GPR index, -1 none, -2 RIP-relative. */
  readonly base: number;
  /** GPR index or -1. */
  readonly index: number;
  readonly scale: number;
  /** Signed displacement (for RIP-relative: the absolute target address). */
  readonly disp: number;
  /** Address size in bytes: 2, 4 or 8. */
  readonly addrSize: number;
  /** Operand size in bytes (0 when not meaningful, e.g. LEA). */
  readonly size: number;
  /** Whether a segment override prefix was present. */
  readonly override: boolean;
  /** Whether the instruction writes the operand (computed for 16/32-bit code only). */
  readonly write: boolean;
}

export interface Operand {
  readonly kind: number;
  /** For K_REG: register class. */
  readonly rc: number;
  /**
   * For K_REG GPRs: index 0..15, or 16..19 for AH/CH/DH/BH. For other classes: the register
   * number within the class.
   */
  readonly reg: number;
  /** Operand size in bytes (registers and immediates). */
  readonly size: number;
  /** Immediate / branch target: low 32 bits (int32) and high 32 bits. */
  readonly lo: number;
  readonly hi: number;
}

export interface Insn {
  readonly rip: number;
  readonly next: number;
  readonly len: number;
  readonly bits: 16 | 32 | 64;
  readonly code: Code;
  readonly mnemonic: Mnemonic;
  readonly ops: readonly Operand[];
  readonly mem: MemRef | null;
  /** Near branch target (as a RIP number) when an operand is K_BRANCH. */
  readonly target: number;
  readonly farSel: number;
  readonly farOff: number;
  /** 0 none, 1 REP/REPE, 2 REPNE. */
  readonly rep: number;
  readonly lock: boolean;
  /** Address size in bytes for implicit memory operands (string ops, stack is separate). */
  readonly addrSize: number;
  /** Segment for string-source operands (DS unless overridden). */
  readonly strSeg: number;
  readonly bytes: Uint8Array;
  /** iced's flow control (0 = next, FLOW_CONDITIONAL = Jcc, LOOPcc, JrCXZ). */
  readonly flow: number;
  /** Condition code 0..15 (x86 encoding: O NO B AE E NE BE A S NS P NP L GE LE G) or -1. */
  readonly cc: number;
  /** Stack pointer change made by the instruction (iced's stackPointerIncrement). */
  readonly spInc: number;
}

/** iced's FlowControl.ConditionalBranch: a block continues past it when it is not taken. */
export const FLOW_CONDITIONAL = 3;
