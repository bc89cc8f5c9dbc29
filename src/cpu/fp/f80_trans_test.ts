/**
 * f80_trans.ts: the constants against their published hexadecimal expansions, and the series
 * against identities (exact BigInt comparisons at the working precision). The instruction-level
 * results are checked against the reference hardware by the x87_trans fixtures.
 */

import assert from "node:assert/strict";
import {
  add,
  atan,
  type BF,
  bf,
  bitlen,
  CONST_L2E,
  CONST_L2T,
  CONST_LG2,
  div,
  exp2m1,
  LN2,
  log2,
  log2p1,
  mul,
  PI,
  reduce,
  shl,
  sinCos,
  sub,
} from "./f80_trans.ts";

/** The top `bits` bits of |v|'s significand, as hex. */
function top(v: BF, bits: number): string {
  const m = v.m < 0n ? -v.m : v.m;
  const n = bitlen(m);
  return (n >= bits ? m >> BigInt(n - bits) : m << BigInt(bits - n)).toString(16);
}

/** |a − b| relative to |b| is below 2^-k. */
function close(a: BF, b: BF, k: number): boolean {
  const d = sub(a, b);
  if (d.m === 0n) return true;
  return d.e + bitlen(d.m) <= b.e + bitlen(b.m) - k;
}

Deno.test("f80_trans: constants match their known expansions (128 bits)", () => {
  assert.equal(top(PI, 128), "c90fdaa22168c234c4c6628b80dc1cd1");
  assert.equal(top(LN2, 128), "b17217f7d1cf79abc9e3b39803f2f6af");
  assert.equal(top(CONST_L2E, 128), "b8aa3b295c17f0bbbe87fed0691d3e88");
  assert.equal(top(CONST_L2T, 128), "d49a784bcd1b8afe492bf6ff4dafdb4c");
  assert.equal(top(CONST_LG2, 128), "9a209a84fbcff7988f8959ac0b7c9178");
});

Deno.test("f80_trans: identities of the series", () => {
  const one = bf(1n);
  for (const x of [bf(1n, -1), bf(3n, -3), bf(-7n, -4), bf(123456789n, -30), bf(1n, -200)]) {
    const [s, c] = sinCos(x);
    assert.ok(close(add(mul(s, s), mul(c, c)), one, 190), "sin² + cos² = 1");
  }
  // atan(1) = π/4, atan(x) + atan(1/x) = π/2
  assert.ok(close(atan(one), shl(PI, -2), 190));
  const x = bf(5n, -2);
  assert.ok(close(add(atan(x), atan(div(one, x))), shl(PI, -1), 190));
  // 2^1 − 1 = 1, 2^−1 − 1 = −1/2, log2(8) = 3, log2(1 + 1) = 1
  assert.ok(close(exp2m1(one), one, 190));
  assert.ok(close(exp2m1(bf(-1n)), bf(-1n, -1), 190));
  assert.ok(close(log2(bf(8n)), bf(3n), 190));
  assert.ok(close(log2p1(one), one, 190));
  // log2(2^x) = x for x = 0.375: exp2m1 then log2p1
  const y = bf(3n, -3);
  assert.ok(close(log2p1(exp2m1(y)), y, 185));
  // argument reduction: x = k·π/2 + r exactly with the 66-bit π
  const [r, q] = reduce(bf(1000000n), 66);
  assert.equal(q, 636620 % 4); // 10^6 / (π/2) = 636619.77…
  assert.ok(r.m !== 0n);
});
