import assert from "node:assert/strict";
import { loadFlat } from "./flat.ts";
import { LoadError } from "./errors.ts";
import { checkPlanInvariants, options, runPlan } from "./testing.ts";

const MEM = 64 << 20;

Deno.test("flat: image at its address, 64-bit entry through the shared page tables and GDT", () => {
  // mov al, 'K'; out 0xe9, al; mov rax, [0x3ffff000] (identity-mapped high page); hlt
  const image = Uint8Array.of(
    0xb0,
    0x4b,
    0xe6,
    0xe9,
    ...[0x48, 0x8b, 0x04, 0x25, 0x00, 0xf0, 0xff, 0x3f],
    0xf4,
  );
  const plan = loadFlat(options("t.bin", image, { memBytes: MEM }), 0x100000, 0x100000);
  assert.equal(checkPlanInvariants(plan, MEM), null);
  assert.equal(plan.entry.mode, "long64");
  assert.equal(plan.entry.regs.rsp, 0x7000);
  const t = runPlan(plan, MEM);
  assert.equal(t.cpu.halted, true);
  assert.deepEqual(t.host.exceptions, []);
  assert.deepEqual(t.host.out, [{ port: 0xe9, size: 1, value: 0x4b }]);
});

Deno.test("flat: overlapping the boot structures or an entry outside the image is a LoadError", () => {
  const image = new Uint8Array(0x100).fill(0x90);
  assert.throws(
    () => loadFlat(options("t.bin", image), 0x1000, 0x1000),
    (e) => e instanceof LoadError && /overlaps the loader's boot structures/.test(e.message),
  );
  assert.throws(
    () => loadFlat(options("t.bin", image), 0x100000, 0x100100),
    (e) => e instanceof LoadError && /entry 0x100100 is outside the image/.test(e.message),
  );
  assert.throws(
    () => loadFlat(options("t.bin", image, { memBytes: MEM }), MEM - 0x80, MEM - 0x80),
    (e) => e instanceof LoadError && /does not fit/.test(e.message),
  );
});
