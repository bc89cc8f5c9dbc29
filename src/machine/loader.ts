/**
 * Guest loaders. A loader places the image in guest memory and sets the boot processor's entry
 * state. Loaders validate their input and fail with `LoadError` (one line naming what is wrong).
 */

import {
  CR0_ET,
  CR0_NE,
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CR4_PAE,
  CS,
  DS,
  EFER_LMA,
  EFER_LME,
  EFER_NXE,
  ES,
  FS,
  GS,
  SS,
} from "../cpu/regs.ts";
import type { Cpu } from "../cpu/cpu.ts";
import { applyEntryState } from "./boot_state.ts";
import type { GuestLoader, Machine } from "./machine.ts";
import { defaultE820, type ImageFormat, LoadError, loadImage } from "./loaders/mod.ts";

export { LoadError };

/** Where the flat loader builds its identity page tables and GDT (below 1 MiB). */
export const LOADER_AREA = { start: 0x1000, end: 0x8000 } as const;

/**
 * Builds 4-level identity page tables for the first 4 GiB (2 MiB pages, RWX) at `at`:
 * PML4, PDPT, 4 page directories (6 pages). Returns the PML4 address.
 */
export function buildIdentityPaging(m: Machine, at: number): number {
  const dv = m.mem.dv;
  m.mem.u8.fill(0, at, at + 6 * 4096);
  const pml4 = at, pdpt = at + 0x1000;
  dv.setUint32(pml4, pdpt | 0x3, true);
  for (let i = 0; i < 4; i++) {
    const pd = at + 0x2000 + i * 0x1000;
    dv.setUint32(pdpt + i * 8, pd | 0x3, true);
    for (let j = 0; j < 512; j++) {
      const addr = i * 0x40000000 + j * 0x200000;
      dv.setUint32(pd + j * 8, (addr | 0x83) >>> 0, true);
    }
  }
  m.mem.touch(at, 6 * 4096);
  return pml4;
}

/** Writes a flat GDT (null, 64-bit code 0x08, data 0x10, 32-bit code 0x18) at `at`. */
export function buildGdt(m: Machine, at: number): void {
  const dv = m.mem.dv;
  const entries = [[0, 0], [0x0000ffff, 0x00af9a00], [0x0000ffff, 0x00cf9200], [
    0x0000ffff,
    0x00cf9a00,
  ]];
  entries.forEach(([lo, hi], i) => {
    dv.setUint32(at + i * 8, lo!, true);
    dv.setUint32(at + i * 8 + 4, hi!, true);
  });
  m.mem.touch(at, entries.length * 8);
}

/** Puts `cpu` in 64-bit long mode at CPL 0 with flat segments. */
export function enterLongMode(
  cpu: Cpu,
  cr3: number,
  rip: number,
  gdtBase: number,
  gdtLimit: number,
): void {
  cpu.cr3 = cr3;
  cpu.cr4 = CR4_PAE;
  cpu.efer = EFER_LME | EFER_LMA | EFER_NXE;
  cpu.cr0 = (CR0_PE | CR0_PG | CR0_ET | CR0_NE | CR0_WP) | 0;
  cpu.gdtBase = gdtBase;
  cpu.gdtLimit = gdtLimit;
  cpu.idtBase = 0;
  cpu.idtLimit = 0;
  cpu.setSegment(CS, 0x08, 0, 0xffffffff, 0xa09b);
  for (const s of [DS, ES, SS, FS, GS]) cpu.setSegment(s, 0x10, 0, 0xffffffff, 0xc093);
  cpu.setSegment(7, 0, 0, 0xffff, 0x8b);
  cpu.rip = rip;
  cpu.updateMode();
  cpu.flushTlbAll();
}

function checkFits(m: Machine, what: string, load: number, size: number): void {
  if (load < 0 || load + size > m.mem.ramBytes) {
    throw new LoadError(
      what,
      `${size} bytes at 0x${load.toString(16)} do not fit in ${m.config.memMiB} MiB of RAM`,
    );
  }
}

/**
 * A flat binary loaded at `load`, entered in 64-bit mode at `entry` with identity paging of the
 * first 4 GiB and a flat GDT built by the loader at 0x1000-0x7fff.
 */
export function flatLoader(
  name: string,
  bytes: Uint8Array,
  load: number,
  entry: number,
): GuestLoader {
  return {
    load(m: Machine) {
      checkFits(m, name, load, bytes.length);
      if (load < LOADER_AREA.end && load + bytes.length > LOADER_AREA.start) {
        throw new LoadError(
          name,
          `image at 0x${load.toString(16)}-0x${
            (load + bytes.length).toString(16)
          } overlaps the loader's page tables at 0x1000-0x7fff`,
        );
      }
      if (entry < load || entry >= load + bytes.length) {
        throw new LoadError(name, `entry 0x${entry.toString(16)} is outside the image`);
      }
      m.mem.writeBytes(load, bytes);
      const cr3 = buildIdentityPaging(m, 0x1000);
      buildGdt(m, 0x7000);
      enterLongMode(m.bsp.cpu, cr3, entry, 0x7000, 31);
      m.bsp.cpu.setReg(4, 0x7ff0); // a usable stack until the guest sets its own
    },
  };
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
      const cpu = m.bsp.cpu;
      enterLongMode(cpu, entry.cr3, entry.rip, entry.gdtBase, entry.gdtLimit);
      cpu.setReg(4, entry.rsp);
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
      const seg = { sel: load >>> 4, base: load, limit: 0xffff, attr: 0x93 };
      applyEntryState(m.bsp.cpu, {
        mode: "real",
        rip: entry.rip - load,
        regs: {},
        cs: { ...seg, attr: 0x9b },
        data: seg,
      });
      const cpu = m.bsp.cpu;
      cpu.setSegment(SS, 0, 0, 0xffff, 0x93);
      cpu.setReg(4, entry.rsp);
    },
  };
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
  return {
    load(m: Machine) {
      const plan = loadImage({
        name,
        image: bytes,
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

export type { ImageFormat };
