/**
 * x87 behaviour the host-CPU fixtures cannot show (they run in 64-bit user mode with CR0.NE = 1,
 * never with CR0.TS/EM/MP): #NM rules, #MF versus CR0.NE, the real-mode FSTENV/FSAVE layouts,
 * and a few end-to-end sequences.
 */

import assert from "node:assert/strict";
import { Code, Encoder, Instruction, MemoryOperand, Register } from "iced-x86";
import type { Cpu } from "../cpu.ts";
import { enterLongMode, makeCpu } from "../testing.ts";
import { CR0_EM, CR0_MP, CR0_NE, CR0_TS, CS, DS } from "../regs.ts";
import { C_NORMAL, C_ZERO, FE_IE, fromInt64, FX, fxBegin, Unp } from "../fp/f80.ts";
import { bcdToUnp, unpToBcd } from "./x87_trans.ts";
import { OUT80 } from "./x87_util.ts";
import "./all.ts";

const CODE = 0x100000, DATA = 0x200000;

function assemble(list: Instruction[], bits: 16 | 32 | 64 = 64, ip = CODE): Uint8Array {
  const enc = new Encoder(bits);
  let at = BigInt(ip);
  const out: number[] = [];
  for (const i of list) {
    const n = enc.encode(i, at);
    const b = enc.takeBuffer();
    out.push(...b.subarray(b.length - n));
    at += BigInt(n);
  }
  return Uint8Array.from(out);
}

const ST = (i: number) => (Register.ST0 + i) as Register;
const at = (base: Register, disp = 0) =>
  new MemoryOperand(base, Register.None, 1, BigInt(disp), disp === 0 ? 0 : 1, false, Register.None);
const i0 = (c: Code) => Instruction.create(c);

/** Runs `list` on a fresh long-mode CPU (RSI = DATA); returns the CPU and the exceptions. */
function run(list: Instruction[], setup: (c: Cpu) => void = () => {}) {
  const { cpu, mem, host } = makeCpu(8 << 20);
  enterLongMode(cpu);
  cpu.idtLimit = 0; // any exception: recorded, then a triple fault stops the run
  cpu.fcw = 0x37f;
  const code = assemble(list);
  mem.writeBytes(CODE, code);
  cpu.rip = CODE;
  cpu.lo[6] = DATA;
  setup(cpu);
  const end = CODE + code.length;
  for (let i = 0; i < 200 && cpu.rip !== end && !cpu.shutdown; i++) cpu.run(1);
  return { cpu, exceptions: host.exceptions, mem };
}

const fld1 = i0(Code.Fld1);
const wait = i0(Code.Wait);

Deno.test("x87: #NM with CR0.EM or CR0.TS; WAIT only with CR0.TS and CR0.MP", () => {
  const first = (r: { exceptions: number[] }) => r.exceptions[0] ?? -1;
  assert.equal(first(run([fld1], (c) => void (c.cr0 |= CR0_EM))), 7);
  assert.equal(first(run([fld1], (c) => void (c.cr0 |= CR0_TS))), 7);
  assert.equal(first(run([i0(Code.Fninit)], (c) => void (c.cr0 |= CR0_TS))), 7);
  assert.equal(first(run([wait], (c) => void (c.cr0 |= CR0_TS))), -1);
  assert.equal(first(run([wait], (c) => void (c.cr0 |= CR0_EM))), -1);
  assert.equal(first(run([wait], (c) => void (c.cr0 |= CR0_TS | CR0_MP))), 7);
  const r = run([fld1]);
  assert.deepEqual(r.exceptions, []);
  assert.equal((r.cpu.fsw >>> 11) & 7, 7);
});

Deno.test("x87: an unmasked exception is pending until the next waiting instruction", () => {
  // 1/0 with ZE unmasked: ES and B set, ST(0) unchanged, #MF at the following fld1
  const list = [i0(Code.Fldz), fld1, Instruction.createRegReg(Code.Fdiv_st0_sti, ST(0), ST(1))];
  const setup = (c: Cpu) => void (c.fcw = 0x37b);
  let r = run([...list, fld1], setup);
  assert.equal(r.exceptions[0], 16);
  const fdivRip = CODE + 4;
  assert.equal(r.cpu.rip, CODE + 6); // at the fld1
  assert.equal(r.cpu.fsw & 0x80ff, 0x8084);
  assert.equal(r.cpu.fip, fdivRip);
  assert.equal(r.cpu.fop, 0x0f1);
  assert.equal((r.cpu.fsw >>> 11) & 7, 6); // nothing pushed
  // non-waiting instructions do not fault; fnclex clears the exception
  r = run(
    [...list, Instruction.createReg(Code.Fnstsw_AX, Register.AX), i0(Code.Fnclex), fld1],
    setup,
  );
  assert.deepEqual(r.exceptions, []);
  assert.equal(r.cpu.lo[0]! & 0xffff, 0xb084);
  // with CR0.NE = 0 the pending exception is ignored (no FERR#/IRQ 13 here)
  r = run([...list, fld1, wait], (c) => {
    setup(c);
    c.cr0 &= ~CR0_NE;
  });
  assert.deepEqual(r.exceptions, []);
  assert.equal((r.cpu.fsw >>> 11) & 7, 5);
});

Deno.test("x87: fldcw unmasking a raised flag makes it pending", () => {
  const r = run([
    i0(Code.Fldz),
    fld1,
    Instruction.createRegReg(Code.Fdiv_st0_sti, ST(0), ST(1)), // masked: ZE, +inf
    Instruction.createMem(Code.Fldcw_m2byte, at(Register.RSI)),
    i0(Code.Fnop),
  ], (c) => c.mem.dv.setUint16(DATA, 0x37b, true));
  assert.equal(r.exceptions[0], 16);
  assert.equal(r.cpu.fsw & 0x8080, 0x8080);
});

Deno.test("x87: real-mode FNSTENV/FNSAVE layouts (20-bit pointers) and FLDENV round trip", () => {
  const { cpu, mem, host } = makeCpu(4 << 20);
  cpu.reset();
  cpu.idtLimit = 0;
  cpu.setSegment(CS, 0x1000, 0x10000, 0xffff, 0x9b);
  cpu.setSegment(DS, 0x2000, 0x20000, 0xffff, 0x93);
  const fld = (d: number) =>
    Instruction.createMem(
      Code.Fld_m32fp,
      new MemoryOperand(Register.None, Register.None, 1, BigInt(d), 2, false, Register.None),
    );
  const env = (c: Code, d: number) =>
    Instruction.createMem(
      c,
      new MemoryOperand(Register.None, Register.None, 1, BigInt(d), 2, false, Register.None),
    );
  const list = [
    i0(Code.Fninit),
    fld(0x100),
    env(Code.Fnstenv_m14byte, 0x200), // 16-bit real-mode layout (default operand size)
    env(Code.Fnstenv_m28byte, 0x300), // 32-bit real-mode layout (0x66)
    env(Code.Fldenv_m28byte, 0x300),
  ];
  const code = assemble(list, 16, 0x100);
  mem.writeBytes(0x10000 + 0x100, code);
  mem.dv.setUint32(0x20000 + 0x100, 0x3f800000, true);
  cpu.rip = 0x100;
  const end = 0x100 + code.length;
  for (let i = 0; i < 20 && cpu.rip !== end && !cpu.shutdown; i++) cpu.run(1);
  assert.deepEqual(host.exceptions, []);
  // the fld: linear FIP = 0x10000 + 0x102 (after the 2-byte fninit), FDP = 0x20100, FOP D9 06
  const fip = 0x10102, fdp = 0x20100, fop = 0x106;
  const w = (a: number) => mem.dv.getUint16(0x20000 + a, true);
  const d = (a: number) => mem.dv.getUint32(0x20000 + a, true);
  assert.equal(w(0x200), 0x37f);
  assert.equal(w(0x204), 0x3fff); // tag word: ST(0) valid, the rest empty
  assert.equal(w(0x206), fip & 0xffff);
  assert.equal(w(0x208), ((fip >>> 16) << 12) | fop);
  assert.equal(w(0x20a), fdp & 0xffff);
  assert.equal(w(0x20c), (fdp >>> 16) << 12);
  assert.equal(d(0x30c) & 0xffff, fip & 0xffff);
  assert.equal(d(0x310), ((fip >>> 16) << 12) | fop);
  assert.equal(d(0x314) & 0xffff, fdp & 0xffff);
  assert.equal(d(0x318), (fdp >>> 16) << 12);
  // fldenv restored what fnstenv saved (FIP is kept as an offset from CS)
  assert.equal(cpu.fip, fip - 0x10000);
  assert.equal(cpu.fdp, fdp);
  assert.equal(cpu.fop, fop);
});

Deno.test("x87: a small program (√2 in every precision, stored as double)", () => {
  const r = run([
    fld1,
    fld1,
    Instruction.createRegReg(Code.Faddp_sti_st0, ST(1), ST(0)),
    i0(Code.Fsqrt),
    Instruction.createMem(Code.Fstp_m64fp, at(Register.RSI)),
    Instruction.createMem(Code.Fnstsw_m2byte, at(Register.RSI, 8)),
  ]);
  assert.deepEqual(r.exceptions, []);
  assert.equal(r.mem.dv.getFloat64(DATA, true), 1.4142135623730951);
  // PE, TOP = 0, C1 = 1 (the store to binary64 rounded up)
  assert.equal(r.mem.dv.getUint16(DATA + 8, true) & 0x3fff, 0x220);
});

Deno.test("fbld/fbstp: BCD conversions match a BigInt reference", () => {
  let seed = 0x2545f491;
  const rnd = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const u = new Unp();
  for (let n = 0; n < 2000; n++) {
    // 18 nibbles (A-F included: they weigh 10-15) and a sign
    const lo = rnd() | 0, hi = rnd() | 0, se = (rnd() & 0x80ff) | 0x7f00;
    let v = 0n;
    for (let k = 17; k >= 0; k--) {
      const w = k < 8 ? lo : k < 16 ? hi : se;
      v = v * 10n + BigInt((w >>> (4 * (k & 7))) & 0xf);
    }
    bcdToUnp(lo, hi, se, u);
    assert.equal(u.s, (se >>> 15) & 1);
    if (v === 0n) {
      assert.equal(u.cls, C_ZERO);
      continue;
    }
    const bits = v.toString(2).length, m = v << BigInt(64 - bits);
    assert.deepEqual([u.cls, u.x, u.h, u.l], [
      C_NORMAL,
      bits - 1,
      Number(m >> 32n),
      Number(m & 0xffffffffn),
    ]);
  }
  const limit = 10n ** 18n;
  const values = [0n, 1n, 9n, 10n, limit - 1n, limit, limit + 1n, (1n << 60n) - 1n, 1n << 60n];
  for (let n = 0; n < 2000; n++) {
    values.push((BigInt(rnd()) << BigInt(rnd() % 29)) | BigInt(rnd()));
  }
  for (const v of values) {
    for (const s of [0, 1]) {
      fxBegin(0x37f);
      fromInt64(Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0, u);
      u.s = s;
      unpToBcd(u);
      const want = new Uint8Array(10);
      if (v < limit) {
        const digits = v.toString().padStart(18, "0");
        for (let k = 0; k < 18; k++) want[k >> 1]! |= Number(digits[17 - k]) << (4 * (k & 1));
        want[9] = s ? 0x80 : 0;
        assert.equal(FX.flags, 0, `${v}`);
      } else {
        want.set([0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff]); // the BCD indefinite
        assert.equal(FX.flags, FE_IE, `${v}`);
      }
      assert.deepEqual(Array.from(OUT80), Array.from(want), `${s ? "-" : ""}${v}`);
    }
  }
});
