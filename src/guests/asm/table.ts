/**
 * The mnemonic → encodings table of the guest assembler, derived from iced-x86's own opcode table.
 *
 * The `Code` enum is scanned once (on first use) to group codes by mnemonic; each mnemonic's
 * candidate forms (operand kinds, valid modes, operand size, memory size, allowed prefixes) are
 * built the first time that mnemonic is assembled and cached.
 */

import {
  Code,
  CodeExt,
  EncodingKind,
  MemorySizeExt,
  Mnemonic,
  OpCodeOperandKind as K,
  Register,
} from "iced-x86";
import type { RegClass } from "./operands.ts";

/** How one iced operand kind is satisfied by a user operand. */
export type KindDesc =
  /** A register of class `cls` (and size/identity when given). */
  | { t: "reg"; cls: RegClass; size?: number; fixed?: Register }
  /** A register of class `cls`/`size`, or a memory operand. */
  | { t: "rm"; cls: RegClass; size: number }
  /** A memory operand; `offs`: moffs form (absolute address, no ModRM). */
  | { t: "mem"; offs: boolean }
  /** An immediate of `bits` encoded bits; `sex`: sign-extended to that many bits; `one`: the constant 1. */
  | { t: "imm"; bits: 8 | 16 | 32 | 64; sex?: 16 | 32 | 64; one?: boolean }
  /** A near branch target for `bits`-bit code; `short`: rel8. */
  | { t: "br"; bits: 16 | 32 | 64; short: boolean }
  /** A direct far pointer with a 16- or 32-bit offset. */
  | { t: "far"; bits: 16 | 32 }
  /** An implicit string-instruction memory operand (the user writes no operand). */
  | { t: "str"; which: "si" | "esdi" | "di" | "xlat" }
  /** Not supported by this assembler. */
  | { t: "none" };

const gpr = (size: number): KindDesc => ({ t: "reg", cls: "gpr", size });
const rm = (cls: RegClass, size: number): KindDesc => ({ t: "rm", cls, size });
const fixed = (cls: RegClass, r: Register, size: number): KindDesc => ({
  t: "reg",
  cls,
  size,
  fixed: r,
});

const KIND_TABLE: Partial<Record<K, KindDesc>> = {
  [K.mem_offs]: { t: "mem", offs: true },
  [K.mem]: { t: "mem", offs: false },
  [K.r8_or_mem]: rm("gpr", 1),
  [K.r16_or_mem]: rm("gpr", 2),
  [K.r32_or_mem]: rm("gpr", 4),
  [K.r64_or_mem]: rm("gpr", 8),
  [K.mm_or_mem]: rm("mm", 8),
  [K.xmm_or_mem]: rm("xmm", 16),
  [K.ymm_or_mem]: rm("ymm", 32),
  [K.r8_reg]: gpr(1),
  [K.r8_opcode]: gpr(1),
  [K.r16_reg]: gpr(2),
  [K.r16_rm]: gpr(2),
  [K.r16_opcode]: gpr(2),
  [K.r32_reg]: gpr(4),
  [K.r32_rm]: gpr(4),
  [K.r32_opcode]: gpr(4),
  [K.r32_vvvv]: gpr(4),
  [K.r64_reg]: gpr(8),
  [K.r64_rm]: gpr(8),
  [K.r64_opcode]: gpr(8),
  [K.r64_vvvv]: gpr(8),
  [K.seg_reg]: { t: "reg", cls: "seg" },
  [K.mm_reg]: { t: "reg", cls: "mm" },
  [K.mm_rm]: { t: "reg", cls: "mm" },
  [K.xmm_reg]: { t: "reg", cls: "xmm" },
  [K.xmm_rm]: { t: "reg", cls: "xmm" },
  [K.xmm_vvvv]: { t: "reg", cls: "xmm" },
  [K.xmm_is4]: { t: "reg", cls: "xmm" },
  [K.ymm_reg]: { t: "reg", cls: "ymm" },
  [K.ymm_rm]: { t: "reg", cls: "ymm" },
  [K.ymm_vvvv]: { t: "reg", cls: "ymm" },
  [K.ymm_is4]: { t: "reg", cls: "ymm" },
  [K.cr_reg]: { t: "reg", cls: "cr" },
  [K.dr_reg]: { t: "reg", cls: "dr" },
  [K.es]: fixed("seg", Register.ES, 2),
  [K.cs]: fixed("seg", Register.CS, 2),
  [K.ss]: fixed("seg", Register.SS, 2),
  [K.ds]: fixed("seg", Register.DS, 2),
  [K.fs]: fixed("seg", Register.FS, 2),
  [K.gs]: fixed("seg", Register.GS, 2),
  [K.al]: fixed("gpr", Register.AL, 1),
  [K.cl]: fixed("gpr", Register.CL, 1),
  [K.ax]: fixed("gpr", Register.AX, 2),
  [K.dx]: fixed("gpr", Register.DX, 2),
  [K.eax]: fixed("gpr", Register.EAX, 4),
  [K.rax]: fixed("gpr", Register.RAX, 8),
  [K.st0]: fixed("st", Register.ST0, 10),
  [K.sti_opcode]: { t: "reg", cls: "st" },
  [K.imm8]: { t: "imm", bits: 8 },
  [K.imm8_const_1]: { t: "imm", bits: 8, one: true },
  [K.imm8sex16]: { t: "imm", bits: 8, sex: 16 },
  [K.imm8sex32]: { t: "imm", bits: 8, sex: 32 },
  [K.imm8sex64]: { t: "imm", bits: 8, sex: 64 },
  [K.imm16]: { t: "imm", bits: 16 },
  [K.imm32]: { t: "imm", bits: 32 },
  [K.imm32sex64]: { t: "imm", bits: 32, sex: 64 },
  [K.imm64]: { t: "imm", bits: 64 },
  [K.seg_rSI]: { t: "str", which: "si" },
  [K.es_rDI]: { t: "str", which: "esdi" },
  [K.seg_rDI]: { t: "str", which: "di" },
  [K.seg_rBX_al]: { t: "str", which: "xlat" },
  [K.br16_1]: { t: "br", bits: 16, short: true },
  [K.br32_1]: { t: "br", bits: 32, short: true },
  [K.br64_1]: { t: "br", bits: 64, short: true },
  [K.br16_2]: { t: "br", bits: 16, short: false },
  [K.br32_4]: { t: "br", bits: 32, short: false },
  [K.br64_4]: { t: "br", bits: 64, short: false },
  [K.farbr2_2]: { t: "far", bits: 16 },
  [K.farbr4_2]: { t: "far", bits: 32 },
};

const NONE: KindDesc = { t: "none" };

/** The descriptor of an iced operand kind (`{t: "none"}` when unsupported). */
export function kindDesc(k: K): KindDesc {
  return KIND_TABLE[k] ?? NONE;
}

/** One candidate encoding of a mnemonic. */
export interface Form {
  readonly code: Code;
  /** iced `Code` name, for messages. */
  readonly codeName: string;
  /** All operand kinds of the code, in order. */
  readonly kinds: readonly KindDesc[];
  /** Indices (into `kinds`) of the operands the user writes. */
  readonly userOps: readonly number[];
  /** Valid in 16/32/64-bit code. */
  readonly mode16: boolean;
  readonly mode32: boolean;
  readonly mode64: boolean;
  /** Operand size of the form (0 = not applicable). */
  readonly opSize: number;
  /** True if the form's operand size is the default one for `bits`-bit code. */
  readonly natural16: boolean;
  readonly natural32: boolean;
  readonly natural64: boolean;
  /** Memory operand size in bytes (0 = none/unknown). */
  readonly memSize: number;
  readonly canRep: boolean;
  readonly canRepne: boolean;
  readonly canLock: boolean;
  /** Index of the first branch operand kind, or -1. */
  readonly branchOp: number;
}

let codesByMnemonic: Map<Mnemonic, Code[]> | undefined;
const formsCache = new Map<Mnemonic, readonly Form[]>();
let mnemonicNames: Map<string, Mnemonic> | undefined;

/** Number of `Code` values (iced's enum is dense from 0). */
function codeCount(): number {
  let n = 0;
  for (const k of Object.keys(Code)) if (!/^\d+$/.test(k)) n++;
  return n;
}

function scanCodes(): Map<Mnemonic, Code[]> {
  if (codesByMnemonic) return codesByMnemonic;
  const map = new Map<Mnemonic, Code[]>();
  const n = codeCount();
  for (let c = 0; c < n; c++) {
    const oc = CodeExt.opCode(c as Code);
    const m = oc.mnemonic;
    oc.free();
    let list = map.get(m);
    if (!list) map.set(m, list = []);
    list.push(c as Code);
  }
  codesByMnemonic = map;
  return map;
}

/** The candidate forms of a mnemonic (built on first use, then cached). */
export function formsOf(m: Mnemonic): readonly Form[] {
  const cached = formsCache.get(m);
  if (cached) return cached;
  const forms: Form[] = [];
  for (const code of scanCodes().get(m) ?? []) {
    const oc = CodeExt.opCode(code);
    try {
      if (!oc.isInstruction || oc.decoderOption !== 0 || oc.encoding === EncodingKind.MVEX) {
        continue;
      }
      const kinds: KindDesc[] = [];
      for (let i = 0; i < oc.opCount; i++) kinds.push(kindDesc(oc.opKind(i)));
      if (kinds.some((k) => k.t === "none")) continue;
      const hasStr = kinds.some((k) => k.t === "str");
      const userOps: number[] = [];
      kinds.forEach((k, i) => {
        if (k.t === "str") return;
        // String instructions are written without operands: their fixed registers are implicit.
        if (hasStr && k.t === "reg" && k.fixed !== undefined) return;
        userOps.push(i);
      });
      const opSize = oc.operandSize;
      const def64 = oc.defaultOpSize64 || oc.forceOpSize64 ? 64 : 32;
      forms.push({
        code,
        codeName: Code[code],
        kinds,
        userOps,
        mode16: oc.mode16,
        mode32: oc.mode32,
        mode64: oc.mode64,
        opSize,
        natural16: opSize === 0 || opSize === 16,
        natural32: opSize === 0 || opSize === 32,
        natural64: opSize === 0 || opSize === def64,
        memSize: MemorySizeExt.size(oc.memorySize),
        canRep: oc.canUseRepPrefix,
        canRepne: oc.canUseRepnePrefix,
        canLock: oc.canUseLockPrefix,
        branchOp: kinds.findIndex((k) => k.t === "br"),
      });
    } finally {
      oc.free();
    }
  }
  formsCache.set(m, forms);
  return forms;
}

/** Condition-code spellings that iced does not use as mnemonic names. */
const CC_ALIASES: Record<string, string> = {
  z: "e",
  nz: "ne",
  c: "b",
  nae: "b",
  nc: "ae",
  nb: "ae",
  na: "be",
  nbe: "a",
  nge: "l",
  nl: "ge",
  ng: "le",
  nle: "g",
  pe: "p",
  po: "np",
};

const PLAIN_ALIASES: Record<string, string> = {
  sal: "shl",
  xlat: "xlatb",
  movabs: "mov",
  retn: "ret",
  icebp: "int1",
};

/** A resolved mnemonic: iced's id plus an optional operand-size constraint from a suffix. */
export interface MnemonicRef {
  readonly mnemonic: Mnemonic;
  /** Required operand size (bits) when the user wrote a size suffix (e.g. `retfq`). */
  readonly opSize?: number;
  /** The canonical lowercase name. */
  readonly name: string;
}

function names(): Map<string, Mnemonic> {
  if (mnemonicNames) return mnemonicNames;
  const map = new Map<string, Mnemonic>();
  for (const [k, v] of Object.entries(Mnemonic)) {
    if (typeof v === "number" && v !== Mnemonic.INVALID) map.set(k.toLowerCase(), v as Mnemonic);
  }
  mnemonicNames = map;
  return map;
}

/**
 * Resolves a user mnemonic (case-insensitive): iced's names, condition-code aliases (`jz`, `cmovnc`,
 * `setpe`), `sal`, `xlat`, `movabs`, and size suffixes on names iced spells without them
 * (`retfq`, `pushw`).
 */
export function lookupMnemonic(userName: string): MnemonicRef | undefined {
  const n = userName.toLowerCase();
  const table = names();
  const direct = table.get(n);
  if (direct !== undefined) return { mnemonic: direct, name: n };
  const plain = PLAIN_ALIASES[n];
  if (plain !== undefined && table.has(plain)) return { mnemonic: table.get(plain)!, name: plain };
  for (const prefix of ["j", "set", "cmov"]) {
    if (n.startsWith(prefix)) {
      const cc = CC_ALIASES[n.slice(prefix.length)];
      if (cc !== undefined) {
        const m = table.get(prefix + cc);
        if (m !== undefined) return { mnemonic: m, name: prefix + cc };
      }
    }
  }
  const suffix: Record<string, number> = { w: 16, d: 32, q: 64 };
  const last = n[n.length - 1];
  if (suffix[last] !== undefined) {
    const stem = n.slice(0, -1);
    const m = table.get(stem);
    if (m !== undefined) return { mnemonic: m, name: stem, opSize: suffix[last] };
  }
  return undefined;
}
