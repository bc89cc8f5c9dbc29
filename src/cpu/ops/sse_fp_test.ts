/**
 * The SSE floating-point fast paths (host arithmetic when MXCSR allows it: round to nearest, PE
 * already set and masked) against the exact software path. The host-CPU fixtures rarely reach
 * them: their MXCSR mostly has PE clear, which disables every fast path.
 */

import assert from "node:assert/strict";
import { Code, Encoder, Instruction, Register } from "iced-x86";
import {
  f32Arith,
  f32Sqrt,
  f64Arith,
  f64Sqrt,
  FE_PE,
  FP,
  fpBegin,
  OP_ADD,
  OP_DIV,
  OP_MUL,
  OP_SUB,
  R64,
} from "../fp/softfloat.ts";
import { enterLongMode, makeCpu } from "../testing.ts";
import { CR4_OSFXSR, CR4_OSXMMEXCPT } from "../regs.ts";
import { fastPacked } from "./sse_fp.ts";
import { I32 } from "./sse_util.ts";
import "./all.ts";

/** MXCSR with every exception masked: the fast paths allowed (PE set) or not (PE clear). */
const FAST = 0x1fa0, SLOW = 0x1f80;
const OPS = [OP_ADD, OP_SUB, OP_MUL, OP_DIV];

let seed = 0x9e3779b9;
function rnd(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

const DV = new DataView(new ArrayBuffer(8));

/** A binary32 bit pattern: mostly moderate or boundary values (where the fast path decides). */
function f32Bits(): number {
  const k = rnd() % 8;
  if (k === 0) {
    return [
      0,
      0x80000000,
      0x00800000,
      0x00800001,
      0x007fffff,
      1,
      0x7f7fffff,
      0x7f800000,
      0x7fc00000,
      0x7f800001,
      0x3f800000,
      0x5f800000,
      0x1f800000,
      0x20000000,
    ][rnd() % 14]! | 0;
  }
  if (k === 1) return rnd() | 0;
  // ±m·2^e with e spread over the whole range (products and quotients cross both ends)
  DV.setFloat32(0, (rnd() / 2 ** 32 + 0.5) * 2 ** ((rnd() % 250) - 125) * (rnd() & 1 ? -1 : 1));
  return DV.getInt32(0);
}

/** A binary64 as [lo, hi]. */
function f64Bits(): [number, number] {
  const k = rnd() % 8;
  if (k === 0) {
    const e = [
      0,
      0x80000000,
      0x00100000,
      0x000fffff,
      0x7fefffff,
      0x7ff00000,
      0x7ff80000,
      0x3ff00000,
      0x5ff00000,
      0x1ff00000,
      0x20000000,
    ][rnd() % 11]!;
    return [rnd() & 1 ? 0 : rnd() | 0, e | 0];
  }
  if (k === 1) return [rnd() | 0, rnd() | 0];
  DV.setFloat64(0, (rnd() / 2 ** 32 + 0.5) * 2 ** ((rnd() % 2040) - 1020) * (rnd() & 1 ? -1 : 1));
  return [DV.getInt32(4), DV.getInt32(0)];
}

Deno.test("sse fast path: packed host arithmetic equals the exact path whenever it is taken", () => {
  for (const dbl of [false, true]) {
    const n = dbl ? 2 : 4;
    for (const op of OPS) {
      let taken = 0;
      for (let t = 0; t < 3000; t++) {
        const a: number[] = [], b: number[] = [];
        for (let i = 0; i < n; i++) {
          if (dbl) {
            a.push(...f64Bits());
            b.push(...f64Bits());
          } else {
            a.push(f32Bits());
            b.push(f32Bits());
          }
        }
        if (t < TINY_ROUNDED_UP.length && op === OP_MUL) {
          const e = TINY_ROUNDED_UP[t]!;
          if (dbl) [a[2], a[3], b[2], b[3]] = [...e.a64, ...e.b64];
          else [a[3], b[3]] = [e.a, e.b];
        }
        I32.set(a, 0);
        I32.set(b, 4);
        fpBegin(FAST);
        if (!fastPacked(op, dbl)) {
          // nothing committed: A unchanged
          assert.deepEqual(Array.from(I32.subarray(0, 4)), a);
          continue;
        }
        taken++;
        const fast = Array.from(I32.subarray(0, 4));
        fpBegin(SLOW);
        const exact: number[] = [];
        for (let i = 0; i < 4; i += dbl ? 2 : 1) {
          if (dbl) {
            f64Arith(op, a[i]!, a[i + 1]!, b[i]!, b[i + 1]!);
            exact.push(R64[0]!, R64[1]!);
          } else exact.push(f32Arith(op, a[i]!, b[i]!));
        }
        assert.deepEqual(fast, exact, `op ${op} ${a} ${b}`);
        assert.equal(FP.flags & ~FE_PE, 0, `op ${op} ${a} ${b}: flags ${FP.flags}`);
      }
      assert.ok(taken > 300, `fast path taken ${taken} times (op ${op}, dbl ${dbl})`);
    }
  }
});

/**
 * Operand pairs whose host result is exactly the smallest normal although the exact result is
 * tiny (UE): (1 − 2^-p)·MIN_NORMAL rounds up to MIN_NORMAL.
 */
const TINY_ROUNDED_UP: { op: number; a: number; b: number; a64: number[]; b64: number[] }[] = [
  { op: OP_MUL, a: 0x3f7fffff, b: 0x00800000, a64: [-1, 0x3fefffff], b64: [0, 0x00100000] },
  { op: OP_MUL, a: 0x00800000, b: 0x3f7fffff, a64: [0, 0x00100000], b64: [-1, 0x3fefffff] },
  { op: OP_MUL, a: 0xbf7fffff | 0, b: 0x00800000, a64: [-1, 0xbfefffff | 0], b64: [0, 0x00100000] },
];

Deno.test("sse fast path: scalar arithmetic and sqrt equal the exact path, flags but PE too", () => {
  for (let t = 0; t < 20000 + TINY_ROUNDED_UP.length; t++) {
    const edge = TINY_ROUNDED_UP[t - 20000];
    const op = edge?.op ?? OPS[t & 3]!;
    const a = edge?.a ?? f32Bits(), b = edge?.b ?? f32Bits();
    const [al, ah] = edge?.a64 ?? f64Bits(), [bl, bh] = edge?.b64 ?? f64Bits();
    const run = (mxcsr: number) => {
      // each operation's own flags (apart from PE)
      const flags: number[] = [];
      const step = <T>(v: T): T => {
        flags.push(FP.flags & ~FE_PE);
        FP.flags = 0;
        return v;
      };
      fpBegin(mxcsr);
      const r32 = step(f32Arith(op, a, b)), s32 = step(f32Sqrt(b));
      f64Arith(op, al, ah, bl, bh);
      const r64 = step([R64[0]!, R64[1]!]);
      f64Sqrt(bl, bh);
      const s64 = step([R64[0]!, R64[1]!]);
      return { bits: [r32, s32, ...r64, ...s64], flags };
    };
    assert.deepEqual(run(FAST), run(SLOW), `op ${op}: ${a} ${b} ${al}:${ah} ${bl}:${bh}`);
  }
});

Deno.test("sse fast path: packed instructions give the same state with PE set as without", () => {
  const X = (i: number) => (Register.XMM0 + i) as Register;
  const forms = [
    Code.Addps_xmm_xmmm128,
    Code.Subps_xmm_xmmm128,
    Code.Mulps_xmm_xmmm128,
    Code.Divps_xmm_xmmm128,
    Code.Addpd_xmm_xmmm128,
    Code.Subpd_xmm_xmmm128,
    Code.Mulpd_xmm_xmmm128,
    Code.Divpd_xmm_xmmm128,
  ];
  const CODE = 0x100000;
  const { cpu, mem, host } = makeCpu(4 << 20);
  enterLongMode(cpu);
  cpu.cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT;
  cpu.idtLimit = 0; // an exception is recorded, then a triple fault stops the instruction
  const enc = new Encoder(64);
  forms.forEach((f, k) => {
    const n = enc.encode(Instruction.createRegReg(f, X(1), X(2)), BigInt(CODE + 16 * k));
    mem.writeBytes(CODE + 16 * k, enc.takeBuffer().slice(-n));
  });
  for (let t = 0; t < 4000; t++) {
    const k = t % forms.length, dbl = k >= 4;
    const src: number[] = [];
    for (let i = 0; i < 8; i += dbl ? 2 : 1) src.push(...(dbl ? f64Bits() : [f32Bits()]));
    // every exception masked, or all but PM unmasked (the fast path must then leave alone any
    // lane that would overflow or underflow)
    const unmask = (t >> 3) & 1 ? 0x0f80 : 0;
    const run = (mxcsr: number) => {
      cpu.shutdown = false;
      cpu.rip = CODE + 16 * k;
      cpu.xmm.set(src, 4);
      cpu.mxcsr = mxcsr;
      host.exceptions.length = 0;
      cpu.run(1);
      return {
        xmm1: Array.from(cpu.xmm.subarray(4, 8)),
        exceptions: [...host.exceptions],
        mxcsr: cpu.mxcsr | FE_PE,
      };
    };
    const fast = run(FAST & ~unmask), slow = run(SLOW & ~unmask);
    assert.deepEqual(fast, slow, `${Code[forms[k]!]} mxcsr ${FAST & ~unmask} ${src}`);
  }
});
