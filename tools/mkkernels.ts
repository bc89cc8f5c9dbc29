/**
 * Writes the multiboot device test kernels (`mb-*`, src/guests/multiboot/) as ELF files, so they
 * can be booted as kernel files through the multiboot loader, by vtlrr or by QEMU:
 *
 *     deno task mkkernels [DIR]          # default DIR: out/
 *     deno task boot out/mb-uart.elf --input line.txt
 *
 * Each line of output names a file, its size and number of checks, and what to give `boot`
 * for every check to run (e.g. --vps 4 for mb-smp).
 */

import { MULTIBOOT_KERNELS, multibootKernel } from "../src/guests/multiboot/index.ts";

if (Deno.args.includes("--help") || Deno.args.includes("-h") || Deno.args.length > 1) {
  console.log("usage: deno task mkkernels [DIR]   (writes DIR/mb-*.elf; default DIR out/)");
  Deno.exit(Deno.args.length > 1 ? 2 : 0);
}
const dir = Deno.args[0] ?? "out";
await Deno.mkdir(dir, { recursive: true });
for (const name of Object.keys(MULTIBOOT_KERNELS).sort()) {
  const k = multibootKernel(name);
  const path = `${dir}/${name}.elf`;
  await Deno.writeFile(path, k.image);
  const hint = k.bootHint ? `; boot with ${k.bootHint}` : "";
  console.log(`${path}: ${k.image.length} bytes, ${k.checks.length} checks${hint}`);
}
