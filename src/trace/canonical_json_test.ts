import assert from "node:assert/strict";
import { canonicalJson, JsonParseError, parseJson } from "./canonical_json.ts";

Deno.test("canonicalJson: sorts keys by UTF-16 code units, no whitespace", () => {
  assert.equal(
    canonicalJson({ b: 1, a: [true, null, "x"], A: {} }),
    '{"A":{},"a":[true,null,"x"],"b":1}',
  );
  // Code unit order, not code point order: U+1F600 is D83D DE00, which sorts before U+FF21.
  assert.equal(
    canonicalJson({ "\uff21": 1, "\u{1f600}": 2, "é": 3, z: 4 }),
    '{"z":4,"é":3,"😀":2,"Ａ":1}',
  );
  assert.equal(canonicalJson({ nested: { y: 2, x: 1 } }), '{"nested":{"x":1,"y":2}}');
});

Deno.test("canonicalJson: equal values give equal text regardless of insertion order", () => {
  const a = { guest: { size: 3, name: "g" }, seed: "s", flags: [] };
  const b = { flags: [], seed: "s", guest: { name: "g", size: 3 } };
  assert.equal(canonicalJson(a), canonicalJson(b));
});

Deno.test("canonicalJson: numbers are safe integers only", () => {
  assert.equal(canonicalJson([0, -0, -5, Number.MAX_SAFE_INTEGER]), "[0,0,-5,9007199254740991]");
  for (const bad of [1.5, NaN, Infinity, -Infinity, 2 ** 53, 1e21]) {
    assert.throws(() => canonicalJson({ x: [bad] }), /\$\.x\[0\].*not a safe integer/);
  }
});

Deno.test("canonicalJson: strings escape like JSON.stringify", () => {
  const s = 'q"\\\n\t\u0000\u001f\u007f\u2028 é \ud800';
  assert.equal(canonicalJson(s), JSON.stringify(s));
  assert.equal(parseJson(canonicalJson(s)), s);
});

Deno.test("canonicalJson: rejects non-JSON data", () => {
  assert.throws(() => canonicalJson(undefined), TypeError);
  assert.throws(() => canonicalJson([undefined]), TypeError);
  assert.throws(() => canonicalJson({ a: 1n }), /\$\.a.*bigint/);
  assert.throws(() => canonicalJson({ "a b": () => 1 }), /\$\["a b"\]/);
  assert.throws(() => canonicalJson(new Map()), /not a plain object/);
  const cyc: Record<string, unknown> = {};
  cyc.self = cyc;
  assert.throws(() => canonicalJson(cyc), /cycle/);
  // Shared (non-cyclic) references are fine.
  const shared = { v: 1 };
  assert.equal(canonicalJson({ a: shared, b: shared }), '{"a":{"v":1},"b":{"v":1}}');
  // undefined properties are omitted, like JSON.stringify.
  assert.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}');
  assert.equal(canonicalJson(Object.create(null)), "{}");
});

Deno.test("parseJson: SyntaxError becomes a one-line JsonParseError", () => {
  assert.deepEqual(parseJson('{"a":[1]}'), { a: [1] });
  assert.throws(() => parseJson("{nope"), (e: unknown) => {
    assert.ok(e instanceof JsonParseError);
    assert.match(e.message, /^invalid JSON: /);
    assert.ok(!e.message.includes("\n"));
    return true;
  });
});
