/**
 * Invariant 1 (determinism): nothing in the core reads host time, host randomness or the
 * environment, and guest arithmetic uses no engine-dependent Math functions. Only src/cli and
 * src/machine/inputs.ts may touch the host.
 */

import assert from "node:assert/strict";

const SRC = new URL("../src/", import.meta.url);
const HOST_TIME =
  /\b(Date\.now|performance\.now|Math\.random|getRandomValues|new Date\(|Deno\.env|Deno\.stdin|Deno\.hrtime)/;
const ENGINE_MATH =
  /Math\.(sin|cos|tan|asin|acos|atan2?|exp|expm1|log|log2|log10|log1p|pow|cbrt|sinh|cosh|tanh|hypot)\(/;

async function* files(dir: URL): AsyncGenerator<URL> {
  for await (const e of Deno.readDir(dir)) {
    const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) yield* files(u);
    else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) yield u;
  }
}

Deno.test("no host time, randomness or environment in the deterministic core", async () => {
  const hits: string[] = [];
  for await (const f of files(SRC)) {
    const rel = f.pathname.slice(SRC.pathname.length);
    if (rel.startsWith("cli/") || rel === "machine/inputs.ts") continue;
    const lines = (await Deno.readTextFile(f)).split("\n");
    lines.forEach((l, i) => {
      if (HOST_TIME.test(l) || ENGINE_MATH.test(l)) hits.push(`src/${rel}:${i + 1}: ${l.trim()}`);
    });
  }
  assert.deepEqual(hits, []);
});
