import assert from "node:assert/strict";
import { ConfigError, configToJson, DEFAULT_CONFIG, validateConfig } from "./config.ts";

const ok = (connections: unknown, extra: Record<string, unknown> = {}) =>
  validateConfig({ ...DEFAULT_CONFIG, vps: 2, maxVtl: 1, ...extra, connections }).connections;

function bad(connections: unknown, pattern: RegExp, extra: Record<string, unknown> = {}): void {
  assert.throws(() => ok(connections, extra), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.message.split("\n").length, 1, "one-line error");
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("config connections (TLFS §11 ports and connections): default empty, normalized", () => {
  assert.deepEqual(DEFAULT_CONFIG.connections, []);
  assert.deepEqual(validateConfig({}).connections, []);
  // A trace header from before the field existed gets the default.
  const { connections: _, ...old } = DEFAULT_CONFIG;
  assert.deepEqual(validateConfig(old).connections, []);
  assert.deepEqual(
    ok([
      { id: 1, kind: "message", vp: 1, vtl: 1, sint: 2 },
      { id: 0xffffff, kind: "event", vp: 0, vtl: 0, sint: 15 },
      { id: 7, kind: "event", vp: 0, vtl: 1, sint: 3, flag: 100, flagCount: 1948 },
    ]),
    [
      { id: 1, kind: "message", vp: 1, vtl: 1, sint: 2 },
      { id: 0xffffff, kind: "event", vp: 0, vtl: 0, sint: 15, flag: 0, flagCount: 1 },
      { id: 7, kind: "event", vp: 0, vtl: 1, sint: 3, flag: 100, flagCount: 1948 },
    ],
  );
  const c = validateConfig({
    ...DEFAULT_CONFIG,
    connections: [{ id: 3, kind: "event", vp: 0, vtl: 0, sint: 1 }],
  });
  const json = configToJson(c);
  assert.deepEqual(json.connections, [
    { id: 3, kind: "event", vp: 0, vtl: 0, sint: 1, flag: 0, flagCount: 1 },
  ]);
  assert.deepEqual(validateConfig(JSON.parse(JSON.stringify(json))), c, "round trip");
});

Deno.test("config connections: one-line errors for every bad field", () => {
  bad({}, /connections must be an array/);
  bad(new Array(257).fill({ id: 1, kind: "message", vp: 0, vtl: 0, sint: 0 }), /at most 256/);
  bad([5], /connections\[0\] must be an object/);
  bad([{ id: 1, kind: "port", vp: 0, vtl: 0, sint: 0 }], /connections\[0\]\.kind must be/);
  bad([{ id: 0x1000000, kind: "message", vp: 0, vtl: 0, sint: 0 }], /connections\[0\]\.id/);
  bad([{ id: -1, kind: "message", vp: 0, vtl: 0, sint: 0 }], /connections\[0\]\.id/);
  bad([{ id: 1, kind: "message", vp: 2, vtl: 0, sint: 0 }], /connections\[0\]\.vp .* 0\.\.1/);
  bad([{ id: 1, kind: "message", vp: 0, vtl: 2, sint: 0 }], /connections\[0\]\.vtl .* 0\.\.1/);
  bad([{ id: 1, kind: "message", vp: 0, vtl: 0, sint: 16 }], /connections\[0\]\.sint/);
  bad([{ id: 1, kind: "message", vp: 0, vtl: 0 }], /connections\[0\]\.sint/);
  bad([{ id: 1, kind: "event", vp: 0, vtl: 0, sint: 0, flag: 2048 }], /\.flag must/);
  bad([{ id: 1, kind: "event", vp: 0, vtl: 0, sint: 0, flag: 2000, flagCount: 49 }], /flagCount/);
  bad([{ id: 1, kind: "event", vp: 0, vtl: 0, sint: 0, flagCount: 0 }], /flagCount/);
  bad([{ id: 1, kind: "message", vp: 0, vtl: 0, sint: 0, flag: 1 }], /unknown field "flag"/);
  bad([{ id: 1, kind: "event", vp: 0, vtl: 0, sint: 0, port: 1 }], /unknown field "port"/);
  bad(
    [
      { id: 9, kind: "event", vp: 0, vtl: 0, sint: 0 },
      { id: 9, kind: "message", vp: 0, vtl: 0, sint: 1 },
    ],
    /connections\[1\]\.id 9 is not unique/,
  );
});
