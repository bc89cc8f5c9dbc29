/**
 * Compiled blocks are an optimisation: traces must be byte-identical with the block compiler
 * off, at its normal threshold, and compiling every block on first full execution.
 */

import assert from "node:assert/strict";
import { jitConfig, jitStats } from "../src/cpu/jit/compile.ts";
import { recordBuiltin } from "./support.ts";

async function recordWith(name: string, enabled: boolean, threshold: number) {
  const saved = { ...jitConfig };
  jitConfig.enabled = enabled;
  jitConfig.threshold = threshold;
  try {
    return (await recordBuiltin(name, { config: { checkpointInterval: 100_000 } })).bytes;
  } finally {
    Object.assign(jitConfig, saved);
  }
}

for (const guest of ["demo", "cpubench"]) {
  Deno.test(`block compiler leaves the ${guest} trace byte-identical`, async () => {
    const interp = await recordWith(guest, false, 0);
    const before = jitStats.blocks;
    const eager = await recordWith(guest, true, 0);
    assert.ok(jitStats.blocks > before, "blocks were compiled");
    const normal = await recordWith(guest, true, 32);
    assert.deepEqual(eager, interp);
    assert.deepEqual(normal, interp);
  });
}
