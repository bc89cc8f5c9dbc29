/**
 * SSE state management: ldmxcsr/stmxcsr and fxsave/fxrstor (legacy and REX.W "64" forms).
 *
 * FXSAVE image (512 bytes, 16-byte aligned): 0 FCW, 2 FSW, 4 abridged FTW (one bit per physical
 * register: 1 = not empty), 6 FOP, 8 FIP, 16 FDP (64-bit pointers with REX.W; otherwise 32-bit
 * offsets followed by 16-bit selectors, stored as 0 — this CPU keeps no x87 CS/DS), 24 MXCSR,
 * 28 MXCSR_MASK, 32 ST0–ST7 (10 bytes each in 16-byte slots, stack order from TOP), 160 XMM0–15
 * (XMM0–7 outside 64-bit mode). Bytes 416–511 are not written. FXRSTOR reloads all of it (the
 * abridged tags are the CPU's own representation: cpu.ftwAbridged).
 */

import { Mnemonic } from "iced-x86";
import type { Cpu, Op } from "../cpu.ts";
import type { Insn } from "../insn.ts";
import { eaOf } from "../operands.ts";
import { CR0_EM, CR0_TS, CR4_OSXSAVE, RAX, VEC_NM, VEC_UD } from "../regs.ts";
import { TWO32 } from "../u64.ts";
import { define } from "./registry.ts";
import { sseCheck } from "./sse_util.ts";
import { fninit, loadFcw } from "./x87_ctl.ts";
import { fpSummary } from "./x87_util.ts";

/** Supported MXCSR bits (DAZ included). */
export const MXCSR_MASK = 0xffff;

function buildLdmxcsr(d: Insn): Op {
  const ea = eaOf(d), next = d.next;
  return (c) => {
    sseCheck(c);
    const v = c.read32(ea(c));
    if ((v & ~MXCSR_MASK) !== 0) c.gp0();
    c.mxcsr = v;
    c.rip = next;
  };
}

function buildStmxcsr(d: Insn): Op {
  const ea = eaOf(d), next = d.next;
  return (c) => {
    sseCheck(c);
    c.write32(ea(c), c.mxcsr);
    c.rip = next;
  };
}

/** FXSAVE / FXRSTOR: #NM when CR0.TS or CR0.EM (no OSFXSR requirement). */
function fxCheck(c: Cpu): void {
  if ((c.cr0 & (CR0_EM | CR0_TS)) !== 0) c.raise(VEC_NM);
}

const IMG = new Uint8Array(576);
const IMGV = new DataView(IMG.buffer);

function buildFxsave(d: Insn, rexw: boolean): Op {
  const ea = eaOf(d), next = d.next;
  return (c) => {
    fxCheck(c);
    const lin = ea(c);
    if ((lin & 15) !== 0) c.gp0();
    const nx = c.bits === 64 ? 16 : 8;
    fillLegacy(c, rexw, nx);
    const end = 160 + nx * 16;
    c.rmwAddr(lin, end); // every byte is checked writable before the first store
    storeImg(c, lin, 0, end);
    c.rip = next;
  };
}

function buildFxrstor(d: Insn, rexw: boolean): Op {
  const ea = eaOf(d), next = d.next;
  return (c) => {
    fxCheck(c);
    const lin = ea(c);
    if ((lin & 15) !== 0) c.gp0();
    const nx = c.bits === 64 ? 16 : 8;
    const end = 160 + nx * 16;
    const v = IMGV;
    for (let o = 0; o < end; o += 8) {
      const lo = c.read64(c.bits === 64 ? lin + o : (lin + o) >>> 0);
      v.setInt32(o, lo, true);
      v.setInt32(o + 4, c.tHi, true);
    }
    const mx = v.getInt32(24, true);
    if ((mx & ~MXCSR_MASK) !== 0) c.gp0();
    loadLegacyX87(c, rexw);
    c.mxcsr = mx;
    loadXmm(c, nx);
    c.rip = next;
  };
}

define([Mnemonic.Ldmxcsr], buildLdmxcsr);
define([Mnemonic.Stmxcsr], buildStmxcsr);
define([Mnemonic.Fxsave], (d) => buildFxsave(d, false));
define([Mnemonic.Fxsave64], (d) => buildFxsave(d, true));
define([Mnemonic.Fxrstor], (d) => buildFxrstor(d, false));
define([Mnemonic.Fxrstor64], (d) => buildFxrstor(d, true));

// ---- XSAVE family (state components 0 = x87 and 1 = SSE) --------------------------------------

const XSAVE_STD = 0, XSAVE_OPT = 1, XSAVE_C = 2;

/** XINUSE: which components differ from their initial configuration (bit 0 x87, bit 1 SSE). */
function xinuse(c: Cpu, nx: number): number {
  let x87 = c.fcw !== 0x37f || c.fsw !== 0 || c.ftwAbridged !== 0 || c.fop !== 0 || c.fip !== 0 ||
    c.fdp !== 0;
  if (!x87) { for (let i = 0; i < 80; i++) if (c.fpr[i] !== 0) x87 = true; }
  let sse = false;
  for (let i = 0; i < nx * 4; i++) if (c.xmm[i] !== 0) sse = true;
  return (x87 ? 1 : 0) | (sse ? 2 : 0);
}

function xCheck(c: Cpu): void {
  if ((c.cr4 & CR4_OSXSAVE) === 0) c.raise(VEC_UD);
  if ((c.cr0 & CR0_TS) !== 0) c.raise(VEC_NM);
}

/** Fills IMG[0..415] with the x87 (0..159 less MXCSR) and SSE (160..) parts, like FXSAVE. */
function fillLegacy(c: Cpu, rexw: boolean, nx: number): void {
  const v = IMGV;
  v.setUint16(0, c.fcw, true);
  v.setUint16(2, c.fsw, true);
  IMG[4] = c.ftwAbridged;
  IMG[5] = 0;
  v.setUint16(6, c.fop & 0x7ff, true);
  v.setInt32(8, c.fip | 0, true);
  v.setInt32(12, rexw ? Math.floor(c.fip / TWO32) | 0 : 0, true);
  v.setInt32(16, c.fdp | 0, true);
  v.setInt32(20, rexw ? Math.floor(c.fdp / TWO32) | 0 : 0, true);
  v.setInt32(24, c.mxcsr, true);
  v.setInt32(28, MXCSR_MASK, true);
  const top = (c.fsw >>> 11) & 7;
  for (let i = 0; i < 8; i++) {
    const src = ((top + i) & 7) * 10, dst = 32 + 16 * i;
    for (let k = 0; k < 10; k++) IMG[dst + k] = c.fpr[src + k]!;
    for (let k = 10; k < 16; k++) IMG[dst + k] = 0;
  }
  for (let i = 0; i < nx * 4; i++) v.setInt32(160 + 4 * i, c.xmm[i]!, true);
}

/** Stores IMG[from, to) (multiples of 8) at lin + from. */
function storeImg(c: Cpu, lin: number, from: number, to: number): void {
  for (let o = from; o < to; o += 8) {
    c.write64(
      c.bits === 64 ? lin + o : (lin + o) >>> 0,
      IMGV.getInt32(o, true),
      IMGV.getInt32(o + 4, true),
    );
  }
}

function buildXsave(d: Insn, kind: number, rexw: boolean): Op {
  const ea = eaOf(d), next = d.next;
  return (c) => {
    xCheck(c);
    const lin = ea(c);
    if ((lin & 63) !== 0) c.gp0();
    const nx = c.bits === 64 ? 16 : 8;
    const rfbm = c.xcr0 & c.lo[RAX]! & 3;
    const inuse = xinuse(c, nx);
    // XSAVEC also counts a non-default MXCSR as SSE state in use.
    const used = kind === XSAVE_C ? inuse | (c.mxcsr !== 0x1f80 ? 2 : 0) : inuse;
    const save0 = (rfbm & 1) !== 0 && (kind === XSAVE_STD || (used & 1) !== 0);
    const save1 = (rfbm & 2) !== 0 && (kind === XSAVE_STD || (used & 2) !== 0);
    const saveMx = kind === XSAVE_C ? save1 : (rfbm & 2) !== 0;
    // Header: read the old XSTATE_BV (standard forms keep the bits outside RFBM).
    const h = c.bits === 64 ? lin + 512 : (lin + 512) >>> 0;
    c.rmwAddr(lin, 576); // every byte writable before the first store
    const oldLo = c.read64(h);
    const oldHi = c.tHi;
    fillLegacy(c, rexw, nx);
    if (kind === XSAVE_C) {
      IMGV.setInt32(512, used & rfbm, true);
      IMGV.setInt32(516, 0, true);
      IMGV.setInt32(520, rfbm, true);
      IMGV.setInt32(524, 0x80000000 | 0, true);
    } else {
      IMGV.setInt32(512, (oldLo & ~rfbm) | (inuse & rfbm), true);
      IMGV.setInt32(516, oldHi, true);
    }
    if (save0) {
      storeImg(c, lin, 0, 24);
      storeImg(c, lin, 32, 160);
    }
    if (saveMx) storeImg(c, lin, 24, 32);
    if (save1) storeImg(c, lin, 160, 160 + nx * 16);
    storeImg(c, lin, 512, kind === XSAVE_C ? 528 : 520);
    c.rip = next;
  };
}

function buildXrstor(d: Insn, rexw: boolean): Op {
  const ea = eaOf(d), next = d.next;
  return (c) => {
    xCheck(c);
    const lin = ea(c);
    if ((lin & 63) !== 0) c.gp0();
    const nx = c.bits === 64 ? 16 : 8;
    const v = IMGV;
    // Read the whole image first (faults leave the state untouched).
    for (let o = 0; o < 576; o += 8) {
      if (o >= 160 + nx * 16 && o < 512) continue;
      const lo = c.read64(c.bits === 64 ? lin + o : (lin + o) >>> 0);
      v.setInt32(o, lo, true);
      v.setInt32(o + 4, c.tHi, true);
    }
    const bvLo = v.getInt32(512, true), bvHi = v.getInt32(516, true);
    const cbLo = v.getInt32(520, true), cbHi = v.getInt32(524, true);
    const xcr0 = c.xcr0;
    const compact = cbHi < 0;
    if (compact) {
      if ((cbLo & ~xcr0) !== 0 || (cbHi & 0x7fffffff) !== 0) c.gp0();
      if ((bvLo & ~cbLo) !== 0 || bvHi !== 0) c.gp0();
      for (let o = 528; o < 576; o += 4) if (v.getInt32(o, true) !== 0) c.gp0();
    } else {
      if ((bvLo & ~xcr0) !== 0 || bvHi !== 0) c.gp0();
      for (let o = 520; o < 536; o += 4) if (v.getInt32(o, true) !== 0) c.gp0();
    }
    const rfbm = xcr0 & c.lo[RAX]! & 3;
    // MXCSR: loaded whenever SSE is requested, except from a compacted image without SSE state.
    let mx = -1;
    if ((rfbm & 2) !== 0) {
      mx = compact && (bvLo & 2) === 0 ? 0x1f80 : v.getInt32(24, true);
      if ((mx & ~MXCSR_MASK) !== 0) c.gp0();
    }
    if ((rfbm & 1) !== 0) {
      if ((bvLo & 1) !== 0) {
        loadLegacyX87(c, rexw);
      } else {
        fninit(c);
        c.fpr.fill(0);
      }
    }
    if ((rfbm & 2) !== 0) {
      c.mxcsr = mx;
      if ((bvLo & 2) !== 0) loadXmm(c, nx);
      else c.xmm.fill(0, 0, nx * 4);
    }
    c.rip = next;
  };
}

define([Mnemonic.Xsave], (d) => buildXsave(d, XSAVE_STD, false));
define([Mnemonic.Xsave64], (d) => buildXsave(d, XSAVE_STD, true));
define([Mnemonic.Xsaveopt], (d) => buildXsave(d, XSAVE_OPT, false));
define([Mnemonic.Xsaveopt64], (d) => buildXsave(d, XSAVE_OPT, true));
define([Mnemonic.Xsavec], (d) => buildXsave(d, XSAVE_C, false));
define([Mnemonic.Xsavec64], (d) => buildXsave(d, XSAVE_C, true));
define([Mnemonic.Xrstor], (d) => buildXrstor(d, false));
define([Mnemonic.Xrstor64], (d) => buildXrstor(d, true));

/**
 * The x87 part of an FXSAVE-format image in IMG into the CPU (FXRSTOR, XRSTOR component 0).
 * ES and B follow the loaded exception flags and masks, so an unmasked loaded exception stays
 * pending until the next waiting x87 instruction (SDM FXRSTOR).
 */
function loadLegacyX87(c: Cpu, rexw: boolean): void {
  const v = IMGV;
  loadFcw(c, v.getUint16(0, true));
  c.fsw = v.getUint16(2, true);
  fpSummary(c);
  c.fop = v.getUint16(6, true) & 0x7ff;
  if (rexw) {
    c.fip = v.getInt32(12, true) * TWO32 + v.getUint32(8, true);
    c.fdp = v.getInt32(20, true) * TWO32 + v.getUint32(16, true);
  } else {
    c.fip = v.getUint32(8, true);
    c.fdp = v.getUint32(16, true);
  }
  const top = (c.fsw >>> 11) & 7;
  for (let i = 0; i < 8; i++) {
    const dst = ((top + i) & 7) * 10, src = 32 + 16 * i;
    for (let k = 0; k < 10; k++) c.fpr[dst + k] = IMG[src + k]!;
  }
  c.ftwAbridged = IMG[4]!;
}

/** XMM0..nx-1 from the image in IMG. */
function loadXmm(c: Cpu, nx: number): void {
  for (let i = 0; i < nx * 4; i++) c.xmm[i] = IMGV.getInt32(160 + 4 * i, true);
}
