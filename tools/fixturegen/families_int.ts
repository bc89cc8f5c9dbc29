/** Integer-ISA fixture families. */
import {
  AF,
  ARITH,
  cap,
  CF,
  code,
  DATA_BASE,
  DATA_END,
  dataAddr,
  DF,
  Family,
  type FlagRule,
  fullName,
  ins,
  Instruction,
  M64,
  mask,
  mem,
  memAt,
  memAtF,
  MemoryOperand,
  OF,
  PF,
  pickRegs,
  R64,
  R8H,
  randFlags,
  reg,
  regInfo,
  Register,
  RepPrefixKind,
  type Rng,
  sext,
  SF,
  St,
  val,
  ZF,
} from "./core.ts";

const W_ALL = [8, 16, 32, 64];
const W_NO8 = [16, 32, 64];

const ACC: Record<number, string> = {
  8: "AL_imm8",
  16: "AX_imm16",
  32: "EAX_imm32",
  64: "RAX_imm32",
};
const ACCREG: Record<number, Register> = {
  8: Register.AL,
  16: Register.AX,
  32: Register.EAX,
  64: Register.RAX,
};
const immW = (w: number) => Math.min(w, 32);
/** `rm${w}_imm${iw}` code suffix of the full-immediate group-1 form */
const rmImm = (w: number) => `rm${w}_imm${immW(w)}`;

function immVal(r: Rng, iw: number): number {
  return Number(sext(val(r, iw), iw));
}

/** Group-1 ALU ops (add/adc/sub/sbb/cmp/and/or/xor) and test, all forms. */
function aluOps(f: Family, ops: string[], nReg: number, nMem: number): void {
  for (const op of ops) {
    const Op = cap(op);
    const isTest = op === "test";
    const noWrite = op === "cmp" || isTest;
    for (const w of W_ALL) {
      // reg, reg (MR encoding)
      f.gen(nReg, (r) => {
        const st = new St(r);
        const [a, b] = pickRegs(r, w, 2, { allowSame: true });
        st.set(a!, val(r, w)).set(b!, val(r, w));
        return {
          form: `${op}.r${w}.r${w}`,
          st,
          instrs: [ins.createRegReg(code(`${Op}_rm${w}_r${w}`), a!, b!)],
        };
      });
      // reg, reg (RM encoding)
      if (!isTest) {
        f.gen(Math.ceil(nReg / 3), (r) => {
          const st = new St(r);
          const [a, b] = pickRegs(r, w, 2);
          st.set(a!, val(r, w)).set(b!, val(r, w));
          return {
            form: `${op}.r${w}.r${w}.rm`,
            st,
            instrs: [ins.createRegReg(code(`${Op}_r${w}_rm${w}`), a!, b!)],
          };
        });
      }
      // accumulator, imm
      f.gen(Math.ceil(nReg / 2), (r) => {
        const st = new St(r);
        st.set(ACCREG[w]!, val(r, w));
        return {
          form: `${op}.acc${w}.imm`,
          st,
          instrs: [ins.createRegI32(code(`${Op}_${ACC[w]}`), ACCREG[w]!, immVal(r, immW(w)))],
        };
      });
      // reg, imm (full width)
      f.gen(nReg, (r) => {
        const st = new St(r);
        const [a] = pickRegs(r, w, 1);
        st.set(a!, val(r, w));
        return {
          form: `${op}.r${w}.imm`,
          st,
          instrs: [ins.createRegI32(code(`${Op}_${rmImm(w)}`), a!, immVal(r, immW(w)))],
        };
      });
      // reg, imm8 sign-extended
      if (w > 8 && !isTest) {
        f.gen(nReg, (r) => {
          const st = new St(r);
          const [a] = pickRegs(r, w, 1);
          st.set(a!, val(r, w));
          return {
            form: `${op}.r${w}.imm8`,
            st,
            instrs: [ins.createRegI32(code(`${Op}_rm${w}_imm8`), a!, immVal(r, 8))],
          };
        });
      }
      // memory forms
      for (const lock of noWrite ? [false] : [false, true]) {
        const lp = lock ? "lock." : "";
        f.gen(nMem, (r) => {
          const st = new St(r);
          const [b] = pickRegs(r, w, 1);
          st.set(b!, val(r, w));
          const m = memAt(r, st, dataAddr(r, w / 8), [regInfo(b!).idx]);
          const i = ins.createMemReg(code(`${Op}_rm${w}_r${w}`), m, b!);
          i.hasLockPrefix = lock;
          return { form: `${lp}${op}.m${w}.r${w}`, st, instrs: [i] };
        });
        f.gen(nMem, (r) => {
          const st = new St(r);
          const m = memAt(r, st, dataAddr(r, w / 8));
          const i = r.bool() || isTest || w === 8
            ? ins.createMemI32(code(`${Op}_${rmImm(w)}`), m, immVal(r, immW(w)))
            : ins.createMemI32(code(`${Op}_rm${w}_imm8`), m, immVal(r, 8));
          i.hasLockPrefix = lock;
          return { form: `${lp}${op}.m${w}.imm`, st, instrs: [i] };
        });
      }
      if (!isTest) {
        f.gen(nMem, (r) => {
          const st = new St(r);
          const [a] = pickRegs(r, w, 1);
          st.set(a!, val(r, w));
          const m = memAt(r, st, dataAddr(r, w / 8), [regInfo(a!).idx]);
          return {
            form: `${op}.r${w}.m${w}`,
            st,
            instrs: [ins.createRegMem(code(`${Op}_r${w}_rm${w}`), a!, m)],
          };
        });
      }
    }
  }
}

export function alu(f: Family): void {
  aluOps(f, ["add", "adc", "sub", "sbb", "cmp"], 9, 3);
}

export function logic(f: Family): void {
  aluOps(f, ["and", "or", "xor", "test"], 8, 3);
}

export function unary(f: Family): void {
  for (const op of ["inc", "dec", "neg", "not"]) {
    const Op = cap(op);
    for (const w of W_ALL) {
      f.gen(14, (r) => {
        const st = new St(r);
        const [a] = pickRegs(r, w, 1);
        st.set(a!, val(r, w));
        return { form: `${op}.r${w}`, st, instrs: [ins.createReg(code(`${Op}_rm${w}`), a!)] };
      });
      for (const lock of [false, true]) {
        f.gen(4, (r) => {
          const st = new St(r);
          const m = memAt(r, st, dataAddr(r, w / 8));
          const i = ins.createMem(code(`${Op}_rm${w}`), m);
          i.hasLockPrefix = lock;
          return { form: `${lock ? "lock." : ""}${op}.m${w}`, st, instrs: [i] };
        });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Shifts and rotates

const COUNTS = [0, 1, 7, 8, 15, 16, 31, 32, 33, 63, 64, 65, 255];
const cmask = (w: number) => (w === 64 ? 63 : 31);

function shiftRule(op: string, w: number, count: number): FlagRule {
  const c = count & cmask(w);
  if (c === 0) return { undef: 0, modified: 0 };
  if (op === "rol" || op === "ror" || op === "rcl" || op === "rcr") {
    return { undef: c === 1 ? 0 : OF, modified: CF | OF };
  }
  let u = AF | (c === 1 ? 0 : OF);
  if ((op === "shl" || op === "shr") && c >= w) u |= CF;
  return { undef: u, modified: ARITH };
}

function shiftFamily(f: Family, ops: string[]): void {
  for (const op of ops) {
    const Op = cap(op);
    for (const w of W_ALL) {
      // by 1 (D0/D1)
      f.gen(6, (r) => {
        const st = new St(r);
        const [a] = pickRegs(r, w, 1);
        st.set(a!, val(r, w));
        return {
          form: `${op}.r${w}.1`,
          st,
          instrs: [ins.createRegI32(code(`${Op}_rm${w}_1`), a!, 1)],
          rules: { 0: shiftRule(op, w, 1) },
        };
      });
      // by imm8 and by CL, every interesting count
      for (const count of [...COUNTS, -1, -1]) {
        f.gen(2, (r) => {
          const c = count < 0 ? r.int(256) : count;
          const st = new St(r);
          const [a] = pickRegs(r, w, 1);
          st.set(a!, val(r, w));
          return {
            form: `${op}.r${w}.imm`,
            st,
            instrs: [ins.createRegI32(code(`${Op}_rm${w}_imm8`), a!, c)],
            rules: { 0: shiftRule(op, w, c) },
          };
        });
        f.gen(2, (r) => {
          const c = count < 0 ? r.int(256) : count;
          const st = new St(r);
          const [a] = pickRegs(r, w, 1, { exclude: [1] });
          st.set(a!, val(r, w)).setIdx(1, (r.u64() & ~0xffn) | BigInt(c));
          return {
            form: `${op}.r${w}.cl`,
            st,
            instrs: [ins.createRegReg(code(`${Op}_rm${w}_CL`), a!, Register.CL)],
            rules: { 0: shiftRule(op, w, c) },
          };
        });
      }
      // memory destination
      f.gen(6, (r) => {
        const c = r.pick([...COUNTS, r.int(256)]);
        const st = new St(r);
        const m = memAt(r, st, dataAddr(r, w / 8), [1]);
        const byCl = r.bool();
        st.setIdx(1, (r.u64() & ~0xffn) | BigInt(c));
        const i = byCl
          ? ins.createMemReg(code(`${Op}_rm${w}_CL`), m, Register.CL)
          : ins.createMemI32(code(`${Op}_rm${w}_imm8`), m, c);
        return {
          form: `${op}.m${w}.${byCl ? "cl" : "imm"}`,
          st,
          instrs: [i],
          rules: { 0: shiftRule(op, w, c) },
        };
      });
    }
  }
}

export function shift(f: Family): void {
  shiftFamily(f, ["shl", "shr", "sar"]);
}

export function rotate(f: Family): void {
  shiftFamily(f, ["rol", "ror", "rcl", "rcr"]);
}

export function shiftd(f: Family): void {
  for (const op of ["shld", "shrd"]) {
    const Op = cap(op);
    for (const w of W_NO8) {
      for (const count of [...COUNTS, 17, 24, -1, -1, -1]) {
        for (const byCl of [false, true]) {
          f.gen(3, (r) => {
            const c = count < 0 ? r.int(256) : count;
            const st = new St(r);
            const useMem = r.int(6) === 0;
            const [a, b] = pickRegs(r, w, 2, { exclude: [1] });
            st.set(a!, val(r, w)).set(b!, val(r, w));
            st.setIdx(1, (r.u64() & ~0xffn) | BigInt(c));
            const mc = c & cmask(w);
            const bad = w === 16 && mc > 16;
            if (bad && useMem) return null; // undefined memory result: not recorded
            const dst = useMem ? memAt(r, st, dataAddr(r, w / 8), [1, regInfo(b!).idx]) : null;
            const nm = byCl ? `${Op}_rm${w}_r${w}_CL` : `${Op}_rm${w}_r${w}_imm8`;
            const i = dst
              ? (byCl
                ? ins.createMemRegReg(code(nm), dst, b!, Register.CL)
                : ins.createMemRegI32(code(nm), dst, b!, c))
              : (byCl
                ? ins.createRegRegReg(code(nm), a!, b!, Register.CL)
                : ins.createRegRegI32(code(nm), a!, b!, c));
            const rule: FlagRule = mc === 0
              ? { undef: 0, modified: 0 }
              : bad
              ? { undef: ARITH, modified: ARITH }
              : { undef: AF | (mc === 1 ? 0 : OF), modified: ARITH };
            return {
              form: `${op}.${dst ? "m" : "r"}${w}.r${w}.${byCl ? "cl" : "imm"}`,
              st,
              instrs: [i],
              rules: { 0: rule },
              undefinedRegs: bad ? [{ after: 0, regs: [fullName(a!)] }] : [],
            };
          });
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Multiply / divide

export function mul(f: Family): void {
  for (const op of ["mul", "imul"]) {
    const Op = cap(op);
    for (const w of W_ALL) {
      f.gen(24, (r) => {
        const st = new St(r);
        st.set(ACCREG[w]!, val(r, w));
        if (w > 8) st.setIdx(2, r.u64());
        const useMem = r.int(5) === 0;
        const [s] = pickRegs(r, w, 1, { allowSame: true });
        let i;
        if (useMem) {
          i = ins.createMem(code(`${Op}_rm${w}`), memAt(r, st, dataAddr(r, w / 8), [0, 2]));
        } else {
          if (regInfo(s!).idx !== 0 || regInfo(s!).shift !== 0) st.set(s!, val(r, w));
          i = ins.createReg(code(`${Op}_rm${w}`), s!);
        }
        return { form: `${op}.${useMem ? "m" : "r"}${w}`, st, instrs: [i] };
      });
    }
  }
  for (const w of W_NO8) {
    f.gen(30, (r) => {
      const st = new St(r);
      const [a, b] = pickRegs(r, w, 2, { allowSame: true });
      st.set(b!, val(r, w)).set(a!, val(r, w));
      const useMem = r.int(5) === 0;
      const i = useMem
        ? ins.createRegMem(
          code(`Imul_r${w}_rm${w}`),
          a!,
          memAt(r, st, dataAddr(r, w / 8), [regInfo(a!).idx]),
        )
        : ins.createRegReg(code(`Imul_r${w}_rm${w}`), a!, b!);
      return { form: `imul.r${w}.${useMem ? "m" : "r"}${w}`, st, instrs: [i] };
    });
    for (const i8 of [false, true]) {
      f.gen(24, (r) => {
        const st = new St(r);
        const [a, b] = pickRegs(r, w, 2, { allowSame: true });
        st.set(a!, val(r, w)).set(b!, val(r, w));
        const iw = i8 ? 8 : immW(w);
        const imm = immVal(r, iw);
        const nm = `Imul_r${w}_rm${w}_imm${iw}`;
        const useMem = r.int(5) === 0;
        const i = useMem
          ? ins.createRegMemI32(code(nm), a!, memAt(r, st, dataAddr(r, w / 8)), imm)
          : ins.createRegRegI32(code(nm), a!, b!, imm);
        return { form: `imul.r${w}.${useMem ? "m" : "r"}${w}.imm${i8 ? 8 : ""}`, st, instrs: [i] };
      });
    }
  }
}

/** Picks a dividend/divisor pair. kind: "ok" | "zero" | "ovf". Returns [dividend, divisor]. */
function divValues(
  r: Rng,
  w: number,
  signed: boolean,
  kind: string,
  divisor?: bigint,
): [bigint, bigint] {
  const W = BigInt(w);
  const m2 = mask(2 * w);
  if (kind === "zero") return [r.bits(2 * w), 0n];
  if (!signed) {
    let d = divisor ?? val(r, w);
    if (d === 0n) d = 1n + r.bits(w - 1);
    if (kind === "ovf") {
      const hi = d + (r.bits(w) % (mask(w) - d + 1n));
      return [((hi << W) | r.bits(w)) & m2, d];
    }
    const q = val(r, w);
    const rem = d > 1n ? r.u64() % d : 0n;
    return [(q * d + rem) & m2, d];
  }
  let d = divisor !== undefined ? sext(divisor, w) : sext(val(r, w), w);
  if (d === 0n) d = -1n;
  if (kind === "ovf") {
    if (r.bool()) return [(-(1n << (W - 1n))) & m2, mask(w)]; // INT_MIN / -1
    const qmax = 1n << (W - 1n);
    const ad = d < 0n ? -d : d;
    const q = (qmax + (r.bits(w) % qmax)) * (r.bool() ? 1n : -1n);
    const dividend = q * d;
    if (dividend >= (1n << (2n * W - 1n)) || dividend < -(1n << (2n * W - 1n)) || ad === 0n) {
      return [(-(1n << (2n * W - 1n))) & m2, mask(w)];
    }
    return [dividend & m2, d & mask(w)];
  }
  const q = sext(val(r, w), w);
  const ad = d < 0n ? -d : d;
  let rem = ad > 1n ? r.u64() % ad : 0n;
  const prod = q * d;
  if (prod < 0n || (prod === 0n && r.bool())) rem = -rem;
  return [(prod + rem) & m2, d & mask(w)];
}

export function div(f: Family): void {
  for (const op of ["div", "idiv"]) {
    const Op = cap(op);
    const signed = op === "idiv";
    for (const w of W_ALL) {
      f.gen(70, (r) => {
        const st = new St(r);
        const k = r.int(14);
        const kind = k === 0 ? "zero" : k === 1 ? "ovf" : "ok";
        const useMem = r.int(5) === 0;
        const exclude = w === 8 ? [0] : [0, 2];
        let src: Register | (() => MemoryOperand);
        let dv: bigint | undefined;
        if (useMem) {
          const addr = dataAddr(r, w / 8);
          src = memAtF(r, st, addr, exclude);
          dv = st.memRead(addr, w / 8);
          if (dv === 0n && kind !== "zero") return null;
        } else {
          src = pickRegs(r, w, 1, { exclude })[0]!;
          if (w === 8 && R8H.includes(src)) src = reg(8, 3); // AH would be part of the dividend
        }
        const [dividend, d] = divValues(r, w, signed, kind, dv);
        if (w === 8) st.set(Register.AX, dividend);
        else {
          st.set(ACCREG[w]!, dividend & mask(w));
          st.set(reg(w, 2), dividend >> BigInt(w));
        }
        if (typeof src !== "function") st.set(src, d);
        if (typeof src === "function" && kind === "zero") {
          // make the memory divisor zero with a preceding store
          const zero = ins.createMemI32(
            code(`Mov_${w === 64 ? "rm64_imm32" : `rm${w}_imm${w}`}`),
            src(),
            0,
          );
          return {
            form: `${op}.m${w}.zero`,
            st,
            instrs: [zero, ins.createMem(code(`${Op}_rm${w}`), src())],
          };
        }
        const i = typeof src === "function"
          ? ins.createMem(code(`${Op}_rm${w}`), src())
          : ins.createReg(code(`${Op}_rm${w}`), src);
        return {
          form: `${op}.${useMem ? "m" : "r"}${w}${kind === "ok" ? "" : "." + kind}`,
          st,
          instrs: [i],
        };
      });
      // divisor is part of the dividend (div rdx / div rax / div ah ...)
      f.gen(4, (r) => {
        const st = new St(r);
        const src = w === 8 ? r.pick([Register.AL, Register.AH]) : reg(w, r.pick([0, 2]));
        if (w === 8) st.set(Register.AX, r.bits(16));
        else {
          st.set(reg(w, 0), val(r, w));
          st.set(reg(w, 2), r.bool() ? 0n : val(r, w));
        }
        return { form: `${op}.r${w}.self`, st, instrs: [ins.createReg(code(`${Op}_rm${w}`), src)] };
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Bit test, bit scan, count

export function bt(f: Family): void {
  for (const op of ["bt", "bts", "btr", "btc"]) {
    const Op = cap(op);
    for (const w of W_NO8) {
      f.gen(12, (r) => {
        const st = new St(r);
        const [a, b] = pickRegs(r, w, 2);
        st.set(a!, val(r, w)).set(b!, r.bool() ? BigInt(r.int(w)) : val(r, w));
        return {
          form: `${op}.r${w}.r${w}`,
          st,
          instrs: [ins.createRegReg(code(`${Op}_rm${w}_r${w}`), a!, b!)],
        };
      });
      f.gen(10, (r) => {
        const st = new St(r);
        const [a] = pickRegs(r, w, 1);
        st.set(a!, val(r, w));
        return {
          form: `${op}.r${w}.imm`,
          st,
          instrs: [
            ins.createRegI32(code(`${Op}_rm${w}_imm8`), a!, r.bool() ? r.int(w) : r.int(256)),
          ],
        };
      });
      // memory, register bit offset: signed offset selecting a unit outside the addressed one
      const locks = op === "bt" ? [false] : [false, true];
      for (const lock of locks) {
        f.gen(14, (r) => {
          const st = new St(r);
          const [b] = pickRegs(r, w, 1);
          const base = DATA_BASE + 0x1000n + BigInt(r.int(64));
          const lim = (0x1000 - 0x48) * 8;
          const off = r.pick([
            0,
            1,
            w - 1,
            w,
            w + 1,
            -1,
            -w,
            -w - 1,
            63,
            64,
            -64,
            -65,
            1000,
            -1000,
            r.range(-lim, lim),
            r.range(-lim, lim),
            r.range(-lim, lim),
          ]);
          st.set(b!, BigInt(off) & mask(w));
          const m = memAt(r, st, base, [regInfo(b!).idx]);
          const i = ins.createMemReg(code(`${Op}_rm${w}_r${w}`), m, b!);
          i.hasLockPrefix = lock;
          return { form: `${lock ? "lock." : ""}${op}.m${w}.r${w}`, st, instrs: [i] };
        });
        f.gen(5, (r) => {
          const st = new St(r);
          const m = memAt(r, st, dataAddr(r, w / 8));
          const i = ins.createMemI32(code(`${Op}_rm${w}_imm8`), m, r.int(256));
          i.hasLockPrefix = lock;
          return { form: `${lock ? "lock." : ""}${op}.m${w}.imm`, st, instrs: [i] };
        });
      }
      // bit offset reaching the unmapped page after the data area -> #PF
      f.gen(2, (r) => {
        const st = new St(r);
        const [b] = pickRegs(r, w, 1);
        const off = w === 16 ? 32767 - r.int(64) : 0x1000 * 8 + r.int(4096);
        st.set(b!, BigInt(off));
        const m = memAt(r, st, DATA_BASE + (w === 16 ? 0x1800n : 0x1000n), [regInfo(b!).idx]);
        return {
          form: `${op}.m${w}.r${w}.fault`,
          st,
          instrs: [ins.createMemReg(code(`${Op}_rm${w}_r${w}`), m, b!)],
        };
      });
    }
  }
}

function scanVal(r: Rng, w: number): bigint {
  const k = r.int(6);
  if (k === 0) return 0n;
  if (k === 1) return 1n << BigInt(r.int(w));
  if (k === 2) return ((1n << BigInt(r.int(w))) | (1n << BigInt(r.int(w))));
  return val(r, w);
}

export function bitscan(f: Family): void {
  for (const op of ["bsf", "bsr", "tzcnt", "lzcnt", "popcnt"]) {
    const Op = cap(op);
    for (const w of W_NO8) {
      f.gen(40, (r) => {
        const st = new St(r);
        const [a, b] = pickRegs(r, w, 2, { allowSame: true });
        const useMem = r.int(5) === 0;
        let v: bigint;
        let i;
        if (useMem) {
          const addr = dataAddr(r, w / 8);
          const m = memAt(r, st, addr, [regInfo(a!).idx]);
          v = st.memRead(addr, w / 8);
          i = ins.createRegMem(code(`${Op}_r${w}_rm${w}`), a!, m);
        } else {
          st.set(a!, val(r, w));
          v = scanVal(r, w);
          st.set(b!, v);
          v = st.get(b!);
          i = ins.createRegReg(code(`${Op}_r${w}_rm${w}`), a!, b!);
        }
        const zeroUndef = (op === "bsf" || op === "bsr") && v === 0n;
        return {
          form: `${op}.r${w}.${useMem ? "m" : "r"}${w}${v === 0n ? ".zero" : ""}`,
          st,
          instrs: [i],
          undefinedRegs: zeroUndef ? [{ after: 0, regs: [fullName(a!)] }] : [],
        };
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Moves, extensions, byte swap

export function mov(f: Family): void {
  // Data-area pattern probes: 8 plain loads from fixed offsets (first bytes, page boundary, last
  // bytes) so a harness can check its seededBytes() against what the runner actually wrote.
  // The first case uses seed 0 (replaced by 0x6d2b79f5 in the PRNG).
  let first = true;
  f.gen(12, (r) => {
    const st = new St(r);
    if (first) st.seed = 0;
    first = false;
    const offs = [0, 8, 0x123, 0xff8, 0x1000, 0x1abc, 0x1ff0, 0x1ff8];
    const dsts = [0, 1, 2, 5, 6, 7, 8, 9].map((i) => reg(64, i));
    st.setIdx(3, DATA_BASE);
    return {
      form: "pattern.load",
      st,
      instrs: offs.map((o, i) =>
        ins.createRegMem(code("Mov_r64_rm64"), dsts[i]!, mem(Register.RBX, o))
      ),
    };
  });
  for (const w of W_ALL) {
    f.gen(10, (r) => {
      const st = new St(r);
      const [a, b] = pickRegs(r, w, 2, { allowSame: true });
      st.set(b!, val(r, w));
      const rm = r.bool();
      return {
        form: `mov.r${w}.r${w}${rm ? ".rm" : ""}`,
        st,
        instrs: [ins.createRegReg(code(rm ? `Mov_r${w}_rm${w}` : `Mov_rm${w}_r${w}`), a!, b!)],
      };
    });
    f.gen(6, (r) => {
      const st = new St(r);
      const [a] = pickRegs(r, w, 1);
      const i = w === 64
        ? ins.createRegU64(code("Mov_r64_imm64"), a!, val(r, 64))
        : ins.createRegI32(code(`Mov_r${w}_imm${w}`), a!, Number(sext(val(r, w), w)));
      return { form: `mov.r${w}.imm`, st, instrs: [i] };
    });
    f.gen(4, (r) => {
      const st = new St(r);
      const [a] = pickRegs(r, w, 1);
      return {
        form: `mov.r${w}.imm.rm`,
        st,
        instrs: [ins.createRegI32(code(`Mov_rm${w}_imm${immW(w)}`), a!, immVal(r, immW(w)))],
      };
    });
    f.gen(5, (r) => {
      const st = new St(r);
      const [a] = pickRegs(r, w, 1);
      st.set(a!, val(r, w));
      const m = memAt(r, st, dataAddr(r, w / 8), [regInfo(a!).idx]);
      return r.bool()
        ? {
          form: `mov.m${w}.r${w}`,
          st,
          instrs: [ins.createMemReg(code(`Mov_rm${w}_r${w}`), m, a!)],
        }
        : {
          form: `mov.r${w}.m${w}`,
          st,
          instrs: [ins.createRegMem(code(`Mov_r${w}_rm${w}`), a!, m)],
        };
    });
    f.gen(3, (r) => {
      const st = new St(r);
      const m = memAt(r, st, dataAddr(r, w / 8));
      return {
        form: `mov.m${w}.imm`,
        st,
        instrs: [ins.createMemI32(code(`Mov_rm${w}_imm${immW(w)}`), m, immVal(r, immW(w)))],
      };
    });
    // moffs (absolute 64-bit address) forms
    f.gen(3, (r) => {
      const st = new St(r);
      const addr = dataAddr(r, w / 8);
      const m = new MemoryOperand(Register.None, Register.None, 1, addr, 8, false, Register.None);
      const acc = ACCREG[w]!;
      st.set(acc, val(r, w));
      const nm = {
        8: ["AL_moffs8", "moffs8_AL"],
        16: ["AX_moffs16", "moffs16_AX"],
        32: ["EAX_moffs32", "moffs32_EAX"],
        64: ["RAX_moffs64", "moffs64_RAX"],
      }[w]!;
      return r.bool()
        ? {
          form: `mov.acc${w}.moffs`,
          st,
          instrs: [ins.createRegMem(code(`Mov_${nm[0]}`), acc, m)],
        }
        : {
          form: `mov.moffs.acc${w}`,
          st,
          instrs: [ins.createMemReg(code(`Mov_${nm[1]}`), m, acc)],
        };
    });
  }
  // movzx / movsx
  for (const op of ["movzx", "movsx"]) {
    const Op = cap(op);
    for (const [dw, sw] of [[16, 8], [32, 8], [64, 8], [32, 16], [64, 16], [16, 16]] as const) {
      f.gen(12, (r) => {
        const st = new St(r);
        const [a] = pickRegs(r, dw, 1);
        const [b] = pickRegs(r, sw, 1, { allowSame: true });
        st.set(b!, val(r, sw));
        const useMem = r.int(4) === 0;
        const i = useMem
          ? ins.createRegMem(code(`${Op}_r${dw}_rm${sw}`), a!, memAt(r, st, dataAddr(r, sw / 8)))
          : ins.createRegReg(code(`${Op}_r${dw}_rm${sw}`), a!, b!);
        return { form: `${op}.r${dw}.${useMem ? "m" : "r"}${sw}`, st, instrs: [i] };
      });
    }
  }
  for (const [dw, nm] of [[64, "Movsxd_r64_rm32"], [32, "Movsxd_r32_rm32"]] as const) {
    f.gen(dw === 64 ? 16 : 4, (r) => {
      const st = new St(r);
      const [a] = pickRegs(r, dw, 1);
      const [b] = pickRegs(r, 32, 1, { allowSame: true });
      st.set(b!, val(r, 32));
      const useMem = r.int(4) === 0;
      const i = useMem
        ? ins.createRegMem(code(nm), a!, memAt(r, st, dataAddr(r, 4)))
        : ins.createRegReg(code(nm), a!, b!);
      return { form: `movsxd.r${dw}.${useMem ? "m" : "r"}32`, st, instrs: [i] };
    });
  }
  for (const w of [32, 64]) {
    f.gen(12, (r) => {
      const st = new St(r);
      const [a] = pickRegs(r, w, 1);
      st.set(a!, val(r, w));
      return { form: `bswap.r${w}`, st, instrs: [ins.createReg(code(`Bswap_r${w}`), a!)] };
    });
  }
  for (const nm of ["Cbw", "Cwde", "Cdqe", "Cwd", "Cdq", "Cqo"]) {
    f.gen(12, (r) => {
      const st = new St(r);
      st.setIdx(0, r.u64()).setIdx(2, r.u64());
      const w = { Cbw: 8, Cwde: 16, Cdqe: 32, Cwd: 16, Cdq: 32, Cqo: 64 }[nm]!;
      st.set(reg(w, 0), val(r, w));
      return { form: nm.toLowerCase(), st, instrs: [ins.create(code(nm))] };
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Exchange and atomics

export function xchg(f: Family): void {
  for (const w of W_ALL) {
    f.gen(8, (r) => {
      const st = new St(r);
      const [a, b] = pickRegs(r, w, 2, { allowSame: true });
      st.set(a!, val(r, w)).set(b!, val(r, w));
      return {
        form: `xchg.r${w}.r${w}`,
        st,
        instrs: [ins.createRegReg(code(`Xchg_rm${w}_r${w}`), a!, b!)],
      };
    });
    if (w > 8) {
      f.gen(4, (r) => {
        const st = new St(r);
        const [a] = pickRegs(r, w, 1, { exclude: [0] });
        st.set(a!, val(r, w)).set(ACCREG[w]!, val(r, w));
        const nm = { 16: "Xchg_r16_AX", 32: "Xchg_r32_EAX", 64: "Xchg_r64_RAX" }[w]!;
        return { form: `xchg.r${w}.acc`, st, instrs: [ins.createRegReg(code(nm), a!, ACCREG[w]!)] };
      });
    }
    f.gen(4, (r) => {
      const st = new St(r);
      const [b] = pickRegs(r, w, 1);
      st.set(b!, val(r, w));
      const m = memAt(r, st, dataAddr(r, w / 8), [regInfo(b!).idx]);
      return {
        form: `xchg.m${w}.r${w}`,
        st,
        instrs: [ins.createMemReg(code(`Xchg_rm${w}_r${w}`), m, b!)],
      };
    });
    // cmpxchg: success and failure, register and memory, with and without lock
    f.gen(10, (r) => {
      const st = new St(r);
      const [a, b] = pickRegs(r, w, 2, { exclude: [0] });
      const acc = ACCREG[w]!;
      st.set(acc, val(r, w)).set(a!, val(r, w)).set(b!, val(r, w));
      const eq = r.bool();
      if (eq) st.set(a!, st.get(acc));
      // On a failed 32-bit compare Intel writes the destination register back (zero-extending
      // it) while AMD leaves it alone: keep its upper half zero so both agree.
      if (w === 32) st.setIdx(regInfo(a!).idx, st.get(a!));
      return {
        form: `cmpxchg.r${w}.r${w}.${eq ? "eq" : "ne"}`,
        st,
        instrs: [ins.createRegReg(code(`Cmpxchg_rm${w}_r${w}`), a!, b!)],
      };
    });
    f.gen(2, (r) => {
      const st = new St(r);
      const [b] = pickRegs(r, w, 1, { allowSame: true });
      st.set(ACCREG[w]!, val(r, w)).set(b!, val(r, w));
      const a = r.bool() ? ACCREG[w]! : b!;
      if (w === 32) st.setIdx(regInfo(a).idx, st.get(a)); // see cmpxchg above
      return {
        form: `cmpxchg.r${w}.acc`,
        st,
        instrs: [ins.createRegReg(code(`Cmpxchg_rm${w}_r${w}`), a, r.bool() ? ACCREG[w]! : b!)],
      };
    });
    for (const lock of [false, true]) {
      f.gen(6, (r) => {
        const st = new St(r);
        const [b] = pickRegs(r, w, 1, { exclude: [0] });
        const addr = dataAddr(r, w / 8);
        const m = memAt(r, st, addr, [0, regInfo(b!).idx]);
        st.set(b!, val(r, w));
        const eq = r.bool();
        st.set(ACCREG[w]!, eq ? st.memRead(addr, w / 8) : val(r, w));
        const i = ins.createMemReg(code(`Cmpxchg_rm${w}_r${w}`), m, b!);
        i.hasLockPrefix = lock;
        return {
          form: `${lock ? "lock." : ""}cmpxchg.m${w}.r${w}.${eq ? "eq" : "ne"}`,
          st,
          instrs: [i],
        };
      });
      f.gen(5, (r) => {
        const st = new St(r);
        const [b] = pickRegs(r, w, 1);
        st.set(b!, val(r, w));
        const m = memAt(r, st, dataAddr(r, w / 8), [regInfo(b!).idx]);
        const i = ins.createMemReg(code(`Xadd_rm${w}_r${w}`), m, b!);
        i.hasLockPrefix = lock;
        return { form: `${lock ? "lock." : ""}xadd.m${w}.r${w}`, st, instrs: [i] };
      });
    }
    f.gen(6, (r) => {
      const st = new St(r);
      const [a, b] = pickRegs(r, w, 2, { allowSame: true });
      st.set(a!, val(r, w)).set(b!, val(r, w));
      return {
        form: `xadd.r${w}.r${w}`,
        st,
        instrs: [ins.createRegReg(code(`Xadd_rm${w}_r${w}`), a!, b!)],
      };
    });
  }
  for (const [nm, bytes] of [["Cmpxchg8b_m64", 8], ["Cmpxchg16b_m128", 16]] as const) {
    for (const lock of [false, true]) {
      f.gen(10, (r) => {
        const st = new St(r);
        const addr = dataAddr(r, bytes, bytes);
        const m = memAt(r, st, addr, [0, 1, 2, 3]);
        const eq = r.bool();
        const half = bytes * 4;
        const old = st.memRead(addr, bytes);
        if (eq) {
          st.set(reg(half, 0), old & mask(half)).set(reg(half, 2), old >> BigInt(half));
          if (r.bool()) st.garbage(r, reg(half, 0)).garbage(r, reg(half, 2));
        } else {
          st.setIdx(0, r.u64()).setIdx(2, r.u64());
        }
        st.setIdx(1, r.u64()).setIdx(3, r.u64());
        const i = ins.createMem(code(nm), m);
        i.hasLockPrefix = lock;
        return {
          form: `${lock ? "lock." : ""}${nm.split("_")[0]!.toLowerCase()}.${eq ? "eq" : "ne"}`,
          st,
          instrs: [i],
        };
      });
    }
  }
  // misaligned cmpxchg16b -> #GP
  f.gen(3, (r) => {
    const st = new St(r);
    const addr = dataAddr(r, 16, 16) + BigInt(r.range(1, 15));
    const m = memAt(r, st, addr, [0, 1, 2, 3]);
    return {
      form: "cmpxchg16b.misaligned",
      st,
      instrs: [ins.createMem(code("Cmpxchg16b_m128"), m)],
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Condition codes

export const CONDS = [
  "o",
  "no",
  "b",
  "ae",
  "e",
  "ne",
  "be",
  "a",
  "s",
  "ns",
  "p",
  "np",
  "l",
  "ge",
  "le",
  "g",
];

function flagCombo(k: number, r: Rng): number {
  let f = 0;
  if (k & 1) f |= CF;
  if (k & 2) f |= PF;
  if (k & 4) f |= ZF;
  if (k & 8) f |= SF;
  if (k & 16) f |= OF;
  if (r.bool()) f |= AF;
  return f;
}

export function cond(f: Family): void {
  for (const cc of CONDS) {
    for (let k = 0; k < 32; k++) {
      f.gen(1, (r) => {
        const st = new St(r);
        st.rflags = flagCombo(k, r);
        const [a] = pickRegs(r, 8, 1);
        return { form: `set${cc}.r8`, st, instrs: [ins.createReg(code(`Set${cc}_rm8`), a!)] };
      });
    }
    f.gen(3, (r) => {
      const st = new St(r);
      st.rflags = flagCombo(r.int(32), r);
      return {
        form: `set${cc}.m8`,
        st,
        instrs: [ins.createMem(code(`Set${cc}_rm8`), memAt(r, st, dataAddr(r, 1)))],
      };
    });
    for (const w of W_NO8) {
      f.gen(10, (r) => {
        const st = new St(r);
        st.rflags = flagCombo(r.int(32), r);
        const [a, b] = pickRegs(r, w, 2, { allowSame: true });
        st.set(a!, val(r, w)).set(b!, val(r, w));
        return {
          form: `cmov${cc}.r${w}.r${w}`,
          st,
          instrs: [ins.createRegReg(code(`Cmov${cc}_r${w}_rm${w}`), a!, b!)],
        };
      });
      f.gen(2, (r) => {
        const st = new St(r);
        st.rflags = flagCombo(r.int(32), r);
        const [a] = pickRegs(r, w, 1);
        const m = memAt(r, st, dataAddr(r, w / 8), [regInfo(a!).idx]);
        return {
          form: `cmov${cc}.r${w}.m${w}`,
          st,
          instrs: [ins.createRegMem(code(`Cmov${cc}_r${w}_rm${w}`), a!, m)],
        };
      });
    }
    // cmov from an unmapped address faults whatever the condition
    f.gen(1, (r) => {
      const st = new St(r);
      st.rflags = flagCombo(r.int(32), r);
      const [a] = pickRegs(r, 64, 1);
      const m = memAt(r, st, DATA_END + BigInt(r.int(64) * 8), [regInfo(a!).idx]);
      return {
        form: `cmov${cc}.r64.m64.fault`,
        st,
        instrs: [ins.createRegMem(code(`Cmov${cc}_r64_rm64`), a!, m)],
      };
    });
  }
}

export function flags(f: Family): void {
  f.gen(40, (r) => {
    const st = new St(r);
    st.rflags = randFlags(r, true);
    st.set(Register.AH, r.bits(8));
    return { form: "sahf", st, instrs: [ins.create(code("Sahf"))] };
  });
  f.gen(40, (r) => {
    const st = new St(r);
    st.rflags = randFlags(r, true);
    return { form: "lahf", st, instrs: [ins.create(code("Lahf"))] };
  });
  for (const nm of ["Clc", "Stc", "Cmc", "Cld", "Std"]) {
    f.gen(16, (r) => {
      const st = new St(r);
      st.rflags = randFlags(r, true);
      return { form: nm.toLowerCase(), st, instrs: [ins.create(code(nm))] };
    });
  }
  // pushf / popf (arithmetic flags and DF; reserved/IF/IOPL bits in the popped value are ignored)
  for (const [push, pop, w] of [["Pushfq", "Popfq", 64], ["Pushfw", "Popfw", 16]] as const) {
    f.gen(20, (r) => {
      const st = new St(r);
      st.rflags = randFlags(r, true);
      return { form: push.toLowerCase(), st, instrs: [ins.create(code(push))] };
    });
    f.gen(30, (r) => {
      const st = new St(r);
      st.rflags = randFlags(r, true);
      const junk = r.bool() ? (r.u32() & (0x2 | 0x8 | 0x20 | 0x200 | 0x3000 | 0x8000)) : 0x202;
      const v = BigInt((r.u32() & (ARITH | DF)) | junk);
      const [a, b] = pickRegs(r, 64, 2);
      st.setIdx(regInfo(a!).idx, v); // upper bits clear: never AC, ID, RF, VM
      const pushA = w === 64
        ? ins.createReg(code("Push_r64"), a!)
        : ins.createReg(code("Push_r16"), reg(16, regInfo(a!).idx));
      const popB = w === 64
        ? ins.createReg(code("Pop_r64"), b!)
        : ins.createReg(code("Pop_r16"), reg(16, regInfo(b!).idx));
      return {
        form: `${pop.toLowerCase()}`,
        st,
        instrs: [pushA, ins.create(code(pop)), ins.create(code(push)), popB],
      };
    });
  }
}

// ---------------------------------------------------------------------------------------------
// LEA and addressing forms

export function lea(f: Family): void {
  for (const asz of [64, 32]) {
    for (const dw of W_NO8) {
      for (const shape of ["b", "bd8", "bd32", "bi", "bid", "id", "d", "rip"]) {
        if (asz === 32 && shape === "rip" && dw !== 64) continue;
        f.gen(shape === "rip" || shape === "d" ? 4 : 10, (r) => {
          const st = new St(r);
          const [dst] = pickRegs(r, dw, 1, { allowSame: true });
          const base = reg(asz, r.int(16));
          let index = reg(asz, r.int(16));
          if (regInfo(index).idx === 4) index = reg(asz, r.pick([0, 5, 12, 13]));
          const scale = r.pick([1, 2, 4, 8]);
          const d8 = r.range(-128, 127);
          const ds = asz === 64 ? 8 : 4;
          const d32 = Number(sext(r.bits(32), 32));
          for (let i = 0; i < 16; i++) if (i !== 4) st.setIdx(i, val(r, 64));
          st.setIdx(4, val(r, 64));
          const N = Register.None;
          const mo = {
            b: () => new MemoryOperand(base, N, 1, 0n, 0, false, N),
            bd8: () => new MemoryOperand(base, N, 1, BigInt(d8), 1, false, N),
            bd32: () => new MemoryOperand(base, N, 1, BigInt(d32), ds, false, N),
            bi: () => new MemoryOperand(base, index, scale, 0n, 0, false, N),
            bid: () => (r.bool()
              ? new MemoryOperand(base, index, scale, BigInt(d8), 1, false, N)
              : new MemoryOperand(base, index, scale, BigInt(d32), ds, false, N)),
            id: () =>
              new MemoryOperand(N, index, scale, BigInt(d32), ds, false, N),
            d: () =>
              new MemoryOperand(
                N,
                N,
                1,
                BigInt(d32) & (asz === 32 ? 0xffffffffn : M64),
                ds,
                false,
                N,
              ),
            rip: () =>
              new MemoryOperand(
                asz === 64 ? Register.RIP : Register.EIP,
                N,
                1,
                0x20000000n + BigInt(r.range(-0x1000, 0x1000)),
                ds,
                false,
                N,
              ),
          }[shape]!();
          return {
            form: `lea.r${dw}.a${asz}.${shape}`,
            st,
            instrs: [ins.createRegMem(code(`Lea_r${dw}_m`), dst!, mo)],
          };
        });
      }
    }
  }
  // memory accesses through the same addressing forms (rsp/rbp/r12/r13 bases, scaled index)
  f.gen(60, (r) => {
    const st = new St(r);
    const target = dataAddr(r, 8);
    const base = r.pick([
      Register.RSP,
      Register.RBP,
      Register.R12,
      Register.R13,
      Register.RAX,
      Register.R9,
    ]);
    let index = r.pick([
      Register.RBX,
      Register.RBP,
      Register.R12,
      Register.R13,
      Register.RSI,
      Register.R15,
    ]);
    if (index === base) index = Register.RCX;
    const scale = r.pick([1, 2, 4, 8]);
    const idxVal = BigInt(r.range(-64, 64));
    const disp = r.pick([0, r.range(-128, 127), r.range(-0x400, 0x400)]);
    const b = target - BigInt(disp) - idxVal * BigInt(scale);
    st.setIdx(regInfo(base).idx, b).setIdx(regInfo(index).idx, idxVal & M64);
    const [dst] = pickRegs(r, 64, 1, { exclude: [regInfo(base).idx, regInfo(index).idx] });
    const mo = new MemoryOperand(
      base,
      index,
      scale,
      BigInt(disp),
      disp === 0 ? 0 : disp >= -128 && disp < 128 ? 1 : 8,
      false,
      Register.None,
    );
    return r.bool()
      ? { form: "mov.r64.sib", st, instrs: [ins.createRegMem(code("Mov_r64_rm64"), dst!, mo)] }
      : { form: "mov.sib.r64", st, instrs: [ins.createMemReg(code("Mov_rm64_r64"), mo, dst!)] };
  });
  // 32-bit address size with a 32-bit wraparound
  f.gen(12, (r) => {
    const st = new St(r);
    const target = dataAddr(r, 8);
    const disp = -r.range(1, 0x7fffffff);
    const baseVal = (target - BigInt(disp)) & 0xffffffffn;
    const [b] = pickRegs(r, 64, 1);
    st.setIdx(regInfo(b!).idx, (r.u64() & ~0xffffffffn) | baseVal);
    const [dst] = pickRegs(r, 64, 1, { exclude: [regInfo(b!).idx] });
    const mo = new MemoryOperand(
      reg(32, regInfo(b!).idx),
      Register.None,
      1,
      BigInt(disp),
      4,
      false,
      Register.None,
    );
    return {
      form: "mov.r64.a32.wrap",
      st,
      instrs: [ins.createRegMem(code("Mov_r64_rm64"), dst!, mo)],
    };
  });
  // RIP-relative 4-byte load from the case's own (6- or 7-byte) instruction: never reads past it
  f.gen(6, (r) => {
    const st = new St(r);
    const [dst] = pickRegs(r, 32, 1);
    const mo = new MemoryOperand(
      Register.RIP,
      Register.None,
      1,
      0x20000000n + BigInt(r.int(4)),
      8,
      false,
      Register.None,
    );
    return { form: "mov.r32.rip", st, instrs: [ins.createRegMem(code("Mov_r32_rm32"), dst!, mo)] };
  });
}

// ---------------------------------------------------------------------------------------------
// Stack

export function stack(f: Family): void {
  const sp = (r: Rng, st: St) =>
    st.setIdx(
      4,
      DATA_BASE + 0x1000n + BigInt(r.range(-64, 64) * 8 + (r.int(8) === 0 ? r.range(1, 7) : 0)),
    );
  f.gen(40, (r) => {
    const st = new St(r);
    sp(r, st);
    const a = R64[r.int(16)]!;
    st.setIdx(regInfo(a).idx === 4 ? 0 : regInfo(a).idx, val(r, 64));
    sp(r, st);
    return { form: "push.r64", st, instrs: [ins.createReg(code("Push_r64"), a)] };
  });
  f.gen(40, (r) => {
    const st = new St(r);
    sp(r, st);
    const a = R64[r.int(16)]!;
    return { form: "pop.r64", st, instrs: [ins.createReg(code("Pop_r64"), a)] };
  });
  f.gen(10, (r) => {
    const st = new St(r);
    sp(r, st);
    const [a] = pickRegs(r, 16, 1, { allowRsp: true });
    return r.bool()
      ? { form: "push.r16", st, instrs: [ins.createReg(code("Push_r16"), a!)] }
      : { form: "pop.r16", st, instrs: [ins.createReg(code("Pop_r16"), a!)] };
  });
  for (const nm of ["Pushq_imm8", "Pushq_imm32", "Push_imm16", "Pushw_imm8"]) {
    f.gen(8, (r) => {
      const st = new St(r);
      sp(r, st);
      const iw = nm.endsWith("8") ? 8 : nm.endsWith("16") ? 16 : 32;
      return { form: nm.toLowerCase(), st, instrs: [ins.createI32(code(nm), immVal(r, iw))] };
    });
  }
  f.gen(16, (r) => {
    const st = new St(r);
    sp(r, st);
    const m = r.bool()
      ? mem(Register.RSP, r.range(-8, 8) * 8)
      : memAt(r, st, dataAddr(r, 8, 1, 0x100, 0xe00));
    return r.bool()
      ? { form: "push.m64", st, instrs: [ins.createMem(code("Push_rm64"), m)] }
      : { form: "pop.m64", st, instrs: [ins.createMem(code("Pop_rm64"), m)] };
  });
  // enter / leave
  f.gen(40, (r) => {
    const st = new St(r);
    sp(r, st);
    st.setIdx(5, DATA_BASE + 0x1400n + BigInt(r.range(0, 64) * 8));
    const level = r.pick([0, 0, 1, 2, 3, 5, 31, 32, 33]);
    const size = r.pick([0, 8, 16, 0x28, 0x100, r.int(0x200)]);
    return {
      form: `enter.l${level & 31}`,
      st,
      instrs: [ins.createI32I32(code("Enterq_imm16_imm8"), size, level)],
    };
  });
  f.gen(20, (r) => {
    const st = new St(r);
    sp(r, st);
    st.setIdx(5, DATA_BASE + 0x1000n + BigInt(r.range(-32, 64) * 8));
    return { form: "leave", st, instrs: [ins.create(code("Leaveq"))] };
  });
  f.gen(10, (r) => {
    const st = new St(r);
    sp(r, st);
    st.setIdx(5, DATA_BASE + 0x1400n);
    const size = r.pick([0, 0x20, 0x48]);
    const level = r.pick([0, 1, 2]);
    return {
      form: "enter.leave",
      st,
      instrs: [
        ins.createI32I32(code("Enterq_imm16_imm8"), size, level),
        ins.createRegI32(code("Mov_rm64_imm32"), Register.RAX, r.int(1000)),
        ins.create(code("Leaveq")),
      ],
    };
  });
  // call to the next instruction, pop the return address
  f.gen(4, (r) => {
    const st = new St(r);
    sp(r, st);
    const [a] = pickRegs(r, 64, 1);
    return {
      form: "call.pop",
      st,
      instrs: [
        ins.createBranch(code("Call_rel32_64"), 0x20000005n),
        ins.createReg(code("Pop_r64"), a!),
      ],
    };
  });
  // stack faults: push below the data area (unmapped page)
  f.gen(3, (r) => {
    const st = new St(r);
    st.setIdx(4, DATA_BASE + BigInt(r.pick([0, 4, 8])));
    return {
      form: "push.r64.fault",
      st,
      instrs: [ins.createReg(code("Push_r64"), R64[r.int(16)]!)],
    };
  });
  f.gen(2, (r) => {
    const st = new St(r);
    st.setIdx(4, DATA_END - BigInt(r.pick([0, 4])));
    return { form: "pop.r64.fault", st, instrs: [ins.createReg(code("Pop_r64"), R64[r.int(16)]!)] };
  });
  // non-canonical stack pointer -> #SS
  f.gen(2, (r) => {
    const st = new St(r);
    st.setIdx(4, 0x8000000000001000n + BigInt(r.int(16) * 8));
    return {
      form: "push.r64.noncanonical",
      st,
      instrs: [ins.createReg(code("Push_r64"), Register.RAX)],
    };
  });
  // non-canonical data address -> #GP
  f.gen(2, (r) => {
    const st = new St(r);
    const [a, b] = pickRegs(r, 64, 2);
    st.setIdx(regInfo(b!).idx, 0x0000800000000000n + BigInt(r.int(4096)));
    return {
      form: "mov.r64.m64.noncanonical",
      st,
      instrs: [ins.createRegMem(code("Mov_r64_rm64"), a!, mem(b!))],
    };
  });
  // stack-relative arithmetic
  f.gen(8, (r) => {
    const st = new St(r);
    sp(r, st);
    const nm = r.pick(["Add_rm64_imm8", "Sub_rm64_imm8", "Add_rm64_imm32", "And_rm64_imm8"]);
    const imm = nm.startsWith("And")
      ? -16
      : nm.endsWith("8")
      ? r.range(-128, 127)
      : r.range(-0x800, 0x800);
    return {
      form: nm.toLowerCase().replace(/_rm64/, ".rsp"),
      st,
      instrs: [ins.createRegI32(code(nm), Register.RSP, imm)],
    };
  });
}

// ---------------------------------------------------------------------------------------------
// String instructions

const STR_SFX: Record<number, string> = { 1: "b", 2: "w", 4: "d", 8: "q" };

export function string(f: Family): void {
  const Rk = RepPrefixKind;
  type Op = "movs" | "stos" | "lods" | "cmps" | "scas";
  const make = (op: Op, sz: number, asz: number, rep: RepPrefixKind): Instruction => {
    const s = STR_SFX[sz]!.toUpperCase();
    const x = ins as unknown as Record<string, (...a: unknown[]) => Instruction>;
    const fn = `create${cap(op)}${s.toLowerCase()}`;
    if (op === "scas" || op === "stos") return x[fn]!(asz, rep);
    return x[fn]!(asz, Register.None, rep);
  };
  const counts = [0, 1, 2, 3, 4, 7, 8, 16, 33, 100];
  for (const op of ["movs", "stos", "lods", "cmps", "scas"] as Op[]) {
    const reps = op === "cmps" || op === "scas"
      ? [Rk.None, Rk.Repe, Rk.Repne]
      : op === "lods"
      ? [Rk.None, Rk.Repe]
      : [Rk.None, Rk.Repe];
    for (const sz of [1, 2, 4, 8]) {
      for (const rep of reps) {
        for (const asz of [64, 32]) {
          f.gen(rep === Rk.None ? 4 : 12, (r) => {
            const st = new St(r);
            const down = r.bool();
            st.rflags = randFlags(r) | (down ? DF : 0);
            const count = rep === Rk.None ? 0 : r.pick(counts);
            const srcBase = down
              ? DATA_BASE + 0xf00n - BigInt(r.int(64))
              : DATA_BASE + 0x200n + BigInt(r.int(64));
            let dstBase = down
              ? DATA_BASE + 0x1e00n - BigInt(r.int(64))
              : DATA_BASE + 0x1000n + BigInt(r.int(64));
            const overlap = op === "movs" && rep !== Rk.None && r.int(4) === 0;
            const same = op === "cmps" && r.int(3) === 0;
            if (overlap) dstBase = srcBase + BigInt(r.range(-4, 4) * sz + r.range(-3, 3));
            if (same) dstBase = srcBase;
            const hi = () => (asz === 32 ? r.u64() & ~0xffffffffn : 0n);
            st.setIdx(6, hi() | srcBase).setIdx(7, hi() | dstBase);
            st.setIdx(1, rep === Rk.None ? r.u64() : (hi() | BigInt(count)));
            st.setIdx(0, r.u64());
            if (op === "scas") {
              // make the accumulator match an element some way into the string
              const k = r.int(Math.max(count, 1));
              const at = down ? dstBase - BigInt(k * sz) : dstBase + BigInt(k * sz);
              if (r.bool(0.7)) st.set(reg(sz * 8, 0), st.memRead(at, sz));
            }
            const pfx = rep === Rk.None
              ? ""
              : rep === Rk.Repe
              ? (op === "cmps" || op === "scas" ? "repe." : "rep.")
              : "repne.";
            return {
              form: `${pfx}${op}${STR_SFX[sz]}.a${asz}${down ? ".std" : ""}`,
              st,
              instrs: [make(op, sz, asz, rep)],
            };
          });
        }
      }
    }
  }
  // fill then scan: rep stos followed by repe scas over a longer range
  f.gen(20, (r) => {
    const st = new St(r);
    st.rflags = randFlags(r);
    const sz = r.pick([1, 2, 4, 8]);
    const n = r.range(1, 40);
    const dst = DATA_BASE + 0x1000n + BigInt(r.int(64) * 8);
    st.setIdx(7, dst).setIdx(1, BigInt(n)).setIdx(0, r.u64());
    return {
      form: `rep.stos.repe.scas${STR_SFX[sz]}`,
      st,
      instrs: [
        make("stos", sz, 64, Rk.Repe),
        ins.createRegU64(code("Mov_r64_imm64"), Register.RDI, dst),
        ins.createRegI32(code("Mov_r32_imm32"), Register.ECX, n + r.range(0, 5)),
        make("scas", sz, 64, Rk.Repe),
      ],
    };
  });
  // rep string ops running into the unmapped page: fault with partial progress
  for (const op of ["movs", "stos", "lods"] as Op[]) {
    f.gen(3, (r) => {
      const st = new St(r);
      const down = r.bool();
      st.rflags = randFlags(r) | (down ? DF : 0);
      const sz = r.pick([1, 2, 4, 8]);
      const near = down
        ? DATA_BASE + BigInt(r.int(8) * sz)
        : DATA_END - BigInt((r.int(8) + 1) * sz);
      if (op === "lods") st.setIdx(6, near);
      else {
        st.setIdx(7, near);
        st.setIdx(6, DATA_BASE + 0x1000n);
      }
      st.setIdx(1, BigInt(r.range(16, 40)));
      return { form: `rep.${op}${STR_SFX[sz]}.fault`, st, instrs: [make(op, sz, 64, Rk.Repe)] };
    });
  }
  // xlat
  for (const asz of [64, 32]) {
    f.gen(16, (r) => {
      const st = new St(r);
      const base = dataAddr(r, 256);
      st.setIdx(3, (asz === 32 ? r.u64() & ~0xffffffffn : 0n) | base);
      st.setIdx(0, r.u64());
      const m = new MemoryOperand(
        asz === 64 ? Register.RBX : Register.EBX,
        Register.AL,
        1,
        0n,
        0,
        false,
        Register.None,
      );
      return { form: `xlat.a${asz}`, st, instrs: [ins.createMem(code("Xlat_m8"), m)] };
    });
  }
}

// ---------------------------------------------------------------------------------------------
// BMI1 / BMI2 / ADX / MOVBE

export function bmi(f: Family, has: (flag: string) => boolean): void {
  const ctrl = (r: Rng, w: number) => {
    const k = r.int(4);
    if (k === 0) return BigInt(r.int(256)) | (BigInt(r.int(256)) << 8n) | (r.u64() & ~0xffffn);
    return BigInt(r.int(w + 2)) | (BigInt(r.int(w + 2)) << 8n) |
      (r.bool() ? r.u64() & ~0xffffn : 0n);
  };
  for (const w of [32, 64]) {
    if (has("bmi1")) {
      f.gen(20, (r) => {
        const st = new St(r);
        const [a, b, c] = pickRegs(r, w, 3, { allowSame: true });
        st.set(b!, val(r, w)).set(c!, val(r, w));
        return {
          form: `andn.r${w}`,
          st,
          instrs: [ins.createRegRegReg(code(`VEX_Andn_r${w}_r${w}_rm${w}`), a!, b!, c!)],
        };
      });
      f.gen(30, (r) => {
        const st = new St(r);
        const [a, b, c] = pickRegs(r, w, 3);
        st.set(b!, val(r, w)).set(c!, ctrl(r, w));
        return {
          form: `bextr.r${w}`,
          st,
          instrs: [ins.createRegRegReg(code(`VEX_Bextr_r${w}_rm${w}_r${w}`), a!, b!, c!)],
        };
      });
      for (const op of ["Blsi", "Blsmsk", "Blsr"]) {
        f.gen(16, (r) => {
          const st = new St(r);
          const [a, b] = pickRegs(r, w, 2, { allowSame: true });
          st.set(b!, scanVal(r, w));
          return {
            form: `${op.toLowerCase()}.r${w}`,
            st,
            instrs: [ins.createRegReg(code(`VEX_${op}_r${w}_rm${w}`), a!, b!)],
          };
        });
      }
      f.gen(8, (r) => {
        const st = new St(r);
        const [a] = pickRegs(r, w, 1);
        const addr = dataAddr(r, w / 8);
        const [c] = pickRegs(r, w, 1, { exclude: [regInfo(a!).idx] });
        st.set(c!, ctrl(r, w));
        const m = memAt(r, st, addr, [regInfo(c!).idx]);
        return {
          form: `bextr.r${w}.m`,
          st,
          instrs: [ins.createRegMemReg(code(`VEX_Bextr_r${w}_rm${w}_r${w}`), a!, m, c!)],
        };
      });
    }
    if (has("bmi2")) {
      f.gen(24, (r) => {
        const st = new St(r);
        const [a, b, c] = pickRegs(r, w, 3, { allowSame: true });
        st.set(b!, val(r, w)).set(c!, ctrl(r, w) & 0xffn | (r.u64() & ~0xffn));
        return {
          form: `bzhi.r${w}`,
          st,
          instrs: [ins.createRegRegReg(code(`VEX_Bzhi_r${w}_rm${w}_r${w}`), a!, b!, c!)],
        };
      });
      for (const op of ["Pdep", "Pext"]) {
        f.gen(20, (r) => {
          const st = new St(r);
          const [a, b, c] = pickRegs(r, w, 3, { allowSame: true });
          st.set(b!, val(r, w)).set(c!, val(r, w));
          return {
            form: `${op.toLowerCase()}.r${w}`,
            st,
            instrs: [ins.createRegRegReg(code(`VEX_${op}_r${w}_r${w}_rm${w}`), a!, b!, c!)],
          };
        });
      }
      f.gen(16, (r) => {
        const st = new St(r);
        const [a, b] = pickRegs(r, w, 2, { allowSame: true });
        st.set(b!, val(r, w));
        return {
          form: `rorx.r${w}`,
          st,
          instrs: [ins.createRegRegI32(code(`VEX_Rorx_r${w}_rm${w}_imm8`), a!, b!, r.int(256))],
        };
      });
      for (const op of ["Sarx", "Shlx", "Shrx"]) {
        f.gen(16, (r) => {
          const st = new St(r);
          const [a, b, c] = pickRegs(r, w, 3, { allowSame: true });
          st.set(b!, val(r, w)).set(c!, r.bool() ? BigInt(r.int(256)) : r.u64());
          return {
            form: `${op.toLowerCase()}.r${w}`,
            st,
            instrs: [ins.createRegRegReg(code(`VEX_${op}_r${w}_rm${w}_r${w}`), a!, b!, c!)],
          };
        });
      }
      f.gen(24, (r) => {
        const st = new St(r);
        const [a, b, c] = pickRegs(r, w, 3, { allowSame: true });
        st.set(c!, val(r, w)).set(reg(w, 2), val(r, w));
        return {
          form: `mulx.r${w}`,
          st,
          instrs: [ins.createRegRegReg(code(`VEX_Mulx_r${w}_r${w}_rm${w}`), a!, b!, c!)],
        };
      });
    }
    if (has("adx")) {
      for (const op of ["Adcx", "Adox"]) {
        f.gen(20, (r) => {
          const st = new St(r);
          const [a, b] = pickRegs(r, w, 2, { allowSame: true });
          st.set(a!, val(r, w)).set(b!, val(r, w));
          return {
            form: `${op.toLowerCase()}.r${w}`,
            st,
            instrs: [ins.createRegReg(code(`${op}_r${w}_rm${w}`), a!, b!)],
          };
        });
      }
      // interleaved carry chains: 4 limbs, adcx on CF and adox on OF in parallel
      f.gen(12, (r) => {
        const st = new St(r);
        const regs = pickRegs(r, w, 8);
        for (const x of regs) st.set(x, val(r, w));
        const is: Instruction[] = [];
        for (let k = 0; k < 2; k++) {
          is.push(ins.createRegReg(code(`Adcx_r${w}_rm${w}`), regs[k]!, regs[k + 2]!));
          is.push(ins.createRegReg(code(`Adox_r${w}_rm${w}`), regs[k + 4]!, regs[k + 6]!));
        }
        return { form: `adcx.adox.chain${w}`, st, instrs: is };
      });
    }
  }
  if (has("movbe")) {
    for (const w of W_NO8) {
      f.gen(12, (r) => {
        const st = new St(r);
        const [a] = pickRegs(r, w, 1);
        st.set(a!, val(r, w));
        const m = memAt(r, st, dataAddr(r, w / 8), [regInfo(a!).idx]);
        return r.bool()
          ? {
            form: `movbe.r${w}.m${w}`,
            st,
            instrs: [ins.createRegMem(code(`Movbe_r${w}_m${w}`), a!, m)],
          }
          : {
            form: `movbe.m${w}.r${w}`,
            st,
            instrs: [ins.createMemReg(code(`Movbe_m${w}_r${w}`), m, a!)],
          };
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Multi-instruction sequences: carry chains, compare + setcc/cmov, flag plumbing

export function chain(f: Family): void {
  for (const w of [32, 64]) {
    for (const [first, rest] of [["Add", "Adc"], ["Sub", "Sbb"]]) {
      f.gen(40, (r) => {
        const st = new St(r);
        const n = r.range(2, 4);
        const regs = pickRegs(r, w, 2 * n);
        for (const x of regs) st.set(x, r.bool(0.3) ? mask(w) : val(r, w));
        const is: Instruction[] = [];
        for (let k = 0; k < n; k++) {
          is.push(
            ins.createRegReg(
              code(`${k === 0 ? first : rest}_rm${w}_r${w}`),
              regs[k]!,
              regs[n + k]!,
            ),
          );
        }
        if (r.bool()) {
          const [s] = pickRegs(r, 8, 1, { exclude: regs.map((x) => regInfo(x).idx) });
          if (s) is.push(ins.createReg(code("Setb_rm8"), s));
        }
        return {
          form: `${first.toLowerCase()}.${rest.toLowerCase()}.chain${w}x${n}`,
          st,
          instrs: is,
        };
      });
    }
    // compare then setcc / cmovcc for every condition
    for (const cc of CONDS) {
      f.gen(4, (r) => {
        const st = new St(r);
        const [a, b, c, d] = pickRegs(r, w, 4);
        const x = val(r, w);
        st.set(a!, x).set(b!, r.bool(0.25) ? x : val(r, w)).set(c!, val(r, w)).set(d!, val(r, w));
        const cmp = r.bool(0.75)
          ? ins.createRegReg(code(`Cmp_rm${w}_r${w}`), a!, b!)
          : ins.createRegReg(code(`Test_rm${w}_r${w}`), a!, b!);
        const [s] = pickRegs(r, 8, 1, { exclude: [a, b, c, d].map((x) => regInfo(x!).idx) });
        return {
          form: `cmp.set${cc}.cmov${cc}.${w}`,
          st,
          instrs: [
            cmp,
            ins.createReg(code(`Set${cc}_rm8`), s!),
            ins.createRegReg(code(`Cmov${cc}_r${w}_rm${w}`), c!, d!),
          ],
        };
      });
    }
  }
  // neg/sbb idiom: mask = -(x != 0)
  f.gen(20, (r) => {
    const st = new St(r);
    const [a, b] = pickRegs(r, 64, 2);
    st.set(a!, r.bool() ? 0n : val(r, 64));
    return {
      form: "neg.sbb.mask",
      st,
      instrs: [ins.createReg(code("Neg_rm64"), a!), ins.createRegReg(code("Sbb_rm64_r64"), b!, b!)],
    };
  });
  // inc/dec leave CF alone: stc; inc; adc
  f.gen(20, (r) => {
    const st = new St(r);
    const [a, b] = pickRegs(r, 64, 2);
    st.set(a!, val(r, 64)).set(b!, val(r, 64));
    return {
      form: "stc.inc.adc",
      st,
      instrs: [
        ins.create(code(r.bool() ? "Stc" : "Clc")),
        ins.createReg(code(r.bool() ? "Inc_rm64" : "Dec_rm64"), a!),
        ins.createRegReg(code("Adc_rm64_r64"), b!, a!),
      ],
    };
  });
  // xor zeroing + setcc (flags after xor are defined except AF)
  f.gen(20, (r) => {
    const st = new St(r);
    const [a, b, c] = pickRegs(r, 32, 3);
    st.set(b!, val(r, 32)).set(c!, val(r, 32));
    const cc = r.pick(CONDS);
    return {
      form: "xor.cmp.setcc",
      st,
      instrs: [
        ins.createRegReg(code("Xor_rm32_r32"), a!, a!),
        ins.createRegReg(code("Cmp_rm32_r32"), b!, c!),
        ins.createReg(code(`Set${cc}_rm8`), reg(8, regInfo(a!).idx)),
      ],
    };
  });
  // flags through memory: arithmetic, pushfq, pop
  f.gen(30, (r) => {
    const st = new St(r);
    st.rflags = randFlags(r, true);
    const [a, b, c] = pickRegs(r, 64, 3);
    st.set(a!, val(r, 64)).set(b!, val(r, 64));
    const op = r.pick(["Add", "Sub", "Adc", "Sbb", "Cmp"]);
    return {
      form: `${op.toLowerCase()}.pushf`,
      st,
      instrs: [
        ins.createRegReg(code(`${op}_rm64_r64`), a!, b!),
        ins.create(code("Pushfq")),
        ins.createReg(code("Pop_r64"), c!),
      ],
    };
  });
  // shift count 0 leaves the previous flags defined: add; shl r, 0 (via cl) ; pushf
  f.gen(10, (r) => {
    const st = new St(r);
    const [a, b] = pickRegs(r, 64, 2, { exclude: [1] });
    st.set(a!, val(r, 64)).set(b!, val(r, 64)).setIdx(1, r.u64() & ~0x3fn);
    return {
      form: "add.shl0.pushf",
      st,
      instrs: [
        ins.createRegReg(code("Add_rm64_r64"), a!, b!),
        ins.createRegReg(code("Shl_rm64_CL"), b!, Register.CL),
        ins.create(code("Pushfq")),
      ],
      rules: { 1: { undef: 0, modified: 0 } },
    };
  });
}
