/**
 * Segment and descriptor instructions: LAR, LSL, VERR, VERW, ARPL, LDS/LES/LSS/LFS/LGS,
 * SMSW/LMSW and BOUND (SDM Vol. 2; descriptor rules Vol. 3A §3.4.5, §5.10).
 */

import { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import { setArithFlags } from "../flags.ts";
import { type Insn, K_REG } from "../insn.ts";
import { eaOf, getReg, readMem, setReg } from "../operands.ts";
import { CR0_PE, FLAG_VM, FLAG_ZF, VEC_GP, VEC_UD } from "../regs.ts";
import { readCr, writeCr } from "./system.ts";
import {
  descDpl,
  descIsCode,
  descIsConforming,
  descIsSeg,
  descLimit,
  descType,
} from "../descriptor.ts";
import { define, isolate } from "./registry.ts";

/** Reads a 16-bit selector operand (register or memory). */
function selector(d: Insn, i: number): (c: Cpu) => number {
  const op = d.ops[i]!;
  if (op.kind === K_REG) {
    const r = op.reg;
    return (c) => c.lo[r]! & 0xffff;
  }
  const ea = eaOf(d);
  return (c) => c.read16(ea(c));
}

function requirePm(c: Cpu): void {
  if (!(c.cr0 & CR0_PE) || (c.eflags & FLAG_VM)) c.raise(VEC_UD);
}

/** System descriptor types LAR (lar) or LSL accept, in legacy and in IA-32e mode. */
const LAR_LEGACY = new Set([1, 2, 3, 4, 5, 9, 0xb, 0xc]);
const LSL_LEGACY = new Set([1, 2, 3, 9, 0xb]);
const LAR_LONG = new Set([2, 9, 0xb, 0xc]);
const LSL_LONG = new Set([2, 9, 0xb]);

/**
 * The descriptor of `sel` if it is visible at the current CPL for LAR/LSL/VERR/VERW: its high
 * dword (low dword in c.tLo), or null (ZF=0 cases).
 */
function visible(c: Cpu, sel: number, system: Set<number> | null): number | null {
  if ((sel & ~3) === 0) return null;
  if (c.readDescriptor(sel) === null) return null;
  const hi = c.tHi;
  if (!descIsSeg(hi) && (system === null || !system.has(descType(hi)))) return null;
  const dpl = descDpl(hi);
  if (!descIsConforming(hi) && (dpl < c.cpl || dpl < (sel & 3))) return null;
  return hi;
}

function setZF(c: Cpu, z: boolean): void {
  setArithFlags(c, FLAG_ZF, z ? FLAG_ZF : 0);
}

function buildLarLsl(d: Insn, lsl: boolean): Op {
  const get = selector(d, 1), dst = d.ops[0]!, next = d.next;
  return (c) => {
    requirePm(c);
    const long = c.longMode;
    const hi = visible(
      c,
      get(c),
      lsl ? (long ? LSL_LONG : LSL_LEGACY) : (long ? LAR_LONG : LAR_LEGACY),
    );
    if (hi === null) setZF(c, false);
    else {
      let v: number;
      if (lsl) {
        v = descLimit(c.tLo, hi);
      } else v = hi & 0x00ffff00; // bits 19:16 (limit) as Intel CPUs return them
      setReg(c, dst.reg, dst.size === 8 ? 4 : dst.size, v | 0, 0);
      setZF(c, true);
    }
    c.rip = next;
  };
}

function buildVerify(d: Insn, write: boolean): Op {
  const get = selector(d, 0), next = d.next;
  return (c) => {
    requirePm(c);
    const sel = get(c);
    let ok = false;
    if ((sel & ~3) !== 0 && c.readDescriptor(sel) !== null) {
      const hi = c.tHi, dpl = descDpl(hi), code = descIsCode(hi);
      const privOk = (!write && descIsConforming(hi)) || (dpl >= c.cpl && dpl >= (sel & 3));
      // Type bit 1: writable (data) or readable (code).
      const rw = (hi & 0x200) !== 0;
      if (descIsSeg(hi) && privOk) ok = write ? !code && rw : !code || rw;
    }
    setZF(c, ok);
    c.rip = next;
  };
}

function buildArpl(d: Insn): Op {
  const dst = d.ops[0]!, src = d.ops[1]!, next = d.next;
  const ea = dst.kind === K_REG ? null : eaOf(d);
  return (c) => {
    requirePm(c);
    const lin = ea === null ? 0 : ea(c);
    const v = ea === null ? c.lo[dst.reg]! & 0xffff : c.read16(lin);
    const rpl = c.lo[src.reg]! & 3;
    if ((v & 3) < rpl) {
      const n = (v & ~3) | rpl;
      if (ea === null) setReg(c, dst.reg, 2, n, 0);
      else c.write16(lin, n);
      setZF(c, true);
    } else setZF(c, false);
    c.rip = next;
  };
}

const LOAD_SEG: [Mnemonic, number][] = [
  [Mnemonic.Les, 0],
  [Mnemonic.Lss, 2],
  [Mnemonic.Lds, 3],
  [Mnemonic.Lfs, 4],
  [Mnemonic.Lgs, 5],
];

/** LxS r, m16:16/32/64: offset first, selector after it; the segment load checks come first. */
function buildLoadFar(d: Insn, seg: number): Op {
  const dst = d.ops[0]!, ea = eaOf(d), next = d.next;
  const offSize = dst.size;
  return (c) => {
    const lin = ea(c);
    const off = readMem(c, lin, offSize), offHi = c.tHi;
    const sel = c.read16(c.bits === 64 ? lin + offSize : (lin + offSize) >>> 0);
    c.loadSeg(seg, sel);
    setReg(c, dst.reg, offSize, off, offHi);
    c.rip = next;
  };
}

function buildSmsw(d: Insn): Op {
  const dst = d.ops[0]!, next = d.next;
  if (dst.kind === K_REG) {
    const r = dst.reg, size = dst.size;
    return (c) => {
      const v = readCr(c, 0);
      setReg(c, r, size, v | 0, 0);
      c.rip = next;
    };
  }
  const ea = eaOf(d);
  return (c) => {
    c.write16(ea(c), readCr(c, 0) & 0xffff);
    c.rip = next;
  };
}

function buildLmsw(d: Insn): Op {
  const get = selector(d, 0), next = d.next;
  return (c) => {
    if (c.cpl !== 0) c.raise(VEC_GP, 0);
    const v = get(c);
    const cr0 = c.cr0;
    // Bits 3:0 (PE MP EM TS); PE can be set but not cleared.
    writeCr(c, 0, (cr0 & ~0xe) | (v & 0xf) | (cr0 & CR0_PE), 0);
    c.rip = next;
    c.exitReq = true;
  };
}

function buildBound(d: Insn): Op {
  const r = d.ops[0]!.reg, size = d.ops[0]!.size, ea = eaOf(d), next = d.next;
  return (c) => {
    const lin = ea(c);
    const sx = (v: number) => size === 2 ? (v << 16) >> 16 : v | 0;
    const lower = sx(readMem(c, lin, size));
    const upper = sx(readMem(c, size === 2 ? (lin + 2) >>> 0 : (lin + 4) >>> 0, size));
    const idx = sx(getReg(c, r, size));
    if (idx < lower || idx > upper) c.raise(5);
    c.rip = next;
  };
}

define([Mnemonic.Lar], (d) => buildLarLsl(d, false));
define([Mnemonic.Lsl], (d) => buildLarLsl(d, true));
define([Mnemonic.Verr], (d) => buildVerify(d, false));
define([Mnemonic.Verw], (d) => buildVerify(d, true));
define([Mnemonic.Arpl], buildArpl);
for (const [m, seg] of LOAD_SEG) define([m], (d) => buildLoadFar(d, seg));
define([Mnemonic.Smsw], buildSmsw);
define([Mnemonic.Lmsw], buildLmsw);
define([Mnemonic.Bound], buildBound);
isolate(Mnemonic.Lmsw);
