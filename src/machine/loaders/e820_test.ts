import assert from "node:assert/strict";
import { defaultE820, inRam, memLowerKiB, memUpperKiB, ramSpans, validateE820 } from "./e820.ts";
import { LoadError } from "./errors.ts";
import { loadContext } from "./plan.ts";
import { options } from "./testing.ts";

Deno.test("defaultE820: conventional RAM, EBDA, BIOS area, RAM from 1 MiB", () => {
  assert.deepEqual(defaultE820(128 << 20), [
    { addr: 0, size: 0x9fc00, type: 1 },
    { addr: 0x9fc00, size: 0x400, type: 2 },
    { addr: 0xe0000, size: 0x20000, type: 2 },
    { addr: 0x100000, size: (128 << 20) - 0x100000, type: 1 },
  ]);
  assert.equal(defaultE820(0x100000).length, 3);
  assert.equal(defaultE820(0xc0000000)[3]!.size, 0xc0000000 - 0x100000);
  assert.throws(() => defaultE820(0xc0001000), /between 1 MiB and 3 GiB/);
  const spans = ramSpans(defaultE820(16 << 20));
  assert.deepEqual(spans, [{ start: 0, end: 0x9fc00 }, { start: 0x100000, end: 16 << 20 }]);
  assert.equal(memLowerKiB(spans), 639);
  assert.equal(memUpperKiB(spans), 15 * 1024);
  assert.ok(inRam(spans, 0x9f000, 0xc00));
  assert.ok(!inRam(spans, 0x9f000, 0xc01));
  assert.ok(!inRam(spans, 0xfffff, 2));
});

Deno.test("validateE820 and load options: bad maps and sizes are LoadErrors", () => {
  const bad = (e820: unknown, re: RegExp, memBytes = 16 << 20) =>
    assert.throws(() => validateE820("k", e820 as never, memBytes), (e: unknown) => {
      assert.ok(e instanceof LoadError);
      assert.match(e.message, re);
      return true;
    });
  bad([], /empty/);
  bad([{ addr: 0, size: 0, type: 1 }], /entry 0 does not have an integer address and size/);
  bad([{ addr: 0, size: 10, type: 5 }], /entry 0 has type 5/);
  bad([{ addr: 0, size: 32 << 20, type: 1 }], /extends past the end of guest memory/);
  bad(
    [{ addr: 0, size: 0x2000, type: 1 }, { addr: 0x1000, size: 0x1000, type: 2 }],
    /entries 0 and 1 overlap/,
  );
  bad(
    new Array(129).fill(0).map((_, i) => ({ addr: i * 4096, size: 4096, type: 2 })),
    /129 entries/,
  );
  assert.throws(
    () => loadContext(options("k", new Uint8Array(1), { memBytes: 1 << 20 })),
    /guest memory size/,
  );
  assert.throws(
    () =>
      loadContext(
        options("k", new Uint8Array(1), { initrd: { name: "rd", bytes: new Uint8Array(0) } }),
      ),
    /initrd rd is empty/,
  );
  assert.throws(() => loadContext(options("k", new Uint8Array(1), { rsdpAddr: -1 })), /RSDP/);
  assert.throws(
    () => loadContext({ ...options("k", new Uint8Array(1)), image: "x" as never }),
    /^LoadError: Cannot load guest k: the image is not a byte array$/,
  );
});
