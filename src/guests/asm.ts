/**
 * The guest builder's assembler: a small, deterministic x86 assembler DSL on top of iced-x86's
 * encoder. Guests are written as TypeScript:
 *
 * ```ts
 * const a = new Asm({ base: 0x100000, bits: 64 });
 * const msg = a.label("msg");
 * const loop = a.label("loop");
 * a.lea(rsi, mem(msg));          // RIP-relative in 64-bit code
 * a.mov(ecx, 5);
 * a.bind(loop);
 * a.lodsb();
 * a.out(0xe9, al);
 * a.dec(ecx);
 * a.jnz(loop);                  // rel8, grown to rel32 if the target is too far
 * a.hlt();
 * a.bind(msg).asciz("hello");
 * const img = a.assemble();     // { bytes, base, end, labels, addressOf }
 * ```
 *
 * Instruction selection: the mnemonic's encodings are taken from iced's opcode table; those whose
 * operand kinds accept the written operands and that are valid in the current code size are
 * encoded, and the shortest wins (ties: lowest iced `Code`). The operand size is the one written
 * (`rax` stays 64-bit); where no operand implies a size (`push 1`, `ret`) the mode's default operand
 * size is used; a memory operand whose size is not implied must be sized (`qword(...)`).
 *
 * Layout-dependent values (labels, thunks) never change an instruction's size: immediates use the
 * widest immediate form of the operand size, memory displacements use disp32 (disp16 in 16-bit
 * addressing). Only branches to labels change size: they start short (rel8) and grow to near
 * (rel32/rel16) until the layout is stable, so the output is a pure function of the program.
 */

import { Code, CodeExt, Encoder, Instruction, type Mnemonic, OpKind, Register } from "iced-x86";
import {
  FarPtr,
  type Imm,
  Label,
  Mem,
  type Operand,
  Reg,
  type Sym,
  type Thunk,
} from "./asm/operands.ts";
import { type Form, formsOf, type KindDesc, lookupMnemonic } from "./asm/table.ts";

export * from "./asm/operands.ts";
export { type Form, formsOf, lookupMnemonic } from "./asm/table.ts";

/** Code size: 16, 32 or 64-bit. */
export type Bits = 16 | 32 | 64;

export interface AsmOptions {
  /** Address of the first byte of the image (a safe integer). */
  base: number;
  /** Initial code size, default 64. */
  bits?: Bits;
}

/** A value for `db`/`dw`/`dd`/`dq`: a number, a bigint, a label (its address) or a thunk. */
export type DataValue = number | bigint | Label | Thunk;

/** The assembled image. */
export interface AsmImage {
  /** The image bytes; `bytes[0]` is at address `base`. */
  readonly bytes: Uint8Array;
  readonly base: number;
  /** `base + bytes.length`. */
  readonly end: number;
  /** Addresses of all named labels. */
  readonly labels: Map<string, number>;
  /** Address of a label (object or name). */
  addressOf(label: Label | string): number;
  /** A human-readable listing: address, bytes and source text of every instruction and datum. */
  listing(): string;
}

// ---------------------------------------------------------------------------------------------
// Internal representation

type Shape =
  | { t: "reg"; reg: Reg }
  | { t: "mem"; mem: Mem; rip: boolean; addrBits: Bits }
  | { t: "imm"; value: bigint | undefined; src: Imm }
  | { t: "far"; far: FarPtr; offset: bigint | undefined };

type RepKind = "rep" | "repe" | "repne";

interface Prefixes {
  rep: RepKind | undefined;
  lock: boolean;
}

interface Choice {
  form: Form;
  size: number;
}

interface InsnItem {
  k: "insn";
  form: Form;
  shapes: Shape[];
  bits: Bits;
  size: number;
  pre: Prefixes;
  name: string;
  ops: Operand[];
  where: string;
}

interface BranchItem {
  k: "branch";
  short: Choice | undefined;
  near: Choice | undefined;
  long: boolean;
  target: Label | bigint;
  shapes: Shape[];
  bits: Bits;
  pre: Prefixes;
  name: string;
  ops: Operand[];
  where: string;
}

type Item =
  | { k: "label"; label: Label }
  | InsnItem
  | BranchItem
  | { k: "data"; width: 1 | 2 | 4 | 8; values: DataValue[]; where: string }
  | { k: "bytes"; bytes: Uint8Array; text: string }
  | { k: "align"; n: number; fill: number }
  | { k: "org"; addr: number; fill: number; where: string };

type Selection =
  | { kind: "insn"; choice: Choice }
  | { kind: "branch"; short: Choice | undefined; near: Choice | undefined };

// ---------------------------------------------------------------------------------------------
// Helpers

const ENCODERS = new Map<Bits, Encoder>();

function encoder(bits: Bits): Encoder {
  let e = ENCODERS.get(bits);
  if (!e) ENCODERS.set(bits, e = new Encoder(bits));
  return e;
}

const SELECTION_CACHE = new Map<string, Selection>();
const SELECTION_CACHE_MAX = 50_000;

function hex(v: number | bigint): string {
  return v < 0 ? `-0x${(-BigInt(v)).toString(16)}` : `0x${v.toString(16)}`;
}

function opText(o: Operand): string {
  if (typeof o === "number" || typeof o === "bigint") {
    return (o >= 0 && o < 10) ? String(o) : hex(o);
  }
  if (typeof o === "function") return "<thunk>";
  return String(o);
}

function insnText(name: string, ops: readonly Operand[]): string {
  return ops.length === 0 ? name : `${name} ${ops.map(opText).join(", ")}`;
}

function toBig(v: number | bigint, what: string): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v !== "number" || !Number.isSafeInteger(v)) {
    throw new Error(`asm: ${what} must be an integer (or a bigint beyond 2^53), got ${String(v)}`);
  }
  return BigInt(v);
}

function fitsImm(kd: KindDesc & { t: "imm" }, v: bigint): boolean {
  if (kd.one) return v === 1n;
  if (kd.sex !== undefined) {
    const w = BigInt(kd.sex);
    if (v < -(1n << (w - 1n)) || v >= (1n << w)) return false;
    const s = BigInt.asIntN(kd.sex, v);
    const lim = 1n << BigInt(kd.bits - 1);
    return s >= -lim && s < lim;
  }
  const b = BigInt(kd.bits);
  return v >= -(1n << (b - 1n)) && v < (1n << b);
}

function immKindName(kd: KindDesc & { t: "imm" }): string {
  if (kd.one) return "constant 1";
  return kd.sex !== undefined ? `imm${kd.bits} (sign-extended to ${kd.sex} bits)` : `imm${kd.bits}`;
}

/** Fit signature of a known immediate, for the selection cache key. */
function fitKey(v: bigint): string {
  const kinds: Array<KindDesc & { t: "imm" }> = [
    { t: "imm", bits: 8, one: true },
    { t: "imm", bits: 8 },
    { t: "imm", bits: 8, sex: 16 },
    { t: "imm", bits: 8, sex: 32 },
    { t: "imm", bits: 8, sex: 64 },
    { t: "imm", bits: 16 },
    { t: "imm", bits: 32 },
    { t: "imm", bits: 32, sex: 64 },
    { t: "imm", bits: 64 },
  ];
  return kinds.map((k) => (fitsImm(k, v) ? "1" : "0")).join("");
}

function immOpKind(kd: KindDesc & { t: "imm" }, second: boolean): OpKind {
  if (kd.one) return OpKind.Immediate8;
  switch (kd.bits) {
    case 8:
      if (kd.sex === 16) return OpKind.Immediate8to16;
      if (kd.sex === 32) return OpKind.Immediate8to32;
      if (kd.sex === 64) return OpKind.Immediate8to64;
      return second ? OpKind.Immediate8_2nd : OpKind.Immediate8;
    case 16:
      return OpKind.Immediate16;
    case 32:
      return kd.sex === 64 ? OpKind.Immediate32to64 : OpKind.Immediate32;
    case 64:
      return OpKind.Immediate64;
  }
}

function modeOk(f: Form, bits: Bits): boolean {
  return bits === 64 ? f.mode64 : bits === 32 ? f.mode32 : f.mode16;
}

function natural(f: Form, bits: Bits): boolean {
  return bits === 64 ? f.natural64 : bits === 32 ? f.natural32 : f.natural16;
}

function memSizeOk(f: Form, m: Mem): boolean {
  return m.size === 0 || f.memSize === 0 || f.memSize === m.size;
}

function matches(f: Form, kd: KindDesc, s: Shape, bits: Bits): boolean {
  switch (kd.t) {
    case "reg":
      return s.t === "reg" && s.reg.cls === kd.cls &&
        (kd.size === undefined || s.reg.size === kd.size) &&
        (kd.fixed === undefined || s.reg.id === kd.fixed);
    case "rm":
      if (s.t === "reg") return s.reg.cls === kd.cls && s.reg.size === kd.size;
      return s.t === "mem" && memSizeOk(f, s.mem);
    case "mem":
      if (s.t !== "mem" || !memSizeOk(f, s.mem)) return false;
      return !kd.offs || (!s.rip && s.mem.base === undefined && s.mem.index === undefined);
    case "imm":
      if (s.t !== "imm") return false;
      if (s.value === undefined) return !kd.one;
      return fitsImm(kd, s.value);
    case "br":
      return s.t === "imm" && typeof s.src !== "function" && kd.bits === bits;
    case "far":
      return s.t === "far" && kd.bits === (s.far.width ?? (bits === 16 ? 16 : 32));
    case "str":
    case "none":
      return false;
  }
}

function prefixText(pre: Prefixes): string {
  return (pre.lock ? "lock " : "") + (pre.rep ? `${pre.rep} ` : "");
}

function prefixOk(f: Form, pre: Prefixes, shapes: Shape[]): boolean {
  if (pre.rep === "repne" && !f.canRepne) return false;
  if ((pre.rep === "rep" || pre.rep === "repe") && !f.canRep) return false;
  if (pre.lock && (!f.canLock || !shapes.some((s) => s.t === "mem"))) return false;
  return true;
}

function isSym(x: unknown): x is Sym {
  return x instanceof Label || typeof x === "function";
}

// ---------------------------------------------------------------------------------------------
// The assembler

/**
 * The assembler. Every emitting method returns `this`, so calls chain. See the module doc.
 */
export class Asm {
  /** Address of the first byte. */
  readonly base: number;
  private curBits: Bits;
  private readonly items: Item[] = [];
  private readonly labels: Label[] = [];
  private readonly labelItem: Array<number | undefined> = [];
  private readonly names = new Map<string, Label>();
  private readonly refs: Label[] = [];
  private pending: Prefixes = { rep: undefined, lock: false };
  private lastLabel: Label | undefined;
  private sinceLabel = 0;
  private approxTotal = 0;
  private finalAddr: number[] | undefined;
  private laidOut = false;

  constructor(opts: AsmOptions) {
    if (!Number.isSafeInteger(opts.base) || opts.base < 0) {
      throw new Error(`asm: base must be a non-negative safe integer, got ${opts.base}`);
    }
    this.base = opts.base;
    this.curBits = opts.bits ?? 64;
    this.checkBits(this.curBits);
  }

  /** The current code size. */
  get mode(): Bits {
    return this.curBits;
  }

  /** Assemble the following code for `n`-bit mode (mode switches within one image are fine). */
  bits(n: Bits): this {
    this.checkBits(n);
    this.curBits = n;
    return this;
  }

  private checkBits(n: number): void {
    if (n !== 16 && n !== 32 && n !== 64) {
      throw new Error(`asm: bits must be 16, 32 or 64, got ${n}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Labels

  /** Creates an unbound label. Names are optional; a given name must be unique in this assembler. */
  label(name?: string): Label {
    if (name !== undefined) {
      if (name === "") throw new Error("asm: label name must not be empty");
      if (this.names.has(name)) throw new Error(`asm: duplicate label name "${name}"`);
    }
    const l = new Label(this, this.labels.length, name);
    this.labels.push(l);
    this.labelItem.push(undefined);
    if (name !== undefined) this.names.set(name, l);
    return l;
  }

  /** Binds `label` to the current address. */
  bind(label: Label): this {
    this.own(label);
    if (this.labelItem[label.id] !== undefined) {
      throw new Error(`asm: label "${label}" is bound twice`);
    }
    this.noPendingPrefix("a label");
    this.labelItem[label.id] = this.items.length;
    this.addItem({ k: "label", label });
    this.lastLabel = label;
    this.sinceLabel = 0;
    return this;
  }

  /** Creates a label and binds it here. */
  here(name?: string): Label {
    const l = this.label(name);
    this.bind(l);
    return l;
  }

  /** Finds a named label. */
  labelNamed(name: string): Label {
    const l = this.names.get(name);
    if (!l) throw new Error(`asm: no label named "${name}"`);
    return l;
  }

  /**
   * Address of a label. Available while `assemble()` evaluates thunks and afterwards (until the
   * program is changed again).
   */
  addressOf(label: Label | string): number {
    const l = typeof label === "string" ? this.labelNamed(label) : label;
    this.own(l);
    if (!this.finalAddr) {
      throw new Error(
        `asm: addressOf("${l}") is only available inside thunks evaluated by assemble() and after it`,
      );
    }
    const a = this.finalAddr[l.id];
    if (a === undefined) throw new Error(`asm: label "${l}" is used but never bound`);
    return a;
  }

  private own(l: Label): void {
    if (!(l instanceof Label) || l.owner !== this) {
      throw new Error(`asm: label "${String(l)}" belongs to another assembler`);
    }
  }

  private ref(l: Label): void {
    this.own(l);
    this.refs.push(l);
  }

  // -------------------------------------------------------------------------------------------
  // Data and layout directives

  /** Bytes (each -128..255, or label/thunk values that must fit). `Uint8Array`s are copied. */
  db(...values: Array<DataValue | Uint8Array>): this {
    for (const v of values) {
      if (v instanceof Uint8Array) this.bytes(v);
      else this.data(1, [v]);
    }
    return this;
  }

  /** 16-bit little-endian words. */
  dw(...values: DataValue[]): this {
    return this.data(2, values);
  }

  /** 32-bit little-endian dwords. */
  dd(...values: DataValue[]): this {
    return this.data(4, values);
  }

  /** 64-bit little-endian qwords. */
  dq(...values: DataValue[]): this {
    return this.data(8, values);
  }

  /** Raw bytes. */
  bytes(b: Uint8Array): this {
    this.noPendingPrefix("data");
    this.addItem({ k: "bytes", bytes: b.slice(), text: `${b.length} bytes` });
    this.advance(b.length);
    return this;
  }

  /** The UTF-8 bytes of `s` (no terminator). */
  ascii(s: string): this {
    const b = new TextEncoder().encode(s);
    this.noPendingPrefix("data");
    this.addItem({ k: "bytes", bytes: b, text: `ascii ${JSON.stringify(s)}` });
    this.advance(b.length);
    return this;
  }

  /** The UTF-8 bytes of `s` followed by a NUL byte. */
  asciz(s: string): this {
    const e = new TextEncoder().encode(s);
    const b = new Uint8Array(e.length + 1);
    b.set(e);
    this.noPendingPrefix("data");
    this.addItem({ k: "bytes", bytes: b, text: `asciz ${JSON.stringify(s)}` });
    this.advance(b.length);
    return this;
  }

  /** Pads with `fill` (default 0) up to the next address that is a multiple of `n`. */
  align(n: number, fill = 0): this {
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`asm: align(${n}): must be > 0`);
    this.checkByte(fill, "align fill");
    this.noPendingPrefix("align");
    this.addItem({ k: "align", n, fill });
    return this;
  }

  /** `n` bytes of `fill` (default 0). */
  space(n: number, fill = 0): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`asm: space(${n}): must be >= 0`);
    this.checkByte(fill, "space fill");
    this.noPendingPrefix("space");
    this.addItem({ k: "bytes", bytes: new Uint8Array(n).fill(fill), text: `space ${n}` });
    this.advance(n);
    return this;
  }

  /** Pads with `fill` up to absolute address `addr`; throws at assembly if already past it. */
  org(addr: number, fill = 0): this {
    if (!Number.isSafeInteger(addr) || addr < this.base) {
      throw new Error(`asm: org(${hex(addr)}) is below the image base ${hex(this.base)}`);
    }
    this.checkByte(fill, "org fill");
    this.noPendingPrefix("org");
    this.addItem({ k: "org", addr, fill, where: this.where() });
    return this;
  }

  private checkByte(v: number, what: string): void {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new Error(`asm: ${what} must be 0..255`);
  }

  private data(width: 1 | 2 | 4 | 8, values: DataValue[]): this {
    this.noPendingPrefix("data");
    for (const v of values) {
      if (v instanceof Label) this.ref(v);
      else if (typeof v === "number" || typeof v === "bigint") checkData(width, toBig(v, "data"));
      else if (typeof v !== "function") throw new Error(`asm: invalid data value ${String(v)}`);
    }
    this.addItem({ k: "data", width, values: values.slice(), where: this.where() });
    this.advance(width * values.length);
    return this;
  }

  // -------------------------------------------------------------------------------------------
  // Prefixes

  /** `rep` prefix for the next (string) instruction. */
  rep(): this {
    return this.setRep("rep");
  }
  /** `repe`/`repz` prefix for the next instruction. */
  repe(): this {
    return this.setRep("repe");
  }
  /** Alias of `repe`. */
  repz(): this {
    return this.setRep("repe");
  }
  /** `repne`/`repnz` prefix for the next instruction. */
  repne(): this {
    return this.setRep("repne");
  }
  /** Alias of `repne`. */
  repnz(): this {
    return this.setRep("repne");
  }
  /** `lock` prefix for the next instruction. */
  lock(): this {
    this.pending = { ...this.pending, lock: true };
    return this;
  }

  private setRep(r: RepKind): this {
    if (this.pending.rep) throw new Error(`asm: two rep prefixes (${this.pending.rep}, ${r})`);
    this.pending = { ...this.pending, rep: r };
    return this;
  }

  private takePrefixes(): Prefixes {
    const p = this.pending;
    this.pending = { rep: undefined, lock: false };
    return p;
  }

  private noPendingPrefix(what: string): void {
    if (this.pending.rep || this.pending.lock) {
      this.pending = { rep: undefined, lock: false };
      throw new Error(`asm: a prefix must be followed by an instruction, not ${what}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Instructions

  /**
   * Any instruction by mnemonic (case-insensitive; also `jz`-style aliases and size suffixes like
   * `retfq`). A mnemonic may start with prefixes: `"rep stosq"`, `"lock xadd"`.
   */
  i(mnemonic: string, ...ops: Operand[]): this {
    let name = mnemonic.trim().toLowerCase();
    for (;;) {
      const m = /^(rep|repe|repz|repne|repnz|lock)\s+(.*)$/.exec(name);
      if (!m) break;
      if (m[1] === "lock") this.lock();
      else this.setRep(m[1] === "rep" ? "rep" : m[1].startsWith("repn") ? "repne" : "repe");
      name = m[2];
    }
    const pre = this.takePrefixes();
    const where = this.where();
    const ref = lookupMnemonic(name);
    if (!ref) throw new Error(`asm: unknown mnemonic "${name}" at ${where}`);
    const bits = this.curBits;
    const text = prefixText(pre) + name;
    const mark = this.refs.length;
    try {
      const shapes = ops.map((o) => this.shape(o, bits, text, ops, where));
      const sel = this.select(ref.mnemonic, ref.opSize, text, shapes, ops, bits, pre, where);
      this.place(sel, text, shapes, ops, bits, pre, where);
    } catch (e) {
      this.refs.length = mark; // a rejected instruction references nothing
      throw e;
    }
    return this;
  }

  /** Emits a specific iced `Code` (no selection); the operands must fit its operand kinds. */
  emitCode(code: Code, ...ops: Operand[]): this {
    const pre = this.takePrefixes();
    const where = this.where();
    const oc = CodeExt.opCode(code);
    const mnemonic = oc.mnemonic;
    oc.free();
    const form = formsOf(mnemonic).find((f) => f.code === code);
    const name = prefixText(pre) + (Code[code] ?? String(code));
    if (!form) throw new Error(`asm: iced code ${name} is not supported by this assembler`);
    const bits = this.curBits;
    const mark = this.refs.length;
    try {
      this.emitForm(form, name, ops, bits, pre, where);
    } catch (e) {
      this.refs.length = mark;
      throw e;
    }
    return this;
  }

  private emitForm(
    form: Form,
    name: string,
    ops: Operand[],
    bits: Bits,
    pre: Prefixes,
    where: string,
  ): void {
    const shapes = ops.map((o) => this.shape(o, bits, name, ops, where));
    if (
      !modeOk(form, bits) || form.userOps.length !== shapes.length ||
      !form.userOps.every((ki, j) => matches(form, form.kinds[ki], shapes[j], bits))
    ) {
      throw new Error(
        `asm: operands ${
          insnText("", ops).trim()
        } do not fit ${name} in ${bits}-bit mode at ${where}`,
      );
    }
    this.checkPrefixes(form, pre, shapes, name, ops, where);
    const size = this.sizeOf(form, shapes, bits, pre, name, ops, where);
    const choice = { form, size };
    const sel: Selection = form.branchOp >= 0
      ? (form.kinds[form.branchOp] as KindDesc & { t: "br" }).short
        ? { kind: "branch", short: choice, near: undefined }
        : { kind: "branch", short: undefined, near: choice }
      : { kind: "insn", choice };
    this.place(sel, name, shapes, ops, bits, pre, where);
  }

  private place(
    sel: Selection,
    name: string,
    shapes: Shape[],
    ops: Operand[],
    bits: Bits,
    pre: Prefixes,
    where: string,
  ): void {
    if (sel.kind === "insn") {
      this.addItem({
        k: "insn",
        form: sel.choice.form,
        shapes,
        bits,
        size: sel.choice.size,
        pre,
        name,
        ops,
        where,
      });
      this.advance(sel.choice.size);
    } else {
      const s = shapes[0];
      if (shapes.length !== 1 || s.t !== "imm") throw new Error("asm: internal: bad branch shape");
      const target = s.src instanceof Label ? s.src : s.value!;
      const item: BranchItem = {
        k: "branch",
        short: sel.short,
        near: sel.near,
        long: sel.short === undefined,
        target,
        shapes,
        bits,
        pre,
        name,
        ops,
        where,
      };
      this.addItem(item);
      this.advance((sel.short ?? sel.near)!.size);
    }
  }

  private shape(o: Operand, bits: Bits, name: string, ops: Operand[], where: string): Shape {
    if (o instanceof Reg) return { t: "reg", reg: o };
    if (o instanceof Mem) {
      if (o.sym instanceof Label) this.ref(o.sym);
      const regs = [o.base, o.index].filter((r): r is Reg => r !== undefined);
      let addrBits: Bits = bits;
      let rip = false;
      if (o.addressing === "rip") {
        if (bits !== 64) {
          throw new Error(
            `asm: RIP-relative addressing needs 64-bit code in ${insnText(name, ops)} at ${where}`,
          );
        }
        rip = true;
      } else if (regs.length > 0) {
        const sizes = new Set(regs.map((r) => r.size));
        if (sizes.size > 1) {
          throw new Error(`asm: mixed base/index register sizes in ${o} at ${where}`);
        }
        const sz = regs[0].size;
        if (sz === 1) throw new Error(`asm: 8-bit registers cannot address memory (${o})`);
        addrBits = (sz * 8) as Bits;
      } else if (o.addressing === "auto" && bits === 64 && o.sym !== undefined) {
        rip = true;
      }
      return { t: "mem", mem: o, rip, addrBits: rip ? 64 : addrBits };
    }
    if (o instanceof FarPtr) {
      const off = o.offset;
      if (off instanceof Label) this.ref(off);
      return {
        t: "far",
        far: o,
        offset: isSym(off) ? undefined : toBig(off, "far pointer offset"),
      };
    }
    if (o instanceof Label) {
      this.ref(o);
      return { t: "imm", value: undefined, src: o };
    }
    if (typeof o === "function") return { t: "imm", value: undefined, src: o };
    if (typeof o === "number" || typeof o === "bigint") {
      return { t: "imm", value: toBig(o, "immediate"), src: o };
    }
    throw new Error(`asm: invalid operand ${String(o)} in ${name} at ${where}`);
  }

  private shapeKey(s: Shape): string {
    switch (s.t) {
      case "reg":
        return `r${s.reg.name}`;
      case "mem": {
        const m = s.mem;
        return `m${m.size},${m.base?.name},${m.index?.name},${m.scale},${m.seg?.name},${s.rip},${s.addrBits},${
          m.sym === undefined ? m.disp : "s"
        }`;
      }
      case "imm":
        return s.value === undefined
          ? (s.src instanceof Label ? "iL" : "iT")
          : `i${fitKey(s.value)}`;
      case "far":
        return `f${s.far.width}`;
    }
  }

  private select(
    mnemonic: Mnemonic,
    opSize: number | undefined,
    name: string,
    shapes: Shape[],
    ops: Operand[],
    bits: Bits,
    pre: Prefixes,
    where: string,
  ): Selection {
    const key = `${mnemonic}|${opSize}|${bits}|${pre.rep}|${pre.lock}|${
      shapes.map((s) => this.shapeKey(s)).join("|")
    }`;
    const cached = SELECTION_CACHE.get(key);
    if (cached) return cached;

    const text = insnText(name, ops);
    let cands = formsOf(mnemonic).filter((f) =>
      modeOk(f, bits) && f.userOps.length === shapes.length &&
      (opSize === undefined || f.opSize === opSize) &&
      f.userOps.every((ki, j) => matches(f, f.kinds[ki], shapes[j], bits))
    );
    if (cands.length === 0) {
      throw new Error(`asm: no encoding for ${text} in ${bits}-bit mode at ${where}`);
    }
    // No operand carries a size: use the mode's default operand size (push 1, ret, retf, nop).
    const sized = shapes.some((s) => s.t === "mem" || (s.t === "reg" && s.reg.cls !== "seg"));
    if (!sized && opSize === undefined) {
      const nat = cands.filter((f) => natural(f, bits));
      if (nat.length > 0) cands = nat;
    }
    // An unsized memory operand must not leave the operand size open.
    shapes.forEach((s) => {
      if (s.t !== "mem" || s.mem.size !== 0) return;
      const sizes = [...new Set(cands.map((f) => f.memSize).filter((n) => n !== 0))].sort((x, y) =>
        x - y
      );
      if (sizes.length > 1) {
        throw new Error(
          `asm: ambiguous operand size in ${text} at ${where}: the memory operand could be ${
            sizes.join("/")
          } bytes; use byte()/word()/dword()/qword()/... to size it`,
        );
      }
    });
    // Layout-dependent immediates: use the widest immediate the form offers, so the instruction's
    // size never depends on the value.
    shapes.forEach((s, j) => {
      if (s.t !== "imm" || s.value !== undefined) return;
      const width = (f: Form): number => {
        const kd = f.kinds[f.userOps[j]];
        return kd.t === "imm" ? kd.bits : 0;
      };
      const max = Math.max(...cands.map(width));
      cands = cands.filter((f) => width(f) === max);
    });
    if (pre.rep !== undefined || pre.lock) {
      const ok = cands.filter((f) => prefixOk(f, pre, shapes));
      if (ok.length === 0) this.checkPrefixes(cands[0], pre, shapes, name, ops, where);
      cands = ok;
    }

    const isBranch = cands.some((f) => f.branchOp >= 0);
    let result: Selection;
    if (isBranch) {
      const best = (list: Form[]): Choice | undefined =>
        this.best(list, shapes, bits, pre, text, where);
      const shortForms = cands.filter((f) =>
        f.branchOp >= 0 && (f.kinds[f.branchOp] as KindDesc & { t: "br" }).short
      );
      const nearForms = cands.filter((f) =>
        f.branchOp >= 0 && !(f.kinds[f.branchOp] as KindDesc & { t: "br" }).short
      );
      result = { kind: "branch", short: best(shortForms), near: best(nearForms) };
      if (!result.short && !result.near) {
        throw new Error(`asm: no encoding for ${text} in ${bits}-bit mode at ${where}`);
      }
    } else {
      const choice = this.best(cands, shapes, bits, pre, text, where);
      if (!choice) throw new Error(`asm: no encoding for ${text} in ${bits}-bit mode at ${where}`);
      result = { kind: "insn", choice };
    }
    if (SELECTION_CACHE.size >= SELECTION_CACHE_MAX) SELECTION_CACHE.clear();
    SELECTION_CACHE.set(key, result);
    return result;
  }

  /** The shortest encodable form (ties: lowest Code). Throws iced's reason if none encodes. */
  private best(
    forms: Form[],
    shapes: Shape[],
    bits: Bits,
    pre: Prefixes,
    text: string,
    where: string,
  ): Choice | undefined {
    if (forms.length === 0) return undefined;
    let best: Choice | undefined;
    let lastErr = "";
    for (const f of forms) {
      let size: number;
      try {
        size = encodeOne(f, shapes, bits, pre, 0, undefined).length;
      } catch (e) {
        lastErr = e instanceof Error ? e.message : String(e);
        continue;
      }
      if (!best || size < best.size || (size === best.size && f.code < best.form.code)) {
        best = { form: f, size };
      }
    }
    if (!best) {
      throw new Error(`asm: cannot encode ${text} in ${bits}-bit mode at ${where}: ${lastErr}`);
    }
    return best;
  }

  private sizeOf(
    form: Form,
    shapes: Shape[],
    bits: Bits,
    pre: Prefixes,
    name: string,
    ops: Operand[],
    where: string,
  ): number {
    return this.best([form], shapes, bits, pre, insnText(name, ops), where)!.size;
  }

  private checkPrefixes(
    f: Form,
    pre: Prefixes,
    shapes: Shape[],
    name: string,
    ops: Operand[],
    where: string,
  ): void {
    if (prefixOk(f, pre, shapes)) return;
    const what = [pre.lock ? "lock" : "", pre.rep ?? ""].filter((x) => x).join("/");
    throw new Error(`asm: ${insnText(name, ops)} cannot take a ${what} prefix (at ${where})`);
  }

  private addItem(item: Item): void {
    this.items.push(item);
    this.finalAddr = undefined;
    this.laidOut = false;
  }

  private advance(n: number): void {
    this.sinceLabel += n;
    this.approxTotal += n;
  }

  /** Position for messages: the last label + bytes after it (before branch relaxation). */
  private where(): string {
    return this.lastLabel
      ? `${this.lastLabel}+${hex(this.sinceLabel)}`
      : hex(this.base + this.approxTotal);
  }

  // -------------------------------------------------------------------------------------------
  // Assembly

  /**
   * Lays out and encodes the program: relaxes branches until stable, evaluates label references and
   * thunks, and returns the image. Deterministic: the same program gives the same bytes.
   */
  assemble(): AsmImage {
    if (this.pending.rep || this.pending.lock) {
      throw new Error("asm: a prefix at the end of the program is not followed by an instruction");
    }
    for (const l of this.refs) {
      if (this.labelItem[l.id] === undefined) {
        throw new Error(`asm: label "${l}" is used but never bound`);
      }
    }
    const items = this.items;
    const n = items.length;
    const itemAddr = new Array<number>(n + 1);
    const labelAddr = new Array<number>(this.labels.length);
    for (const it of items) if (it.k === "branch") it.long = it.short === undefined;

    // Relaxation: branch sizes only grow, so this terminates.
    for (let pass = 0;; pass++) {
      if (pass > n + 2) throw new Error("asm: internal: branch relaxation did not converge");
      let addr = this.base;
      for (let i = 0; i < n; i++) {
        const it = items[i];
        itemAddr[i] = addr;
        switch (it.k) {
          case "label":
            labelAddr[it.label.id] = addr;
            break;
          case "insn":
            addr += it.size;
            break;
          case "branch":
            addr += it.long ? it.near!.size : it.short!.size;
            break;
          case "data":
            addr += it.width * it.values.length;
            break;
          case "bytes":
            addr += it.bytes.length;
            break;
          case "align":
            addr += (it.n - (addr % it.n)) % it.n;
            break;
          case "org":
            if (addr > it.addr) {
              throw new Error(
                `asm: org(${hex(it.addr)}) at ${it.where} moves backwards: already at ${hex(addr)}`,
              );
            }
            addr = it.addr;
            break;
        }
        if (!Number.isSafeInteger(addr)) throw new Error("asm: image address overflow");
      }
      itemAddr[n] = addr;
      let changed = false;
      for (let i = 0; i < n; i++) {
        const it = items[i];
        if (it.k !== "branch" || it.long || !it.near) continue;
        const target = it.target instanceof Label ? labelAddr[it.target.id] : Number(it.target);
        const rel = target - (itemAddr[i] + it.short!.size);
        if (rel < -128 || rel > 127) {
          it.long = true;
          changed = true;
        }
      }
      if (!changed) break;
    }

    const end = itemAddr[n];
    this.finalAddr = labelAddr;
    try {
      return this.emitImage(items, itemAddr, labelAddr, end);
    } catch (e) {
      this.finalAddr = undefined;
      throw e;
    }
  }

  private emitImage(items: Item[], itemAddr: number[], labelAddr: number[], end: number): AsmImage {
    const n = items.length;
    const out = new Uint8Array(end - this.base);
    const dv = new DataView(out.buffer);
    const listing: string[] = [];
    const resolve = (s: Sym): bigint => {
      if (s instanceof Label) return BigInt(labelAddr[s.id]);
      const v = s();
      return toBig(v, "thunk result");
    };
    for (let i = 0; i < n; i++) {
      const it = items[i];
      const addr = itemAddr[i];
      const off = addr - this.base;
      switch (it.k) {
        case "label":
          listing.push(`${it.label}:`);
          break;
        case "insn":
        case "branch": {
          const form = it.k === "insn" ? it.form : it.long ? it.near!.form : it.short!.form;
          const size = it.k === "insn" ? it.size : it.long ? it.near!.size : it.short!.size;
          const text = insnText(it.name, it.ops);
          if (it.k === "branch" && !it.long && !it.near) {
            const target = it.target instanceof Label ? labelAddr[it.target.id] : Number(it.target);
            const rel = target - (addr + size);
            if (rel < -128 || rel > 127) {
              throw new Error(
                `asm: ${text} at ${hex(addr)} (${it.where}): target ${
                  hex(target)
                } is out of rel8 range`,
              );
            }
          }
          let bytes: Uint8Array;
          try {
            bytes = encodeOne(form, it.shapes, it.bits, it.pre, addr, resolve);
          } catch (e) {
            const msg = e instanceof Error ? e.message : String(e);
            throw new Error(
              msg.startsWith("asm:")
                ? `${msg} in ${text} at ${hex(addr)} (${it.where})`
                : `asm: cannot encode ${text} at ${hex(addr)} (${it.where}): ${msg}`,
            );
          }
          if (bytes.length !== size) {
            throw new Error(
              `asm: internal: ${text} at ${
                hex(addr)
              } encoded to ${bytes.length} bytes, expected ${size}`,
            );
          }
          out.set(bytes, off);
          listing.push(`  ${addrHex(addr)}  ${bytesHex(bytes).padEnd(30)} ${text}`);
          break;
        }
        case "data": {
          let o = off;
          for (const v of it.values) {
            let b: bigint;
            if (typeof v === "number" || typeof v === "bigint") b = toBig(v, "data");
            else b = resolve(v);
            try {
              checkData(it.width, b);
            } catch (e) {
              throw new Error(`${(e as Error).message} (at ${hex(addr)}, ${it.where})`);
            }
            if (it.width === 8) dv.setBigUint64(o, BigInt.asUintN(64, b), true);
            else if (it.width === 4) dv.setUint32(o, Number(BigInt.asUintN(32, b)), true);
            else if (it.width === 2) dv.setUint16(o, Number(BigInt.asUintN(16, b)), true);
            else out[o] = Number(BigInt.asUintN(8, b));
            o += it.width;
          }
          const dir = { 1: "db", 2: "dw", 4: "dd", 8: "dq" }[it.width];
          listing.push(
            `  ${addrHex(addr)}  ${
              bytesHex(out.subarray(off, Math.min(o, off + 10))).padEnd(30)
            } ${dir} ×${it.values.length}`,
          );
          break;
        }
        case "bytes":
          out.set(it.bytes, off);
          listing.push(
            `  ${addrHex(addr)}  ${bytesHex(it.bytes.subarray(0, 10)).padEnd(30)} ${it.text}`,
          );
          break;
        case "align":
        case "org":
          out.fill(it.fill, off, itemAddr[i + 1] - this.base);
          break;
      }
    }
    this.laidOut = true;
    const named = new Map<string, number>();
    for (const l of this.labels) {
      if (l.name !== undefined && labelAddr[l.id] !== undefined) named.set(l.name, labelAddr[l.id]);
    }
    const listingText = listing.join("\n");
    return {
      bytes: out,
      base: this.base,
      end,
      labels: named,
      addressOf: (label: Label | string): number => {
        const l = typeof label === "string" ? this.labelNamed(label) : label;
        this.own(l);
        const a = labelAddr[l.id];
        if (a === undefined) throw new Error(`asm: label "${l}" is not bound`);
        return a;
      },
      listing: () => listingText,
    };
  }

  /** True once `assemble()` ran and nothing was emitted since. */
  get assembled(): boolean {
    return this.laidOut;
  }

  // -------------------------------------------------------------------------------------------
  // Mnemonic sugar (all of these are `i(name, ...)`)

  // data movement
  mov(dst: Operand, src: Operand): this {
    return this.i("mov", dst, src);
  }
  movzx(dst: Operand, src: Operand): this {
    return this.i("movzx", dst, src);
  }
  movsx(dst: Operand, src: Operand): this {
    return this.i("movsx", dst, src);
  }
  movsxd(dst: Operand, src: Operand): this {
    return this.i("movsxd", dst, src);
  }
  lea(dst: Operand, src: Operand): this {
    return this.i("lea", dst, src);
  }
  xchg(a: Operand, b: Operand): this {
    return this.i("xchg", a, b);
  }
  xadd(dst: Operand, src: Operand): this {
    return this.i("xadd", dst, src);
  }
  cmpxchg(dst: Operand, src: Operand): this {
    return this.i("cmpxchg", dst, src);
  }
  push(src: Operand): this {
    return this.i("push", src);
  }
  pop(dst: Operand): this {
    return this.i("pop", dst);
  }
  bswap(r: Operand): this {
    return this.i("bswap", r);
  }
  // arithmetic / logic
  add(dst: Operand, src: Operand): this {
    return this.i("add", dst, src);
  }
  or(dst: Operand, src: Operand): this {
    return this.i("or", dst, src);
  }
  adc(dst: Operand, src: Operand): this {
    return this.i("adc", dst, src);
  }
  sbb(dst: Operand, src: Operand): this {
    return this.i("sbb", dst, src);
  }
  and(dst: Operand, src: Operand): this {
    return this.i("and", dst, src);
  }
  sub(dst: Operand, src: Operand): this {
    return this.i("sub", dst, src);
  }
  xor(dst: Operand, src: Operand): this {
    return this.i("xor", dst, src);
  }
  cmp(dst: Operand, src: Operand): this {
    return this.i("cmp", dst, src);
  }
  test(dst: Operand, src: Operand): this {
    return this.i("test", dst, src);
  }
  inc(dst: Operand): this {
    return this.i("inc", dst);
  }
  dec(dst: Operand): this {
    return this.i("dec", dst);
  }
  neg(dst: Operand): this {
    return this.i("neg", dst);
  }
  not(dst: Operand): this {
    return this.i("not", dst);
  }
  mul(src: Operand): this {
    return this.i("mul", src);
  }
  imul(...ops: Operand[]): this {
    return this.i("imul", ...ops);
  }
  div(src: Operand): this {
    return this.i("div", src);
  }
  idiv(src: Operand): this {
    return this.i("idiv", src);
  }
  shl(dst: Operand, count: Operand): this {
    return this.i("shl", dst, count);
  }
  shr(dst: Operand, count: Operand): this {
    return this.i("shr", dst, count);
  }
  sar(dst: Operand, count: Operand): this {
    return this.i("sar", dst, count);
  }
  sal(dst: Operand, count: Operand): this {
    return this.i("shl", dst, count);
  }
  rol(dst: Operand, count: Operand): this {
    return this.i("rol", dst, count);
  }
  ror(dst: Operand, count: Operand): this {
    return this.i("ror", dst, count);
  }
  rcl(dst: Operand, count: Operand): this {
    return this.i("rcl", dst, count);
  }
  rcr(dst: Operand, count: Operand): this {
    return this.i("rcr", dst, count);
  }
  shld(dst: Operand, src: Operand, count: Operand): this {
    return this.i("shld", dst, src, count);
  }
  shrd(dst: Operand, src: Operand, count: Operand): this {
    return this.i("shrd", dst, src, count);
  }
  bt(base: Operand, bit: Operand): this {
    return this.i("bt", base, bit);
  }
  bts(base: Operand, bit: Operand): this {
    return this.i("bts", base, bit);
  }
  btr(base: Operand, bit: Operand): this {
    return this.i("btr", base, bit);
  }
  btc(base: Operand, bit: Operand): this {
    return this.i("btc", base, bit);
  }
  bsf(dst: Operand, src: Operand): this {
    return this.i("bsf", dst, src);
  }
  bsr(dst: Operand, src: Operand): this {
    return this.i("bsr", dst, src);
  }
  cbw(): this {
    return this.i("cbw");
  }
  cwde(): this {
    return this.i("cwde");
  }
  cdqe(): this {
    return this.i("cdqe");
  }
  cwd(): this {
    return this.i("cwd");
  }
  cdq(): this {
    return this.i("cdq");
  }
  cqo(): this {
    return this.i("cqo");
  }
  // control flow
  jmp(target: Operand): this {
    return this.i("jmp", target);
  }
  call(target: Operand): this {
    return this.i("call", target);
  }
  /** `ret` / `ret imm16`. */
  ret(popBytes?: number): this {
    return popBytes === undefined ? this.i("ret") : this.i("ret", popBytes);
  }
  /** `retf` (32-bit operand size in 32/64-bit code; use `i("retfq")` for the 64-bit form). */
  retf(popBytes?: number): this {
    return popBytes === undefined ? this.i("retf") : this.i("retf", popBytes);
  }
  /** Direct far jump `jmp selector:offset` (16/32-bit code; `width` picks ptr16:16 / ptr16:32). */
  jmpFar(selector: number, offset: number | bigint | Sym, width?: 16 | 32): this {
    return this.i("jmp", new FarPtr(checkSelector(selector), offset, width));
  }
  /** Direct far call `call selector:offset` (16/32-bit code). */
  callFar(selector: number, offset: number | bigint | Sym, width?: 16 | 32): this {
    return this.i("call", new FarPtr(checkSelector(selector), offset, width));
  }
  loop(target: Operand): this {
    return this.i("loop", target);
  }
  loope(target: Operand): this {
    return this.i("loope", target);
  }
  loopne(target: Operand): this {
    return this.i("loopne", target);
  }
  jrcxz(target: Operand): this {
    return this.i("jrcxz", target);
  }
  jecxz(target: Operand): this {
    return this.i("jecxz", target);
  }
  jcxz(target: Operand): this {
    return this.i("jcxz", target);
  }
  ja(t: Operand): this {
    return this.i("ja", t);
  }
  jae(t: Operand): this {
    return this.i("jae", t);
  }
  jb(t: Operand): this {
    return this.i("jb", t);
  }
  jbe(t: Operand): this {
    return this.i("jbe", t);
  }
  jc(t: Operand): this {
    return this.i("jb", t);
  }
  je(t: Operand): this {
    return this.i("je", t);
  }
  jz(t: Operand): this {
    return this.i("je", t);
  }
  jg(t: Operand): this {
    return this.i("jg", t);
  }
  jge(t: Operand): this {
    return this.i("jge", t);
  }
  jl(t: Operand): this {
    return this.i("jl", t);
  }
  jle(t: Operand): this {
    return this.i("jle", t);
  }
  jna(t: Operand): this {
    return this.i("jbe", t);
  }
  jnae(t: Operand): this {
    return this.i("jb", t);
  }
  jnb(t: Operand): this {
    return this.i("jae", t);
  }
  jnbe(t: Operand): this {
    return this.i("ja", t);
  }
  jnc(t: Operand): this {
    return this.i("jae", t);
  }
  jne(t: Operand): this {
    return this.i("jne", t);
  }
  jnz(t: Operand): this {
    return this.i("jne", t);
  }
  jng(t: Operand): this {
    return this.i("jle", t);
  }
  jnge(t: Operand): this {
    return this.i("jl", t);
  }
  jnl(t: Operand): this {
    return this.i("jge", t);
  }
  jnle(t: Operand): this {
    return this.i("jg", t);
  }
  jno(t: Operand): this {
    return this.i("jno", t);
  }
  jnp(t: Operand): this {
    return this.i("jnp", t);
  }
  jns(t: Operand): this {
    return this.i("jns", t);
  }
  jo(t: Operand): this {
    return this.i("jo", t);
  }
  jp(t: Operand): this {
    return this.i("jp", t);
  }
  jpe(t: Operand): this {
    return this.i("jp", t);
  }
  jpo(t: Operand): this {
    return this.i("jnp", t);
  }
  js(t: Operand): this {
    return this.i("js", t);
  }
  /** `setcc r/m8` for any condition code spelling (`"e"`, `"nz"`, `"ae"`, ...). */
  setcc(cc: string, dst: Operand): this {
    return this.i(`set${cc}`, dst);
  }
  /** `cmovcc r, r/m` for any condition code spelling. */
  cmovcc(cc: string, dst: Operand, src: Operand): this {
    return this.i(`cmov${cc}`, dst, src);
  }
  /** `jcc target` for any condition code spelling. */
  jcc(cc: string, target: Operand): this {
    return this.i(`j${cc}`, target);
  }
  int(vector: Operand): this {
    return this.i("int", vector);
  }
  int3(): this {
    return this.i("int3");
  }
  iret(): this {
    return this.i("iret");
  }
  iretd(): this {
    return this.i("iretd");
  }
  iretq(): this {
    return this.i("iretq");
  }
  leave(): this {
    return this.i("leave");
  }
  syscall(): this {
    return this.i("syscall");
  }
  sysret(): this {
    return this.i("sysret");
  }
  sysretq(): this {
    return this.i("sysretq");
  }
  // flags
  pushf(): this {
    return this.i("pushf");
  }
  popf(): this {
    return this.i("popf");
  }
  pushfq(): this {
    return this.i("pushfq");
  }
  popfq(): this {
    return this.i("popfq");
  }
  pushfd(): this {
    return this.i("pushfd");
  }
  popfd(): this {
    return this.i("popfd");
  }
  cli(): this {
    return this.i("cli");
  }
  sti(): this {
    return this.i("sti");
  }
  cld(): this {
    return this.i("cld");
  }
  std(): this {
    return this.i("std");
  }
  clc(): this {
    return this.i("clc");
  }
  stc(): this {
    return this.i("stc");
  }
  cmc(): this {
    return this.i("cmc");
  }
  lahf(): this {
    return this.i("lahf");
  }
  sahf(): this {
    return this.i("sahf");
  }
  // I/O
  /** `in dst, port` (port: imm8 or dx). */
  in_(dst: Operand, port: Operand): this {
    return this.i("in", dst, port);
  }
  /** `out port, src` (port: imm8 or dx). */
  out(port: Operand, src: Operand): this {
    return this.i("out", port, src);
  }
  // system
  nop(): this {
    return this.i("nop");
  }
  hlt(): this {
    return this.i("hlt");
  }
  pause(): this {
    return this.i("pause");
  }
  ud2(): this {
    return this.i("ud2");
  }
  cpuid(): this {
    return this.i("cpuid");
  }
  rdtsc(): this {
    return this.i("rdtsc");
  }
  rdtscp(): this {
    return this.i("rdtscp");
  }
  rdmsr(): this {
    return this.i("rdmsr");
  }
  wrmsr(): this {
    return this.i("wrmsr");
  }
  rdpmc(): this {
    return this.i("rdpmc");
  }
  vmcall(): this {
    return this.i("vmcall");
  }
  vmmcall(): this {
    return this.i("vmmcall");
  }
  swapgs(): this {
    return this.i("swapgs");
  }
  wbinvd(): this {
    return this.i("wbinvd");
  }
  invd(): this {
    return this.i("invd");
  }
  clts(): this {
    return this.i("clts");
  }
  lfence(): this {
    return this.i("lfence");
  }
  sfence(): this {
    return this.i("sfence");
  }
  mfence(): this {
    return this.i("mfence");
  }
  xgetbv(): this {
    return this.i("xgetbv");
  }
  xsetbv(): this {
    return this.i("xsetbv");
  }
  lgdt(src: Operand): this {
    return this.i("lgdt", src);
  }
  lidt(src: Operand): this {
    return this.i("lidt", src);
  }
  sgdt(dst: Operand): this {
    return this.i("sgdt", dst);
  }
  sidt(dst: Operand): this {
    return this.i("sidt", dst);
  }
  lldt(src: Operand): this {
    return this.i("lldt", src);
  }
  sldt(dst: Operand): this {
    return this.i("sldt", dst);
  }
  ltr(src: Operand): this {
    return this.i("ltr", src);
  }
  str(dst: Operand): this {
    return this.i("str", dst);
  }
  invlpg(m: Operand): this {
    return this.i("invlpg", m);
  }
  clflush(m: Operand): this {
    return this.i("clflush", m);
  }
  fxsave(m: Operand): this {
    return this.i("fxsave", m);
  }
  fxrstor(m: Operand): this {
    return this.i("fxrstor", m);
  }
  fninit(): this {
    return this.i("fninit");
  }
  // string instructions (no operands; address size = code size; prefix with rep()/repe()/repne())
  movsb(): this {
    return this.i("movsb");
  }
  movsw(): this {
    return this.i("movsw");
  }
  /** String `movsd` without operands; SSE `movsd xmm, xmm/m64` with operands. */
  movsd(...ops: Operand[]): this {
    return this.i("movsd", ...ops);
  }
  movsq(): this {
    return this.i("movsq");
  }
  stosb(): this {
    return this.i("stosb");
  }
  stosw(): this {
    return this.i("stosw");
  }
  stosd(): this {
    return this.i("stosd");
  }
  stosq(): this {
    return this.i("stosq");
  }
  lodsb(): this {
    return this.i("lodsb");
  }
  lodsw(): this {
    return this.i("lodsw");
  }
  lodsd(): this {
    return this.i("lodsd");
  }
  lodsq(): this {
    return this.i("lodsq");
  }
  scasb(): this {
    return this.i("scasb");
  }
  scasw(): this {
    return this.i("scasw");
  }
  scasd(): this {
    return this.i("scasd");
  }
  scasq(): this {
    return this.i("scasq");
  }
  cmpsb(): this {
    return this.i("cmpsb");
  }
  cmpsw(): this {
    return this.i("cmpsw");
  }
  /** String `cmpsd` without operands; SSE `cmpsd xmm, xmm/m64, imm8` with operands. */
  cmpsd(...ops: Operand[]): this {
    return this.i("cmpsd", ...ops);
  }
  cmpsq(): this {
    return this.i("cmpsq");
  }
  insb(): this {
    return this.i("insb");
  }
  insw(): this {
    return this.i("insw");
  }
  insd(): this {
    return this.i("insd");
  }
  outsb(): this {
    return this.i("outsb");
  }
  outsw(): this {
    return this.i("outsw");
  }
  outsd(): this {
    return this.i("outsd");
  }
  rep_movsb(): this {
    return this.rep().movsb();
  }
  rep_movsw(): this {
    return this.rep().movsw();
  }
  rep_movsd(): this {
    return this.rep().movsd();
  }
  rep_movsq(): this {
    return this.rep().movsq();
  }
  rep_stosb(): this {
    return this.rep().stosb();
  }
  rep_stosw(): this {
    return this.rep().stosw();
  }
  rep_stosd(): this {
    return this.rep().stosd();
  }
  rep_stosq(): this {
    return this.rep().stosq();
  }
  rep_insb(): this {
    return this.rep().insb();
  }
  rep_insw(): this {
    return this.rep().insw();
  }
  rep_insd(): this {
    return this.rep().insd();
  }
  rep_outsb(): this {
    return this.rep().outsb();
  }
  rep_outsw(): this {
    return this.rep().outsw();
  }
  rep_outsd(): this {
    return this.rep().outsd();
  }
  repe_cmpsb(): this {
    return this.repe().cmpsb();
  }
  repne_scasb(): this {
    return this.repne().scasb();
  }
}

function checkSelector(sel: number): number {
  if (!Number.isInteger(sel) || sel < 0 || sel > 0xffff) {
    throw new Error(`asm: far pointer selector must be 0..0xffff, got ${sel}`);
  }
  return sel;
}

function checkData(width: number, v: bigint): void {
  const b = BigInt(width * 8);
  if (v < -(1n << (b - 1n)) || v >= (1n << b)) {
    throw new Error(`asm: data value ${hex(v)} does not fit in ${width} byte(s)`);
  }
}

function addrHex(a: number): string {
  return a.toString(16).padStart(8, "0");
}

function bytesHex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
}

// ---------------------------------------------------------------------------------------------
// Encoding one instruction

/**
 * Encodes `form` with `shapes` at `ip`. With `resolve` undefined, layout-dependent values are
 * replaced by placeholders (used to measure sizes, which never depend on them).
 */
function encodeOne(
  form: Form,
  shapes: Shape[],
  bits: Bits,
  pre: Prefixes,
  ip: number,
  resolve: ((s: Sym) => bigint) | undefined,
): Uint8Array {
  const ins = Instruction.create(form.code);
  try {
    let u = 0;
    let imms = 0;
    const addrKind = (k16: OpKind, k32: OpKind, k64: OpKind) =>
      bits === 64 ? k64 : bits === 32 ? k32 : k16;
    for (let i = 0; i < form.kinds.length; i++) {
      const kd = form.kinds[i];
      if (kd.t === "str") {
        if (kd.which === "si") {
          ins.setOpKind(i, addrKind(OpKind.MemorySegSI, OpKind.MemorySegESI, OpKind.MemorySegRSI));
        } else if (kd.which === "esdi") {
          ins.setOpKind(i, addrKind(OpKind.MemoryESDI, OpKind.MemoryESEDI, OpKind.MemoryESRDI));
        } else if (kd.which === "di") {
          ins.setOpKind(i, addrKind(OpKind.MemorySegDI, OpKind.MemorySegEDI, OpKind.MemorySegRDI));
        } else {
          ins.setOpKind(i, OpKind.Memory);
          ins.memoryBase = bits === 64 ? Register.RBX : bits === 32 ? Register.EBX : Register.BX;
          ins.memoryIndex = Register.AL;
          ins.memoryIndexScale = 1;
          ins.memoryDisplSize = 0;
        }
        continue;
      }
      if (form.userOps[u] !== i) {
        // implicit fixed register of a string instruction
        if (kd.t !== "reg" || kd.fixed === undefined) {
          throw new Error("asm: internal: bad implicit operand");
        }
        ins.setOpKind(i, OpKind.Register);
        ins.setOpRegister(i, kd.fixed);
        continue;
      }
      const s = shapes[u++];
      switch (kd.t) {
        case "reg":
        case "rm":
        case "mem":
          if (s.t === "reg") {
            ins.setOpKind(i, OpKind.Register);
            ins.setOpRegister(i, s.reg.id);
          } else if (s.t === "mem") {
            setMemory(ins, i, s, ip, resolve);
          } else {
            throw new Error("asm: internal: operand/kind mismatch");
          }
          break;
        case "imm": {
          if (s.t !== "imm") throw new Error("asm: internal: operand/kind mismatch");
          let v = s.value;
          if (v === undefined) {
            v = resolve ? resolve(s.src as Sym) : 0n;
            if (!fitsImm(kd, v)) {
              throw new Error(
                `asm: value ${hex(v)} of ${opText(s.src)} does not fit ${immKindName(kd)}`,
              );
            }
          }
          ins.setOpKind(i, immOpKind(kd, imms > 0));
          ins.setImmediateU64(i, BigInt.asUintN(64, v));
          imms++;
          break;
        }
        case "br": {
          if (s.t !== "imm") throw new Error("asm: internal: operand/kind mismatch");
          // while measuring, any in-range target will do: sizes do not depend on it
          let target = resolve ? s.value : BigInt(ip);
          if (target === undefined) target = resolve!(s.src as Sym);
          if (kd.bits === 64) {
            ins.setOpKind(i, OpKind.NearBranch64);
            ins.nearBranch64 = BigInt.asUintN(64, target);
          } else if (kd.bits === 32) {
            if (target < 0n || target > 0xffffffffn) {
              throw new Error(
                `asm: branch target ${hex(target)} is outside the 32-bit address space`,
              );
            }
            ins.setOpKind(i, OpKind.NearBranch32);
            ins.nearBranch32 = Number(target);
          } else {
            ins.setOpKind(i, OpKind.NearBranch16);
            ins.nearBranch16 = Number(target & 0xffffn);
          }
          break;
        }
        case "far": {
          if (s.t !== "far") throw new Error("asm: internal: operand/kind mismatch");
          let off = resolve ? s.offset : 0n; // sizes do not depend on the offset
          if (off === undefined) off = resolve!(s.far.offset as Sym);
          const max = kd.bits === 16 ? 0xffffn : 0xffffffffn;
          if (off < 0n || off > max) {
            throw new Error(`asm: far pointer offset ${hex(off)} does not fit ${kd.bits} bits`);
          }
          ins.setOpKind(i, kd.bits === 16 ? OpKind.FarBranch16 : OpKind.FarBranch32);
          ins.farBranchSelector = s.far.selector;
          if (kd.bits === 16) ins.farBranch16 = Number(off);
          else ins.farBranch32 = Number(off);
          break;
        }
        default:
          throw new Error("asm: internal: unsupported operand kind");
      }
    }
    if (pre.rep === "rep" || pre.rep === "repe") ins.hasRepePrefix = true;
    if (pre.rep === "repne") ins.hasRepnePrefix = true;
    if (pre.lock) ins.hasLockPrefix = true;
    const enc = encoder(bits);
    enc.encode(ins, bits === 16 ? BigInt(ip & 0xffff) : BigInt(ip));
    return enc.takeBuffer();
  } catch (e) {
    // drain the shared encoder so a failed encode cannot leak bytes into the next one
    encoder(bits).takeBuffer();
    throw e;
  } finally {
    ins.free();
  }
}

function setMemory(
  ins: Instruction,
  i: number,
  s: Shape & { t: "mem" },
  ip: number,
  resolve: ((s: Sym) => bigint) | undefined,
): void {
  const m = s.mem;
  let disp = m.disp;
  if (m.sym !== undefined) disp += resolve ? resolve(m.sym) : 0n;
  // while measuring, a RIP-relative target next to the instruction will do (always disp32)
  if (s.rip && !resolve) disp = BigInt(ip);
  ins.setOpKind(i, OpKind.Memory);
  const full = s.addrBits / 8;
  if (s.rip) {
    ins.memoryBase = Register.RIP;
    ins.memoryIndex = Register.None;
    ins.memoryIndexScale = 1;
    ins.memoryDisplacement = BigInt.asUintN(64, disp);
    ins.memoryDisplSize = 8;
  } else {
    ins.memoryBase = m.base?.id ?? Register.None;
    ins.memoryIndex = m.index?.id ?? Register.None;
    ins.memoryIndexScale = m.scale;
    const noRegs = m.base === undefined && m.index === undefined;
    if (s.addrBits === 32 && (disp < -(1n << 31n) || disp > 0xffffffffn)) {
      throw new Error(`asm: displacement ${hex(disp)} does not fit 32-bit addressing`);
    }
    if (s.addrBits === 16 && (disp < -(1n << 15n) || disp > 0xffffn)) {
      throw new Error(`asm: displacement ${hex(disp)} does not fit 16-bit addressing`);
    }
    const size = noRegs || m.sym !== undefined ? full : disp === 0n ? 0 : 1;
    ins.memoryDisplacement = BigInt.asUintN(64, disp);
    ins.memoryDisplSize = size;
  }
  ins.segmentPrefix = m.seg?.id ?? Register.None;
}
