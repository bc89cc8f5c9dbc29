/**
 * CPU fixture generator: builds instruction-sequence test cases, executes them natively through
 * tools/fixturegen/runner.c and writes test/fixtures/cpu/<family>.jsonl.gz plus MANIFEST.json.
 *
 *   deno run -A tools/fixturegen/gen.ts [--only fam1,fam2] [--out DIR] [--runner PATH] [--no-build]
 *
 * Deterministic: the same generator version on the same CPU model writes byte-identical files.
 * See tools/fixturegen/README.md.
 */
import { Family, runCases, toJsonLine } from "./core.ts";
import * as I from "./families_int.ts";
import * as S from "./families_sse.ts";
import * as X from "./families_x87.ts";

/** Bump when case selection or the format changes (the fixtures then differ anyway). */
export const GENERATOR_VERSION = 2; // 2: x87 families, x87 state in the runner protocol
export const FORMAT_VERSION = 2; // 2: optional x87_in / x87_out / x87_tolerance keys

type Has = (flag: string) => boolean;

export const FAMILIES: Record<
  string,
  { needs: string[]; scale: number; fn: (f: Family, has: Has) => void }
> = {
  alu: { needs: [], scale: 2.2, fn: I.alu },
  logic: { needs: [], scale: 2.2, fn: I.logic },
  unary: { needs: [], scale: 2.2, fn: I.unary },
  shift: { needs: [], scale: 2, fn: I.shift },
  rotate: { needs: [], scale: 1.5, fn: I.rotate },
  shiftd: { needs: [], scale: 2, fn: I.shiftd },
  mul: { needs: [], scale: 3, fn: I.mul },
  div: { needs: [], scale: 2, fn: I.div },
  bt: { needs: [], scale: 2, fn: I.bt },
  bitscan: { needs: ["popcnt", "abm", "bmi1"], scale: 2.5, fn: I.bitscan },
  mov: { needs: [], scale: 3, fn: I.mov },
  xchg: { needs: ["cx16"], scale: 3, fn: I.xchg },
  cond: { needs: [], scale: 1.5, fn: I.cond },
  flags: { needs: ["lahf_lm"], scale: 2, fn: I.flags },
  lea: { needs: [], scale: 2, fn: I.lea },
  stack: { needs: [], scale: 3, fn: I.stack },
  string: { needs: [], scale: 1.5, fn: I.string },
  bmi: { needs: [], scale: 2, fn: (f, has) => I.bmi(f, has) },
  chain: { needs: [], scale: 3, fn: I.chain },
  sse_int: { needs: ["sse2"], scale: 1.3, fn: S.sseInt },
  sse_fp: { needs: ["sse2"], scale: 1.3, fn: S.sseFp },
  sse_mov: { needs: ["sse2"], scale: 1, fn: S.sseMov },
  sse_int2: { needs: ["sse2"], scale: 1, fn: S.sseInt2 },
  sse_fp2: { needs: ["sse2"], scale: 1, fn: S.sseFp2 },
  sse_state: { needs: ["sse2", "fxsr"], scale: 1, fn: S.sseState },
  sse3: { needs: ["pni"], scale: 1, fn: S.sse3 },
  ssse3: { needs: ["ssse3"], scale: 1, fn: S.ssse3 },
  sse41: { needs: ["sse4_1"], scale: 1, fn: S.sse41 },
  sse42: { needs: ["sse4_2"], scale: 1, fn: S.sse42 },
  sse42_str: { needs: ["sse4_2"], scale: 1, fn: S.sse42str },
  mmx: { needs: ["mmx", "ssse3"], scale: 1, fn: S.mmx },
  xsave: { needs: ["xsave", "xsaveopt", "xsavec"], scale: 1, fn: S.xsave },
  x87_ldst: { needs: ["fpu", "pni"], scale: 1, fn: X.x87Ldst },
  x87_arith: { needs: ["fpu"], scale: 1, fn: X.x87Arith },
  x87_cmp: { needs: ["fpu", "cmov"], scale: 1, fn: X.x87Cmp },
  x87_trans: { needs: ["fpu"], scale: 1, fn: X.x87Trans },
  x87_env: { needs: ["fpu", "fxsr", "mmx"], scale: 1, fn: X.x87Env },
};

function parseArgs(args: string[]) {
  const o = {
    only: null as string[] | null,
    out: "test/fixtures/cpu",
    runner: "/tmp/fxrunner",
    build: true,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--only") o.only = args[++i]!.split(",");
    else if (a === "--out") o.out = args[++i]!;
    else if (a === "--runner") o.runner = args[++i]!;
    else if (a === "--no-build") o.build = false;
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

async function hostInfo(): Promise<{ model: string; vendor: string; flags: string[] }> {
  const txt = await Deno.readTextFile("/proc/cpuinfo");
  const field = (k: string) => txt.match(new RegExp(`^${k}\\s*: (.*)$`, "m"))?.[1]?.trim() ?? "";
  return {
    model: field("model name"),
    vendor: field("vendor_id"),
    flags: field("flags").split(/\s+/),
  };
}

async function gzip(text: string): Promise<Uint8Array> {
  const s = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(s).arrayBuffer());
}

async function sha256(data: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function main() {
  const opt = parseArgs(Deno.args);
  const here = new URL(".", import.meta.url).pathname;
  if (opt.build) {
    const cc = await new Deno.Command("cc", {
      args: ["-O2", "-Wall", "-o", opt.runner, `${here}runner.c`],
      stderr: "inherit",
    }).output();
    if (!cc.success) throw new Error("building the runner failed");
  }
  const host = await hostInfo();
  const has: Has = (flag) => host.flags.includes(flag);
  await Deno.mkdir(opt.out, { recursive: true });

  const manifestPath = `${opt.out}/MANIFEST.json`;
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(await Deno.readTextFile(manifestPath)).families ?? {};
  } catch { /* first run */ }
  const families: Record<string, unknown> = {};
  const names = Object.keys(FAMILIES).filter((n) => !opt.only || opt.only.includes(n));
  if (opt.only) Object.assign(families, previous);

  for (const name of names) {
    const spec = FAMILIES[name]!;
    const missing = spec.needs.filter((x) => !has(x));
    if (missing.length) {
      console.error(`skipping ${name}: host lacks ${missing.join(",")}`);
      continue;
    }
    const fam = new Family(name, spec.scale);
    spec.fn(fam, has);
    for (const [msg, n] of fam.retries) console.error(`  ${name}: ${n} retries: ${msg}`);
    const results = await runCases(opt.runner, fam.cases);
    const lines: string[] = [];
    let faults = 0;
    const vectors: Record<string, number> = {};
    for (let i = 0; i < fam.cases.length; i++) {
      const line = toJsonLine(fam.cases[i]!, results[i]!);
      const res = results[i]!;
      if (res.signal) {
        faults++;
        vectors[res.trapno] = (vectors[res.trapno] ?? 0) + 1;
      }
      lines.push(line);
    }
    const gz = await gzip(lines.join("\n") + "\n");
    const file = `${name}.jsonl.gz`;
    await Deno.writeFile(`${opt.out}/${file}`, gz);
    families[name] = {
      file,
      cases: lines.length,
      faults,
      fault_vectors: vectors,
      bytes: gz.length,
      sha256: await sha256(gz),
    };
    console.error(`${name}: ${lines.length} cases, ${faults} faults, ${gz.length} bytes`);
  }

  const sorted = Object.fromEntries(Object.keys(families).sort().map((k) => [k, families[k]]));
  const total = Object.values(sorted).reduce(
    (a: number, f) => a + (f as { cases: number }).cases,
    0,
  );
  const manifest = {
    generator: "tools/fixturegen/gen.ts",
    generator_version: GENERATOR_VERSION,
    format_version: FORMAT_VERSION,
    host: { vendor: host.vendor, model: host.model, flags: host.flags.join(" ") },
    code_base: "0x20000000",
    mem_base: "0x10000000",
    mem_size: 8192,
    data_pattern:
      "xorshift32(13,17,5), state=seed||0x6d2b79f5, step then store state LE per 4 bytes",
    total_cases: total,
    families: sorted,
  };
  await Deno.writeTextFile(manifestPath, JSON.stringify(manifest, null, 2) + "\n");
  console.error(`total: ${total} cases`);
}

if (import.meta.main) await main();
