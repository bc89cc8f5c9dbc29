/**
 * `replay --log-insns FROM[:COUNT]`: replays up to instruction count FROM, then executes COUNT
 * instructions one at a time and prints each with its position (machine icount, VP, VTL, CPL,
 * code size), its address and its disassembly, interleaved with the events it produced. The
 * way to see exactly what a guest did just before a divergence, a fault or a hang.
 */

import type { TraceEvent } from "../core/events.ts";
import type { Machine } from "../machine/machine.ts";
import type { Vp } from "../machine/vp.ts";
import { toHex } from "../core/hex.ts";
import { hexNum } from "../cpu/u64.ts";
import { disassemble } from "../trace/disasm.ts";
import { UsageError } from "./errors.ts";
import { parseNumber } from "./args.ts";

export interface InsnWindow {
  readonly from: number;
  readonly count: number;
}

/** Parses "FROM[:COUNT]" (COUNT default 100; numbers as parseNumber reads them). */
export function parseInsnWindow(s: string): InsnWindow {
  const parts = s.split(":");
  if (parts.length > 2) {
    throw new UsageError(`--log-insns: expected FROM[:COUNT], e.g. 6000000:50, got "${s}"`);
  }
  const from = parseNumber("--log-insns FROM", parts[0]!);
  const count = parts[1] !== undefined ? parseNumber("--log-insns COUNT", parts[1]) : 100;
  if (count < 1) throw new UsageError(`--log-insns: COUNT must be at least 1, got "${s}"`);
  return { from, count };
}

interface Before {
  readonly icount: number;
  readonly rip: number;
  readonly bits: number;
  readonly cpl: number;
  readonly vtl: number;
  readonly bytes: Uint8Array;
}

function snapshot(vp: Vp): Before {
  const c = vp.cpu;
  return {
    icount: c.icount,
    rip: c.rip,
    bits: c.bits,
    cpl: c.cpl,
    vtl: vp.hv.activeVtl,
    bytes: c.peekCode(15),
  };
}

/**
 * Executes one instruction machine-wide and returns the lines describing it: the instruction
 * the VP that ran was at, and any events that step produced (`events` is filled by the caller's
 * sink tap).
 */
export function stepAndDescribe(m: Machine, events: TraceEvent[]): string[] {
  const before = m.vps.map(snapshot);
  const at = m.icount;
  m.run(1);
  const lines: string[] = [];
  m.vps.forEach((vp, i) => {
    const b = before[i]!;
    if (vp.cpu.icount === b.icount) return;
    const rip = hexNum(b.rip);
    const text = b.bytes.length > 0
      ? disassemble(toHex(b.bytes), rip, b.bits) || "(undecodable)"
      : "(code not readable)";
    lines.push(`${at} vp${i} vtl${b.vtl} cpl${b.cpl} ${b.bits}-bit ${rip}  ${text}`);
  });
  if (lines.length === 0 && m.icount > at) lines.push(`${at} (all VPs halted: time advanced)`);
  for (const e of events) {
    const { kind, seq: _s, icount: _i, vp: _v, vtl: _t, rip: _r, bits: _b, insn: _n, ...rest } =
      e as TraceEvent & Record<string, unknown>;
    lines.push(`    event ${kind} ${JSON.stringify(rest)}`);
  }
  events.length = 0;
  return lines;
}
