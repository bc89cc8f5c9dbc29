import { FORMAT_MINOR } from "./format.ts";
import assert from "node:assert/strict";
import { crc32 } from "./crc32.ts";
import { TraceFormatError } from "./errors.ts";
import { encodeHeader, readHeader, type TraceHeader } from "./header.ts";
import { memorySource } from "./source.ts";
import { sampleHeader } from "./test_fixtures.ts";

function read(bytes: Uint8Array) {
  return readHeader(memorySource(bytes), "t.vtlrr");
}

async function assertFormatError(bytes: Uint8Array, re: RegExp, offset?: number) {
  await assert.rejects(read(bytes), (e: unknown) => {
    assert.ok(e instanceof TraceFormatError, String(e));
    assert.match(e.message, re);
    assert.equal(e.path, "t.vtlrr");
    if (offset !== undefined) assert.equal(e.offset, offset);
    return true;
  });
}

/** Rewrites the header CRC after tampering with the bytes. */
function fixCrc(b: Uint8Array): Uint8Array {
  const n = b.length - 4;
  new DataView(b.buffer, b.byteOffset).setUint32(n, crc32(b.subarray(0, n)), true);
  return b;
}

/** A header whose JSON text is `json`, with a valid CRC. */
function withJson(json: string, major = 1, minor = 0): Uint8Array {
  const j = new TextEncoder().encode(json);
  const b = new Uint8Array(16 + j.length + 4);
  b.set([0x56, 0x54, 0x4c, 0x52, 0x52, 0x0d, 0x0a, 0x1a]);
  const dv = new DataView(b.buffer);
  dv.setUint16(8, major, true);
  dv.setUint16(10, minor, true);
  dv.setUint32(12, j.length, true);
  b.set(j, 16);
  return fixCrc(b);
}

Deno.test("header: layout and round trip", async () => {
  const h = sampleHeader({
    flags: ["a", "b"],
    guest: { ...sampleHeader().guest, path: "g.bin", source: "file" },
  });
  const b = encodeHeader(h);
  assert.deepEqual([...b.subarray(0, 8)], [0x56, 0x54, 0x4c, 0x52, 0x52, 0x0d, 0x0a, 0x1a]);
  assert.deepEqual([...b.subarray(8, 12)], [1, 0, FORMAT_MINOR, 0]);
  const json = new TextDecoder().decode(b.subarray(16, b.length - 4));
  assert.ok(json.startsWith('{"config":{"memory_mib":64,"name":"défaut"'));
  const got = await read(b);
  assert.deepEqual(got.header, h);
  assert.equal(got.end, b.length);
});

Deno.test("header: canonical bytes regardless of key insertion order", () => {
  const h = sampleHeader();
  const reordered = JSON.parse(JSON.stringify({
    seed: h.seed,
    flags: h.flags,
    guest: h.guest,
    format: h.format,
    emulator: h.emulator,
    config: h.config,
  })) as TraceHeader;
  assert.deepEqual(encodeHeader(reordered), encodeHeader(h));
});

Deno.test("header: the writer side rejects invalid headers", () => {
  assert.throws(
    () => encodeHeader({ ...sampleHeader(), flags: ["b", "a"] }),
    /flags must be sorted/,
  );
  assert.throws(() => encodeHeader({ ...sampleHeader(), seed: 5 as unknown as string }), /seed/);
  assert.throws(
    () => encodeHeader({ ...sampleHeader(), config: { ratio: 0.5 } }),
    /\$\.config\.ratio.*not a safe integer/,
  );
});

Deno.test("header: bad magic, empty file, cut short", async () => {
  const good = encodeHeader(sampleHeader());
  const bad = good.slice();
  bad[0] = 0x50;
  await assertFormatError(
    bad,
    /^Cannot parse trace t\.vtlrr at offset 0: not a vtlrr trace \(bad magic\)$/,
    0,
  );
  await assertFormatError(new TextEncoder().encode("hello"), /bad magic/);
  await assertFormatError(new Uint8Array(0), /not a vtlrr trace \(empty file\)/);
  for (const n of [1, 8, 15, 16, 40, good.length - 1]) {
    await assertFormatError(good.subarray(0, n), /cut short inside its header/);
  }
});

Deno.test("header: unsupported major version", async () => {
  await assertFormatError(
    withJson('{"format":{"major":2,"minor":3}}', 2, 3),
    /^Cannot parse trace t\.vtlrr at offset 8: unsupported trace format version 2\.3; this build reads 1\.x$/,
  );
  await assertFormatError(withJson("{}", 0, 9), /unsupported trace format version 0\.9/);
});

Deno.test("header: CRC, JSON and shape errors", async () => {
  const good = encodeHeader(sampleHeader());
  for (const i of [10, 13, 20, good.length - 1]) {
    const b = good.slice();
    b[i] ^= 0x04;
    await assertFormatError(b, /CRC mismatch|header length|cut short/);
  }
  await assertFormatError(withJson("{nope"), /at offset 16: invalid JSON/, 16);
  const bytes = withJson('{"a":"xx"}');
  bytes[22] = 0xff;
  await assertFormatError(fixCrc(bytes), /header JSON is not valid UTF-8/);
  const h = sampleHeader() as unknown as Record<string, unknown>;
  const shapes: [unknown, RegExp][] = [
    [[], /header must be a JSON object/],
    [{ ...h, format: { major: 1 } }, /format/],
    [
      { ...h, emulator: { name: "qemu", version: "1", commit: null } },
      /emulator\.name must be "vtlrr"/,
    ],
    [{ ...h, emulator: { name: "vtlrr", version: "1" } }, /emulator\.commit/],
    [{ ...h, guest: { ...sampleHeader().guest, sha256: "AB".repeat(32) } }, /guest\.sha256/],
    [{ ...h, guest: { ...sampleHeader().guest, source: "net" } }, /guest\.source/],
    [{ ...h, guest: { ...sampleHeader().guest, size: -1 } }, /guest\.size/],
    [{ ...h, config: [] }, /config must be an object/],
    [{ ...h, flags: ["z", "a"] }, /flags must be sorted/],
    [{ ...h, flags: "x" }, /flags must be an array/],
    [
      { ...h, format: { major: 1, minor: FORMAT_MINOR + 1 } },
      /header JSON says format 1\.\d+ but the file says 1\.\d+/,
    ],
  ];
  for (const [v, re] of shapes) await assertFormatError(withJson(JSON.stringify(v)), re, 16);
});

Deno.test("header: unknown extra keys from a newer minor are kept", async () => {
  const v = { ...sampleHeader(), format: { major: 1, minor: 4 }, future: { x: 1 } };
  const got = await read(withJson(JSON.stringify(v), 1, 4));
  assert.deepEqual(got.header, v);
});
