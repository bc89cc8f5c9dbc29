/**
 * Scenario guests: each reports PASS/FAIL lines over serial and a summary; every check must
 * pass, and every scenario must replay byte-identically.
 */

import assert from "node:assert/strict";
import { SCENARIOS } from "../src/guests/scenarios/index.ts";
import { eventsOf, recordBuiltin, replayBytes } from "./support.ts";

/** Minimum number of checks each scenario must report (guards against silently skipped parts). */
const MIN_CHECKS: Record<string, number> = {
  "vsm-basics": 25,
};

for (const name of Object.keys(SCENARIOS)) {
  Deno.test(`scenario ${name}: every check passes and the trace replays identically`, async () => {
    const rec = await recordBuiltin(name, { config: { maxInstructions: 50_000_000 } });
    const { events } = await eventsOf(rec.bytes);
    const text = events.map((e) => e.kind === "console" ? e.text : "").join("");
    const fails = text.split("\n").filter((l) => l.startsWith("FAIL"));
    const passes = text.split("\n").filter((l) => l.startsWith("PASS"));
    assert.deepEqual(fails, [], text);
    assert.match(text, /SUMMARY pass=[0-9a-f]+ fail=0000000000000000/, text);
    assert.ok(passes.length >= (MIN_CHECKS[name] ?? 1), `${passes.length} checks:\n${text}`);
    const last = events.at(-1)!;
    assert.ok(
      last.kind === "exit" && last.reason === "debug_exit" && last.value === 0,
      JSON.stringify(last),
    );
    const r = await replayBytes(rec.bytes);
    assert.equal(r.divergence, null);
    assert.deepEqual(r.bytes, rec.bytes);
  });
}
