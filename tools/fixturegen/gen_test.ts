/**
 * The generator still builds exactly the recorded cases: for every family, the generated case
 * list (ids, code, inputs) equals the inputs of test/fixtures/cpu, so a refactoring of the
 * generator cannot silently change what re-running it would record. Runs without the native
 * runner; CPU-flag-dependent choices use the flags of the recording host (MANIFEST.json).
 */

import assert from "node:assert/strict";
import { Family, inputJson } from "./core.ts";
import { FAMILIES } from "./gen.ts";
import { loadFixtures } from "../../test/fixtures/cpu/load.ts";

const manifest = JSON.parse(
  await Deno.readTextFile(new URL("../../test/fixtures/cpu/MANIFEST.json", import.meta.url)),
);
const hostFlags: string[] = manifest.host.flags.split(" ");
const has = (flag: string) => hostFlags.includes(flag);

for (const [name, spec] of Object.entries(FAMILIES)) {
  Deno.test(`fixturegen: ${name} generates the recorded inputs`, async () => {
    const fam = new Family(name, spec.scale);
    spec.fn(fam, has);
    let i = 0;
    for await (const c of loadFixtures(name)) {
      const b = fam.cases[i++];
      assert.ok(b !== undefined, `${name}: the fixtures have more cases than the generator`);
      const want = inputJson(b);
      const rec = c as unknown as Record<string, unknown>;
      const got = Object.fromEntries(Object.keys(want).map((k) => [k, rec[k]]));
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        assert.deepEqual(got, want, `case ${i - 1} (${c.id})`);
      }
    }
    assert.equal(i, fam.cases.length, `${name}: the generator has more cases than the fixtures`);
  });
}
