/**
 * String instructions movs/stos/lods/cmps/scas/ins/outs in byte/word/dword/qword forms, all
 * address sizes, both directions, with rep/repe/repne. A repeated instruction is one instruction
 * (one retired count); after every element rSI/rDI/rCX are up to date, so a fault part-way
 * leaves the architectural progress and RIP on the instruction, and a restart continues.
 * Outside 64-bit mode every element is checked against its segment's limit and type like any
 * memory operand (#GP(0), or #SS(0) for an SS-based source).
 */

import { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import { getZF } from "../flags.ts";
import type { Insn } from "../insn.ts";
import { getReg, readMem, setReg, szIdx, writeMem } from "../operands.ts";
import { ES, FLAG_DF, FS, GS, RAX, RCX, RDI, RDX, RSI } from "../regs.ts";
import { alu, CMP } from "./alu.ts";
import { abandon, checkIo } from "./system.ts";
import { define } from "./registry.ts";
import { sseForm } from "./sse_util.ts";
import { advance, bulkMovs, bulkStos, countOf, offOf } from "./string_bulk.ts";

const MOVS = 0, STOS = 1, LODS = 2, CMPS = 3, SCAS = 4, INS = 5, OUTS = 6;

/** Linear address of a string operand at offset `off` in segment `seg` in 64-bit mode. */
function strLin64(c: Cpu, seg: number, off: number): number {
  return seg === FS || seg === GS ? c.canon(c.segBase[seg]! + off) : c.canon(off);
}

function decCount(c: Cpu, asz: number): void {
  advance(c, RCX, asz, -1);
}

function buildString(d: Insn, kind: number, size: number): Op {
  const asz = d.addrSize, rep = d.rep, seg = d.strSeg, next = d.next, sz = szIdx(size);
  const b64 = d.bits === 64;
  // Source ([seg:rSI], read) and destination ([ES:rDI], written unless CMPS/SCAS) addresses.
  const src = (c: Cpu): number => {
    const off = offOf(c, RSI, asz);
    return b64 ? strLin64(c, seg, off) : c.segAddr(seg, off, size, false);
  };
  const dst = (c: Cpu, write: boolean): number => {
    const off = offOf(c, RDI, asz);
    return b64 ? strLin64(c, ES, off) : c.segAddr(ES, off, size, write);
  };
  const once = (c: Cpu, step: number): void => {
    switch (kind) {
      case MOVS: {
        const v = readMem(c, src(c), size), vh = c.tHi;
        writeMem(c, dst(c, true), size, v, vh);
        advance(c, RSI, asz, step);
        advance(c, RDI, asz, step);
        return;
      }
      case STOS: {
        const v = getReg(c, RAX, size);
        writeMem(c, dst(c, true), size, v, c.tHi);
        advance(c, RDI, asz, step);
        return;
      }
      case LODS: {
        const v = readMem(c, src(c), size);
        setReg(c, RAX, size, v, c.tHi);
        advance(c, RSI, asz, step);
        return;
      }
      case CMPS: {
        const a = readMem(c, src(c), size), ah = c.tHi;
        const b = readMem(c, dst(c, false), size), bh = c.tHi;
        alu(c, CMP, sz, a, ah, b, bh);
        advance(c, RSI, asz, step);
        advance(c, RDI, asz, step);
        return;
      }
      case SCAS: {
        const a = getReg(c, RAX, size), ah = c.tHi;
        const b = readMem(c, dst(c, false), size), bh = c.tHi;
        alu(c, CMP, sz, a, ah, b, bh);
        advance(c, RDI, asz, step);
        return;
      }
      case INS: {
        const port = c.lo[RDX]! & 0xffff;
        checkIo(c, port, size);
        const lin = dst(c, true);
        c.probe(lin, size, 1);
        const v = c.host.ioIn(port, size as 1 | 2 | 4);
        writeMem(c, lin, size, v, 0);
        advance(c, RDI, asz, step);
        return;
      }
      default: {
        const port = c.lo[RDX]! & 0xffff;
        checkIo(c, port, size);
        const v = readMem(c, src(c), size);
        c.host.ioOut(port, size as 1 | 2 | 4, size === 4 ? v >>> 0 : v);
        advance(c, RSI, asz, step);
      }
    }
  };
  const cond = kind === CMPS || kind === SCAS;
  if (rep !== 0 && (kind === MOVS || kind === STOS)) {
    // Runs of elements within TLB-mapped RAM pages go in bulk (string_bulk.ts), the rest one
    // element at a time; both leave the same memory, registers and faults.
    const movs = kind === MOVS;
    return (c) => {
      const step = (c.eflags & FLAG_DF) ? -size : size;
      for (let n = countOf(c, asz); n !== 0; n = countOf(c, asz)) {
        if ((movs ? bulkMovs(c, seg, size, asz, n) : bulkStos(c, size, asz, n)) === 0) {
          once(c, step);
          decCount(c, asz);
        }
      }
      c.rip = next;
    };
  }
  const run: Op = (c) => {
    const step = (c.eflags & FLAG_DF) ? -size : size;
    if (rep === 0) once(c, step);
    else {
      while (offOf(c, RCX, asz) !== 0) {
        once(c, step);
        decCount(c, asz);
        if (cond && (rep === 1 ? !getZF(c) : getZF(c))) break;
      }
    }
    c.rip = next;
    if (kind === INS || kind === OUTS) c.exitReq = true;
  };
  if (kind !== INS && kind !== OUTS) return run;
  return (c) => {
    if (rep === 0 || offOf(c, RCX, asz) !== 0) {
      // A higher VTL's I/O intercept (CpuHost.interceptIo): after the permission check, before
      // the first element; a zero-count REP accesses no port.
      const port = c.lo[RDX]! & 0xffff;
      checkIo(c, port, size);
      if (c.host.interceptIo?.(port, size, kind === OUTS, true, rep !== 0)) abandon(c);
    }
    run(c);
  };
}

const TABLE: [Mnemonic, number, number][] = [
  [Mnemonic.Movsb, MOVS, 1],
  [Mnemonic.Movsw, MOVS, 2],
  [Mnemonic.Movsd, MOVS, 4],
  [Mnemonic.Movsq, MOVS, 8],
  [Mnemonic.Stosb, STOS, 1],
  [Mnemonic.Stosw, STOS, 2],
  [Mnemonic.Stosd, STOS, 4],
  [Mnemonic.Stosq, STOS, 8],
  [Mnemonic.Lodsb, LODS, 1],
  [Mnemonic.Lodsw, LODS, 2],
  [Mnemonic.Lodsd, LODS, 4],
  [Mnemonic.Lodsq, LODS, 8],
  [Mnemonic.Cmpsb, CMPS, 1],
  [Mnemonic.Cmpsw, CMPS, 2],
  [Mnemonic.Cmpsd, CMPS, 4],
  [Mnemonic.Cmpsq, CMPS, 8],
  [Mnemonic.Scasb, SCAS, 1],
  [Mnemonic.Scasw, SCAS, 2],
  [Mnemonic.Scasd, SCAS, 4],
  [Mnemonic.Scasq, SCAS, 8],
  [Mnemonic.Insb, INS, 1],
  [Mnemonic.Insw, INS, 2],
  [Mnemonic.Insd, INS, 4],
  [Mnemonic.Outsb, OUTS, 1],
  [Mnemonic.Outsw, OUTS, 2],
  [Mnemonic.Outsd, OUTS, 4],
];
for (const [m, kind, size] of TABLE) {
  // Movsd/Cmpsd with XMM operands are the SSE2 forms, built by the SSE family (sse_util.ts).
  define([m], (d) => sseForm(d) ?? buildString(d, kind, size));
}
