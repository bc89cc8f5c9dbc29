/**
 * The reference TSC page (TLFS §12.7, spec/vsm.md §7.3): TscScale/TscOffset reproduce
 * HV_X64_MSR_TIME_REF_COUNT bit for bit, the arithmetic is exact without BigInt, the page is
 * invalidated by guest TSC writes, and HV_X64_MSR_REFERENCE_TSC follows the TLFS.
 */

import assert from "node:assert/strict";
import { Vtl0, Vtl1 } from "../core/vtl.ts";
import { RIGHT_GP_ON_VIOLATION, RIGHT_KX, RIGHT_R, RIGHT_UX, RIGHT_W } from "../cpu/host.ts";
import { writeMsr } from "../cpu/msr.ts";
import { DEFAULT_CONFIG, validateConfig } from "../machine/config.ts";
import { NoInput } from "../machine/inputs.ts";
import { realModeLoader } from "../machine/loader.ts";
import { Machine } from "../machine/machine.ts";
import { HV_X64_MSR_REFERENCE_TSC, HV_X64_MSR_TIME_REF_COUNT } from "./hvdef.ts";
import { readSynthMsr, writeSynthMsr } from "./msrs.ts";
import {
  icountForReferenceTime,
  REFERENCE_TSC_EXACT_LIMIT,
  referenceTimeAt,
  referenceTscFormula,
  referenceTscScale,
} from "./reference_tsc.ts";

const TWO64 = 1n << 64n;

/** A deterministic 64-bit generator (xorshift64*), so the "random" values are the same each run. */
function rng(seed: bigint): () => bigint {
  let x = seed;
  return () => {
    x ^= x >> 12n;
    x ^= (x << 25n) & (TWO64 - 1n);
    x ^= x >> 27n;
    return (x * 0x2545f4914f6cdd1dn) & (TWO64 - 1n);
  };
}

function scaleOf(hz: number): bigint {
  const s = referenceTscScale(hz);
  return (BigInt(s.scaleHi >>> 0) << 32n) | BigInt(s.scaleLo >>> 0);
}

/** TSC values to try for `hz`: small, around multiples of the ratio's denominator, large, 2^53-1. */
function tscValues(hz: number, count: number): bigint[] {
  const out: bigint[] = [];
  for (let i = 0n; i < 300n; i++) out.push(i);
  const g = (a: bigint, b: bigint): bigint => b === 0n ? a : g(b, a % b);
  const d = BigInt(hz) / g(10_000_000n, BigInt(hz));
  const max = BigInt(REFERENCE_TSC_EXACT_LIMIT);
  const next = rng(BigInt(hz) | 1n);
  for (let i = 0; i < count; i++) {
    // A random value of random magnitude, and the values around the multiple of d below it
    // (where floor(T × 10^7 / hz) steps: the places an inexact scale gets wrong first).
    const bits = 1n + next() % 53n;
    const t = next() % (1n << bits) % (max + 1n);
    const m = t - t % d;
    for (const v of [t, m, m - 1n, m + 1n, m + d - 1n]) if (v >= 0n && v <= max) out.push(v);
  }
  for (let k = 0n; k < 64n; k++) out.push(max - k, max - k * d);
  return out.filter((v) => v >= 0n && v <= max);
}

Deno.test("§12.7 TscScale = ceil(10^7 × 2^64 / tscHz); the page can be exact iff that fits the bound", () => {
  assert.equal(scaleOf(1_000_000_000), (10_000_000n * TWO64 + 999_999_999n) / 1_000_000_000n);
  assert.equal(scaleOf(1_000_000_000), 0x028f5c28f5c28f5dn);
  // Exact whenever 10^7/tscHz in lowest terms has a denominator up to 2048 (and for many more).
  for (const hz of [1_000_000_000, 2_400_000_000, 3_000_000_000, 100_000_000, 40_000_000_000]) {
    assert.ok(referenceTscScale(hz).exact, `${hz}`);
  }
  // Not exact up to 2^53 (the partition then publishes TscSequence 0).
  for (const hz of [100_000_000_000, 50_000_000_000, 10_000_001, 1_193_182_000, 1_234_567_891]) {
    assert.equal(referenceTscScale(hz).exact, false, `${hz}`);
  }
  // A TSC at or below 10 MHz would need TscScale ≥ 2^64: no valid page.
  for (const hz of [10_000_000, 1_000_000, 9_999_999]) {
    assert.deepEqual(referenceTscScale(hz), { scaleLo: 0, scaleHi: 0, exact: false }, `${hz}`);
  }
});

Deno.test("§12.7 ((TSC × TscScale) >> 64) + 0 = floor(TSC × 10^7 / tscHz) for every reachable TSC", () => {
  const freqs = [1_000_000_000, 2_400_000_000, 3_000_000_000, 3_192_000_000, 100_000_000];
  freqs.push(1_500_000_000, 2_900_000_000, 3_600_000_000, 20_470_000_000, 40_000_000_000);
  for (const hz of freqs) {
    const s = scaleOf(hz);
    assert.ok(referenceTscScale(hz).exact, `${hz}`);
    for (const t of tscValues(hz, 3000)) {
      const page = (t * s) >> 64n;
      const exact = t * 10_000_000n / BigInt(hz);
      assert.equal(page, exact, `hz ${hz} tsc ${t}`);
      assert.equal(BigInt(referenceTimeAt(Number(t), hz)), exact, `referenceTimeAt ${hz} ${t}`);
    }
  }
});

Deno.test("§12.7 the exactness bound is real: a frequency that fails it has a wrong TSC below 2^53", () => {
  // tscHz = 1_234_567_891: 10^7/hz has denominator D = hz (coprime), and e = S·D − N·2^64 is
  // large, so some T ≤ 2^53 − 1 has T·e ≥ 2^64 with T·N ≡ D − 1 (mod D): the page would be one
  // too high there. The partition publishes TscSequence 0 for such a frequency.
  const hz = 1_234_567_891;
  const info = referenceTscScale(hz);
  assert.equal(info.exact, false);
  const s = scaleOf(hz), d = BigInt(hz), n = 10_000_000n;
  const e = s * d - n * TWO64;
  const inv = (a: bigint, m: bigint): bigint => { // modular inverse (extended Euclid)
    let [r0, r1, t0, t1] = [a % m, m, 1n, 0n];
    while (r1 !== 0n) {
      const q = r0 / r1;
      [r0, r1] = [r1, r0 - q * r1];
      [t0, t1] = [t1, t0 - q * t1];
    }
    return ((t0 % m) + m) % m;
  };
  const t0 = ((d - 1n) * inv(n, d)) % d;
  const from = (TWO64 + e - 1n) / e;
  const t = t0 + ((from - t0 + d - 1n) / d) * d;
  assert.ok(t <= BigInt(REFERENCE_TSC_EXACT_LIMIT));
  assert.equal((t * s) >> 64n, t * n / d + 1n);
});

Deno.test("§12.7 the page formula without BigInt matches 128-bit arithmetic, any TSC and offset", () => {
  const next = rng(0x9e3779b97f4a7c15n);
  const out = new Int32Array(2);
  const half = (v: bigint, hi: boolean) => Number(BigInt.asIntN(32, hi ? v >> 32n : v));
  for (let i = 0; i < 20000; i++) {
    const tsc = i < 4 ? [0n, 1n, TWO64 - 1n, 1n << 63n][i]! : next();
    const scale = i % 7 === 0 ? scaleOf(1_000_000_000) : next();
    const offset = i % 3 === 0 ? 0n : next();
    referenceTscFormula(
      half(tsc, false),
      half(tsc, true),
      half(scale, false),
      half(scale, true),
      half(offset, false),
      half(offset, true),
      out,
    );
    const want = (((tsc * scale) >> 64n) + offset) & (TWO64 - 1n);
    const got = (BigInt(out[1]! >>> 0) << 32n) | BigInt(out[0]! >>> 0);
    assert.equal(got, want, `tsc ${tsc} scale ${scale} offset ${offset}`);
  }
});

Deno.test("reference time: icountForReferenceTime is the smallest icount reaching a deadline", () => {
  const next = rng(12345n);
  for (const hz of [1_000_000_000, 2_400_000_000, 1_000_000, 1_234_567_891, 100_000_000_000]) {
    for (let i = 0; i < 2000; i++) {
      const ref = Number(next() % (1n << BigInt(1 + i % 44)));
      if (ref * hz / 10_000_000 >= 2 ** 52) continue; // beyond any run: a float estimate
      const c = icountForReferenceTime(ref, hz);
      assert.ok(referenceTimeAt(c, hz) >= ref, `${hz} ${ref}`);
      assert.ok(c === 0 || referenceTimeAt(c - 1, hz) < ref, `${hz} ${ref} not minimal`);
    }
  }
});

Deno.test("reference time: icountForReferenceTime at edge values and clock rates", () => {
  for (
    const hz of [1_000_000_000, 2_500_000_000, 3_000_000_000, 1_234_567_891, 10_000_000, 7_000]
  ) {
    for (const ref of [1, 2, 3, 999, 1000, 1001, 123_456_789, 9_876_543_210, 2 ** 40 + 3]) {
      const c = icountForReferenceTime(ref, hz);
      assert.ok(referenceTimeAt(c, hz) >= ref, `${hz} ${ref}`);
      assert.ok(c === 0 || referenceTimeAt(c - 1, hz) < ref, `${hz} ${ref} not minimal`);
    }
  }
  assert.equal(icountForReferenceTime(Infinity, 1e9), Infinity);
  assert.equal(icountForReferenceTime(0, 1e9), 0);
  assert.equal(icountForReferenceTime(-5, 1e9), 0);
  assert.equal(referenceTimeAt(3_000_000_000, 3_000_000_000), 10_000_000); // one second
});

function machine(config: Record<string, unknown> = {}): Machine {
  const guest = Uint8Array.of(0xf4); // hlt
  return new Machine(
    validateConfig({ ...DEFAULT_CONFIG, vps: 2, ...config }),
    realModeLoader("t", guest, 0x7c00, { rip: 0x7c00, rsp: 0x7000 }),
    { event() {} },
    new NoInput(),
  );
}

/** The reference TSC page as VP `vp` in VTL `vtl` sees it at `gpn`: [sequence, scale, offset]. */
function readPage(m: Machine, vp: number, vtl: typeof Vtl0, gpn: number): bigint[] {
  const r = m.partition.resolveGpa(m.vps[vp]!.hv, vtl, gpn);
  assert.ok(r >= 0);
  const base = (r >>> 5) * 4096;
  return [
    BigInt(m.mem.read32(base)),
    m.mem.read64n(base + 8),
    BigInt.asIntN(64, m.mem.read64n(base + 16)),
  ];
}

const PAGE = 0x1234;

Deno.test("§12.7 the page a guest maps reproduces HV_X64_MSR_TIME_REF_COUNT exactly", () => {
  for (const tscHz of [1_000_000_000, 2_400_000_000, 3_000_000_000, 100_000_000]) {
    const m = machine({ tscHz, apicHz: 100_000 });
    const vp = m.vps[0]!.hv;
    assert.ok(writeSynthMsr(m.partition, vp, HV_X64_MSR_REFERENCE_TSC, PAGE * 4096 + 1, 0));
    const [seq, scale, offset] = readPage(m, 0, Vtl0, PAGE);
    assert.notEqual(seq, 0n, "TscSequence nonzero");
    assert.equal(offset, 0n);
    const out = new Int32Array(2);
    for (const t of tscValues(tscHz, 1500)) {
      assert.ok(readSynthMsr(m.partition, vp, HV_X64_MSR_TIME_REF_COUNT, Number(t), out));
      const msr = (BigInt(out[1]! >>> 0) << 32n) | BigInt(out[0]! >>> 0);
      // TSC = instruction count (offset 0).
      assert.equal(((t * scale!) >> 64n) + offset!, msr, `hz ${tscHz} tsc ${t}`);
    }
  }
});

Deno.test("§12.7 guest TSC writes: TscSequence 0 while any (VP, VTL) TSC is offset, valid again after", () => {
  const m = machine();
  const p = m.partition, vp0 = m.vps[0]!, vp1 = m.vps[1]!;
  assert.ok(writeSynthMsr(p, vp0.hv, HV_X64_MSR_REFERENCE_TSC, PAGE * 4096 + 1, 0));
  assert.equal(readPage(m, 0, Vtl0, PAGE)[0], 1n);
  // VP1 writes IA32_TSC (the machine is at instruction 0: TSC 5 is an offset of 5).
  assert.ok(writeMsr(vp1.cpu, 0x10, 5, 0));
  assert.equal(vp1.cpu.tscOffset, 5);
  assert.equal(readPage(m, 0, Vtl0, PAGE)[0], 0n, "invalid: VP1's TSC differs");
  assert.equal(p.referenceTsc.sequence, 0);
  // Back to the instruction count: valid again, with a new sequence number.
  assert.ok(writeMsr(vp1.cpu, 0x10, 0, 0));
  assert.equal(readPage(m, 0, Vtl0, PAGE)[0], 2n);
  // An inactive VTL's private TSC counts too (TSC is private per VTL, TLFS §15.11).
  vp0.hv.contexts.get(Vtl1).tscOffset = -3;
  p.refreshReferenceTsc();
  assert.equal(readPage(m, 0, Vtl0, PAGE)[0], 0n);
  vp0.hv.contexts.get(Vtl1).tscOffset = 0;
  p.refreshReferenceTsc();
  assert.equal(readPage(m, 0, Vtl0, PAGE)[0], 3n);
  // The scale never changes.
  assert.equal(readPage(m, 0, Vtl0, PAGE)[1], scaleOf(DEFAULT_CONFIG.tscHz));
});

Deno.test("§12.7 no exact scale (TSC at 10 MHz or an awkward frequency): TscSequence 0", () => {
  for (const tscHz of [10_000_000, 1_234_567_891]) {
    const m = machine({ tscHz, apicHz: tscHz });
    assert.ok(writeSynthMsr(m.partition, m.vps[0]!.hv, HV_X64_MSR_REFERENCE_TSC, 0x5001, 0));
    assert.equal(readPage(m, 0, Vtl0, 5)[0], 0n, `${tscHz}`);
  }
});

Deno.test("§12.7 HV_X64_MSR_REFERENCE_TSC: per VTL, RsvdP kept, overlay read-only, partition-wide page", () => {
  const m = machine({ maxVtl: 1 });
  const p = m.partition, vp0 = m.vps[0]!.hv, vp1 = m.vps[1]!.hv;
  const out = new Int32Array(2);
  assert.ok(readSynthMsr(p, vp0, HV_X64_MSR_REFERENCE_TSC, 0, out));
  assert.deepEqual([...out], [0, 0], "reset value 0 (disabled)");
  m.mem.write32(PAGE * 4096, 0xdeadbeef); // RAM below
  assert.ok(writeSynthMsr(p, vp0, HV_X64_MSR_REFERENCE_TSC, PAGE * 4096 + 0xffe + 1, 0));
  assert.ok(readSynthMsr(p, vp0, HV_X64_MSR_REFERENCE_TSC, 0, out));
  assert.deepEqual([...out], [PAGE * 4096 + 0xfff, 0], "RsvdP bits 11:1 read back as written");
  // Every VP sees VTL0's overlay: read-only (a write is #GP, as for the hypercall page), no
  // execute, hiding the RAM and ignoring its VTL protections.
  for (const vp of [vp0, vp1]) {
    const r = p.resolveGpa(vp, Vtl0, PAGE);
    assert.equal(r & 0x1f, RIGHT_R | RIGHT_GP_ON_VIOLATION);
    assert.equal(r & (RIGHT_W | RIGHT_KX | RIGHT_UX), 0);
    assert.notEqual(r >>> 5, PAGE);
  }
  // VTL1's MSR is its own (private per VTL), and it has no overlay yet.
  vp0.activeVtl = Vtl1;
  assert.ok(readSynthMsr(p, vp0, HV_X64_MSR_REFERENCE_TSC, 0, out));
  assert.deepEqual([...out], [0, 0]);
  assert.equal(p.resolveGpa(vp0, Vtl1, PAGE) >>> 5, PAGE);
  // VTL1 maps the same (partition-wide) page elsewhere.
  assert.ok(writeSynthMsr(p, vp0, HV_X64_MSR_REFERENCE_TSC, 0x2001, 0));
  assert.equal(p.resolveGpa(vp0, Vtl1, 2) >>> 5, p.resolveGpa(vp0, Vtl0, PAGE) >>> 5);
  vp0.activeVtl = Vtl0;
  // Beyond the GPA space: accepted (no #GP), read back, but no page.
  const beyond = m.mem.ramPages;
  assert.ok(writeSynthMsr(p, vp0, HV_X64_MSR_REFERENCE_TSC, beyond * 4096 + 1, 0));
  assert.ok(readSynthMsr(p, vp0, HV_X64_MSR_REFERENCE_TSC, 0, out));
  assert.equal(out[0]! >>> 0, (beyond * 4096 + 1) >>> 0);
  assert.equal(p.resolveGpa(vp0, Vtl0, beyond) < 0, true);
  assert.equal(p.resolveGpa(vp0, Vtl0, PAGE) >>> 5, PAGE, "the old overlay is gone");
  assert.equal(m.mem.read32(PAGE * 4096), 0xdeadbeef);
  // Disabled: the RAM shows again.
  assert.ok(writeSynthMsr(p, vp0, HV_X64_MSR_REFERENCE_TSC, PAGE * 4096 + 1, 0));
  assert.ok(writeSynthMsr(p, vp0, HV_X64_MSR_REFERENCE_TSC, PAGE * 4096, 0));
  assert.equal(p.resolveGpa(vp0, Vtl0, PAGE) >>> 5, PAGE);
});
