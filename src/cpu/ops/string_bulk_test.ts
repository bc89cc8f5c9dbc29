import assert from "node:assert/strict";
import {
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CS,
  DS,
  ES,
  FS,
  GS,
  RAX,
  RBX,
  RCX,
  RDI,
  RSI,
  SS,
} from "../regs.ts";
import { enterLongMode, makeCpu, type TestMachine } from "../testing.ts";
import { moveElements, stringBulk } from "./string_bulk.ts";

const STOP = new Error("stop at the first exception");
const RAM = 6 << 20;

/** Deterministic pseudo-random numbers (xorshift32). */
function rng(seed: number): (n: number) => number {
  let x = seed | 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

interface Mode {
  name: string;
  setup(t: TestMachine): void;
  /** Prefix bytes for the address size under test. */
  prefix: number[];
}

/**
 * 4 KiB paging of linear 0-8 MiB: the first MiB (code, tables) identity-mapped; 1-6 MiB mapped to
 * a permutation of the RAM pages there, one page in 16 read-only (CR0.WP is set); 6-7 MiB mapped to
 * guest physical pages past the RAM (device-less: reads all-ones, writes dropped); 7-8 MiB not
 * present. Tables: (8 KiB of 32-bit or 16 KiB of 64-bit entries) at 0x4000.
 */
function pageMap(t: TestMachine, wide: boolean): void {
  const x = rng(99), perm: number[] = [];
  for (let p = 0x100; p < 0x600; p++) perm.push(p);
  for (let i = perm.length - 1; i > 0; i--) {
    const j = x(i + 1);
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const es = wide ? 8 : 4;
  for (let p = 0; p < 0x800; p++) {
    let e = 0;
    if (p < 0x100) e = p * 4096 | 3;
    else if (p < 0x600) e = perm[p - 0x100]! * 4096 | (p % 16 === 5 ? 1 : 3);
    else if (p < 0x700) e = (p + 0x100) * 4096 | 3;
    t.mem.dv.setUint32(0x4000 + p * es, e, true);
  }
}

function paged(wide: boolean): (t: TestMachine) => void {
  return (t) => {
    const { cpu, mem } = t;
    pageMap(t, wide);
    if (wide) {
      enterLongMode(cpu, 0x1000, 8 << 20);
      for (let i = 0; i < 4; i++) {
        mem.dv.setUint32(0x3000 + i * 8, (0x4000 + i * 0x1000) | 3, true);
      }
    } else {
      PROT32.setup(t);
      for (let i = 0; i < 2; i++) {
        mem.dv.setUint32(0x1000 + i * 4, (0x4000 + i * 0x1000) | 3, true);
      }
      cpu.cr3 = 0x1000;
    }
    cpu.cr0 |= CR0_PG | CR0_WP;
    cpu.flushTlbAll();
  };
}

/** 32-bit protected mode; segment limits set by the case. */
const PROT32: Mode = {
  name: "32-bit",
  prefix: [],
  setup: ({ cpu }) => {
    cpu.cr0 = CR0_PE | 0x10;
    cpu.setSegment(CS, 0x08, 0, 0xffffffff, 0xc09b);
    for (const s of [DS, ES, SS, FS, GS]) cpu.setSegment(s, 0x10, 0, 0xffffffff, 0xc093);
    cpu.updateMode();
  },
};
const PROT32_A16: Mode = { ...PROT32, name: "32-bit, addr16", prefix: [0x67] };
const PAGED32: Mode = { name: "32-bit paged", prefix: [], setup: paged(false) };
const LONG: Mode = { name: "64-bit", prefix: [], setup: paged(true) };
const LONG_A32: Mode = { ...LONG, name: "64-bit, addr32", prefix: [0x67] };

interface Outcome {
  regs: number[];
  fault: string;
  mem: Uint8Array;
  dirty: Uint8Array;
}

function execute(mode: Mode, code: number[], init: (t: TestMachine) => void, bulk: boolean) {
  const t = makeCpu(RAM);
  mode.setup(t);
  init(t);
  const { cpu, mem, host } = t;
  mem.u8.set([...code, 0xf4], 0x8000);
  cpu.rip = 0x8000;
  let fault = "";
  host.onException = (vec, _has, err, cr2) => {
    fault = `vec ${vec} err ${err} cr2 ${cr2.toString(16)} rip ${cpu.rip.toString(16)}`;
    throw STOP;
  };
  stringBulk.enabled = bulk;
  try {
    for (let i = 0; i < 4 && !cpu.halted; i++) cpu.run(100);
  } catch (e) {
    if (e !== STOP) throw e;
  } finally {
    stringBulk.enabled = true;
  }
  const regs = [RAX, RCX, RSI, RDI].map((r) => cpu.reg(r));
  regs.push(cpu.rip, cpu.icount);
  return { regs, fault, mem: mem.u8, dirty: mem.dirty };
}

const NOISE = (() => {
  const x = rng(12345), b = new Uint8Array(RAM + 4096);
  for (let k = 0; k < b.length; k++) b[k] = x(256);
  return b;
})();

function sameBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function compare(label: string, a: Outcome, b: Outcome): void {
  assert.equal(a.fault, b.fault, `${label}: fault`);
  assert.deepEqual(a.regs, b.regs, `${label}: registers`);
  const at = sameBytes(a.mem, b.mem);
  assert.equal(at, -1, `${label}: memory differs at ${at.toString(16)}`);
  assert.equal(sameBytes(a.dirty, b.dirty), -1, `${label}: dirty pages`);
}

/** An address near a page boundary, an interesting boundary, or anywhere. */
function pickAddr(r: (n: number) => number, mode: Mode): number {
  const a16 = mode === PROT32_A16;
  const edges = a16
    ? [0x10000, 0x9000, 0x2000]
    : [0x5ff000, 0x600000, 0x700000, 0x800000, 0x201000];
  switch (r(4)) {
    case 0:
      return edges[r(edges.length)]! + r(64) - 32;
    case 1:
      return (a16 ? 0x1000 : 0x100000) * (1 + r(a16 ? 14 : 5)) + r(64) - 32;
    default:
      return a16 ? 0x9000 + r(0x6000) : 0x100000 + r(0x500000);
  }
}

interface Case {
  size: number;
  stos: boolean;
  down: boolean;
  src: number;
  dst: number;
  count: number;
  /** Legacy modes: DS and ES base and limits. */
  base: number;
  limit: number;
  dsLimit: number;
  seed: number;
}

/** Runs one case with and without the bulk path and compares everything. */
function checkCase(mode: Mode, k: Case): void {
  const { size, stos, down, src, dst, count, base, limit, dsLimit, seed } = k;
  const op = stos ? (size === 1 ? 0xaa : 0xab) : (size === 1 ? 0xa4 : 0xa5);
  const code = [down ? 0xfd : 0xfc, ...mode.prefix, ...(size === 2 ? [0x66] : []), 0xf3];
  if (size === 8) code.push(0x48);
  code.push(op);
  const init = (t: TestMachine) => {
    t.mem.u8.set(NOISE.subarray(seed, seed + RAM - 0x9000), 0x9000);
    t.cpu.setReg(RSI, src);
    t.cpu.setReg(RDI, dst);
    t.cpu.setReg(RCX, count);
    t.cpu.setReg(RAX, 0x1234_5678_9abc + seed);
    if (mode.name.startsWith("32")) {
      t.cpu.setSegment(DS, 0x18, base, dsLimit, 0xc093);
      t.cpu.setSegment(ES, 0x18, base, limit, 0xc093);
    }
    t.mem.dirty.fill(0);
    t.cpu.flushWriteTlbs();
  };
  const label = `${mode.name}: ${stos ? "stos" : "movs"}${size}${down ? " std" : ""} src ` +
    `${src.toString(16)} dst ${dst.toString(16)} count ${count} base ${base.toString(16)}`;
  compare(label, execute(mode, code, init, true), execute(mode, code, init, false));
}

for (const mode of [LONG, LONG_A32, PROT32, PROT32_A16, PAGED32]) {
  Deno.test(`rep movs/stos in bulk = element by element (${mode.name})`, () => {
    const r = rng(mode.name.length * 7919 + mode.prefix.length);
    const before = stringBulk.elements;
    for (let n = 0; n < 160; n++) {
      const size = [1, 2, 4, 8][r(4)]!;
      if (size === 8 && mode.name.startsWith("32")) continue;
      const stos = r(3) === 0, down = r(2) === 1;
      const src = pickAddr(r, mode);
      const near = r(3) === 0;
      const dst = near ? src + r(41) - 20 : pickAddr(r, mode);
      const count = [r(8), r(600), r(5000), 4096 + r(64)][r(4)]!;
      // Segments (legacy modes): a data base for 16-bit addressing, sometimes a short limit.
      const base = mode === PROT32_A16 ? 0x100000 * r(4) + 16 * r(256) : 0;
      const limit = r(2) === 0 ? (dst - base + r(0x3000) - 0x100) >>> 0 : 0xffffffff;
      const dsLimit = r(2) === 0 ? (src - base + r(0x3000) - 0x100) >>> 0 : limit;
      checkCase(mode, { size, stos, down, src, dst, count, base, limit, dsLimit, seed: n });
    }
    // The comparison means something only if the bulk side really took the bulk path.
    assert.ok(stringBulk.elements - before > 10000, `${stringBulk.elements - before} in bulk`);
  });
}

Deno.test("rep movs/stos in bulk = element by element: 16-bit offsets wrapping inside a page", () => {
  for (const size of [1, 2, 4]) {
    for (const stos of [false, true]) {
      for (const down of [false, true]) {
        // The first element warms the TLB; the run then wraps from 0xffff to 0 (or back) with
        // the linear address inside one page (base 0x100800).
        const at = down ? 0x10 : 0x10000 - 0x10;
        checkCase(PROT32_A16, {
          size,
          stos,
          down,
          src: at + 0x100,
          dst: at,
          count: 0x40,
          base: 0x100800,
          limit: 0xffffffff,
          dsLimit: 0xffffffff,
          seed: size,
        });
      }
    }
  }
});

Deno.test("moveElements: overlaps produce what element-by-element copying produces", () => {
  for (const size of [1, 2, 4, 8]) {
    for (const down of [false, true]) {
      for (let d = -40; d <= 40; d++) {
        const n = 37, len = n * size;
        const a = new Uint8Array(400), b = new Uint8Array(400);
        for (let i = 0; i < 400; i++) a[i] = b[i] = (i * 37 + 11) & 0xff;
        const src = 60, dst = 60 + d;
        if (!moveElements(a, dst, src, len, size, down)) {
          assert.ok(d !== 0 && Math.abs(d) < size, `only close overlaps refused (d=${d})`);
          continue;
        }
        for (let j = 0; j < n; j++) {
          const e = down ? n - 1 - j : j;
          const v = b.slice(src + e * size, src + e * size + size);
          b.set(v, dst + e * size);
        }
        assert.deepEqual(a, b, `size ${size} down ${down} d ${d}`);
      }
    }
  }
});

Deno.test("rep stosb over cached code in its page: the new bytes run (code cache invalidated)", () => {
  const t = makeCpu(RAM);
  enterLongMode(t.cpu, 0x1000, 8 << 20);
  // 0x8000: rep stosb; jmp 0x8100. 0x8100: 16 x inc ebx (ff c3); hlt.
  t.mem.u8.set([0xf3, 0xaa, 0xe9, ...u32le(0x8100 - 0x8007)], 0x8000);
  t.mem.u8.set([...Array(16).fill([0xff, 0xc3]).flat(), 0xf4], 0x8100);
  // Run once with rCX = 0 so that both blocks are cached, then let the stos rewrite the second
  // one: its first elements (0x80f0..) are outside any block, the rest goes in bulk.
  t.cpu.rip = 0x8000;
  t.cpu.run(100);
  assert.equal(t.cpu.reg(RBX), 16);
  t.cpu.halted = false;
  t.cpu.rip = 0x8000;
  t.cpu.setReg(RBX, 0);
  t.cpu.setReg(RAX, 0x90);
  t.cpu.setReg(RDI, 0x80f0);
  t.cpu.setReg(RCX, 0x30);
  const before = stringBulk.elements;
  t.cpu.run(100);
  assert.ok(stringBulk.elements > before, "no element in bulk");
  assert.equal(t.cpu.halted, true);
  assert.equal(t.cpu.reg(RBX), 0);
  assert.equal(t.cpu.reg(RCX), 0);
});

Deno.test("rep stosb in bulk over the rest of its own block: the rewritten instructions run", () => {
  const t = makeCpu(RAM);
  enterLongMode(t.cpu, 0x1000, 8 << 20);
  // 0x8000: mov [rsi], al (a write to this page, away from the code: the block ends after it,
  // and the write translation is cached).
  // 0x8002: rep stosb; 16 x inc ebx; hlt — one block, whose incs the stos turns into NOPs with
  // every element in bulk.
  t.mem.u8.set([0x88, 0x06, 0xf3, 0xaa, ...Array(16).fill([0xff, 0xc3]).flat(), 0xf4], 0x8000);
  t.cpu.rip = 0x8000;
  t.cpu.setReg(RAX, 0x90);
  t.cpu.setReg(RSI, 0x8800);
  t.cpu.setReg(RCX, 0);
  t.cpu.run(100); // caches the blocks (rCX = 0: no stos element)
  assert.equal(t.cpu.reg(RBX), 16);
  t.cpu.halted = false;
  t.cpu.rip = 0x8000;
  t.cpu.setReg(RBX, 0);
  t.cpu.setReg(RDI, 0x8004);
  t.cpu.setReg(RCX, 32);
  const before = stringBulk.elements;
  t.cpu.run(100);
  assert.equal(stringBulk.elements - before, 32, "every element in bulk");
  assert.equal(t.cpu.halted, true);
  assert.equal(t.cpu.reg(RBX), 0);
});

function u32le(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
}

Deno.test("rep movsq into a not-present page: #PF at the first element there, earlier pages copied", () => {
  const t = makeCpu(RAM);
  enterLongMode(t.cpu, 0x1000, 6 << 20); // 6-8 MiB not present
  for (let k = 0; k < 0x3000; k++) t.mem.u8[0x300000 + k] = k & 0xff;
  t.mem.u8.set([0xf3, 0x48, 0xa5, 0xf4], 0x8000);
  t.cpu.rip = 0x8000;
  t.cpu.setReg(RSI, 0x300000);
  t.cpu.setReg(RDI, 0x5fe008);
  t.cpu.setReg(RCX, 0x600);
  let fault: number[] = [];
  t.host.onException = (vec, _h, err, cr2) => {
    fault = [vec, err, cr2, t.cpu.reg(RCX), t.cpu.reg(RSI), t.cpu.reg(RDI)];
    throw STOP;
  };
  assert.throws(() => t.cpu.run(10), (e) => e === STOP);
  // 0x1ff8 bytes fit below 6 MiB: 0x3ff elements done.
  assert.deepEqual(fault, [14, 2, 0x600000, 0x600 - 0x3ff, 0x300000 + 0x1ff8, 0x600000]);
  assert.deepEqual(t.mem.u8.slice(0x5fe008, 0x600000), t.mem.u8.slice(0x300000, 0x301ff8));
});
