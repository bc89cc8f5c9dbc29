import assert from "node:assert/strict";
import {
  divU128by64,
  getI64,
  getU64,
  hex64,
  imulTrunc64,
  mulLo64,
  mulS64,
  mulU64,
  parseHex64,
  setU64,
  toNum,
} from "./u64.ts";

const M64 = (1n << 64n) - 1n;
function split(x: bigint): [number, number] {
  x &= M64;
  return [Number(x & 0xffffffffn) | 0, Number(x >> 32n) | 0];
}
function join(words: ArrayLike<number>, n: number): bigint {
  let r = 0n;
  for (let i = n - 1; i >= 0; i--) r = (r << 32n) | BigInt(words[i]! >>> 0);
  return r;
}

// xorshift for deterministic random cases
let s = 0x12345678;
function rnd64(): bigint {
  let r = 0n;
  for (let i = 0; i < 2; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    r = (r << 32n) | BigInt(s >>> 0);
  }
  return r;
}

const edges = [
  0n,
  1n,
  2n,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  0x7fffffffffffffffn,
  0x8000000000000000n,
  0xffffffffffffffffn,
  0x5851f42d4c957f2dn,
];

Deno.test("mulU64/mulLo64/mulS64 match BigInt", () => {
  const vals = [...edges];
  for (let i = 0; i < 200; i++) vals.push(rnd64());
  const out = new Int32Array(4);
  for (const a of vals) {
    for (const b of vals.slice(0, 40)) {
      const [al, ah] = split(a), [bl, bh] = split(b);
      mulU64(al, ah, bl, bh, out);
      assert.equal(join(out, 4), a * b);
      mulLo64(al, ah, bl, bh, out);
      assert.equal(join(out, 2), (a * b) & M64);
      mulS64(al, ah, bl, bh, out);
      const sa = BigInt.asIntN(64, a), sb = BigInt.asIntN(64, b);
      assert.equal(join(out, 4), BigInt.asUintN(128, sa * sb));
    }
  }
});

Deno.test("imulTrunc64 gives the low half and signed overflow, also near 2^62..2^64", () => {
  const vals = [...edges, 0x80000001n, 0xfffffffe00000001n, 0x100000001n, 0xc0000000n];
  // Factors whose products land at and around the overflow boundary 2^63 (and the estimate's
  // thresholds 2^62 and 2^64), with both signs.
  for (const e of [31n, 32n, 33n]) {
    for (const d of [-2n, -1n, 0n, 1n, 2n]) vals.push((1n << e) + d, -((1n << e) + d));
  }
  vals.push(3037000499n, 3037000500n, 4294967295n, 6074000999n); // ~sqrt(2^63), sqrt(2^65)
  for (let i = 0; i < 100; i++) vals.push(rnd64() >> BigInt(i % 64));
  const out = new Int32Array(4);
  for (const a of vals) {
    for (const b of vals) {
      const [al, ah] = split(a), [bl, bh] = split(b);
      const ovf = imulTrunc64(al, ah, bl, bh, out);
      const p = BigInt.asIntN(64, a) * BigInt.asIntN(64, b);
      assert.equal(join(out, 2), p & M64, `${a} * ${b}`);
      assert.equal(ovf, BigInt.asIntN(64, p) !== p, `${a} * ${b}`);
    }
  }
});

Deno.test("divU128by64 matches BigInt", () => {
  const out = new Int32Array(4);
  for (let i = 0; i < 300; i++) {
    const d = i < edges.length ? edges[i]! : rnd64() >> BigInt(i % 64);
    const hi = i % 3 === 0 ? 0n : (rnd64() % (d === 0n ? 1n : d));
    const lo = rnd64();
    const n = (hi << 64n) | lo;
    const [n0, n1] = split(lo), [n2, n3] = split(hi);
    const [dl, dh] = split(d);
    const ok = divU128by64(n0, n1, n2, n3, dl, dh, out);
    if (d === 0n || n / d > M64) {
      assert.equal(ok, false);
    } else {
      assert.equal(ok, true);
      assert.equal(join(out, 2), n / d);
      assert.equal(join([out[2]!, out[3]!], 2), n % d);
    }
  }
});

Deno.test("hex helpers", () => {
  assert.equal(hex64(0, 0), "0x0");
  assert.equal(hex64(-1, -1), "0xffffffffffffffff");
  assert.equal(hex64(5, 1), "0x100000005");
  assert.deepEqual(parseHex64("0xffffffff80000000"), [-2147483648, -1]);
  assert.equal(parseHex64("0x"), null);
  assert.equal(toNum(-4096, -1), -4096);
});

Deno.test("getU64/getI64/setU64 round-trip up to ±2^53 and wrap the high half modulo 2^64", () => {
  const dv = new DataView(new ArrayBuffer(8));
  for (const n of [0, 1, 0xffffffff, 0x100000000, 2 ** 53 - 1]) {
    setU64(dv, 0, n);
    assert.equal(getU64(dv, 0), n);
    assert.equal(getI64(dv, 0), n);
  }
  for (const n of [-1, -0x1000, -(2 ** 47)]) {
    setU64(dv, 0, n);
    assert.equal(getI64(dv, 0), n);
    assert.equal(dv.getBigInt64(0, true), BigInt(n));
  }
  setU64(dv, 0, 2 ** 63);
  assert.equal(dv.getUint32(4, true), 0x80000000);
  assert.equal(dv.getUint32(0, true), 0);
  assert.equal(getU64(dv, 0), 2 ** 63);
});
