/**
 * SSE behaviour the host-CPU fixtures cannot show (they always run with CR4.OSFXSR and
 * OSXMMEXCPT set, never with CR0.TS/EM): availability faults, #XM versus #UD, the MMX ↔ x87
 * state transitions, FXSAVE round trips, and the rcp/rsqrt tables at a few measured points.
 */

import assert from "node:assert/strict";
import { Code, Encoder, Instruction, MemoryOperand, Register } from "iced-x86";
import type { Cpu } from "../cpu.ts";
import { enterLongMode, makeCpu } from "../testing.ts";
import { CR0_EM, CR0_TS, CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_OSXSAVE } from "../regs.ts";
import { fullTagWord } from "../fp/f80.ts";
import { approxRcp, approxRsqrt } from "./sse_approx.ts";
import "./all.ts";

const CODE = 0x100000, DATA = 0x200000;

function assemble(list: Instruction[]): Uint8Array {
  const enc = new Encoder(64);
  let ip = BigInt(CODE);
  const out: number[] = [];
  for (const i of list) {
    const n = enc.encode(i, ip);
    const b = enc.takeBuffer();
    out.push(...b.subarray(b.length - n));
    ip += BigInt(n);
  }
  return Uint8Array.from(out);
}

const X = (i: number) => (Register.XMM0 + i) as Register;
const MM = (i: number) => (Register.MM0 + i) as Register;
const at = (base: Register, disp = 0) =>
  new MemoryOperand(base, Register.None, 1, BigInt(disp), disp === 0 ? 0 : 1, false, Register.None);

/** Runs `list` from a fresh long-mode CPU; returns the CPU and the exceptions raised. */
function run(list: Instruction[], setup: (c: Cpu) => void = () => {}) {
  const t = makeCpu(8 << 20);
  const { cpu, mem, host } = t;
  enterLongMode(cpu);
  cpu.cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT;
  cpu.idtLimit = 0; // any exception: recorded, then a triple fault stops the run
  const code = assemble(list);
  mem.writeBytes(CODE, code);
  cpu.rip = CODE;
  cpu.lo[6] = DATA; // rsi
  setup(cpu);
  const end = CODE + code.length;
  for (let i = 0; i < 100 && cpu.rip !== end && !cpu.shutdown; i++) cpu.run(1);
  return { cpu, exceptions: host.exceptions, mem };
}

const addps = Instruction.createRegReg(Code.Addps_xmm_xmmm128, X(0), X(1));

Deno.test("sse: #UD without CR4.OSFXSR or with CR0.EM, #NM with CR0.TS", () => {
  assert.deepEqual(run([addps], (c) => void (c.cr4 &= ~CR4_OSFXSR)).exceptions[0], 6);
  assert.deepEqual(run([addps], (c) => void (c.cr0 |= CR0_EM)).exceptions[0], 6);
  assert.deepEqual(run([addps], (c) => void (c.cr0 |= CR0_TS)).exceptions[0], 7);
  assert.equal(run([addps]).exceptions.length, 0);
  // fxsave: #NM for TS or EM, no OSFXSR requirement
  const fx = Instruction.createMem(Code.Fxsave64_m512byte, at(Register.RSI));
  assert.equal(run([fx], (c) => void (c.cr4 &= ~CR4_OSFXSR)).exceptions.length, 0);
  assert.deepEqual(run([fx], (c) => void (c.cr0 |= CR0_EM)).exceptions[0], 7);
  // xsave needs CR4.OSXSAVE
  const xs = Instruction.createMem(Code.Xsave_mem, at(Register.RSI));
  assert.deepEqual(run([xs]).exceptions[0], 6);
  assert.equal(run([xs], (c) => void (c.cr4 |= CR4_OSXSAVE)).exceptions.length, 0);
});

Deno.test("sse: unmasked exceptions raise #XM, or #UD without CR4.OSXMMEXCPT", () => {
  const divss = Instruction.createRegReg(Code.Divss_xmm_xmmm32, X(0), X(1));
  const setup = (c: Cpu) => {
    c.xmm[0] = 0x3f800000; // 1.0 / 0.0
    c.xmm[4] = 0;
    c.mxcsr = 0x1f80 & ~0x200; // ZM clear
  };
  let r = run([divss], setup);
  assert.deepEqual(r.exceptions[0], 19);
  assert.equal(r.cpu.mxcsr, (0x1f80 & ~0x200) | 4); // ZE recorded
  assert.equal(r.cpu.xmm[0], 0x3f800000); // destination unchanged
  assert.equal(r.cpu.rip, CODE); // fault on the instruction
  r = run([divss], (c) => {
    setup(c);
    c.cr4 &= ~CR4_OSXMMEXCPT;
  });
  assert.deepEqual(r.exceptions[0], 6);
  // masked: infinity and ZE
  r = run([divss], (c) => {
    setup(c);
    c.mxcsr = 0x1f80;
  });
  assert.equal(r.exceptions.length, 0);
  assert.equal(r.cpu.xmm[0], 0x7f800000);
  assert.equal(r.cpu.mxcsr, 0x1f84);
});

Deno.test("sse: ldmxcsr rejects reserved bits; stmxcsr stores", () => {
  const ld = Instruction.createMem(Code.Ldmxcsr_m32, at(Register.RSI));
  const st = Instruction.createMem(Code.Stmxcsr_m32, at(Register.RSI, 4));
  let r = run([ld, st], (c) => c.mem.dv.setUint32(DATA, 0xffc0, true));
  assert.equal(r.exceptions.length, 0);
  assert.equal(r.cpu.mxcsr, 0xffc0);
  assert.equal(r.mem.dv.getUint32(DATA + 4, true), 0xffc0);
  r = run([ld], (c) => c.mem.dv.setUint32(DATA, 0x11f80, true));
  assert.deepEqual(r.exceptions[0], 13);
  assert.equal(r.cpu.mxcsr, 0x1f80);
});

Deno.test("mmx: x87 tags and TOP follow MMX use; emms empties the tags; #MF when pending", () => {
  const movq = Instruction.createRegReg(Code.Movq_mm_rm64, MM(3), Register.RAX);
  let r = run([movq], (c) => {
    c.fsw = 0x3800; // TOP = 7
    c.lo[0] = 0x11223344;
    c.hi[0] = 0x55667788;
  });
  assert.equal(r.exceptions.length, 0);
  assert.equal(r.cpu.ftwAbridged, 0xff);
  assert.equal(r.cpu.fsw & 0x3800, 0);
  assert.deepEqual(
    Array.from(r.cpu.fpr.subarray(30, 40)),
    [0x44, 0x33, 0x22, 0x11, 0x88, 0x77, 0x66, 0x55, 0xff, 0xff],
  );
  r = run([movq, Instruction.create(Code.Emms)]);
  assert.equal(r.cpu.ftwAbridged, 0);
  r = run([movq], (c) => void (c.fsw = 0x80));
  assert.deepEqual(r.exceptions[0], 16);
  r = run([movq], (c) => void (c.cr0 |= CR0_TS));
  assert.deepEqual(r.exceptions[0], 7);
});

Deno.test("fxsave/fxrstor: round trip of x87, MXCSR and XMM state", () => {
  const save = Instruction.createMem(Code.Fxsave64_m512byte, at(Register.RSI));
  const rstor = Instruction.createMem(Code.Fxrstor64_m512byte, at(Register.RSI));
  const r = run([save], (c) => {
    c.fcw = 0x27f;
    c.fsw = 0x2800 | 0x41; // TOP = 5
    c.ftwAbridged = 0x03; // R0 (zero) and R1 (special) in use, the others empty
    c.fop = 0x5a5;
    c.fip = 0x123456789a;
    c.fdp = 0x7ffffffff000;
    c.mxcsr = 0x9fc0;
    for (let i = 0; i < 64; i++) c.xmm[i] = i * 0x01010101;
    c.fpr.fill(0);
    for (let k = 0; k < 8; k++) c.fpr[10 + k] = 0xaa;
    c.fpr[18] = 0xff;
    c.fpr[19] = 0x7f; // R1: exponent 0x7fff → special
  });
  const v = new DataView(r.mem.u8.buffer, r.mem.u8.byteOffset + DATA, 512);
  assert.equal(v.getUint16(0, true), 0x27f);
  assert.equal(v.getUint16(2, true), 0x2841);
  assert.equal(v.getUint8(4), 0x03); // abridged: R0, R1 in use
  assert.equal(v.getUint16(6, true), 0x5a5);
  assert.equal(v.getBigUint64(8, true), 0x123456789an);
  assert.equal(v.getBigUint64(16, true), 0x7ffffffff000n);
  assert.equal(v.getUint32(24, true), 0x9fc0);
  assert.equal(v.getUint32(28, true), 0xffff);
  // ST(i) = R((TOP + i) & 7): R1 is ST(4)
  assert.equal(v.getUint16(32 + 16 * 4 + 8, true), 0x7fff);
  assert.equal(v.getUint32(160 + 16 * 15, true), 60 * 0x01010101);
  // Restore into a clean CPU; the full tags (as FSTENV would store them) follow the contents.
  const img = r.mem.u8.slice(DATA, DATA + 512);
  const r2 = run([rstor], (c) => c.mem.writeBytes(DATA, img));
  assert.equal(r2.cpu.ftwAbridged, 0x03);
  assert.equal(fullTagWord(r2.cpu.ftwAbridged, r2.cpu.fpr), 0xfff0 | 0x9);
  assert.equal(r2.cpu.fcw, 0x27f);
  assert.equal(r2.cpu.fip, 0x123456789a);
  assert.equal(r2.cpu.mxcsr, 0x9fc0);
  assert.equal(r2.cpu.xmm[63], 63 * 0x01010101);
});

Deno.test("rcpps/rsqrtps: measured points of the reproduced tables", () => {
  const pairs: [number, number, number][] = [
    // x, rcp(x), rsqrt(x)
    [0x3f800000, 0x3f7ff000, 0x3f7ff800],
    [0x00800000, 0x7e7ff000, 0x5efff800],
    [0x7e7fffff, 0x00800000, 0x20000000],
    [0x7e800000, 0x00000000, 0x1ffff800],
    [0x00000001, 0x7f800000, 0x7f800000],
    [0x80000000, 0xff800000, 0xff800000],
    [0xbf800000, 0xbf7ff000, 0xffc00000],
    [0x7f800001, 0x7fc00001, 0x7fc00001],
    [0xff800000, 0x80000000, 0xffc00000],
  ];
  for (const [x, rc, rs] of pairs) {
    assert.equal(approxRcp(x | 0) >>> 0, rc, `rcp ${x.toString(16)}`);
    assert.equal(approxRsqrt(x | 0) >>> 0, rs, `rsqrt ${x.toString(16)}`);
  }
});

Deno.test("maskmovq / maskmovdqu: a non-canonical rDI is #GP, not a page walk (SDM MASKMOVQ)", () => {
  const mm = Instruction.createMaskmovq(64, MM(0), MM(1), Register.None);
  const xm = Instruction.createMaskmovdqu(64, X(0), X(1), Register.None);
  const setup = (c: Cpu) => {
    c.lo[7] = 0; // rdi = 0x0000_8000_0000_0000
    c.hi[7] = 0x8000;
    c.fpr.fill(0xff); // MM1 mask: all bytes selected
    c.xmm.fill(-1); // XMM1 mask likewise
  };
  assert.equal(run([mm], setup).exceptions[0], 13);
  assert.equal(run([xm], setup).exceptions[0], 13);
});

Deno.test("fxrstor: a loaded unmasked exception flag is pending (ES/B) and faults at the next fwait", () => {
  // The image: FCW with IM clear (0x037e), FSW with IE set; fxrstor64, then fwait → #MF.
  const fxrstor = Instruction.createMem(Code.Fxrstor64_m512byte, at(Register.RSI));
  const fwait = Instruction.create(Code.Wait);
  const r = run([fxrstor, fwait], (c) => {
    c.cr0 |= 1 << 5; // CR0.NE: #MF rather than FERR#
    c.mem.dv.setUint16(DATA, 0x037e, true);
    c.mem.dv.setUint16(DATA + 2, 0x0001, true);
    c.mem.dv.setUint32(DATA + 24, 0x1f80, true); // MXCSR
  });
  assert.equal(r.exceptions[0], 16, `fsw ${r.cpu.fsw.toString(16)}`);
  assert.equal(r.cpu.fsw & 0x8080, 0x8080);
});
