/**
 * Operand vocabulary of the guest assembler: registers, labels, memory operands, far pointers and
 * immediates. Everything here is plain data; `asm.ts` turns it into iced-x86 instructions.
 */

import { Register } from "iced-x86";

/** Register classes the assembler knows how to match against iced's operand kinds. */
export type RegClass = "gpr" | "seg" | "cr" | "dr" | "xmm" | "ymm" | "mm" | "st";

/** A machine register. Instances are the exported constants (`rax`, `cr3`, `xmm0`, ...). */
export class Reg {
  constructor(
    /** Lowercase Intel name, e.g. `r8d`. */
    readonly name: string,
    /** iced-x86 register id. */
    readonly id: Register,
    readonly cls: RegClass,
    /** Size in bytes (GPRs: 1/2/4/8; segment 2; control/debug 8; xmm 16; ymm 32; mm 8; st 10). */
    readonly size: number,
  ) {
    Object.freeze(this);
  }

  toString(): string {
    return this.name;
  }
}

/** A value computed after layout, typically from `asm.addressOf(label)`. */
export type Thunk = () => number | bigint;

/**
 * A position in the image. Create with `asm.label(name?)`, place with `asm.bind(label)`. A label
 * belongs to the `Asm` that created it.
 */
export class Label {
  constructor(
    /** The assembler that owns the label (opaque). */
    readonly owner: object,
    /** Dense per-assembler id. */
    readonly id: number,
    /** The user's name, or undefined for an anonymous label. */
    readonly name: string | undefined,
  ) {
    Object.freeze(this);
  }

  toString(): string {
    return this.name ?? `.L${this.id}`;
  }
}

/** An immediate operand: a number (|v| < 2^53), a bigint (full 64-bit), a label address or a thunk. */
export type Imm = number | bigint | Label | Thunk;

/** A symbolic (layout-dependent) displacement or value. */
export type Sym = Label | Thunk;

/** How a memory operand without registers is addressed. */
export type MemAddressing = "auto" | "rip" | "abs";

/**
 * A memory operand `size seg:[base + index*scale + disp + sym]`.
 *
 * `addressing`: `"rip"` forces RIP-relative (64-bit code only), `"abs"` forces an absolute
 * displacement, `"auto"` means RIP-relative in 64-bit code when the operand has a symbolic
 * displacement (label/thunk) and no registers, absolute otherwise.
 */
export class Mem {
  constructor(
    /** Operand size in bytes, 0 when unspecified (inferred from the other operands). */
    readonly size: number,
    readonly base: Reg | undefined,
    readonly index: Reg | undefined,
    readonly scale: 1 | 2 | 4 | 8,
    /** Numeric part of the displacement. */
    readonly disp: bigint,
    /** Symbolic part of the displacement (added to `disp`), resolved after layout. */
    readonly sym: Sym | undefined,
    readonly addressing: MemAddressing,
    /** Segment override register, if any. */
    readonly seg: Reg | undefined,
  ) {
    Object.freeze(this);
  }

  /** A copy with another operand size (bytes; 0 = unspecified). */
  withSize(size: number): Mem {
    return new Mem(
      size,
      this.base,
      this.index,
      this.scale,
      this.disp,
      this.sym,
      this.addressing,
      this.seg,
    );
  }

  toString(): string {
    const parts: string[] = [];
    if (this.addressing === "rip") parts.push("rel ");
    const terms: string[] = [];
    if (this.base) terms.push(this.base.name);
    if (this.index) {
      terms.push(this.scale === 1 ? this.index.name : `${this.index.name}*${this.scale}`);
    }
    if (this.sym !== undefined) {
      terms.push(this.sym instanceof Label ? this.sym.toString() : "<thunk>");
    }
    let s = terms.join("+");
    if (this.disp !== 0n || terms.length === 0) {
      const neg = this.disp < 0n;
      const mag = neg ? -this.disp : this.disp;
      const hex = `0x${mag.toString(16)}`;
      s = terms.length === 0 ? (neg ? `-${hex}` : hex) : `${s}${neg ? "-" : "+"}${hex}`;
    }
    parts.push(`[${s}]`);
    const seg = this.seg ? `${this.seg.name}:` : "";
    const size = SIZE_NAMES[this.size];
    return `${size ? size + " " : ""}${seg}${parts.join("")}`;
  }
}

const SIZE_NAMES: Record<number, string> = {
  1: "byte",
  2: "word",
  4: "dword",
  6: "fword",
  8: "qword",
  10: "tbyte",
  16: "xmmword",
  32: "ymmword",
  64: "zmmword",
};

/** `selector:offset` operand of a direct far jump/call (`jmp ptr16:16` / `jmp ptr16:32`). */
export class FarPtr {
  constructor(
    readonly selector: number,
    readonly offset: number | bigint | Sym,
    /** Offset width: 16 or 32 bits; undefined = the current code size (32 in 64-bit code). */
    readonly width: 16 | 32 | undefined,
  ) {
    Object.freeze(this);
  }

  toString(): string {
    const o = this.offset;
    const off = typeof o === "number" || typeof o === "bigint"
      ? `0x${o.toString(16)}`
      : o instanceof Label
      ? o.toString()
      : "<thunk>";
    return `far 0x${this.selector.toString(16)}:${off}`;
  }
}

/** Any instruction operand. */
export type Operand = Reg | Mem | FarPtr | Imm;

/** Builds a far pointer operand for `a.i("jmp", far(0x08, target))`. */
export function far(selector: number, offset: number | bigint | Sym, width?: 16 | 32): FarPtr {
  if (!Number.isInteger(selector) || selector < 0 || selector > 0xffff) {
    throw new Error(`asm: far pointer selector must be 0..0xffff, got ${selector}`);
  }
  return new FarPtr(selector, offset, width);
}

// ---------------------------------------------------------------------------------------------
// Registers

const ALL_REGS = new Map<string, Reg>();

function mk(name: string, id: Register, cls: RegClass, size: number): Reg {
  const r = new Reg(name, id, cls, size);
  ALL_REGS.set(name, r);
  return r;
}

/** Looks up a register by (case-insensitive) name, e.g. `reg("R12D")`. */
export function reg(name: string): Reg {
  const r = ALL_REGS.get(name.toLowerCase());
  if (!r) throw new Error(`asm: unknown register "${name}"`);
  return r;
}

/** All registers by lowercase name. */
export function allRegisters(): ReadonlyMap<string, Reg> {
  return ALL_REGS;
}

// 64-bit GPRs
export const rax: Reg = mk("rax", Register.RAX, "gpr", 8);
export const rcx: Reg = mk("rcx", Register.RCX, "gpr", 8);
export const rdx: Reg = mk("rdx", Register.RDX, "gpr", 8);
export const rbx: Reg = mk("rbx", Register.RBX, "gpr", 8);
export const rsp: Reg = mk("rsp", Register.RSP, "gpr", 8);
export const rbp: Reg = mk("rbp", Register.RBP, "gpr", 8);
export const rsi: Reg = mk("rsi", Register.RSI, "gpr", 8);
export const rdi: Reg = mk("rdi", Register.RDI, "gpr", 8);
export const r8: Reg = mk("r8", Register.R8, "gpr", 8);
export const r9: Reg = mk("r9", Register.R9, "gpr", 8);
export const r10: Reg = mk("r10", Register.R10, "gpr", 8);
export const r11: Reg = mk("r11", Register.R11, "gpr", 8);
export const r12: Reg = mk("r12", Register.R12, "gpr", 8);
export const r13: Reg = mk("r13", Register.R13, "gpr", 8);
export const r14: Reg = mk("r14", Register.R14, "gpr", 8);
export const r15: Reg = mk("r15", Register.R15, "gpr", 8);
// 32-bit GPRs
export const eax: Reg = mk("eax", Register.EAX, "gpr", 4);
export const ecx: Reg = mk("ecx", Register.ECX, "gpr", 4);
export const edx: Reg = mk("edx", Register.EDX, "gpr", 4);
export const ebx: Reg = mk("ebx", Register.EBX, "gpr", 4);
export const esp: Reg = mk("esp", Register.ESP, "gpr", 4);
export const ebp: Reg = mk("ebp", Register.EBP, "gpr", 4);
export const esi: Reg = mk("esi", Register.ESI, "gpr", 4);
export const edi: Reg = mk("edi", Register.EDI, "gpr", 4);
export const r8d: Reg = mk("r8d", Register.R8D, "gpr", 4);
export const r9d: Reg = mk("r9d", Register.R9D, "gpr", 4);
export const r10d: Reg = mk("r10d", Register.R10D, "gpr", 4);
export const r11d: Reg = mk("r11d", Register.R11D, "gpr", 4);
export const r12d: Reg = mk("r12d", Register.R12D, "gpr", 4);
export const r13d: Reg = mk("r13d", Register.R13D, "gpr", 4);
export const r14d: Reg = mk("r14d", Register.R14D, "gpr", 4);
export const r15d: Reg = mk("r15d", Register.R15D, "gpr", 4);
// 16-bit GPRs
export const ax: Reg = mk("ax", Register.AX, "gpr", 2);
export const cx: Reg = mk("cx", Register.CX, "gpr", 2);
export const dx: Reg = mk("dx", Register.DX, "gpr", 2);
export const bx: Reg = mk("bx", Register.BX, "gpr", 2);
export const sp: Reg = mk("sp", Register.SP, "gpr", 2);
export const bp: Reg = mk("bp", Register.BP, "gpr", 2);
export const si: Reg = mk("si", Register.SI, "gpr", 2);
export const di: Reg = mk("di", Register.DI, "gpr", 2);
export const r8w: Reg = mk("r8w", Register.R8W, "gpr", 2);
export const r9w: Reg = mk("r9w", Register.R9W, "gpr", 2);
export const r10w: Reg = mk("r10w", Register.R10W, "gpr", 2);
export const r11w: Reg = mk("r11w", Register.R11W, "gpr", 2);
export const r12w: Reg = mk("r12w", Register.R12W, "gpr", 2);
export const r13w: Reg = mk("r13w", Register.R13W, "gpr", 2);
export const r14w: Reg = mk("r14w", Register.R14W, "gpr", 2);
export const r15w: Reg = mk("r15w", Register.R15W, "gpr", 2);
// 8-bit GPRs
export const al: Reg = mk("al", Register.AL, "gpr", 1);
export const cl: Reg = mk("cl", Register.CL, "gpr", 1);
export const dl: Reg = mk("dl", Register.DL, "gpr", 1);
export const bl: Reg = mk("bl", Register.BL, "gpr", 1);
export const ah: Reg = mk("ah", Register.AH, "gpr", 1);
export const ch: Reg = mk("ch", Register.CH, "gpr", 1);
export const dh: Reg = mk("dh", Register.DH, "gpr", 1);
export const bh: Reg = mk("bh", Register.BH, "gpr", 1);
export const spl: Reg = mk("spl", Register.SPL, "gpr", 1);
export const bpl: Reg = mk("bpl", Register.BPL, "gpr", 1);
export const sil: Reg = mk("sil", Register.SIL, "gpr", 1);
export const dil: Reg = mk("dil", Register.DIL, "gpr", 1);
export const r8b: Reg = mk("r8b", Register.R8L, "gpr", 1);
export const r9b: Reg = mk("r9b", Register.R9L, "gpr", 1);
export const r10b: Reg = mk("r10b", Register.R10L, "gpr", 1);
export const r11b: Reg = mk("r11b", Register.R11L, "gpr", 1);
export const r12b: Reg = mk("r12b", Register.R12L, "gpr", 1);
export const r13b: Reg = mk("r13b", Register.R13L, "gpr", 1);
export const r14b: Reg = mk("r14b", Register.R14L, "gpr", 1);
export const r15b: Reg = mk("r15b", Register.R15L, "gpr", 1);
// Segment registers
export const es: Reg = mk("es", Register.ES, "seg", 2);
export const cs: Reg = mk("cs", Register.CS, "seg", 2);
export const ss: Reg = mk("ss", Register.SS, "seg", 2);
export const ds: Reg = mk("ds", Register.DS, "seg", 2);
export const fs: Reg = mk("fs", Register.FS, "seg", 2);
export const gs: Reg = mk("gs", Register.GS, "seg", 2);
// Control registers
export const cr0: Reg = mk("cr0", Register.CR0, "cr", 8);
export const cr2: Reg = mk("cr2", Register.CR2, "cr", 8);
export const cr3: Reg = mk("cr3", Register.CR3, "cr", 8);
export const cr4: Reg = mk("cr4", Register.CR4, "cr", 8);
export const cr8: Reg = mk("cr8", Register.CR8, "cr", 8);
// Debug registers
export const dr0: Reg = mk("dr0", Register.DR0, "dr", 8);
export const dr1: Reg = mk("dr1", Register.DR1, "dr", 8);
export const dr2: Reg = mk("dr2", Register.DR2, "dr", 8);
export const dr3: Reg = mk("dr3", Register.DR3, "dr", 8);
export const dr6: Reg = mk("dr6", Register.DR6, "dr", 8);
export const dr7: Reg = mk("dr7", Register.DR7, "dr", 8);
// SSE registers
export const xmm0: Reg = mk("xmm0", Register.XMM0, "xmm", 16);
export const xmm1: Reg = mk("xmm1", Register.XMM1, "xmm", 16);
export const xmm2: Reg = mk("xmm2", Register.XMM2, "xmm", 16);
export const xmm3: Reg = mk("xmm3", Register.XMM3, "xmm", 16);
export const xmm4: Reg = mk("xmm4", Register.XMM4, "xmm", 16);
export const xmm5: Reg = mk("xmm5", Register.XMM5, "xmm", 16);
export const xmm6: Reg = mk("xmm6", Register.XMM6, "xmm", 16);
export const xmm7: Reg = mk("xmm7", Register.XMM7, "xmm", 16);
export const xmm8: Reg = mk("xmm8", Register.XMM8, "xmm", 16);
export const xmm9: Reg = mk("xmm9", Register.XMM9, "xmm", 16);
export const xmm10: Reg = mk("xmm10", Register.XMM10, "xmm", 16);
export const xmm11: Reg = mk("xmm11", Register.XMM11, "xmm", 16);
export const xmm12: Reg = mk("xmm12", Register.XMM12, "xmm", 16);
export const xmm13: Reg = mk("xmm13", Register.XMM13, "xmm", 16);
export const xmm14: Reg = mk("xmm14", Register.XMM14, "xmm", 16);
export const xmm15: Reg = mk("xmm15", Register.XMM15, "xmm", 16);
// AVX registers
export const ymm0: Reg = mk("ymm0", Register.YMM0, "ymm", 32);
export const ymm1: Reg = mk("ymm1", Register.YMM1, "ymm", 32);
export const ymm2: Reg = mk("ymm2", Register.YMM2, "ymm", 32);
export const ymm3: Reg = mk("ymm3", Register.YMM3, "ymm", 32);
export const ymm4: Reg = mk("ymm4", Register.YMM4, "ymm", 32);
export const ymm5: Reg = mk("ymm5", Register.YMM5, "ymm", 32);
export const ymm6: Reg = mk("ymm6", Register.YMM6, "ymm", 32);
export const ymm7: Reg = mk("ymm7", Register.YMM7, "ymm", 32);
export const ymm8: Reg = mk("ymm8", Register.YMM8, "ymm", 32);
export const ymm9: Reg = mk("ymm9", Register.YMM9, "ymm", 32);
export const ymm10: Reg = mk("ymm10", Register.YMM10, "ymm", 32);
export const ymm11: Reg = mk("ymm11", Register.YMM11, "ymm", 32);
export const ymm12: Reg = mk("ymm12", Register.YMM12, "ymm", 32);
export const ymm13: Reg = mk("ymm13", Register.YMM13, "ymm", 32);
export const ymm14: Reg = mk("ymm14", Register.YMM14, "ymm", 32);
export const ymm15: Reg = mk("ymm15", Register.YMM15, "ymm", 32);
// MMX registers
export const mm0: Reg = mk("mm0", Register.MM0, "mm", 8);
export const mm1: Reg = mk("mm1", Register.MM1, "mm", 8);
export const mm2: Reg = mk("mm2", Register.MM2, "mm", 8);
export const mm3: Reg = mk("mm3", Register.MM3, "mm", 8);
export const mm4: Reg = mk("mm4", Register.MM4, "mm", 8);
export const mm5: Reg = mk("mm5", Register.MM5, "mm", 8);
export const mm6: Reg = mk("mm6", Register.MM6, "mm", 8);
export const mm7: Reg = mk("mm7", Register.MM7, "mm", 8);
// x87 stack registers
export const st0: Reg = mk("st0", Register.ST0, "st", 10);
export const st1: Reg = mk("st1", Register.ST1, "st", 10);
export const st2: Reg = mk("st2", Register.ST2, "st", 10);
export const st3: Reg = mk("st3", Register.ST3, "st", 10);
export const st4: Reg = mk("st4", Register.ST4, "st", 10);
export const st5: Reg = mk("st5", Register.ST5, "st", 10);
export const st6: Reg = mk("st6", Register.ST6, "st", 10);
export const st7: Reg = mk("st7", Register.ST7, "st", 10);

// Rarely used control/debug registers are reachable via reg("cr1") etc.
for (const n of [1, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]) {
  mk(`cr${n}`, (Register.CR0 + n) as Register, "cr", 8);
}
for (const n of [4, 5, 8, 9, 10, 11, 12, 13, 14, 15]) {
  mk(`dr${n}`, (Register.DR0 + n) as Register, "dr", 8);
}

// ---------------------------------------------------------------------------------------------
// Memory operands

/** Options accepted as the last argument of `mem()` and the sized helpers. */
export interface MemOpts {
  /** Operand size in bytes (`byte()`..`zmmword()` set this for you). */
  size?: number;
  /** Segment override, e.g. `{ seg: gs }`. */
  seg?: Reg;
  base?: Reg;
  index?: Reg;
  scale?: 1 | 2 | 4 | 8;
  /** Numeric or symbolic displacement. */
  disp?: number | bigint | Sym;
  /** `"rip"`: RIP-relative, `"abs"`: absolute displacement, `"auto"` (default): see `Mem`. */
  addressing?: MemAddressing;
}

/** One argument of `mem()`. */
export type MemArg = Reg | Mem | number | bigint | Sym | MemOpts | null | undefined;

function isOpts(x: unknown): x is MemOpts {
  return typeof x === "object" && x !== null && !(x instanceof Reg) && !(x instanceof Mem) &&
    !(x instanceof Label) && !(x instanceof FarPtr);
}

function isSym(x: unknown): x is Sym {
  return x instanceof Label || typeof x === "function";
}

function toBigDisp(v: number | bigint, what: string): bigint {
  if (typeof v === "bigint") return v;
  if (!Number.isSafeInteger(v)) throw new Error(`asm: ${what} must be an integer, got ${v}`);
  return BigInt(v);
}

const VALID_SCALES = new Set([1, 2, 4, 8]);

function addDisp(
  acc: { disp: bigint; sym: Sym | undefined },
  d: number | bigint | Sym | undefined,
): void {
  if (d === undefined) return;
  if (isSym(d)) {
    if (acc.sym !== undefined) {
      throw new Error("asm: a memory operand can hold only one label/thunk");
    }
    acc.sym = d;
  } else {
    acc.disp += toBigDisp(d, "memory displacement");
  }
}

/**
 * Builds a memory operand. Accepted shapes (an options object `MemOpts` may always come last):
 * - `mem(base, disp?)`                    `[base + disp]`; disp may be a number, bigint, label or thunk
 * - `mem(base | null, index, scale, disp?)` `[base + index*scale + disp]`
 * - `mem(label | thunk, disp?)`           the label's address (+disp): RIP-relative in 64-bit code,
 *                                         an absolute disp32/disp16 in 32/16-bit code
 * - `mem(address: number | bigint)`       absolute address
 * - `mem(otherMem, disp?)`               copy (+disp), e.g. `qword(rip_rel(x), 8)`
 * - `mem(opts)`                           everything spelled out
 * The result has no size; use `byte()`..`zmmword()` (or `{ size }`) where the size is not implied by
 * a register operand.
 */
export function mem(...args: MemArg[]): Mem {
  let opts: MemOpts = {};
  if (args.length > 0 && isOpts(args[args.length - 1])) {
    opts = args.pop() as MemOpts;
  }
  let size = 0;
  let base: Reg | undefined;
  let index: Reg | undefined;
  let scale = 1;
  let seg: Reg | undefined;
  let addressing: MemAddressing = "auto";
  const acc = { disp: 0n, sym: undefined as Sym | undefined };
  const a0 = args[0];
  if (a0 instanceof Mem) {
    const d = args[1];
    if (args.length > 2 || (d !== undefined && typeof d !== "number" && typeof d !== "bigint")) {
      throw new Error("asm: mem(memOperand, disp?, opts?): disp must be a number or bigint");
    }
    size = a0.size;
    base = a0.base;
    index = a0.index;
    scale = a0.scale;
    acc.disp = a0.disp;
    acc.sym = a0.sym;
    seg = a0.seg;
    addressing = a0.addressing;
    addDisp(acc, d);
  } else if (args.length >= 2 && (args[1] instanceof Reg)) {
    // (base|null, index, scale?, disp?)
    if (a0 !== null && a0 !== undefined && !(a0 instanceof Reg)) {
      throw new Error("asm: mem(base, index, scale, disp): base must be a register or null");
    }
    base = a0 ?? undefined;
    index = args[1];
    const sc = args[2] ?? 1;
    if (typeof sc !== "number" || !VALID_SCALES.has(sc)) {
      throw new Error(`asm: memory index scale must be 1, 2, 4 or 8, got ${String(sc)}`);
    }
    scale = sc;
    if (args.length > 4) throw new Error("asm: too many arguments to mem()");
    const d = args[3];
    if (d instanceof Reg || d instanceof Mem || d === null || isOpts(d)) {
      throw new Error("asm: invalid displacement in mem()");
    }
    addDisp(acc, d);
  } else if (a0 instanceof Reg) {
    base = a0;
    if (args.length > 2) throw new Error("asm: too many arguments to mem(base, disp)");
    const d = args[1];
    if (d instanceof Mem || d === null || isOpts(d)) {
      throw new Error("asm: invalid displacement in mem()");
    }
    addDisp(acc, d as number | bigint | Sym | undefined);
  } else if (a0 !== undefined && a0 !== null) {
    // label/thunk/number [+ disp]
    if (args.length > 2) throw new Error("asm: too many arguments to mem(target, disp)");
    addDisp(acc, a0 as number | bigint | Sym);
    const d = args[1];
    if (d !== undefined && typeof d !== "number" && typeof d !== "bigint") {
      throw new Error("asm: mem(target, disp): disp must be a number or bigint");
    }
    addDisp(acc, d);
  } else if (args.length > 1) {
    throw new Error("asm: invalid mem() arguments");
  }
  if (opts.size !== undefined) size = opts.size;
  if (opts.seg !== undefined) seg = opts.seg;
  if (opts.base !== undefined) base = opts.base;
  if (opts.index !== undefined) index = opts.index;
  if (opts.scale !== undefined) scale = opts.scale;
  if (opts.addressing !== undefined) addressing = opts.addressing;
  addDisp(acc, opts.disp);
  if (seg !== undefined && seg.cls !== "seg") {
    throw new Error(`asm: segment override must be a segment register, got ${seg.name}`);
  }
  for (const r of [base, index]) {
    if (r !== undefined && r.cls !== "gpr") {
      throw new Error(`asm: memory base/index must be a general-purpose register, got ${r.name}`);
    }
  }
  if (!VALID_SCALES.has(scale)) throw new Error(`asm: invalid scale ${scale}`);
  if (!Number.isInteger(size) || size < 0) throw new Error(`asm: invalid memory size ${size}`);
  if (addressing === "rip" && (base !== undefined || index !== undefined)) {
    throw new Error("asm: a RIP-relative memory operand cannot have base/index registers");
  }
  return new Mem(size, base, index, scale as 1 | 2 | 4 | 8, acc.disp, acc.sym, addressing, seg);
}

function sized(size: number, args: MemArg[]): Mem {
  return mem(...args).withSize(size);
}

/** `byte [...]` (8-bit memory operand); arguments as for `mem()`. */
export function byte(...args: MemArg[]): Mem {
  return sized(1, args);
}
/** `word [...]` (16-bit). */
export function word(...args: MemArg[]): Mem {
  return sized(2, args);
}
/** `dword [...]` (32-bit). */
export function dword(...args: MemArg[]): Mem {
  return sized(4, args);
}
/** `fword [...]` (48-bit far pointer / 32-bit-mode pseudo-descriptor). */
export function fword(...args: MemArg[]): Mem {
  return sized(6, args);
}
/** `qword [...]` (64-bit). */
export function qword(...args: MemArg[]): Mem {
  return sized(8, args);
}
/** `tbyte [...]` (80-bit: x87 extended, 64-bit-mode pseudo-descriptor, m16:64). */
export function tbyte(...args: MemArg[]): Mem {
  return sized(10, args);
}
/** `xmmword [...]` (128-bit). */
export function xmmword(...args: MemArg[]): Mem {
  return sized(16, args);
}
/** `ymmword [...]` (256-bit). */
export function ymmword(...args: MemArg[]): Mem {
  return sized(32, args);
}

/**
 * A RIP-relative reference to a label/thunk/absolute address (+disp). 64-bit code only. The operand
 * is unsized; wrap it (`dword(rip_rel(x))`) when needed.
 */
export function rip_rel(target: Label | Thunk | number | bigint, disp: number | bigint = 0): Mem {
  return mem(target, disp, { addressing: "rip" });
}

/** Alias of `rip_rel`. */
export const ripRel: typeof rip_rel = rip_rel;

/** An absolute (never RIP-relative) reference to a label/thunk (+disp). */
export function abs(target: Label | Thunk | number | bigint, disp: number | bigint = 0): Mem {
  return mem(target, disp, { addressing: "abs" });
}
