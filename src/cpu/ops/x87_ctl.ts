/**
 * x87 control and state instructions: fninit, fnclex, fldcw, fnstcw, fnstsw (m16 and AX),
 * fnstenv/fldenv and fnsave/frstor (14/28-byte environments, 94/108-byte save areas; real-mode
 * and protected-mode layouts, chosen by CR0.PE/EFLAGS.VM — 64-bit mode uses the protected-mode
 * layouts with 32-bit pointers), wait/fwait, and the 8087/80287 leftovers fneni/fndisi/fnsetpm
 * (no-ops). The waiting forms (finit, fstcw, …) decode as WAIT + the FN form.
 *
 * Layout details follow the reference hardware: reserved upper halves of the 32-bit fields are
 * stored as 0xFFFF, the selector fields (FCS, FDS) as 0 (not kept: CPUID.7:EBX[13]), FOP in
 * bits 26:16 of the FCS dword. FSTENV/FSAVE store the full tag word recomputed from the register
 * contents; FLDENV/FRSTOR keep only "empty" vs "not empty" from the loaded tags.
 */

import { Mnemonic } from "iced-x86";
import type { Cpu } from "../cpu.ts";
import type { Insn } from "../insn.ts";
import { eaOf, setReg } from "../operands.ts";
import { CR0_MP, CR0_NE, CR0_PE, CR0_TS, CS, FLAG_VM, VEC_MF, VEC_NM } from "../regs.ts";
import { abridgedTags } from "../fp/f80.ts";
import { define } from "./registry.ts";
import {
  fpCheck,
  fpCheckNoWait,
  fpSummary,
  fullTags,
  linAdd,
  phys,
  SW_B,
  SW_ES,
} from "./x87_util.ts";

/** FCW bits that exist (bit 6 reads as 1, bits 15:13 and 7 are reserved). */
const FCW_MASK = 0x1f3f;

/** FCW as loaded from memory: bit 6 reads as 1, bits 7 and 15:13 as 0. */
export function loadFcw(c: Cpu, v: number): void {
  c.fcw = (v & FCW_MASK) | 0x40;
}

/** The x87 control state after FNINIT (register contents untouched). */
export function fninit(c: Cpu): void {
  c.fcw = 0x37f;
  c.fsw = 0;
  c.ftwAbridged = 0;
  c.fip = 0;
  c.fdp = 0;
  c.fop = 0;
}

define([Mnemonic.Fninit], (d) => {
  const next = d.next;
  return (c) => {
    fpCheckNoWait(c);
    fninit(c);
    c.rip = next;
  };
});

define([Mnemonic.Fnclex], (d) => {
  const next = d.next;
  return (c) => {
    fpCheckNoWait(c);
    c.fsw &= ~0x80ff;
    c.rip = next;
  };
});

define([Mnemonic.Fneni, Mnemonic.Fndisi, Mnemonic.Fnsetpm], (d) => {
  const next = d.next;
  return (c) => {
    fpCheckNoWait(c);
    c.rip = next;
  };
});

define([Mnemonic.Wait], (d) => {
  const next = d.next;
  return (c) => {
    const cr0 = c.cr0;
    if ((cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) c.raise(VEC_NM);
    if ((c.fsw & SW_ES) !== 0 && (cr0 & CR0_NE) !== 0) c.raise(VEC_MF);
    c.rip = next;
  };
});

define([Mnemonic.Fldcw], (d) => {
  const ea = eaOf(d), next = d.next;
  return (c) => {
    fpCheck(c);
    const v = c.read16(ea(c));
    loadFcw(c, v);
    fpSummary(c);
    c.rip = next;
  };
});

define([Mnemonic.Fnstcw], (d) => {
  const ea = eaOf(d), next = d.next;
  return (c) => {
    fpCheckNoWait(c);
    c.write16(ea(c), c.fcw);
    c.rip = next;
  };
});

define([Mnemonic.Fnstsw], (d) => {
  const next = d.next;
  if (d.mem === null) {
    return (c) => {
      fpCheckNoWait(c);
      setReg(c, 0, 2, c.fsw, 0);
      c.rip = next;
    };
  }
  const ea = eaOf(d);
  return (c) => {
    fpCheckNoWait(c);
    c.write16(ea(c), c.fsw);
    c.rip = next;
  };
});

// ---- environment ----------------------------------------------------------------------------------

const ENV = new Int32Array(7);

/** Fills ENV with the environment in the layout for `size32` and the current mode. */
function envImage(c: Cpu, size32: boolean): void {
  const real = (c.cr0 & CR0_PE) === 0 || (c.eflags & FLAG_VM) !== 0;
  // real-mode layouts hold linear addresses: FIP is kept as an offset, relative to today's CS
  const fip = real ? lo32(c.fip + c.segBase[CS]!) : lo32(c.fip);
  const fdp = lo32(c.fdp), fop = c.fop & 0x7ff;
  const tags = fullTags(c);
  if (size32) {
    ENV[0] = 0xffff0000 | c.fcw;
    ENV[1] = 0xffff0000 | c.fsw;
    ENV[2] = 0xffff0000 | tags;
    if (real) {
      ENV[3] = 0xffff0000 | (fip & 0xffff);
      ENV[4] = ((fip >>> 16) << 12) | fop;
      ENV[5] = 0xffff0000 | (fdp & 0xffff);
      ENV[6] = (fdp >>> 16) << 12;
    } else {
      ENV[3] = fip;
      ENV[4] = fop << 16;
      ENV[5] = fdp;
      ENV[6] = 0xffff0000 | 0;
    }
  } else {
    ENV[0] = c.fcw;
    ENV[1] = c.fsw;
    ENV[2] = tags;
    ENV[3] = fip & 0xffff;
    ENV[4] = real ? (((fip >>> 16) & 0xf) << 12) | fop : 0;
    ENV[5] = fdp & 0xffff;
    ENV[6] = real ? ((fdp >>> 16) & 0xf) << 12 : 0;
  }
}

function lo32(n: number): number {
  return n >>> 0; // ToUint32 is exact modulo 2^32 for every integer double
}

function writeEnv(c: Cpu, lin: number, size32: boolean): void {
  for (let i = 0; i < 7; i++) {
    if (size32) c.write32(linAdd(c, lin, 4 * i), ENV[i]!);
    else c.write16(linAdd(c, lin, 2 * i), ENV[i]! & 0xffff);
  }
}

function readEnv(c: Cpu, lin: number, size32: boolean): void {
  for (let i = 0; i < 7; i++) {
    ENV[i] = size32 ? c.read32(linAdd(c, lin, 4 * i)) : c.read16(linAdd(c, lin, 2 * i));
  }
}

/** Loads the x87 environment from ENV (after every byte was read). */
function loadEnv(c: Cpu, size32: boolean): void {
  const real = (c.cr0 & CR0_PE) === 0 || (c.eflags & FLAG_VM) !== 0;
  loadFcw(c, ENV[0]! & 0xffff);
  c.fsw = ENV[1]! & 0xffff;
  // only "empty" or not is kept (the full tags are recomputed from the contents when stored)
  c.ftwAbridged = abridgedTags(ENV[2]! & 0xffff);
  if (size32) {
    if (real) {
      c.fip = ((ENV[3]! & 0xffff) | (((ENV[4]! >>> 12) & 0xffff) << 16)) >>> 0;
      c.fop = ENV[4]! & 0x7ff;
      c.fdp = ((ENV[5]! & 0xffff) | (((ENV[6]! >>> 12) & 0xffff) << 16)) >>> 0;
    } else {
      c.fip = ENV[3]! >>> 0;
      c.fop = (ENV[4]! >>> 16) & 0x7ff;
      c.fdp = ENV[5]! >>> 0;
    }
  } else {
    if (real) {
      c.fip = (ENV[3]! & 0xffff) | (((ENV[4]! >>> 12) & 0xf) << 16);
      c.fop = ENV[4]! & 0x7ff;
      c.fdp = (ENV[5]! & 0xffff) | (((ENV[6]! >>> 12) & 0xf) << 16);
    } else {
      c.fip = ENV[3]! & 0xffff;
      c.fdp = ENV[5]! & 0xffff;
    }
  }
  if (real) c.fip = lo32(c.fip - c.segBase[CS]!);
  fpSummary(c);
}

function envSize(d: Insn): boolean {
  const s = d.mem!.size;
  return s === 28 || s === 108;
}

define([Mnemonic.Fnstenv], (d) => {
  const ea = eaOf(d), next = d.next, size32 = envSize(d);
  return (c) => {
    fpCheckNoWait(c);
    const lin = ea(c);
    c.rmwAddr(lin, size32 ? 28 : 14);
    envImage(c, size32);
    writeEnv(c, lin, size32);
    // all exceptions masked afterwards (so nothing is pending)
    c.fcw |= 0x3f;
    c.fsw &= ~(SW_ES | SW_B);
    c.rip = next;
  };
});

define([Mnemonic.Fldenv], (d) => {
  const ea = eaOf(d), next = d.next, size32 = envSize(d);
  return (c) => {
    fpCheck(c);
    readEnv(c, ea(c), size32);
    loadEnv(c, size32);
    c.rip = next;
  };
});

const REGS = new Uint8Array(80);

define([Mnemonic.Fnsave], (d) => {
  const ea = eaOf(d), next = d.next, size32 = envSize(d);
  const envLen = size32 ? 28 : 14;
  return (c) => {
    fpCheckNoWait(c);
    const lin = ea(c);
    c.rmwAddr(lin, envLen + 80);
    envImage(c, size32);
    writeEnv(c, lin, size32);
    for (let i = 0; i < 8; i++) {
      const p = phys(c, i) * 10;
      for (let k = 0; k < 10; k += 2) {
        c.write16(linAdd(c, lin, envLen + 10 * i + k), c.fpr[p + k]! | (c.fpr[p + k + 1]! << 8));
      }
    }
    fninit(c);
    c.rip = next;
  };
});

define([Mnemonic.Frstor], (d) => {
  const ea = eaOf(d), next = d.next, size32 = envSize(d);
  const envLen = size32 ? 28 : 14;
  return (c) => {
    fpCheck(c);
    const lin = ea(c);
    readEnv(c, lin, size32);
    for (let k = 0; k < 80; k += 2) {
      const v = c.read16(linAdd(c, lin, envLen + k));
      REGS[k] = v;
      REGS[k + 1] = v >>> 8;
    }
    loadEnv(c, size32);
    for (let i = 0; i < 8; i++) {
      const p = phys(c, i) * 10;
      for (let k = 0; k < 10; k++) c.fpr[p + k] = REGS[10 * i + k]!;
    }
    c.rip = next;
  };
});
