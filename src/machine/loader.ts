/**
 * Guest loaders. A loader places the image in guest memory and sets the boot processor's entry
 * state. Loaders validate their input and fail with `LoadError` (one line naming what is wrong).
 * File formats (and flat binaries) are pure `LoadPlan` builders in loaders/; built-in guests
 * assembled in the repo bring their own page tables and GDT.
 */

import { applyEntryState, FLAT32_DS, type LoadPlan } from "./boot_state.ts";
import type { GuestLoader, Machine } from "./machine.ts";
import {
  defaultE820,
  type ImageFormat,
  LoadError,
  loadFlat,
  loadImage,
  type LoadOptions,
} from "./loaders/mod.ts";
import { LONG64_CS, native64Entry, realEntry } from "./loaders/x86.ts";

function checkFits(m: Machine, what: string, load: number, size: number): void {
  if (load < 0 || load + size > m.mem.ramBytes) {
    throw new LoadError(
      what,
      `${size} bytes at 0x${load.toString(16)} do not fit in ${m.config.memMiB} MiB of RAM`,
    );
  }
}

/** Runs a plan builder with the machine's RAM size, command line, e820 map and ACPI RSDP. */
function planLoader(
  name: string,
  image: Uint8Array,
  initrd: { name: string; bytes: Uint8Array } | undefined,
  build: (opts: LoadOptions) => LoadPlan,
): GuestLoader {
  return {
    load(m: Machine) {
      const plan = build({
        name,
        image,
        memBytes: m.mem.ramBytes,
        cmdline: m.config.cmdline,
        ...(initrd ? { initrd } : {}),
        vps: m.config.vps,
        e820: defaultE820(m.mem.ramBytes),
        rsdpAddr: m.acpiRsdp,
      });
      for (const w of plan.writes) m.mem.writeBytes(w.addr, w.bytes);
      applyEntryState(m.bsp.cpu, plan.entry);
    },
  };
}

/** A flat binary loaded at `load`, entered in 64-bit mode at `entry` (loaders/flat.ts). */
export function flatLoader(
  name: string,
  bytes: Uint8Array,
  load: number,
  entry: number,
): GuestLoader {
  return planLoader(name, bytes, undefined, (o) => loadFlat(o, load, entry));
}

/**
 * A kernel image in one of the formats `detectFormat` recognises (multiboot, Linux bzImage,
 * PVH vmlinux, plain ELF), with the command line from the config and an optional initrd /
 * multiboot module. The guest sees the default e820 map for its RAM size and the ACPI RSDP the
 * machine built.
 */
export function imageLoader(
  name: string,
  bytes: Uint8Array,
  initrd: { name: string; bytes: Uint8Array } | undefined,
): GuestLoader {
  return planLoader(name, bytes, initrd, loadImage);
}

/**
 * A built-in guest assembled in the repo: image bytes at `load`, entered in long mode with the
 * guest's own page tables (`cr3`) and GDT.
 */
export function longModeLoader(
  name: string,
  bytes: Uint8Array,
  load: number,
  entry: { rip: number; rsp: number; cr3: number; gdtBase: number; gdtLimit: number },
): GuestLoader {
  return {
    load(m: Machine) {
      checkFits(m, name, load, bytes.length);
      m.mem.writeBytes(load, bytes);
      // 64-bit code at selector 0x08, data at 0x10 in the guest's own GDT; no IDT yet.
      const e = native64Entry(entry.rip, { rsp: entry.rsp }, {
        gdt: { base: entry.gdtBase, limit: entry.gdtLimit },
        cs: { ...LONG64_CS, sel: 0x08 },
        data: { ...FLAT32_DS, sel: 0x10 },
        cr3: entry.cr3,
      });
      applyEntryState(m.bsp.cpu, { ...e, idt: { base: 0, limit: 0 } });
    },
  };
}

/**
 * A built-in guest entered in real mode: the image at `load` (16-byte aligned, below 1 MiB),
 * CS:IP = (load >> 4):(rip - load), DS = ES = FS = GS = CS, SS:SP = 0:rsp.
 */
export function realModeLoader(
  name: string,
  bytes: Uint8Array,
  load: number,
  entry: { rip: number; rsp: number },
): GuestLoader {
  return {
    load(m: Machine) {
      checkFits(m, name, load, bytes.length);
      if (load % 16 !== 0 || load >= 0x100000 || entry.rip - load > 0xffff || entry.rip < load) {
        throw new LoadError(
          name,
          `a real-mode image needs a 16-byte aligned load address below 1 MiB and an ` +
            `entry within its first 64 KiB`,
        );
      }
      if (entry.rsp < 0 || entry.rsp > 0xffff) {
        throw new LoadError(name, "the real-mode stack pointer must be below 64 KiB");
      }
      m.mem.writeBytes(load, bytes);
      applyEntryState(m.bsp.cpu, realEntry(load >>> 4, entry.rip - load, entry.rsp));
    },
  };
}

export type { ImageFormat };
