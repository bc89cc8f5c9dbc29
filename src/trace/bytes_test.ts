import assert from "node:assert/strict";
import { ByteReader, ByteWriter, getU64Safe } from "./bytes.ts";
import { DecodeError } from "./errors.ts";

Deno.test("varint: round trip at the 7-bit boundaries up to 2^53-1", () => {
  const values = [
    0,
    1,
    127,
    128,
    16383,
    16384,
    2 ** 31,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 49 - 1,
    2 ** 49,
  ];
  values.push(2 ** 52, Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER);
  for (const v of values) {
    const w = new ByteWriter();
    w.varint(v);
    const r = new ByteReader(w.copy());
    assert.equal(r.varint("x"), v);
    assert.equal(r.remaining, 0);
  }
  const w = new ByteWriter();
  w.varint(Number.MAX_SAFE_INTEGER);
  assert.deepEqual([...w.view()], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
});

Deno.test("varintU64: round trip through hex, fast and bigint paths", () => {
  const values = [0n, 1n, 0x7fn, 0x80n, (1n << 49n) - 1n, 1n << 49n, (1n << 53n) - 1n, 1n << 53n];
  values.push(0x8000000000000000n, 0xffffffffffffffffn);
  for (const v of values) {
    const w = new ByteWriter();
    w.varintBig(v);
    const r = new ByteReader(w.copy());
    assert.equal(r.varintU64("x"), "0x" + v.toString(16));
    assert.equal(r.remaining, 0);
  }
});

Deno.test("ByteReader: errors carry the position", () => {
  const r = new ByteReader(new Uint8Array([1, 0x80]), 1);
  assert.throws(() => r.varint("len"), (e: unknown) => e instanceof DecodeError && e.at === 1);
  assert.throws(
    () => new ByteReader(new Uint8Array(2)).bytes(3, "data"),
    /data \(3 bytes\) runs past/,
  );
  assert.throws(() => new ByteReader(new Uint8Array(0)).byte("b"), /b runs past the end/);
});

Deno.test("u64 LE helpers", () => {
  const w = new ByteWriter();
  w.u64(Number.MAX_SAFE_INTEGER);
  w.u64(0);
  const b = w.copy();
  assert.equal(getU64Safe(b, 0), Number.MAX_SAFE_INTEGER);
  assert.equal(getU64Safe(b, 8), 0);
  b[6] = 0x20;
  assert.equal(getU64Safe(b, 0), -1);
});

Deno.test("varint64 (two 32-bit halves) matches the bigint encoding", () => {
  let s = 12345;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  const pairs: [number, number][] = [[0, 0], [0, 0x7f], [0, 0x80], [1, 0], [
    0xffffffff,
    0xffffffff,
  ]];
  for (let i = 0; i < 500; i++) pairs.push([next() >>> (next() % 32), next()]);
  for (const [hi, lo] of pairs) {
    const a = new ByteWriter();
    a.varint64(hi, lo);
    const b = new ByteWriter();
    b.varintBig((BigInt(hi) << 32n) | BigInt(lo));
    assert.deepEqual(a.view(), b.view(), `${hi} ${lo}`);
  }
});
