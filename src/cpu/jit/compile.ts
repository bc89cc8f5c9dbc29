/**
 * Block compiler: turns a hot block into one JavaScript function (via `new Function`) in which
 * each instruction is either inline source from its family's snippet generator or, when there is
 * none, a call to its pre-bound op closure. V8 then optimises the block as a unit.
 *
 * Semantics are exactly the interpreter's: the function runs the block's instructions in order
 * and returns how many retired; it stops after an instruction that sets `c.brk`; before any
 * instruction that can fault, `c.rip` holds that instruction's RIP (so `raise` records it); at
 * the end `c.rip` is the next RIP. Compilation never changes a trace (a test checks that runs
 * with and without compilation produce identical bytes).
 */

import type { Block, Cpu, Op } from "../cpu.ts";
import { FLOW_CONDITIONAL, type Insn } from "../insn.ts";
import { ripLiteral } from "./emit.ts";

/** What a snippet generator returns. */
export interface Snippet {
  /** JavaScript statements (may use the block locals, see prelude). */
  readonly code: string;
  /** The instruction can raise an exception or call into the host: set c.rip before it. */
  readonly mayFault: boolean;
  /** The instruction may set c.brk (must check after it). */
  readonly mayBreak: boolean;
  /** The snippet itself assigns c.rip (branches). */
  readonly setsRip: boolean;
}

export type SnippetGen = (d: Insn) => Snippet | null;

const gens = new Map<number, SnippetGen>();

export function defineSnippet(mnemonics: readonly number[], g: SnippetGen): void {
  for (const m of mnemonics) gens.set(m, g);
}

/** Shared helpers passed to every compiled block (module-level functions, monomorphic). */
export interface JitHelpers {
  readonly [name: string]: unknown;
}

let helpers: Record<string, unknown> = {};

export function registerHelpers(h: Record<string, unknown>): void {
  helpers = { ...helpers, ...h };
}

/** Statistics, for benchmarks and tests. */
export const jitStats = { blocks: 0, inlined: 0, fallback: 0 };

/** Set to false to disable compilation (tests compare traces with and without). */
export const jitConfig = { enabled: true, threshold: 32 };

export function compileBlock(b: Block, insns: readonly Insn[]): (c: Cpu) => number {
  const n = b.n;
  const ops: Op[] = b.ops;
  let body = "";
  let ripKnown = false; // whether c.rip is already this instruction's RIP
  for (let i = 0; i < n; i++) {
    const d = insns[i];
    const s = d !== undefined ? gens.get(d.mnemonic)?.(d) ?? null : null;
    const rip = b.rips[i]!;
    const last = i === n - 1;
    if (s === null) {
      jitStats.fallback++;
      if (!ripKnown) body += `c.rip = ${ripLiteral(rip)};\n`;
      body += `o${i}(c);\n`;
      if (!last) body += `if (c.brk) return ${i + 1};\n`;
      ripKnown = false;
      continue;
    }
    jitStats.inlined++;
    if (s.mayFault && !ripKnown) body += `c.rip = ${ripLiteral(rip)};\n`;
    body += `{\n${s.code}\n}\n`;
    if (s.setsRip) ripKnown = false;
    else if (last || s.mayBreak) {
      body += `c.rip = ${ripLiteral(d!.next)};\n`;
      ripKnown = false;
    } else ripKnown = false;
    if (s.mayBreak && !last) body += `if (c.brk) return ${i + 1};\n`;
    // A conditional branch inside the block leaves it when taken.
    if (!last && d!.flow === FLOW_CONDITIONAL) {
      body += `if (c.rip !== ${ripLiteral(d!.next)}) return ${i + 1};\n`;
    }
  }
  body += `return ${n};\n`;
  const src =
    `"use strict";\nreturn function block(c) {\nconst lo = c.lo, hi = c.hi;\nlet a = 0, ah = 0, bb = 0, bh = 0, r = 0, rh = 0, t = 0, lin = 0;\n${body}};`;
  const names = [...ops.map((_, i) => "o" + i), ...Object.keys(helpers)];
  const values = [...ops, ...Object.values(helpers)];
  jitStats.blocks++;
  return new Function(...names, src)(...values) as (c: Cpu) => number;
}
