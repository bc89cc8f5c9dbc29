/**
 * x87 fixture families. Every case is an x87 case (`St.useX87`): the runner loads the generated
 * x87 state with FXRSTOR64 before the code and records it with FXSAVE64 afterwards.
 *
 *   x87_ldst   loads, stores, conversions (m32/m64/m80, integers, BCD, constants), stack moves
 *   x87_arith  add/sub/subr/mul/div/divr in every form, fsqrt frndint fchs fabs fscale fxtract
 *              fprem fprem1, precision and rounding control, masked and unmasked exceptions
 *   x87_cmp    fcom* fucom* fcomi* fucomi* ficom* ftst fxam fcmovcc
 *   x87_trans  fsin fcos fsincos fptan fpatan f2xm1 fyl2x fyl2xp1 (with a tolerance, see below)
 *   x87_env    finit/fninit, fclex, fldcw/fstcw, fstsw, fstenv/fldenv, fsave/frstor, fwait and
 *              #MF, fxsave/MMX interplay
 */
import {
  code,
  DATA_BASE,
  type Family,
  ins,
  type Instruction,
  M64,
  mem,
  type MemoryOperand,
  MM,
  pickRegs,
  regInfo,
  Register,
  type Rng,
  St,
  type X87State,
  type X87Tolerance,
} from "./core.ts";
import { f32Bits, f64Bits, X87_F32_EDGES, X87_F64_EDGES } from "./fp_values.ts";

const ST = Array.from({ length: 8 }, (_, i) => (Register.ST0 + i) as Register);

// ---- values -----------------------------------------------------------------------------------------

const J = 1n << 63n;

function ext(s: number, e: number, m: bigint): bigint {
  return (BigInt(((s & 1) << 15) | (e & 0x7fff)) << 64n) | (m & M64);
}

/** Exact 80-bit encoding of a finite nonzero double. */
function extOfDouble(x: number): bigint {
  const b = f64Bits(x);
  const s = Number(b >> 63n), e = Number((b >> 52n) & 0x7ffn), f = b & ((1n << 52n) - 1n);
  if (e === 0x7ff) return f === 0n ? ext(s, 0x7fff, J) : ext(s, 0x7fff, J | (f << 11n));
  if (e === 0) {
    if (f === 0n) return ext(s, 0, 0n);
    const n = f.toString(2).length; // value f·2^-1074
    return ext(s, n - 1 - 1074 + 16383, f << BigInt(64 - n));
  }
  return ext(s, e - 1023 + 16383, J | (f << 11n));
}

const INDEF = ext(1, 0x7fff, 0xc000000000000000n);

/** Special and boundary extended values. */
const EXT_EDGES: bigint[] = [
  ext(0, 0, 0n),
  ext(1, 0, 0n),
  ext(0, 0x7fff, J),
  ext(1, 0x7fff, J),
  ext(0, 0x3fff, J),
  ext(1, 0x3fff, J),
  INDEF,
  ext(0, 0x7fff, 0xc000000000000123n), // QNaN
  ext(1, 0x7fff, 0xe000000000000000n),
  ext(0, 0x7fff, 0x8000000000000001n), // SNaN
  ext(1, 0x7fff, 0xa5a5a5a5a5a5a5a5n),
  ext(0, 0x7ffe, M64), // max
  ext(1, 0x7ffe, M64),
  ext(0, 1, J), // min normal
  ext(1, 1, J),
  ext(0, 0, 1n), // min denormal
  ext(0, 0, 0x7fffffffffffffffn),
  ext(1, 0, 0x0000000123456789n),
  ext(0, 0, J | 0x1234n), // pseudo-denormal
  ext(0, 0x3fff, 0x4000000000000000n), // unnormal
  ext(1, 0x4005, 0x0000000000001234n), // unnormal
  ext(0, 0x7fff, 0n), // pseudo-infinity
  ext(0, 0x7fff, 0x4000000000000000n), // pseudo-NaN
  ext(0, 0x403e, J), // 2^63
  ext(1, 0x403e, J), // -2^63
  ext(0, 0x403d, M64), // 2^63 - 1
  ext(0, 0x401e, J), // 2^31
  ext(1, 0x401e, J),
  ext(0, 0x400e, J), // 2^15
  ext(1, 0x400e, J),
  ext(0, 0x3ffe, J), // 0.5
  ext(1, 0x3ffe, J),
  ext(0, 0x4000, 0xc000000000000000n), // 3
];

/** A significand with J set. */
function sig(r: Rng): bigint {
  switch (r.int(9)) {
    case 0:
      return J;
    case 1:
      return M64;
    case 2: // halfway or near-halfway for p = 24 / 53 / 64
      return J | (r.u64() & ~((1n << 40n) - 1n)) | (1n << 39n) | BigInt(r.int(3) - 1 & 1);
    case 3:
      return J | (r.u64() & ~((1n << 11n) - 1n)) | (1n << 10n);
    case 4:
      return J | (r.u64() & ~((1n << BigInt(r.int(64))) - 1n));
    case 5:
      return J | (1n << BigInt(r.int(63)));
    default:
      return J | r.u64();
  }
}

/** A finite extended value with an exponent near 1.0 (or anywhere, sometimes). */
function fin(r: Rng, spread = 70): bigint {
  const k = r.int(10);
  let e: number;
  if (k === 0) e = r.range(1, 0x7ffe);
  else if (k === 1) e = r.range(1, 80);
  else if (k === 2) e = r.range(0x7ffe - 80, 0x7ffe);
  else e = 0x3fff + r.range(-spread, spread);
  return ext(r.int(2), e, sig(r));
}

/** Any extended value: an edge, a "nice" number, or a random finite value. */
function anyExt(r: Rng): bigint {
  const k = r.int(10);
  if (k < 2) return r.pick(EXT_EDGES);
  if (k < 4) {
    const x = r.pick([1, 2, 3, 10, 0.1, 0.5, 1.5, 100, 1e10, 1e-10, 7, 0.75, 1 / 3]);
    return extOfDouble(r.bool() ? -x : x);
  }
  return fin(r);
}

/** A pair of operands with close exponents (cancellation, rounding at the precision). */
function closePair(r: Rng): [bigint, bigint] {
  const a = fin(r);
  const e = Number((a >> 64n) & 0x7fffn);
  const e2 = Math.max(1, Math.min(0x7ffe, e - r.range(0, 66)));
  let m = sig(r);
  if (r.bool(0.3)) m = (a & M64) ^ BigInt(r.int(256));
  return [a, ext(r.int(2), e2, m | J)];
}

function f64Val(r: Rng): bigint {
  const k = r.int(8);
  if (k < 3) return r.pick(X87_F64_EDGES);
  if (k < 5) return f64Bits((r.u32() / 4294967296 - 0.5) * 2 ** r.range(-30, 40));
  return r.u64();
}

function f32Val(r: Rng): bigint {
  const k = r.int(8);
  if (k < 3) return r.pick(X87_F32_EDGES);
  if (k < 5) return f32Bits((r.u32() / 4294967296 - 0.5) * 2 ** r.range(-20, 30));
  return BigInt(r.u32());
}

function intVal(r: Rng, bits: number): bigint {
  const h = 1n << BigInt(bits - 1);
  const k = r.int(6);
  if (k === 0) return r.pick([0n, 1n, h - 1n, h, (1n << BigInt(bits)) - 1n, h + 1n]);
  if (k === 1) return BigInt(r.int(200));
  return r.bits(bits);
}

// ---- control word and initial state --------------------------------------------------------------------

interface FcwOpts {
  /** probability of clearing some exception masks */
  unmasked?: number;
  /** restrict precision control to 64 bits */
  pc64?: boolean;
}

function fcw(r: Rng, o: FcwOpts = {}): number {
  let w = 0x40 | (r.int(4) << 10);
  w |= (o.pc64 ? 3 : r.pick([3, 3, 3, 2, 2, 0, 0, 1])) << 8;
  let masks = 0x3f;
  if (r.bool(o.unmasked ?? 0)) {
    masks &= ~r.pick([0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x18, 0x3f, r.u32() & 0x3f]);
  }
  w |= masks;
  if (r.bool(0.05)) w |= 0x1000; // IC (ignored)
  return w;
}

/**
 * Sets up the x87 stack: ST(0..n-1) = vals (others empty, with garbage contents), random TOP,
 * control word `cw`, random C0-C3 and sticky flags that are masked (never a pending exception).
 */
function stack(r: Rng, st: St, vals: bigint[], cw: number, top = r.int(8)): X87State {
  const x = st.useX87();
  x.fcw = cw;
  let flags = r.bool(0.3) ? r.u32() & 0x3f & cw : 0;
  if (r.bool(0.1)) flags |= 0x41 & (cw & 1 ? 0x41 : 0);
  x.fsw = (top << 11) | flags | (r.u32() & 0x4700);
  x.ftw = 0;
  for (let i = 0; i < 8; i++) {
    if (i < vals.length) {
      x.st[i] = vals[i]!;
      x.ftw |= 1 << ((top + i) & 7);
    } else x.st[i] = r.bool(0.5) ? 0n : anyExt(r);
  }
  return x;
}

/** A memory operand factory: base register + displacement, with byte offsets. */
type MemAt = ((off?: number) => MemoryOperand) & { base: number };

function memFor(r: Rng, st: St, addr: bigint, exclude: number[] = []): MemAt {
  const [b] = pickRegs(r, 64, 1, { exclude: [0, ...exclude] });
  const disp = r.pick([0, 0, r.range(-128, 127), r.range(-0x800, 0x800)]);
  const idx = regInfo(b!).idx;
  st.setIdx(idx, addr - BigInt(disp));
  return Object.assign((off = 0) => mem(b!, disp + off), { base: idx });
}

function addr(r: Rng, size: number, align = 1): bigint {
  const a = r.range(0x100, 8192 - 0x100 - size);
  return DATA_BASE + BigInt(a - (a % align));
}

/** Instructions storing `bytes` bytes of v at m (dword and word stores). */
function plant(m: MemAt, v: bigint, bytes: number): Instruction[] {
  const out: Instruction[] = [];
  let o = 0;
  for (; o + 4 <= bytes; o += 4) {
    out.push(
      ins.createMemU32(code("Mov_rm32_imm32"), m(o), Number((v >> BigInt(8 * o)) & 0xffffffffn)),
    );
  }
  if (o < bytes) {
    out.push(
      ins.createMemU32(code("Mov_rm16_imm16"), m(o), Number((v >> BigInt(8 * o)) & 0xffffn)),
    );
  }
  return out;
}

const i0 = (name: string) => ins.create(code(name));
const i1 = (name: string, a: Register) => ins.createReg(code(name), a);
const i2 = (name: string, a: Register, b: Register) => ins.createRegReg(code(name), a, b);
const im = (name: string, m: MemoryOperand) => ins.createMem(code(name), m);

interface Def {
  form: string;
  st: St;
  instrs: Instruction[];
  x87Tolerance?: X87Tolerance;
}

/** A new case with an x87 stack. */
function xcase(r: Rng, vals: bigint[], o: FcwOpts = {}): St {
  const st = new St(r);
  stack(r, st, vals, fcw(r, o));
  return st;
}

/** Sometimes a trailing fwait, to turn a pending exception into #MF. */
function maybeWait(r: Rng, st: St, p = 0.3): Instruction[] {
  void st;
  return r.bool(p) ? [i0("Wait")] : [];
}

// ---- x87_ldst ----------------------------------------------------------------------------------------------

export function x87Ldst(f: Family): void {
  // fld m32/m64/m80
  for (const [nm, bytes] of [["Fld_m32fp", 4], ["Fld_m64fp", 8], ["Fld_m80fp", 10]] as const) {
    f.gen(bytes === 10 ? 60 : 120, (r) => {
      const n = r.int(8) === 0 ? 8 : r.int(4);
      const st = xcase(r, Array.from({ length: n }, () => anyExt(r)), { unmasked: 0.25 });
      const m = memFor(r, st, addr(r, bytes));
      const v = bytes === 4 ? f32Val(r) : bytes === 8 ? f64Val(r) : anyExt(r);
      return {
        form: nm.toLowerCase(),
        st,
        instrs: [...plant(m, v, bytes), im(nm, m()), ...maybeWait(r, st, 0.15)],
      };
    });
  }
  // fst/fstp m32/m64/m80
  for (
    const [nm, bytes] of [["Fst_m32fp", 4], ["Fstp_m32fp", 4], ["Fst_m64fp", 8], [
      "Fstp_m64fp",
      8,
    ], ["Fstp_m80fp", 10]] as const
  ) {
    f.gen(bytes === 10 ? 40 : 150, (r) => {
      const n = r.int(10) === 0 ? 0 : 1 + r.int(3);
      let v0 = anyExt(r);
      if (r.bool(0.4)) {
        // near the binary32/binary64 range limits
        const lim = bytes === 4 ? [127, -126, -149] : [1023, -1022, -1074];
        const e = 0x3fff + r.pick(lim) + r.range(-3, 3);
        v0 = ext(r.int(2), e, sig(r));
      }
      const vals = [v0, ...Array.from({ length: Math.max(0, n - 1) }, () => anyExt(r))].slice(0, n);
      const st = xcase(r, vals, { unmasked: 0.25 });
      const m = memFor(r, st, addr(r, bytes));
      return { form: nm.toLowerCase(), st, instrs: [im(nm, m()), ...maybeWait(r, st, 0.1)] };
    });
  }
  // fild m16/m32/m64
  for (
    const [nm, bits] of [["Fild_m16int", 16], ["Fild_m32int", 32], ["Fild_m64int", 64]] as const
  ) {
    f.gen(60, (r) => {
      const st = xcase(r, Array.from({ length: r.int(3) }, () => anyExt(r)));
      const m = memFor(r, st, addr(r, bits / 8));
      return {
        form: nm.toLowerCase(),
        st,
        instrs: [...plant(m, intVal(r, bits), bits / 8), im(nm, m())],
      };
    });
  }
  // fist/fistp/fisttp m16/m32/m64 at the boundaries, every rounding mode
  for (
    const [nm, bits] of [
      ["Fist_m16int", 16],
      ["Fist_m32int", 32],
      ["Fistp_m16int", 16],
      ["Fistp_m32int", 32],
      ["Fistp_m64int", 64],
      ["Fisttp_m16int", 16],
      ["Fisttp_m32int", 32],
      ["Fisttp_m64int", 64],
    ] as const
  ) {
    f.gen(110, (r) => {
      let v: bigint;
      const k = r.int(6);
      if (k < 2) {
        // around ±2^(bits-1) with fractions
        const s = r.int(2);
        const m = (1n << BigInt(bits - 1)) + BigInt(r.range(-3, 2));
        const frac = BigInt(r.pick([0, 1, 2, 3]));
        const w = (m << 2n) | frac; // value w / 4
        const n = w.toString(2).length;
        v = ext(s, 16383 + n - 1 - 2, w << BigInt(64 - n));
      } else if (k < 4) {
        // x.5 and friends
        const w = BigInt(r.range(0, 40)) * 4n + BigInt(r.pick([1, 2, 3]));
        const n = w.toString(2).length;
        v = ext(r.int(2), 16383 + n - 1 - 2, w << BigInt(64 - n));
      } else v = anyExt(r);
      const st = xcase(r, r.bool(0.05) ? [] : [v], { unmasked: 0.2 });
      const m = memFor(r, st, addr(r, bits / 8));
      return { form: nm.toLowerCase(), st, instrs: [im(nm, m())] };
    });
  }
  // fbld / fbstp
  f.gen(50, (r) => {
    const st = xcase(r, Array.from({ length: r.int(3) }, () => anyExt(r)));
    const m = memFor(r, st, addr(r, 10));
    let v = 0n;
    const digits = r.int(19);
    // digits A-F are undefined in the SDM; the hardware weighs them like the others
    const bad = r.bool(0.15);
    for (let i = 0; i < digits; i++) v |= BigInt(r.int(bad ? 16 : 10)) << BigInt(4 * i);
    if (r.bool(0.5)) v |= 1n << 79n;
    if (r.bool(0.1)) v |= BigInt(r.int(128)) << 72n; // bits 78:72 are ignored
    return { form: "fbld", st, instrs: [...plant(m, v, 10), im("Fbld_m80bcd", m())] };
  });
  f.gen(80, (r) => {
    let v: bigint;
    const k = r.int(4);
    if (k === 0) {
      const x = BigInt(r.range(0, 10 ** 6)) * 10n ** BigInt(r.range(0, 12)) + BigInt(r.int(4));
      const w = (x << 2n) | BigInt(r.int(4));
      const n = w.toString(2).length;
      v = w === 0n ? 0n : ext(r.int(2), 16383 + n - 3, w << BigInt(64 - n));
    } else if (k === 1) {
      // around 10^18
      const x = 10n ** 18n + BigInt(r.range(-2, 1));
      const n = x.toString(2).length;
      v = ext(r.int(2), 16383 + n - 1, x << BigInt(64 - n));
    } else v = anyExt(r);
    const st = xcase(r, [v], { unmasked: 0.2 });
    const m = memFor(r, st, addr(r, 10));
    return { form: "fbstp", st, instrs: [im("Fbstp_m80bcd", m())] };
  });
  // constants in every rounding mode
  for (const nm of ["Fld1", "Fldz", "Fldpi", "Fldl2e", "Fldl2t", "Fldlg2", "Fldln2"]) {
    f.gen(12, (r) => ({
      form: nm.toLowerCase(),
      st: xcase(r, Array.from({ length: r.int(10) === 0 ? 8 : r.int(3) }, () => anyExt(r)), {
        unmasked: 0.1,
      }),
      instrs: [i0(nm)],
    }));
  }
  // register moves: fld st(i), fst/fstp st(i), fstpnce, fxch, ffree, ffreep, fincstp, fdecstp
  const regForms: [string, (r: Rng) => Instruction][] = [
    ["Fld_sti", (r) => i1("Fld_sti", ST[r.int(8)]!)],
    ["Fst_sti", (r) => i1("Fst_sti", ST[r.int(8)]!)],
    ["Fstp_sti", (r) => i1("Fstp_sti", ST[r.int(8)]!)],
    ["Fstpnce_sti", (r) => i1("Fstpnce_sti", ST[r.int(8)]!)],
    ["Fstp_sti_DFD0", (r) => i1("Fstp_sti_DFD0", ST[r.int(8)]!)],
    ["Fxch_st0_sti", (r) => i2("Fxch_st0_sti", ST[0]!, ST[r.int(8)]!)],
    ["Fxch_st0_sti_DDC8", (r) => i2("Fxch_st0_sti_DDC8", ST[0]!, ST[r.int(8)]!)],
    ["Ffree_sti", (r) => i1("Ffree_sti", ST[r.int(8)]!)],
    ["Ffreep_sti", (r) => i1("Ffreep_sti", ST[r.int(8)]!)],
    ["Fincstp", () => i0("Fincstp")],
    ["Fdecstp", () => i0("Fdecstp")],
    ["Fnop", () => i0("Fnop")],
  ];
  for (const [nm, mk] of regForms) {
    f.gen(30, (r) => ({
      form: nm.toLowerCase(),
      st: xcase(r, Array.from({ length: r.int(9) }, () => anyExt(r)), { unmasked: 0.15 }),
      instrs: [mk(r), ...(r.bool(0.3) ? [mk(r)] : [])],
    }));
  }
  // load / store round trips through memory
  f.gen(60, (r) => {
    const st = xcase(r, [anyExt(r)], { unmasked: 0.1 });
    const m = memFor(r, st, addr(r, 10));
    const [s, l] = r.pick([
      ["Fstp_m32fp", "Fld_m32fp"],
      ["Fstp_m64fp", "Fld_m64fp"],
      ["Fstp_m80fp", "Fld_m80fp"],
      ["Fistp_m64int", "Fild_m64int"],
      ["Fistp_m32int", "Fild_m32int"],
      ["Fbstp_m80bcd", "Fbld_m80bcd"],
    ]);
    return { form: "roundtrip", st, instrs: [im(s, m()), im(l, m())] };
  });
  // #PF: loads and stores crossing into the unmapped page after the data area
  for (
    const [nm, bytes] of [["Fld_m64fp", 8], ["Fstp_m80fp", 10], ["Fld_m80fp", 10], [
      "Fistp_m64int",
      8,
    ], ["Fst_m32fp", 4]] as const
  ) {
    f.gen(4, (r) => {
      const st = xcase(r, [anyExt(r)]);
      const m = memFor(r, st, DATA_BASE + 8192n - BigInt(r.range(1, bytes - 1)));
      return { form: nm.toLowerCase() + ".fault", st, instrs: [im(nm, m())] };
    });
  }
}

// ---- x87_arith ----------------------------------------------------------------------------------------------

const ARITH = ["Fadd", "Fsub", "Fsubr", "Fmul", "Fdiv", "Fdivr"];

function arithOperands(r: Rng): [bigint, bigint] {
  const k = r.int(10);
  if (k < 4) return closePair(r);
  if (k < 5) return [r.pick(EXT_EDGES), anyExt(r)];
  if (k < 6) return [anyExt(r), r.pick(EXT_EDGES)];
  return [anyExt(r), anyExt(r)];
}

export function x87Arith(f: Family): void {
  for (const op of ARITH) {
    // st0, st(i)  and  st(i), st0  and  the pop form
    f.gen(90, (r) => {
      const [a, b] = arithOperands(r);
      const i = r.int(8);
      const vals = [a, ...Array.from({ length: Math.max(i, r.int(4)) }, () => anyExt(r))];
      if (i > 0) vals[i] = b;
      else vals.push(b);
      if (r.bool(0.08)) vals.length = r.int(2); // stack underflow
      const st = xcase(r, vals, { unmasked: 0.2 });
      return {
        form: `${op.toLowerCase()}.st0.sti`,
        st,
        instrs: [i2(`${op}_st0_sti`, ST[0]!, ST[i]!), ...maybeWait(r, st, 0.1)],
      };
    });
    f.gen(60, (r) => {
      const [a, b] = arithOperands(r);
      const i = 1 + r.int(7);
      const vals = [b, ...Array.from({ length: i }, () => anyExt(r))];
      vals[i] = a;
      if (r.bool(0.05)) vals.length = 1;
      const st = xcase(r, vals, { unmasked: 0.2 });
      return {
        form: `${op.toLowerCase()}.sti.st0`,
        st,
        instrs: [i2(`${op}_sti_st0`, ST[i]!, ST[0]!)],
      };
    });
    f.gen(60, (r) => {
      const [a, b] = arithOperands(r);
      const i = r.int(8);
      const vals = [b, ...Array.from({ length: Math.max(i, 1) }, () => anyExt(r))];
      vals[i] = i === 0 ? b : a;
      if (r.bool(0.05)) vals.length = r.int(2);
      const st = xcase(r, vals, { unmasked: 0.2 });
      return {
        form: `${op.toLowerCase()}p.sti.st0`,
        st,
        instrs: [i2(`${op}p_sti_st0`, ST[i]!, ST[0]!), ...maybeWait(r, st, 0.1)],
      };
    });
    // memory forms
    for (
      const [sfx, bytes] of [["m32fp", 4], ["m64fp", 8], ["m16int", 2], ["m32int", 4]] as const
    ) {
      f.gen(sfx === "m64fp" ? 60 : 35, (r) => {
        const [a] = arithOperands(r);
        const st = xcase(
          r,
          r.bool(0.05) ? [] : [a, ...Array.from({ length: r.int(3) }, () => anyExt(r))],
          {
            unmasked: 0.2,
          },
        );
        const m = memFor(r, st, addr(r, bytes));
        const v = sfx === "m32fp" ? f32Val(r) : sfx === "m64fp" ? f64Val(r) : intVal(r, bytes * 8);
        const nm = sfx.endsWith("int") ? `Fi${op.slice(1).toLowerCase()}_${sfx}` : `${op}_${sfx}`;
        return { form: `${nm.toLowerCase()}`, st, instrs: [...plant(m, v, bytes), im(nm, m())] };
      });
    }
  }
  // crafted rounding cases: results exactly halfway / just around at 24, 53, 64 bits
  f.gen(200, (r) => {
    const p = r.pick([24, 53, 64]);
    const pc = p === 24 ? 0 : p === 53 ? 2 : 3;
    const e = 0x3fff + r.range(-5, 5);
    const a = ext(r.int(2), e, J | (r.u64() & ~((1n << BigInt(64 - p)) - 1n)));
    const d = r.range(p - 2, p + 2);
    const b = ext(r.int(2), e - d, r.bool(0.5) ? J : sig(r));
    const st = new St(r);
    const cw = (fcw(r, { unmasked: 0.1 }) & ~0x300) | (pc << 8);
    stack(r, st, [a, b], cw);
    const op = r.pick(["Fadd", "Fsub", "Fmul"]);
    return { form: `${op.toLowerCase()}.round`, st, instrs: [i2(`${op}_st0_sti`, ST[0]!, ST[1]!)] };
  });
  // underflow/overflow: tiny and huge results, masked and unmasked (wrapped exponent)
  f.gen(200, (r) => {
    const big = r.bool(0.5);
    const ea = big ? r.range(0x7ff0 - 0x3fff, 0x7ffe) : r.range(1, 0x3fff + 40);
    const eb = big ? 0x3fff + r.range(-40, 0x3fff) : r.range(1, 0x3fff + 40);
    const a = ext(r.int(2), big ? ea : Math.max(1, ea - 0x3fff + 1), sig(r));
    const b = ext(r.int(2), big ? Math.min(0x7ffe, eb) : Math.max(1, 0x3fff - (eb % 60)), sig(r));
    const st = xcase(r, [a, b], { unmasked: 0.5 });
    const op = r.pick(ARITH);
    return { form: `${op.toLowerCase()}.range`, st, instrs: [i2(`${op}_st0_sti`, ST[0]!, ST[1]!)] };
  });
  // a denormal operand with DE unmasked: a pre-computation exception for every computational
  // instruction (nothing computed, nothing popped or pushed) — except loads, stores and compares
  const denOps: [string, number][] = [
    ["Fsin", 1],
    ["Fcos", 1],
    ["Fsincos", 1],
    ["Fptan", 1],
    ["Fpatan", 2],
    ["F2xm1", 1],
    ["Fyl2x", 2],
    ["Fyl2xp1", 2],
    ["Fscale", 2],
    ["Fprem", 2],
    ["Fprem1", 2],
    ["Fxtract", 1],
    ["Frndint", 1],
    ["Fsqrt", 1],
    ["Fchs", 1],
    ["Ftst", 1],
    ["Fxam", 1],
    ["Fcompp", 2],
    ["Fucompp", 2],
  ];
  for (const [nm, n] of denOps) {
    f.gen(6, (r) => {
      const den = ext(r.int(2), 0, BigInt(r.range(1, 0x7fffffff)) << BigInt(r.int(32)));
      const other = ext(r.int(2), 0x3fff + r.range(-3, 3), sig(r));
      const vals = n === 1 ? [den] : r.bool(0.5) ? [den, other] : [other, den];
      const st = new St(r);
      stack(r, st, vals, fcw(r, { pc64: true }) & ~0x02);
      return { form: `${nm.toLowerCase()}.denormal`, st, instrs: [i0(nm)] };
    });
  }
  for (
    const [nm, bytes] of [["Fadd_m64fp", 8], ["Fmul_m32fp", 4], ["Fcom_m64fp", 8], [
      "Fld_m64fp",
      8,
    ], ["Fld_m32fp", 4]] as const
  ) {
    f.gen(6, (r) => {
      const st = new St(r);
      stack(r, st, [ext(r.int(2), 0x3fff + r.range(-3, 3), sig(r))], fcw(r) & ~0x02);
      const m = memFor(r, st, addr(r, bytes));
      const v = bytes === 8 ? BigInt(r.range(1, 0xfffff)) << 32n : BigInt(r.range(1, 0x7fffff));
      return {
        form: `${nm.toLowerCase()}.denormal`,
        st,
        instrs: [...plant(m, v | (BigInt(r.int(2)) << BigInt(bytes * 8 - 1)), bytes), im(nm, m())],
      };
    });
  }
  for (const nm of ["Fistp_m32int", "Fstp_m32fp", "Fstp_m64fp", "Fbstp_m80bcd"]) {
    f.gen(4, (r) => {
      const st = new St(r);
      stack(r, st, [ext(r.int(2), 0, BigInt(r.range(1, 0xffffff)))], fcw(r) & ~0x02);
      const m = memFor(r, st, addr(r, 10));
      return { form: `${nm.toLowerCase()}.denormal`, st, instrs: [im(nm, m())] };
    });
  }
  // one-operand
  for (const nm of ["Fsqrt", "Frndint", "Fchs", "Fabs"]) {
    f.gen(nm === "Fsqrt" || nm === "Frndint" ? 160 : 40, (r) => {
      let v = anyExt(r);
      if (nm === "Fsqrt" && r.bool(0.6)) v &= ~(1n << 79n);
      if (nm === "Frndint" && r.bool(0.5)) v = ext(r.int(2), 0x3fff + r.range(-3, 66), sig(r));
      const st = xcase(
        r,
        r.bool(0.05) ? [] : [v, ...Array.from({ length: r.int(3) }, () => anyExt(r))],
        {
          unmasked: 0.2,
        },
      );
      return { form: nm.toLowerCase(), st, instrs: [i0(nm), ...maybeWait(r, st, 0.1)] };
    });
  }
  // fscale
  f.gen(200, (r) => {
    const x = anyExt(r);
    let n: bigint;
    const k = r.int(5);
    if (k < 3) {
      const v = r.range(-70, 70) +
        (r.bool(0.2) ? r.pick([16383, -16383, 20000, -20000, 32768]) : 0);
      n = v === 0 ? 0n : extOfDouble(v + (r.bool(0.3) ? r.pick([0.5, -0.75, 0.25]) : 0));
    } else n = anyExt(r);
    const st = xcase(r, [x, n], { unmasked: 0.2 });
    return { form: "fscale", st, instrs: [i0("Fscale")] };
  });
  // fxtract
  f.gen(100, (r) => {
    const st = xcase(r, Array.from({ length: r.bool(0.1) ? 8 : 1 + r.int(3) }, () => anyExt(r)), {
      unmasked: 0.2,
    });
    return { form: "fxtract", st, instrs: [i0("Fxtract")] };
  });
  // fprem / fprem1 (complete and partial remainders; loops until C2 = 0 in some cases)
  for (const nm of ["Fprem", "Fprem1"]) {
    f.gen(200, (r) => {
      let a: bigint, b: bigint;
      const k = r.int(6);
      if (k < 3) {
        const ea = 0x3fff + r.range(-10, 120);
        a = ext(r.int(2), ea, sig(r));
        b = ext(r.int(2), ea - r.range(-3, 100), sig(r));
      } else if (k < 4) {
        a = extOfDouble(r.range(-1000, 1000) + r.pick([0, 0.5, 0.25]));
        b = extOfDouble(r.pick([1, 2, 3, 0.5, 10, Math.PI / 2]));
      } else [a, b] = [anyExt(r), anyExt(r)];
      const st = xcase(r, [a, b], { unmasked: 0.15 });
      return { form: nm.toLowerCase(), st, instrs: [i0(nm), ...(r.bool(0.3) ? [i0(nm)] : [])] };
    });
  }
}

// ---- x87_cmp -------------------------------------------------------------------------------------------------

function cmpOperands(r: Rng): [bigint, bigint] {
  const k = r.int(8);
  if (k < 2) {
    const a = anyExt(r);
    return [a, r.bool(0.5) ? a : a ^ (1n << 79n)];
  }
  if (k < 4) return closePair(r);
  return [anyExt(r), anyExt(r)];
}

export function x87Cmp(f: Family): void {
  const regForms = [
    ["Fcom_st0_sti", 0],
    ["Fcomp_st0_sti", 0],
    ["Fcom_st0_sti_DCD0", 0],
    ["Fcomp_st0_sti_DCD8", 0],
    ["Fcomp_st0_sti_DED0", 0],
    ["Fucom_st0_sti", 0],
    ["Fucomp_st0_sti", 0],
    ["Fcomi_st0_sti", 0],
    ["Fcomip_st0_sti", 0],
    ["Fucomi_st0_sti", 0],
    ["Fucomip_st0_sti", 0],
  ] as const;
  for (const [nm] of regForms) {
    f.gen(80, (r) => {
      const [a, b] = cmpOperands(r);
      const i = r.int(8);
      const vals = [a, ...Array.from({ length: Math.max(i, 1) }, () => anyExt(r))];
      if (i > 0) vals[i] = b;
      if (r.bool(0.05)) vals.length = r.int(2);
      const st = xcase(r, vals, { unmasked: 0.15 });
      return { form: nm.toLowerCase(), st, instrs: [i2(nm, ST[0]!, ST[i]!)] };
    });
  }
  for (const nm of ["Fcompp", "Fucompp", "Ftst", "Fxam"]) {
    f.gen(nm === "Fxam" ? 120 : 80, (r) => {
      const [a, b] = cmpOperands(r);
      const vals = r.bool(0.06) ? [a].slice(0, r.int(2)) : [a, b];
      const st = xcase(r, vals, { unmasked: 0.15 });
      return { form: nm.toLowerCase(), st, instrs: [i0(nm)] };
    });
  }
  for (
    const [nm, bytes] of [
      ["Fcom_m32fp", 4],
      ["Fcomp_m32fp", 4],
      ["Fcom_m64fp", 8],
      [
        "Fcomp_m64fp",
        8,
      ],
      ["Ficom_m16int", 2],
      ["Ficomp_m16int", 2],
      ["Ficom_m32int", 4],
      ["Ficomp_m32int", 4],
    ] as const
  ) {
    f.gen(40, (r) => {
      const st = xcase(r, r.bool(0.05) ? [] : [anyExt(r), anyExt(r)], { unmasked: 0.15 });
      const m = memFor(r, st, addr(r, bytes));
      const v = nm.includes("m32fp")
        ? f32Val(r)
        : nm.includes("m64fp")
        ? f64Val(r)
        : intVal(r, bytes * 8);
      return { form: nm.toLowerCase(), st, instrs: [...plant(m, v, bytes), im(nm, m())] };
    });
  }
  // fnstsw ax + sahf after a compare (the classic idiom)
  f.gen(40, (r) => {
    const [a, b] = cmpOperands(r);
    const st = xcase(r, [a, b]);
    return {
      form: "fcom.fnstsw.sahf",
      st,
      instrs: [i2("Fcom_st0_sti", ST[0]!, ST[1]!), i1("Fnstsw_AX", Register.AX), i0("Sahf")],
    };
  });
  // fcmovcc for every condition × flags
  for (
    const nm of [
      "Fcmovb",
      "Fcmove",
      "Fcmovbe",
      "Fcmovu",
      "Fcmovnb",
      "Fcmovne",
      "Fcmovnbe",
      "Fcmovnu",
    ]
  ) {
    f.gen(30, (r) => {
      const i = r.int(8);
      const vals = Array.from({ length: Math.max(i + 1, r.int(4)) }, () => anyExt(r));
      if (r.bool(0.1)) vals.length = r.int(i + 1);
      const st = xcase(r, vals, { unmasked: 0.1 });
      return { form: nm.toLowerCase(), st, instrs: [i2(`${nm}_st0_sti`, ST[0]!, ST[i]!)] };
    });
  }
}

// ---- x87_trans ------------------------------------------------------------------------------------------------

/** Tolerance of transcendental results: 1 ulp and C1 ignored, for the given ST slots. */
function transTol(st: number[]): X87Tolerance {
  return { ulps: 1, st, fsw_ignore: "0x200" };
}

function transArg(r: Rng, lo: number, hi: number): bigint {
  const k = r.int(10);
  if (k === 0) return r.pick(EXT_EDGES);
  if (k === 1) return ext(r.int(2), 0x3fff + r.range(-80, -20), sig(r)); // tiny
  const x = lo + (hi - lo) * (r.u32() / 4294967296);
  if (k === 2) return extOfDouble(x);
  // a random significand at the magnitude of x
  const e = x === 0 ? 0x3fff : Number((extOfDouble(x) >> 64n) & 0x7fffn);
  return ext(x < 0 ? 1 : 0, e, sig(r));
}

export function x87Trans(f: Family): void {
  for (const nm of ["Fsin", "Fcos", "Fsincos", "Fptan"]) {
    f.gen(150, (r) => {
      const k = r.int(10);
      let v: bigint;
      if (k === 0) v = ext(r.int(2), 0x3fff + r.range(55, 66), sig(r)); // near 2^63
      else if (k === 1) v = extOfDouble(r.pick([Math.PI, Math.PI / 2, Math.PI / 4, 1e6, 1e15]));
      else v = transArg(r, -20, 20);
      const pushes = nm === "Fsincos" || nm === "Fptan";
      const vals = [v, ...Array.from({ length: r.int(3) }, () => anyExt(r))];
      if (pushes && r.bool(0.05)) { while (vals.length < 8) vals.push(anyExt(r)); }
      const st = xcase(r, r.bool(0.03) ? [] : vals, { unmasked: 0.1, pc64: r.bool(0.5) });
      return {
        form: nm.toLowerCase(),
        st,
        instrs: [i0(nm)],
        x87Tolerance: transTol(pushes ? [0, 1] : [0]),
      };
    });
  }
  f.gen(200, (r) => {
    const y = r.bool(0.8) ? transArg(r, -10, 10) : anyExt(r);
    const x = r.bool(0.8) ? transArg(r, -10, 10) : anyExt(r);
    const st = xcase(r, [x, y], { unmasked: 0.1 });
    return { form: "fpatan", st, instrs: [i0("Fpatan")], x87Tolerance: transTol([0]) };
  });
  f.gen(150, (r) => {
    const st = xcase(r, [transArg(r, -1, 1)], { unmasked: 0.1 });
    // keep inside the defined range [-1, 1]
    const v = st.x87!.st[0]!;
    const e = Number((v >> 64n) & 0x7fffn);
    if (e >= 0x3fff && e !== 0x7fff) st.x87!.st[0] = ext(Number(v >> 79n), 0x3fff, J);
    return { form: "f2xm1", st, instrs: [i0("F2xm1")], x87Tolerance: transTol([0]) };
  });
  f.gen(200, (r) => {
    const x = r.bool(0.85) ? transArg(r, 0, 100) : anyExt(r);
    const y = r.bool(0.5) ? extOfDouble(1) : transArg(r, -5, 5);
    const st = xcase(r, [x & (r.bool(0.9) ? ~(1n << 79n) : -1n), y], { unmasked: 0.1 });
    return { form: "fyl2x", st, instrs: [i0("Fyl2x")], x87Tolerance: transTol([0]) };
  });
  f.gen(150, (r) => {
    const x = transArg(r, -0.29, 0.29);
    const e = Number((x >> 64n) & 0x7fffn);
    const xv = e >= 0x3ffd && e !== 0x7fff ? ext(Number(x >> 79n), 0x3ffc, sig(r)) : x;
    const y = r.bool(0.5) ? extOfDouble(1) : transArg(r, -5, 5);
    const st = xcase(r, [xv, y], { unmasked: 0.1 });
    return { form: "fyl2xp1", st, instrs: [i0("Fyl2xp1")], x87Tolerance: transTol([0]) };
  });
}

// ---- x87_env -------------------------------------------------------------------------------------------------

export function x87Env(f: Family): void {
  // fninit / finit, fnclex / fclex
  for (const seq of [["Fninit"], ["Wait", "Fninit"], ["Fnclex"], ["Wait", "Fnclex"]]) {
    f.gen(15, (r) => {
      const st = xcase(r, Array.from({ length: r.int(5) }, () => anyExt(r)), { unmasked: 0.3 });
      // a pending exception sometimes (then the WAIT forms raise #MF)
      if (r.bool(0.3)) {
        const x = st.x87!;
        x.fcw &= ~0x04;
        x.fsw |= 0x04 | 0x80 | 0x8000;
      }
      return { form: seq.join(".").toLowerCase(), st, instrs: seq.map((s) => i0(s)) };
    });
  }
  // fldcw / fnstcw (reserved bits, unmasking pending flags sets ES; a pending one raises #MF)
  f.gen(60, (r) => {
    const st = xcase(r, [anyExt(r), anyExt(r)], { unmasked: 0.2 });
    const m = memFor(r, st, addr(r, 2));
    const v = r.bool(0.5) ? r.u32() & 0xffff : fcw(r, { unmasked: 0.4 });
    if (r.bool(0.4)) st.x87!.fsw |= r.u32() & 0x3f & st.x87!.fcw;
    const instrs = [
      ...plant(m, BigInt(v), 2),
      im("Fldcw_m2byte", m()),
      im("Fnstcw_m2byte", m(2)),
      ...(r.bool(0.5) ? [i2("Fadd_st0_sti", ST[0]!, ST[1]!)] : []),
    ];
    return { form: "fldcw.fnstcw", st, instrs };
  });
  // fnstsw m16 / ax
  f.gen(30, (r) => {
    const st = xcase(r, [anyExt(r), anyExt(r)], { unmasked: 0.2 });
    const m = memFor(r, st, addr(r, 2));
    return {
      form: "fnstsw",
      st,
      instrs: [
        i2("Fadd_st0_sti", ST[0]!, ST[1]!),
        im("Fnstsw_m2byte", m()),
        i1("Fnstsw_AX", Register.AX),
      ],
    };
  });
  // fnstenv (28 / 14 bytes) after some operations; the FCS/FDS selectors are overwritten (this
  // CPU does not keep them), then the environment is reloaded with fldenv
  for (
    const [nm, ld, len, csOff, dsOff] of [
      ["Fnstenv_m28byte", "Fldenv_m28byte", 28, 16, 24],
      ["Fnstenv_m14byte", "Fldenv_m14byte", 14, 8, 12],
    ] as const
  ) {
    f.gen(50, (r) => {
      const st = xcase(r, Array.from({ length: r.int(9) }, () => anyExt(r)), { unmasked: 0.2 });
      const a = addr(r, 64, 4);
      const m = memFor(r, st, a);
      const mo = memFor(r, st, addr(r, 16), [m.base]);
      const ops = [
        () => i2("Fadd_st0_sti", ST[0]!, ST[r.int(8)]!),
        () => im("Fld_m64fp", mo()),
        () => i0("Fld1"),
        () => i1("Ffree_sti", ST[r.int(8)]!),
        () => i0("Fxam"),
      ];
      const pre = Array.from({ length: r.int(3) }, () => r.pick(ops)());
      const instrs = [
        ...pre,
        im(nm, m()),
        ins.createMemU32(code("Mov_rm16_imm16"), m(csOff), 0),
        ins.createMemU32(code("Mov_rm16_imm16"), m(dsOff), 0),
      ];
      if (r.bool(0.5)) {
        // modify the image (control word, status flags, tags) and load it back
        if (r.bool(0.5)) {
          instrs.push(ins.createMemU32(code("Mov_rm16_imm16"), m(0), fcw(r, { unmasked: 0.3 })));
        }
        if (r.bool(0.5)) {
          instrs.push(
            ins.createMemU32(code("Mov_rm16_imm16"), m(len === 28 ? 8 : 4), r.u32() & 0xffff),
          );
        }
        instrs.push(im(ld, m()));
        if (r.bool(0.5)) instrs.push(im(nm, m(len === 28 ? 32 : 16)));
        instrs.push(ins.createMemU32(code("Mov_rm16_imm16"), m((len === 28 ? 32 : 16) + csOff), 0));
        instrs.push(ins.createMemU32(code("Mov_rm16_imm16"), m((len === 28 ? 32 : 16) + dsOff), 0));
      }
      return { form: nm.toLowerCase().replace("_", "."), st, instrs };
    });
  }
  // fnsave / frstor (108 / 94 bytes)
  for (
    const [nm, ld, csOff, dsOff] of [
      ["Fnsave_m108byte", "Frstor_m108byte", 16, 24],
      ["Fnsave_m94byte", "Frstor_m94byte", 8, 12],
    ] as const
  ) {
    f.gen(40, (r) => {
      const st = xcase(r, Array.from({ length: r.int(9) }, () => anyExt(r)), { unmasked: 0.2 });
      const m = memFor(r, st, addr(r, 240, 4));
      const instrs = [
        ...(r.bool(0.5) ? [i2("Fmul_st0_sti", ST[0]!, ST[r.int(8)]!)] : []),
        im(nm, m()),
        ins.createMemU32(code("Mov_rm16_imm16"), m(csOff), 0),
        ins.createMemU32(code("Mov_rm16_imm16"), m(dsOff), 0),
      ];
      if (r.bool(0.7)) {
        instrs.push(i0("Fld1"));
        instrs.push(im(ld, m()));
        if (r.bool(0.5)) {
          instrs.push(im(nm, m(120)));
          instrs.push(ins.createMemU32(code("Mov_rm16_imm16"), m(120 + csOff), 0));
          instrs.push(ins.createMemU32(code("Mov_rm16_imm16"), m(120 + dsOff), 0));
        }
      }
      return { form: nm.toLowerCase().replace("_", "."), st, instrs };
    });
  }
  // unmasked exceptions: pending until the next waiting instruction (#MF), or cleared by fnclex;
  // which control instructions wait (fldcw, fldenv, frstor) and which do not (fnstenv, fnsave,
  // fnstsw, fninit, fnclex, fxsave)
  f.gen(200, (r) => {
    const [a, b] = arithOperands(r);
    const st = xcase(r, [a, b, anyExt(r)], { unmasked: 1 });
    const op = r.pick(ARITH);
    const m = memFor(r, st, addr(r, 512, 16));
    const pre: Instruction[] = [];
    const k = r.int(16);
    let tail: Instruction[];
    if (k === 0) {
      pre.push(im("Fnstenv_m28byte", m()), im("Fldenv_m28byte", m()));
      tail = [im("Fldenv_m28byte", m())];
    } else if (k === 1) {
      pre.push(im("Fnsave_m108byte", m()), im("Frstor_m108byte", m()));
      tail = [im("Frstor_m108byte", m())];
    } else if (k === 2) {
      tail = [
        im("Fnstenv_m28byte", m()),
        ins.createMemU32(code("Mov_rm16_imm16"), m(16), 0),
        ins.createMemU32(code("Mov_rm16_imm16"), m(24), 0),
        i0("Fnop"),
      ];
    } else if (k === 3) {
      tail = [
        im("Fnsave_m108byte", m()),
        ins.createMemU32(code("Mov_rm16_imm16"), m(16), 0),
        ins.createMemU32(code("Mov_rm16_imm16"), m(24), 0),
      ];
    } else if (k === 4) {
      st.useSse(r);
      // FOP/FIP/FDP: the reference CPU stores them only with ES = 1 (this one always)
      tail = [
        im("Fxsave64_m512byte", m()),
        ins.createMemU32(code("Mov_rm16_imm16"), m(6), 0),
        ins.createMemI32(code("Mov_rm64_imm32"), m(8), 0),
        ins.createMemI32(code("Mov_rm64_imm32"), m(16), 0),
        ins.createMemU32(code("Mov_rm32_imm32"), m(28), 0),
      ];
    } else if (k === 5) {
      tail = [...plant(m, BigInt(fcw(r, { unmasked: 0.5 })), 2), im("Fldcw_m2byte", m())];
    } else {
      tail = r.pick([
        [i0("Wait")],
        [i0("Fnop")],
        [i2("Fxch_st0_sti", ST[0]!, ST[1]!)],
        [i0("Fnclex"), i0("Fnop")],
        [i1("Fnstsw_AX", Register.AX), i0("Fld1")],
        [i0("Fninit"), i0("Fld1")],
        [i1("Ffree_sti", ST[2]!)],
        [i0("Fxam")],
        [i0("Fincstp")],
        [im("Fnstcw_m2byte", m())],
        [],
      ]);
    }
    return {
      form: `${op.toLowerCase()}.unmasked`,
      st,
      instrs: [...pre, i2(`${op}_st0_sti`, ST[0]!, ST[1]!), ...tail],
    };
  });
  // 8087/80287 leftovers: no-ops
  for (const nm of ["Fneni", "Fndisi", "Fnsetpm"]) {
    f.gen(3, (r) => ({ form: nm.toLowerCase(), st: xcase(r, [anyExt(r)]), instrs: [i0(nm)] }));
  }
  // fxsave after x87 work (FOP/FIP/FDP overwritten: the reference CPU stores them only with an
  // exception pending), and MMX → x87 transitions
  f.gen(30, (r) => {
    const st = xcase(r, Array.from({ length: r.int(6) }, () => anyExt(r)));
    st.useSse(r);
    const m = memFor(r, st, addr(r, 512, 16));
    return {
      form: "x87.fxsave",
      st,
      instrs: [
        i0("Fld1"),
        i2("Fadd_st0_sti", ST[0]!, ST[r.int(8)]!),
        im("Fxsave64_m512byte", m()),
        ins.createMemU32(code("Mov_rm16_imm16"), m(6), 0),
        ins.createMemI32(code("Mov_rm64_imm32"), m(8), 0),
        ins.createMemI32(code("Mov_rm64_imm32"), m(16), 0),
        ins.createMemU32(code("Mov_rm32_imm32"), m(28), 0),
      ],
    };
  });
  f.gen(40, (r) => {
    const st = xcase(r, Array.from({ length: r.int(4) }, () => anyExt(r)));
    const [g] = pickRegs(r, 64, 1);
    st.set(g!, r.u64());
    const emms = r.bool(0.5);
    return {
      form: emms ? "mmx.emms.fld" : "mmx.fld",
      st,
      instrs: [
        ins.createRegReg(code("Movq_mm_rm64"), MM[r.int(8)]!, g!),
        ...(emms ? [i0("Emms")] : []),
        r.pick([i0("Fld1"), i0("Fldpi"), i1("Fld_sti", ST[r.int(8)]!), i0("Fxam")]),
        ...(r.bool(0.5) ? [i2("Fadd_st0_sti", ST[0]!, ST[1]!)] : []),
      ],
    };
  });
  // the tag word FNSTENV computes from the contents after MMX use
  f.gen(12, (r) => {
    const st = xcase(r, Array.from({ length: r.int(4) }, () => anyExt(r)));
    const [g] = pickRegs(r, 64, 1);
    st.set(g!, r.u64());
    const m = memFor(r, st, addr(r, 32, 4), [regInfo(g!).idx]);
    return {
      form: "mmx.fnstenv",
      st,
      instrs: [
        ins.createRegReg(code("Movq_mm_rm64"), MM[r.int(8)]!, g!),
        im("Fnstenv_m28byte", m()),
        ins.createMemU32(code("Mov_rm16_imm16"), m(16), 0),
        ins.createMemU32(code("Mov_rm16_imm16"), m(24), 0),
        i0("Emms"),
      ],
    };
  });
  // mmx after an unmasked x87 exception: #MF
  f.gen(10, (r) => {
    const st = xcase(r, [anyExt(r), ext(0, 0, 0n)]);
    st.x87!.fcw &= ~0x05;
    const [g] = pickRegs(r, 64, 1);
    return {
      form: "fdiv.zero.mmx",
      st,
      instrs: [
        i2("Fdiv_st0_sti", ST[0]!, ST[1]!),
        ins.createRegReg(code("Movq_mm_rm64"), MM[0]!, g!),
      ],
    };
  });
  // stack overflow / underflow with masked and unmasked IE
  f.gen(40, (r) => {
    const full = r.bool(0.5);
    const st = xcase(r, Array.from({ length: full ? 8 : 0 }, () => anyExt(r)), { unmasked: 0.5 });
    const body = full
      ? r.pick([[i0("Fld1")], [i1("Fld_sti", ST[3]!)], [i0("Fldz"), i0("Fldz")]])
      : r.pick([[i0("Fchs")], [i2("Fadd_st0_sti", ST[0]!, ST[1]!)], [i0("Fsqrt")], [i0("Fxam")]]);
    return {
      form: full ? "stack.overflow" : "stack.underflow",
      st,
      instrs: [...body, ...maybeWait(r, st, 0.3)],
    };
  });
}

export type { Def };
