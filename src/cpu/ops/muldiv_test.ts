import assert from "node:assert/strict";
import { RAX, RCX, RDX } from "../regs.ts";
import { enterLongMode, makeCpu } from "../testing.ts";

const STOP = new Error("stop at the first exception");
const M64 = (1n << 64n) - 1n;

/** Runs `div rcx` or `idiv rcx` in 64-bit mode; returns [rax, rdx] or "#DE". */
function div64(signed: boolean, rdx: bigint, rax: bigint, rcx: bigint): [bigint, bigint] | string {
  const { cpu, mem, host } = makeCpu(4 << 20);
  enterLongMode(cpu, 0x100000, 4 << 20);
  mem.u8.set([0x48, 0xf7, signed ? 0xf9 : 0xf1, 0xf4], 0x8000);
  cpu.rip = 0x8000;
  const set = (r: number, v: bigint) => {
    cpu.lo[r] = Number(v & 0xffffffffn) | 0;
    cpu.hi[r] = Number((v >> 32n) & 0xffffffffn) | 0;
  };
  set(RDX, rdx & M64);
  set(RAX, rax & M64);
  set(RCX, rcx & M64);
  let fault = "";
  host.onException = (v) => {
    fault = v === 0 ? "#DE" : `vector ${v}`;
    throw STOP;
  };
  try {
    cpu.run(10);
  } catch (e) {
    if (e !== STOP) throw e;
  }
  if (fault) return fault;
  const get = (r: number) => (BigInt(cpu.hi[r]! >>> 0) << 32n) | BigInt(cpu.lo[r]! >>> 0);
  return [get(RAX), get(RDX)];
}

/** The architectural result, from 128-bit arithmetic. */
function reference(signed: boolean, rdx: bigint, rax: bigint, rcx: bigint) {
  const u = ((rdx & M64) << 64n) | (rax & M64);
  const d = rcx & M64;
  if (!signed) {
    const q = u / d;
    return q > M64 ? "#DE" : [q, u % d];
  }
  const n = BigInt.asIntN(128, u), sd = BigInt.asIntN(64, d);
  const q = n / sd, r = n % sd; // BigInt division truncates, like IDIV
  if (q < -(1n << 63n) || q >= 1n << 63n) return "#DE";
  return [q & M64, r & M64];
}

const P53 = 1n << 53n;
const EDGES = [
  0n,
  1n,
  2n,
  7n,
  0xffffffffn,
  1n << 32n,
  P53 - 2n,
  P53 - 1n,
  P53,
  P53 + 1n,
  (1n << 63n) - 1n,
];

Deno.test("64-bit DIV/IDIV: exact around 2^53, negative dividends and divisors, RDX:RAX", () => {
  const values = [...EDGES, ...EDGES.map((v) => -v), -(1n << 63n)];
  let n = 0;
  for (const signed of [false, true]) {
    for (const a of values) {
      for (const d of values) {
        if ((d & M64) === 0n) continue;
        // RDX: zero, the sign extension of RAX, or something else (carries in 128-bit negation).
        for (const rdx of [0n, a < 0n ? -1n : 0n, 1n, -2n, -(1n << 32n), -(1n << 63n)]) {
          const want = reference(signed, rdx, a, d);
          const got = div64(signed, rdx, a, d);
          assert.deepEqual(got, want, `${signed ? "idiv" : "div"} ${rdx}:${a} / ${d}`);
          n++;
        }
      }
    }
  }
  assert.ok(n > 1000);
});

Deno.test("64-bit IDIV: INT64_MIN / -1 and a zero divisor raise #DE", () => {
  assert.equal(div64(true, -1n, -(1n << 63n), -1n), "#DE");
  assert.equal(div64(true, 0n, 5n, 0n), "#DE");
  assert.equal(div64(false, 0n, 5n, 0n), "#DE");
  // The largest magnitudes the fast path takes: -2^53 / -1 and / 1.
  assert.deepEqual(div64(true, -1n, -P53, -1n), [P53, 0n]);
  assert.deepEqual(div64(true, -1n, -P53, 1n), [-P53 & M64, 0n]);
  // A negative dividend divisible by the divisor: remainder 0 (not -0 in the high half).
  assert.deepEqual(div64(true, -1n, -14n, 7n), [-2n & M64, 0n]);
  assert.deepEqual(div64(true, -1n, -15n, 7n), [-2n & M64, -1n & M64]);
});

Deno.test("64-bit DIV/IDIV: random dividends and divisors near 2^53 match 128-bit arithmetic", () => {
  let x = 0x9e3779b9;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return BigInt(x >>> 0);
  };
  for (let i = 0; i < 300; i++) {
    const a = P53 - ((next() << 21n) ^ next()) % (1n << 50n);
    const d = [next() % 1000n + 1n, (next() << 20n) + next(), P53 - next()][i % 3]!;
    for (const [signed, sa, sd] of [[false, 1n, 1n], [true, -1n, 1n], [true, 1n, -1n]] as const) {
      const rdx = sa < 0n ? -1n : 0n;
      const want = reference(signed, rdx, sa * a, sd * d);
      assert.deepEqual(div64(signed, rdx, sa * a, sd * d), want, `${sa * a} / ${sd * d}`);
    }
  }
});
