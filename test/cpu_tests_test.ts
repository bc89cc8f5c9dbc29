/**
 * CPU test kernels that do not end with a PASS/FAIL summary (the others run with the
 * scenarios): the triple fault must end the run with an `exit` event of reason `triple_fault`,
 * after #UD → #GP → #DF, and replay identically.
 */

import assert from "node:assert/strict";
import { eventsOf, recordBuiltin, replayBytes } from "./support.ts";

Deno.test("cpu-triple-fault: #UD → #GP → #DF → triple fault ends the run", async () => {
  const rec = await recordBuiltin("cpu-triple-fault", { config: { maxInstructions: 1_000_000 } });
  const { events } = await eventsOf(rec.bytes);
  const text = events.map((e) => e.kind === "console" ? e.text : "").join("");
  assert.match(text, /^PASS cpu-triple-fault/m, text);
  assert.doesNotMatch(text, /FAIL/, text);
  const exc = events.flatMap((e) =>
    e.kind === "exception" ? [[e.vector, e.error_code] as [number, number]] : []
  );
  // #UD; #GP(6*8+2+EXT) for its gate beyond the IDT limit; #DF(0) for the #GP's own gate.
  assert.deepEqual(exc, [[6, 0], [13, 6 * 8 + 3], [8, 0]], JSON.stringify(exc));
  const last = events.at(-1)!;
  assert.ok(last.kind === "exit" && last.reason === "triple_fault", JSON.stringify(last));
  const r = await replayBytes(rec.bytes);
  assert.equal(r.divergence, null);
  assert.deepEqual(r.bytes, rec.bytes);
});
