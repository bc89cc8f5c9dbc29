/**
 * iced-x86 → `Insn`. Decoding happens once per instruction (see code_cache.ts); nothing here is
 * on the execution hot path.
 */

import {
  Decoder,
  DecoderError,
  DecoderOptions,
  type Instruction,
  InstructionInfoFactory,
  InstructionInfoOptions,
  MemorySizeExt,
  Mnemonic,
  OpAccess,
  OpKind,
  Register,
} from "iced-x86";
import {
  type Insn,
  K_BRANCH,
  K_FAR,
  K_IMM,
  K_MEM,
  K_NONE,
  K_REG,
  K_STR,
  type MemRef,
  type Operand,
  RC_CR,
  RC_DR,
  RC_GPR,
  RC_MM,
  RC_OTHER,
  RC_SEG,
  RC_ST,
  RC_XMM,
} from "./insn.ts";

/** Converts an iced Register to [class, number, size]. */
export function regInfo(r: Register): [number, number, number] {
  if (r >= Register.AL && r <= Register.R15L) {
    const i = r - Register.AL;
    if (i >= 4 && i <= 7) return [RC_GPR, 16 + (i - 4), 1]; // AH CH DH BH
    if (i >= 8 && i <= 11) return [RC_GPR, i - 4, 1]; // SPL BPL SIL DIL
    return [RC_GPR, i < 4 ? i : i - 4, 1];
  }
  if (r >= Register.AX && r <= Register.R15W) return [RC_GPR, r - Register.AX, 2];
  if (r >= Register.EAX && r <= Register.R15D) return [RC_GPR, r - Register.EAX, 4];
  if (r >= Register.RAX && r <= Register.R15) return [RC_GPR, r - Register.RAX, 8];
  if (r >= Register.ES && r <= Register.GS) return [RC_SEG, r - Register.ES, 2];
  if (r >= Register.CR0 && r <= Register.CR15) return [RC_CR, r - Register.CR0, 8];
  if (r >= Register.DR0 && r <= Register.DR15) return [RC_DR, r - Register.DR0, 8];
  if (r >= Register.XMM0 && r <= Register.XMM31) return [RC_XMM, r - Register.XMM0, 16];
  if (r >= Register.ST0 && r <= Register.ST7) return [RC_ST, r - Register.ST0, 10];
  if (r >= Register.MM0 && r <= Register.MM7) return [RC_MM, r - Register.MM0, 8];
  return [RC_OTHER, r, 0];
}

function gprIndex(r: Register): number {
  if (r === Register.None) return -1;
  if (r === Register.RIP || r === Register.EIP) return -2;
  const [rc, n] = regInfo(r);
  return rc === RC_GPR ? n : -1;
}

function regSize(r: Register): number {
  return r === Register.None ? 0 : regInfo(r)[2];
}

function segIndex(r: Register): number {
  return r >= Register.ES && r <= Register.GS ? r - Register.ES : 3;
}

const IMM_SIZE: Record<number, number> = {
  [OpKind.Immediate8]: 1,
  [OpKind.Immediate8_2nd]: 1,
  [OpKind.Immediate16]: 2,
  [OpKind.Immediate32]: 4,
  [OpKind.Immediate64]: 8,
  [OpKind.Immediate8to16]: 2,
  [OpKind.Immediate8to32]: 4,
  [OpKind.Immediate8to64]: 8,
  [OpKind.Immediate32to64]: 8,
};

const STR_ADDR: Record<number, number> = {
  [OpKind.MemorySegSI]: 2,
  [OpKind.MemorySegESI]: 4,
  [OpKind.MemorySegRSI]: 8,
  [OpKind.MemorySegDI]: 2,
  [OpKind.MemorySegEDI]: 4,
  [OpKind.MemorySegRDI]: 8,
  [OpKind.MemoryESDI]: 2,
  [OpKind.MemoryESEDI]: 4,
  [OpKind.MemoryESRDI]: 8,
};

function splitU64(v: bigint): [number, number] {
  const u = BigInt.asUintN(64, v);
  return [Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0];
}

/** Signed RIP number for `bits` from an unsigned 64-bit address. */
export function ripFromU64(v: bigint, bits: number): number {
  if (bits === 64) return Number(BigInt.asIntN(64, v));
  if (bits === 32) return Number(v & 0xffffffffn);
  return Number(v & 0xffffn);
}

export function ripToU64(rip: number): bigint {
  return BigInt.asUintN(64, BigInt(rip));
}

let infoFactory: InstructionInfoFactory | null = null;

/**
 * Whether operand `i` (memory) is written: segment type checks in 16/32-bit modes need it
 * (SDM 5.4.1: writes to code segments and read-only data segments fault).
 */
function memWritten(ins: Instruction, i: number): boolean {
  infoFactory ??= new InstructionInfoFactory();
  const info = infoFactory.infoOptions(
    ins,
    InstructionInfoOptions.NoMemoryUsage | InstructionInfoOptions.NoRegisterUsage,
  );
  try {
    const acc = info.opAccess(i);
    return acc === OpAccess.Write || acc === OpAccess.CondWrite || acc === OpAccess.ReadWrite ||
      acc === OpAccess.ReadCondWrite;
  } finally {
    info.free();
  }
}

/** Converts one decoded iced instruction. */
export function toInsn(ins: Instruction, rip: number, bits: 16 | 32 | 64, bytes: Uint8Array): Insn {
  const len = ins.length;
  const next = bits === 64 ? rip + len : bits === 32 ? (rip + len) >>> 0 : (rip + len) & 0xffff;
  const ops: Operand[] = [];
  let mem: MemRef | null = null;
  let target = 0, farSel = 0, farOff = 0;
  let addrSize = bits === 16 ? 2 : bits === 32 ? 4 : 8;
  const n = ins.opCount;
  for (let i = 0; i < n; i++) {
    const k = ins.opKind(i);
    if (k === OpKind.Register) {
      const [rc, reg, size] = regInfo(ins.opRegister(i));
      ops.push({ kind: K_REG, rc, reg, size, lo: 0, hi: 0 });
    } else if (
      k === OpKind.NearBranch16 || k === OpKind.NearBranch32 || k === OpKind.NearBranch64
    ) {
      target = ripFromU64(ins.nearBranchTarget, bits);
      ops.push({ kind: K_BRANCH, rc: 0, reg: 0, size: 0, lo: 0, hi: 0 });
    } else if (k === OpKind.FarBranch16 || k === OpKind.FarBranch32) {
      farSel = ins.farBranchSelector;
      farOff = k === OpKind.FarBranch16 ? ins.farBranch16 : ins.farBranch32 >>> 0;
      ops.push({
        kind: K_FAR,
        rc: 0,
        reg: 0,
        size: k === OpKind.FarBranch16 ? 2 : 4,
        lo: 0,
        hi: 0,
      });
    } else if (IMM_SIZE[k] !== undefined) {
      const [lo, hi] = splitU64(ins.immediate(i));
      ops.push({ kind: K_IMM, rc: 0, reg: 0, size: IMM_SIZE[k]!, lo, hi });
    } else if (STR_ADDR[k] !== undefined) {
      addrSize = STR_ADDR[k]!;
      ops.push({ kind: K_STR, rc: 0, reg: 0, size: 0, lo: 0, hi: 0 });
    } else if (k === OpKind.Memory) {
      const base = ins.memoryBase, index = ins.memoryIndex;
      let as = Math.max(regSize(base), regSize(index));
      if (base === Register.RIP) as = 8;
      else if (base === Register.EIP) as = 4;
      if (as === 0) {
        const ds = ins.memoryDisplSize;
        as = ds === 8 ? 8 : ds === 4 ? (bits === 64 ? 4 : 4) : ds === 2 ? 2 : (bits === 16 ? 2 : 4);
        if (bits === 64 && ds !== 4 && ds !== 2) as = 8;
      }
      addrSize = as;
      const dispU = ins.memoryDisplacement;
      let disp: number;
      const bi = gprIndex(base);
      if (bi === -2) disp = ripFromU64(dispU, as === 8 ? 64 : 32);
      else if (as === 8) disp = Number(BigInt.asIntN(64, dispU));
      else if (as === 4) disp = Number(BigInt.asIntN(32, dispU));
      else disp = Number(BigInt.asIntN(16, dispU));
      mem = {
        seg: segIndex(ins.memorySegment),
        base: bi,
        index: gprIndex(index),
        scale: ins.memoryIndexScale,
        disp,
        addrSize: as,
        size: MemorySizeExt.size(ins.memorySize),
        override: ins.segmentPrefix !== Register.None,
        write: bits !== 64 && memWritten(ins, i),
      };
      ops.push({ kind: K_MEM, rc: 0, reg: 0, size: mem.size, lo: 0, hi: 0 });
    } else {
      ops.push({ kind: K_NONE, rc: 0, reg: 0, size: 0, lo: 0, hi: 0 });
    }
  }
  const rep = ins.hasRepnePrefix ? 2 : (ins.hasRepePrefix || ins.hasRepPrefix) ? 1 : 0;
  return {
    rip,
    next,
    len,
    bits,
    code: ins.code,
    mnemonic: ins.mnemonic,
    ops,
    mem,
    target,
    farSel,
    farOff,
    rep,
    lock: ins.hasLockPrefix,
    addrSize,
    strSeg: segIndex(ins.memorySegment),
    bytes,
    flow: ins.flowControl,
    cc: ins.conditionCode - 1,
    spInc: ins.stackPointerIncrement,
  };
}

export interface DecodedRun {
  readonly insns: Insn[];
  /** Set when decoding stopped because the next instruction is incomplete in `bytes`. */
  readonly truncated: boolean;
  /** Set when the last instruction is invalid (#UD). */
  readonly invalidAt: number;
}

/**
 * Decodes up to `max` instructions from `bytes` starting at `rip`, stopping after any instruction
 * for which `stop(insn)` is true, or before one for which `before(insn)` is true (unless first).
 */
export function decodeRun(
  bytes: Uint8Array,
  rip: number,
  bits: 16 | 32 | 64,
  max: number,
  stop: (d: Insn) => boolean,
  before: (d: Insn) => boolean,
): DecodedRun {
  const dec = new Decoder(bits, bytes, DecoderOptions.None);
  dec.ip = ripToU64(rip);
  const insns: Insn[] = [];
  let truncated = false, invalidAt = -1;
  let cur = rip;
  try {
    while (insns.length < max) {
      if (!dec.canDecode) {
        truncated = true;
        break;
      }
      const pos = dec.position;
      const ins = dec.decode();
      try {
        if (ins.isInvalid || ins.mnemonic === Mnemonic.INVALID) {
          if (dec.lastError === DecoderError.NoMoreBytes) {
            truncated = true;
            break;
          }
          invalidAt = insns.length;
          break;
        }
        const d = toInsn(ins, cur, bits, bytes.slice(pos, pos + ins.length));
        if (insns.length > 0 && before(d)) break;
        insns.push(d);
        cur = d.next;
        if (stop(d)) break;
      } finally {
        ins.free();
      }
    }
  } finally {
    dec.free();
  }
  return { insns, truncated, invalidAt };
}
