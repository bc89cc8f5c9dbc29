/**
 * The multiboot device test-kernel suite (`mb-*`), by name. Each builder returns a real
 * multiboot ELF file plus the config the built-in asks for and the list of its checks; built
 * kernels are cached (assembly is deterministic, so a cached image is the same bytes).
 */

import type { MbKernel } from "./kit.ts";
import { buildMbFaults } from "./mb_faults.ts";
import { buildMbIoapic } from "./mb_ioapic.ts";
import { buildMbLapic } from "./mb_lapic.ts";
import { buildMbPic } from "./mb_pic.ts";
import { buildMbPitRtc } from "./mb_pit_rtc.ts";
import { buildMbSmp } from "./mb_smp.ts";
import { buildMbUart } from "./mb_uart.ts";

export const MULTIBOOT_KERNELS: Record<string, () => MbKernel> = {
  "mb-faults": buildMbFaults,
  "mb-ioapic": buildMbIoapic,
  "mb-lapic": buildMbLapic,
  "mb-pic": buildMbPic,
  "mb-pit-rtc": buildMbPitRtc,
  "mb-smp": buildMbSmp,
  "mb-uart": buildMbUart,
};

const cache = new Map<string, MbKernel>();

/** The kernel `name` (built once per process). */
export function multibootKernel(name: string): MbKernel {
  let k = cache.get(name);
  if (k === undefined) {
    const build = MULTIBOOT_KERNELS[name];
    if (build === undefined) throw new Error(`unknown multiboot kernel ${name}`);
    cache.set(name, k = build());
  }
  return k;
}

export type { MbKernel };
