/**
 * Fixture generator infrastructure: deterministic PRNG, register/value helpers, encoding with
 * iced-x86, undefined-flag tracking, the runner protocol and the JSON line format.
 */
import {
  Code,
  Encoder,
  Formatter,
  FormatterSyntax,
  Instruction,
  MemoryOperand,
  Register,
  RepPrefixKind,
} from "iced-x86";
import { GPR_NAMES, type GprName, seededBytes } from "../../test/fixtures/cpu/load.ts";

export { Code, Instruction, MemoryOperand, Register, RepPrefixKind };
export { GPR_NAMES, type GprName, seededBytes };

export const CODE_BASE = 0x20000000n;
export const DATA_BASE = 0x10000000n;
export const DATA_SIZE = 8192;
export const DATA_END = DATA_BASE + BigInt(DATA_SIZE);
export const M64 = (1n << 64n) - 1n;

// RFLAGS bits
export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800;
export const ARITH = CF | PF | AF | ZF | SF | OF;
export const RECORDED = ARITH | DF;

// ---------------------------------------------------------------------------------------------
// PRNG (generator side; unrelated to the data-area pattern)

/** mulberry32: small, fast, deterministic 32-bit PRNG. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  static forName(name: string): Rng {
    let h = 0x811c9dc5;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
    return new Rng(h >>> 0);
  }
  u32(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }
  /** integer in [lo, hi] */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  bool(p = 0.5): boolean {
    return this.u32() / 0x100000000 < p;
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error("pick from empty list");
    return xs[this.int(xs.length)]!;
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }
  bits(w: number): bigint {
    return this.u64() & mask(w);
  }
}

export function mask(w: number): bigint {
  return (1n << BigInt(w)) - 1n;
}

export function sext(v: bigint, w: number): bigint {
  v &= mask(w);
  return v & (1n << BigInt(w - 1)) ? v - (1n << BigInt(w)) : v;
}

/** Interesting w-bit values: around 0, the sign boundary, all-ones, nibble (AF) boundaries. */
export function edges(w: number): bigint[] {
  const m = mask(w), h = 1n << BigInt(w - 1);
  const xs = [0n, 1n, 2n, 0xfn, 0x10n, 0x7fn, 0x80n, h - 1n, h, h + 1n, m, m - 1n, m >> 1n];
  if (w > 8) xs.push(0xffn, 0x100n);
  if (w > 16) xs.push(0xffffn, 0x10000n, 0x7fffn, 0x8000n);
  if (w > 32) xs.push(0xffffffffn, 0x100000000n, 0x7fffffffn, 0x80000000n);
  return [...new Set(xs.map((x) => x & m))];
}

/** A w-bit operand value: an edge value, a small value, a sparse/dense pattern or random. */
export function val(r: Rng, w: number): bigint {
  const k = r.int(8);
  if (k < 3) return r.pick(edges(w));
  if (k === 3) return BigInt(r.int(64)) & mask(w);
  if (k === 4) return (mask(w) - BigInt(r.int(64))) & mask(w);
  if (k === 5) return (1n << BigInt(r.int(w))) ^ (r.bool() ? 0n : mask(w));
  return r.bits(w);
}

export function randFlags(r: Rng, withDf = false): number {
  let f = r.u32() & ARITH;
  if (withDf && r.bool(0.5)) f |= DF;
  return f;
}

// ---------------------------------------------------------------------------------------------
// Registers

export const R64 = [
  Register.RAX,
  Register.RCX,
  Register.RDX,
  Register.RBX,
  Register.RSP,
  Register.RBP,
  Register.RSI,
  Register.RDI,
  Register.R8,
  Register.R9,
  Register.R10,
  Register.R11,
  Register.R12,
  Register.R13,
  Register.R14,
  Register.R15,
];
export const R32 = [
  Register.EAX,
  Register.ECX,
  Register.EDX,
  Register.EBX,
  Register.ESP,
  Register.EBP,
  Register.ESI,
  Register.EDI,
  Register.R8D,
  Register.R9D,
  Register.R10D,
  Register.R11D,
  Register.R12D,
  Register.R13D,
  Register.R14D,
  Register.R15D,
];
export const R16 = [
  Register.AX,
  Register.CX,
  Register.DX,
  Register.BX,
  Register.SP,
  Register.BP,
  Register.SI,
  Register.DI,
  Register.R8W,
  Register.R9W,
  Register.R10W,
  Register.R11W,
  Register.R12W,
  Register.R13W,
  Register.R14W,
  Register.R15W,
];
export const R8 = [
  Register.AL,
  Register.CL,
  Register.DL,
  Register.BL,
  Register.SPL,
  Register.BPL,
  Register.SIL,
  Register.DIL,
  Register.R8L,
  Register.R9L,
  Register.R10L,
  Register.R11L,
  Register.R12L,
  Register.R13L,
  Register.R14L,
  Register.R15L,
];
export const R8H = [Register.AH, Register.CH, Register.DH, Register.BH];
export const XMM = Array.from({ length: 16 }, (_, i) => (Register.XMM0 + i) as Register);
export const MM = Array.from({ length: 8 }, (_, i) => (Register.MM0 + i) as Register);

interface RegInfo {
  idx: number;
  width: number;
  shift: number;
}
const REGINFO = new Map<Register, RegInfo>();
R64.forEach((r, i) => REGINFO.set(r, { idx: i, width: 64, shift: 0 }));
R32.forEach((r, i) => REGINFO.set(r, { idx: i, width: 32, shift: 0 }));
R16.forEach((r, i) => REGINFO.set(r, { idx: i, width: 16, shift: 0 }));
R8.forEach((r, i) => REGINFO.set(r, { idx: i, width: 8, shift: 0 }));
R8H.forEach((r, i) => REGINFO.set(r, { idx: i, width: 8, shift: 8 }));

export function regInfo(r: Register): RegInfo {
  const x = REGINFO.get(r);
  if (!x) throw new Error(`not a GPR: ${r}`);
  return x;
}

export function regsOfWidth(w: number): Register[] {
  switch (w) {
    case 8:
      return R8;
    case 16:
      return R16;
    case 32:
      return R32;
    case 64:
      return R64;
  }
  throw new Error(`bad width ${w}`);
}

/** Register number idx at width w. */
export function reg(w: number, idx: number): Register {
  return regsOfWidth(w)[idx]!;
}

/**
 * Picks `n` registers of width w. Never RSP (keeps the case's stack usable) unless allowRsp;
 * 8-bit picks may include AH..BH. Distinct unless `allowSame` lets duplicates through sometimes.
 */
export function pickRegs(
  r: Rng,
  w: number,
  n: number,
  opts: { exclude?: number[]; allowRsp?: boolean; allowSame?: boolean } = {},
): Register[] {
  const out: Register[] = [];
  const used: number[] = [];
  const excl = new Set(opts.exclude ?? []);
  if (!opts.allowRsp) excl.add(4);
  for (let i = 0; i < n; i++) {
    for (;;) {
      let cand: Register;
      if (w === 8 && r.int(4) === 0) cand = r.pick(R8H);
      else cand = reg(w, r.int(16));
      const info = regInfo(cand);
      if (excl.has(info.idx)) continue;
      const same = used.includes(info.idx * 2 + (info.shift ? 1 : 0));
      if (same && !(opts.allowSame && r.bool(0.15))) continue;
      used.push(info.idx * 2 + (info.shift ? 1 : 0));
      out.push(cand);
      break;
    }
  }
  return out;
}

/** Fixed "unused register" values: distinct, random-looking, identical in every case. */
export const DEFAULT_REGS: bigint[] = Array.from(
  { length: 16 },
  (_, i) => (0x9e3779b97f4a7c15n * BigInt(i + 1) + 0x0123456789abcdefn) & M64,
);
DEFAULT_REGS[4] = DATA_BASE + 0x1000n; // rsp: middle of the data area

/** Fixed values of the XMM registers a case does not set (like DEFAULT_REGS). */
export const DEFAULT_XMM: bigint[] = Array.from(
  { length: 16 },
  (_, i) => (DEFAULT_REGS[i]! << 64n) | DEFAULT_REGS[15 - i]!,
);

// ---------------------------------------------------------------------------------------------
// Case state

export interface SseState {
  xmm: bigint[];
  mxcsr: number;
}

/**
 * x87 state loaded with FXRSTOR64 before the case (and recorded after it). `st[i]` is ST(i) as an
 * 80-bit value (sign/exponent in bits 79:64); `ftw` is the abridged tag byte of FXSAVE (bit j set:
 * physical register j not empty). FOP/FIP/FDP are loaded as 0.
 */
export interface X87State {
  fcw: number;
  fsw: number;
  ftw: number;
  st: bigint[];
}

/** FINIT state with TOP = 0 and all registers empty (their contents zero). */
export function x87Init(): X87State {
  return { fcw: 0x37f, fsw: 0, ftw: 0, st: Array(8).fill(0n) };
}

/** Initial state of a case under construction. */
export class St {
  regs: bigint[] = DEFAULT_REGS.slice();
  rflags: number;
  seed: number;
  sse: SseState | null = null;
  x87: X87State | null = null;
  #mem: Uint8Array | null = null;
  constructor(r: Rng) {
    this.rflags = randFlags(r);
    this.seed = r.u32();
  }
  /** Writes v into the (sub)register `reg`, keeping the other bits of the full register. */
  set(reg: Register, v: bigint): this {
    const { idx, width, shift } = regInfo(reg);
    const m = mask(width) << BigInt(shift);
    this.regs[idx] = (this.regs[idx]! & ~m & M64) | ((v << BigInt(shift)) & m);
    return this;
  }
  /** Writes a full 64-bit value to register number idx. */
  setIdx(idx: number, v: bigint): this {
    this.regs[idx] = v & M64;
    return this;
  }
  /** Randomizes the bits of the full register outside `reg` (to check preservation/zeroing). */
  garbage(r: Rng, reg: Register): this {
    const { idx } = regInfo(reg);
    const cur = this.get(reg);
    this.regs[idx] = r.u64();
    return this.set(reg, cur);
  }
  get(reg: Register): bigint {
    const { idx, width, shift } = regInfo(reg);
    return (this.regs[idx]! >> BigInt(shift)) & mask(width);
  }
  /** The seeded data-area pattern of this case. */
  mem(): Uint8Array {
    return (this.#mem ??= seededBytes(this.seed, DATA_SIZE));
  }
  /** Reads `bytes` bytes (little-endian) of the initial data area at absolute `addr`. */
  memRead(addr: bigint, bytes: number): bigint {
    const m = this.mem();
    const off = Number(addr - DATA_BASE);
    let v = 0n;
    for (let i = bytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(m[off + i]!);
    return v;
  }
  /** Makes this an x87 case (its x87 state is loaded and recorded); starts from FINIT state. */
  useX87(): X87State {
    return (this.x87 ??= x87Init());
  }
  useSse(r: Rng): SseState {
    if (!this.sse) {
      void r;
      this.sse = { xmm: DEFAULT_XMM.slice(), mxcsr: 0x1f80 };
    }
    return this.sse;
  }
}

/** A random address in the data area, `size` bytes fitting, aligned to `align`. */
export function dataAddr(
  r: Rng,
  size: number,
  align = 1,
  lo = 0x100,
  hi = DATA_SIZE - 0x100,
): bigint {
  const a = r.range(lo, hi - size);
  return DATA_BASE + BigInt(a - (a % align));
}

/** [base + disp] memory operand. */
export function mem(base: Register, disp = 0, index = Register.None, scale = 1): MemoryOperand {
  const ds = disp === 0 ? 0 : disp >= -128 && disp <= 127 ? 1 : 8;
  return new MemoryOperand(base, index, scale, BigInt(disp), ds, false, Register.None);
}

/**
 * Sets a random base register (not `exclude`, not rsp) so that [base+disp] = addr; returns the
 * memory operand. disp is small random (or 0).
 */
export function memAt(r: Rng, st: St, addr: bigint, exclude: number[] = []): MemoryOperand {
  return memAtF(r, st, addr, exclude)();
}

/**
 * Like memAt but returns a factory: iced consumes a MemoryOperand when an instruction is created
 * from it, so an operand used by several instructions needs a fresh object each time.
 */
export function memAtF(r: Rng, st: St, addr: bigint, exclude: number[] = []): () => MemoryOperand {
  const [b] = pickRegs(r, 64, 1, { exclude });
  const disp = r.pick([0, 0, r.range(-128, 127), r.range(-0x800, 0x800)]);
  st.setIdx(regInfo(b!).idx, addr - BigInt(disp));
  return () => mem(b!, disp);
}

// ---------------------------------------------------------------------------------------------
// Flags bookkeeping

/** iced RflagsBits -> RFLAGS bit positions */
export function icedToRf(b: number): number {
  let f = 0;
  if (b & 1) f |= OF;
  if (b & 2) f |= SF;
  if (b & 4) f |= ZF;
  if (b & 8) f |= AF;
  if (b & 16) f |= CF;
  if (b & 32) f |= PF;
  if (b & 64) f |= DF;
  return f;
}

/**
 * Per-instruction flag rule for the case. `undef`: RFLAGS bits left undefined by this instruction
 * with these operands; `modified`: bits it (re)defines or makes undefined. Omitted fields fall
 * back to iced's static per-instruction information.
 */
export interface FlagRule {
  undef?: number;
  modified?: number;
}

export interface CaseDef {
  form: string;
  instrs: Instruction[];
  st: St;
  /** flag rule per instruction index (sparse) */
  rules?: Map<number, FlagRule> | Record<number, FlagRule>;
  /** registers whose final value is undefined (only if the instruction producing it completed) */
  undefinedRegs?: { after: number; regs: GprName[] }[];
  /** x87 cases: comparison tolerance recorded in the fixture (see X87Tolerance). */
  x87Tolerance?: X87Tolerance;
}

/**
 * Tolerance of an x87 case whose result comes from a transcendental instruction, which the
 * hardware does not round correctly: the listed ST registers may differ by up to `ulps` units in
 * the last place of their 64-bit significand (same sign, same class), FSW bits in `fsw_ignore`
 * (C1: "rounded up") are not compared, and the listed memory ranges may differ in their last
 * `ulps` binary digits (stored results).
 */
export interface X87Tolerance {
  ulps: number;
  st: number[];
  fsw_ignore: string;
}

export interface Built {
  id: string;
  family: string;
  code: Uint8Array;
  asm: string;
  offsets: number[]; // start offset of every instruction, plus the end offset
  st: St;
  undefAfter: number[]; // undefined RFLAGS bits after instruction i (i = -1 -> before: index 0)
  undefinedRegs: { after: number; regs: GprName[] }[];
  x87Tolerance?: X87Tolerance;
}

const encoder = new Encoder(64);
const formatter = new Formatter(FormatterSyntax.Intel);
formatter.hexPrefix = "0x";
formatter.hexSuffix = "";
formatter.uppercaseHex = false;
formatter.spaceAfterOperandSeparator = false;

/** Encodes and checks a case; throws on encoding errors (callers retry with new operands). */
export function build(family: string, def: CaseDef, counter: Map<string, number>): Built {
  const bytes: number[] = [];
  const offsets: number[] = [];
  const asm: string[] = [];
  let ip = CODE_BASE;
  let tail: Uint8Array;
  for (const ins of def.instrs) {
    ins.ip = ip;
    let n: number;
    try {
      n = encoder.encode(ins, ip);
    } finally {
      tail = encoder.takeBuffer(); // also drops bytes left behind by a failed encode
    }
    const b = tail.subarray(tail.length - n);
    offsets.push(bytes.length);
    bytes.push(...b);
    asm.push(formatter.format(ins));
    ip += BigInt(n);
  }
  offsets.push(bytes.length);
  const rules = def.rules instanceof Map ? def.rules : new Map(
    Object.entries(def.rules ?? {}).map(([k, v]) => [Number(k), v] as [number, FlagRule]),
  );
  const undefAfter: number[] = [];
  let undef = 0;
  def.instrs.forEach((ins, i) => {
    const read = icedToRf(ins.rflagsRead);
    if (read & undef) {
      throw new Error(
        `${def.form}: instruction ${i} reads undefined flags 0x${undef.toString(16)}`,
      );
    }
    const rule = rules.get(i) ?? {};
    const u = rule.undef ?? icedToRf(ins.rflagsUndefined);
    const m = rule.modified ?? icedToRf(ins.rflagsModified);
    undef = (undef & ~m) | u;
    undefAfter.push(undef);
  });
  const n = (counter.get(def.form) ?? 0) + 1;
  counter.set(def.form, n);
  return {
    id: `${def.form}#${n}`,
    family,
    code: new Uint8Array(bytes),
    asm: asm.join("; "),
    offsets,
    st: def.st,
    undefAfter,
    undefinedRegs: def.undefinedRegs ?? [],
    ...(def.x87Tolerance ? { x87Tolerance: def.x87Tolerance } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Runner protocol

const IN_HDR = 416, OUT_HDR = 440, X87_IMG = 512;
/** in_hdr.flags bit: a 512-byte FXSAVE64 image follows the header, and one follows out_hdr. */
const FLAG_X87 = 1;

/** x87 part of an FXSAVE64 image (rest zero; MXCSR as given). */
export function x87Image(x: X87State, mxcsr: number): Uint8Array {
  const img = new Uint8Array(X87_IMG);
  const dv = new DataView(img.buffer);
  dv.setUint16(0, x.fcw, true);
  dv.setUint16(2, x.fsw, true);
  img[4] = x.ftw;
  dv.setUint32(24, mxcsr, true);
  for (let i = 0; i < 8; i++) {
    dv.setBigUint64(32 + 16 * i, x.st[i]! & M64, true);
    dv.setUint16(40 + 16 * i, Number(x.st[i]! >> 64n) & 0xffff, true);
  }
  return img;
}

/** x87 fields of an FXSAVE64 image. */
export interface X87Out extends X87State {
  fop: number;
  fip: bigint;
  fdp: bigint;
}

export function parseX87Image(img: Uint8Array): X87Out {
  const dv = new DataView(img.buffer, img.byteOffset, img.byteLength);
  const st: bigint[] = [];
  for (let i = 0; i < 8; i++) {
    st.push(
      (BigInt(dv.getUint16(40 + 16 * i, true)) << 64n) | dv.getBigUint64(32 + 16 * i, true),
    );
  }
  return {
    fcw: dv.getUint16(0, true),
    fsw: dv.getUint16(2, true),
    ftw: img[4]!,
    fop: dv.getUint16(6, true),
    fip: dv.getBigUint64(8, true),
    fdp: dv.getBigUint64(16, true),
    st,
  };
}

export interface RunResult {
  signal: number;
  siCode: number;
  trapno: number;
  err: bigint;
  faultAddr: bigint;
  rip: bigint;
  gpr: bigint[];
  rflags: bigint;
  mxcsr: number;
  xmm: bigint[];
  x87: X87Out | null;
  data: Uint8Array;
}

function encodeInput(cases: Built[]): Uint8Array {
  let total = 4;
  for (const c of cases) total += IN_HDR + (c.st.x87 ? X87_IMG : 0) + c.code.length;
  const buf = new Uint8Array(total);
  const dv = new DataView(buf.buffer);
  let o = 0;
  for (const c of cases) {
    dv.setUint32(o, 0x45534143, true);
    dv.setUint32(o + 4, c.st.seed >>> 0, true);
    dv.setUint32(o + 8, c.code.length, true);
    dv.setUint32(o + 12, c.st.x87 ? FLAG_X87 : 0, true);
    for (let i = 0; i < 16; i++) dv.setBigUint64(o + 16 + 8 * i, c.st.regs[i]!, true);
    dv.setBigUint64(o + 144, BigInt(c.st.rflags | 0x202), true);
    dv.setUint32(o + 152, c.st.sse?.mxcsr ?? 0x1f80, true);
    for (let i = 0; i < 16; i++) {
      const x = c.st.sse?.xmm[i] ?? 0n;
      dv.setBigUint64(o + 160 + 16 * i, x & M64, true);
      dv.setBigUint64(o + 168 + 16 * i, x >> 64n, true);
    }
    o += IN_HDR;
    if (c.st.x87) {
      buf.set(x87Image(c.st.x87, c.st.sse?.mxcsr ?? 0x1f80), o);
      o += X87_IMG;
    }
    buf.set(c.code, o);
    o += c.code.length;
  }
  dv.setUint32(o, 0x20444e45, true);
  return buf;
}

function decodeOutput(buf: Uint8Array, cases: Built[]): RunResult[] {
  const n = cases.length;
  let size = 0;
  for (const c of cases) size += OUT_HDR + (c.st.x87 ? X87_IMG : 0) + DATA_SIZE;
  if (buf.length !== size) {
    throw new Error(`runner output ${buf.length} bytes, expected ${size}`);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: RunResult[] = [];
  let o = 0;
  for (let k = 0; k < n; k++) {
    const x87Len = cases[k]!.st.x87 ? X87_IMG : 0;
    const rec = OUT_HDR + x87Len + DATA_SIZE;
    if (dv.getUint32(o, true) !== 0x544c5352) throw new Error("bad runner output magic");
    const gpr: bigint[] = [];
    for (let i = 0; i < 16; i++) gpr.push(dv.getBigUint64(o + 40 + 8 * i, true));
    const xmm: bigint[] = [];
    for (let i = 0; i < 16; i++) {
      xmm.push(
        (dv.getBigUint64(o + 192 + 16 * i, true) << 64n) | dv.getBigUint64(o + 184 + 16 * i, true),
      );
    }
    out.push({
      signal: dv.getUint32(o + 4, true),
      siCode: dv.getInt32(o + 8, true),
      trapno: dv.getUint32(o + 12, true),
      err: dv.getBigUint64(o + 16, true),
      faultAddr: dv.getBigUint64(o + 24, true),
      rip: dv.getBigUint64(o + 32, true),
      gpr,
      rflags: dv.getBigUint64(o + 168, true),
      mxcsr: dv.getUint32(o + 176, true),
      xmm,
      x87: x87Len ? parseX87Image(buf.slice(o + OUT_HDR, o + OUT_HDR + X87_IMG)) : null,
      data: buf.slice(o + OUT_HDR + x87Len, o + rec),
    });
    o += rec;
  }
  return out;
}

/** Runs the cases through the native runner (one process per call). */
export async function runCases(runner: string, cases: Built[]): Promise<RunResult[]> {
  const child = new Deno.Command(runner, { stdin: "piped", stdout: "piped", stderr: "inherit" })
    .spawn();
  const input = encodeInput(cases);
  const writer = child.stdin.getWriter();
  const writing = (async () => {
    await writer.write(input);
    await writer.close();
  })();
  const [out] = await Promise.all([child.output(), writing]);
  if (!out.success) throw new Error(`runner exited with ${out.code}`);
  return decodeOutput(out.stdout, cases);
}

// ---------------------------------------------------------------------------------------------
// JSON line

const SIGNAMES: Record<number, string> = {
  4: "SIGILL",
  5: "SIGTRAP",
  7: "SIGBUS",
  8: "SIGFPE",
  11: "SIGSEGV",
  14: "SIGALRM",
};

const h = (v: bigint | number) => "0x" + v.toString(16);
const h64 = (v: bigint) => "0x" + v.toString(16).padStart(16, "0");
const h128 = (v: bigint) => "0x" + v.toString(16).padStart(32, "0");
const h80 = (v: bigint) => "0x" + v.toString(16).padStart(20, "0");

function x87Json(x: X87State | X87Out): Record<string, unknown> {
  const o: Record<string, unknown> = { fcw: h(x.fcw), fsw: h(x.fsw), ftw: h(x.ftw) };
  if ("fop" in x) {
    o.fop = h(x.fop);
    o.fip = h(x.fip);
    o.fdp = h(x.fdp);
  }
  o.st = x.st.map(h80);
  return o;
}

function memRuns(before: Uint8Array, after: Uint8Array): [string, string][] {
  const runs: [string, string][] = [];
  let i = 0;
  while (i < before.length) {
    if (before[i] === after[i]) {
      i++;
      continue;
    }
    const start = i;
    let s = "";
    while (i < before.length && before[i] !== after[i]) {
      s += after[i]!.toString(16).padStart(2, "0");
      i++;
    }
    runs.push([h(DATA_BASE + BigInt(start)), s]);
  }
  return runs;
}

const regsJson = (g: bigint[]) => Object.fromEntries(GPR_NAMES.map((n, i) => [n, h64(g[i]!)]));

/** The keys of a fixture line that the generator alone decides (the case and its inputs). */
export function inputJson(b: Built): Record<string, unknown> {
  const st = b.st;
  const o: Record<string, unknown> = {
    id: b.id,
    family: b.family,
    bits: 64,
    code: Array.from(b.code, (x) => x.toString(16).padStart(2, "0")).join(""),
    asm: b.asm,
    seed: st.seed >>> 0,
    code_base: h(CODE_BASE),
    regs_in: regsJson(st.regs),
    rflags_in: h(st.rflags | 0x202),
  };
  if (st.sse) {
    o.xmm_in = Object.fromEntries(st.sse.xmm.map((x, i) => [`xmm${i}`, h128(x)]));
    o.mxcsr_in = h(st.sse.mxcsr);
  }
  if (st.x87) o.x87_in = x87Json(st.x87);
  return o;
}

export function toJsonLine(b: Built, res: RunResult): string {
  const st = b.st;
  let completed = b.undefAfter.length; // number of instructions that completed
  let fault: Record<string, unknown> | null = null;
  if (res.signal !== 0) {
    if (res.signal === 14) throw new Error(`${b.id}: timed out`);
    const off = Number(res.rip - CODE_BASE);
    const idx = b.offsets.indexOf(off);
    if (idx < 0 || idx >= b.undefAfter.length) {
      throw new Error(
        `${b.id}: fault at unexpected rip ${h(res.rip)} sig ${res.signal} trap ${res.trapno} addr ${
          h(res.faultAddr)
        } code ${b.asm} regs ${st.regs.map((x) => h(x)).join(",")}`,
      );
    }
    completed = idx;
    fault = {
      vector: res.trapno,
      signal: SIGNAMES[res.signal] ?? `SIG${res.signal}`,
      si_code: res.siCode,
      addr: h(res.faultAddr),
      error_code: h(res.err),
      rip: h(res.rip),
    };
  }
  const undef = completed === 0 ? 0 : b.undefAfter[completed - 1]!;
  const rfOut = Number(res.rflags & 0xffffffffn);
  if ((rfOut & 0x202) !== 0x202 || (rfOut & 0x40100)) {
    throw new Error(`${b.id}: unexpected RFLAGS image ${h(rfOut)}`);
  }
  const undefinedRegs = [
    ...new Set(b.undefinedRegs.filter((u) => u.after < completed).flatMap((u) => u.regs)),
  ];
  const o = inputJson(b);
  o.regs_out = regsJson(res.gpr);
  o.rflags_out = h((rfOut & RECORDED) | 0x202);
  o.rip_out = h(res.rip);
  o.flags_mask = h(RECORDED & ~undef);
  o.undefined_regs = undefinedRegs;
  if (st.sse) {
    o.xmm_out = Object.fromEntries(res.xmm.map((x, i) => [`xmm${i}`, h128(x)]));
    o.mxcsr_out = h(res.mxcsr);
  }
  if (st.x87) {
    if (!res.x87) throw new Error(`${b.id}: no x87 state recorded`);
    o.x87_out = x87Json(res.x87);
    if (b.x87Tolerance) o.x87_tolerance = b.x87Tolerance;
  }
  o.mem_base = h(DATA_BASE);
  o.mem_size = DATA_SIZE;
  o.mem_writes = memRuns(st.mem(), res.data);
  o.fault = fault;
  return JSON.stringify(o);
}

// ---------------------------------------------------------------------------------------------
// Family builder

export type Gen = (r: Rng) => CaseDef | CaseDef[] | null;

/** Collects the cases of one family; `gen(n, form fn)` retries a generator on encoding errors. */
export class Family {
  readonly cases: Built[] = [];
  readonly r: Rng;
  readonly #counter = new Map<string, number>();
  /** encoding errors that made `gen` retry, by message (reported by gen.ts) */
  readonly retries = new Map<string, number>();
  /** `scale` multiplies every count passed to `gen` (per-family volume knob). */
  constructor(readonly name: string, readonly scale = 1) {
    this.r = Rng.forName(name);
  }
  add(def: CaseDef): void {
    this.cases.push(build(this.name, def, this.#counter));
  }
  /** Calls `fn` n times; each call may return one or several cases, or null to skip. */
  gen(n: number, fn: Gen): void {
    n = Math.max(1, Math.round(n * this.scale));
    for (let i = 0; i < n; i++) {
      for (let attempt = 0;; attempt++) {
        try {
          const d = fn(this.r);
          if (d === null) break;
          const defs = Array.isArray(d) ? d : [d];
          const built = defs.map((x) => build(this.name, x, this.#counter));
          this.cases.push(...built);
          break;
        } catch (e) {
          if (attempt >= 50) throw e;
          const msg = (e as Error).message ?? String(e);
          if (msg.includes("reads undefined flags")) throw e;
          const key = msg.replace(/\(.*\)/, "(...)");
          this.retries.set(key, (this.retries.get(key) ?? 0) + 1);
        }
      }
    }
  }
}

/** Looks up an iced `Code` by name, throwing if it does not exist. */
export function code(name: string): Code {
  const c = (Code as unknown as Record<string, number>)[name];
  if (c === undefined) throw new Error(`no iced Code ${name}`);
  return c as Code;
}

export const ins = Instruction;

/** Capitalized op name as used in iced Code names ("add" -> "Add"). */
export function cap(s: string): string {
  return s[0]!.toUpperCase() + s.slice(1);
}

export function fullName(reg: Register): GprName {
  return GPR_NAMES[regInfo(reg).idx]!;
}
