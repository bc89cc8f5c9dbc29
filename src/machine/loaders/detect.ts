/**
 * Image format detection, in this order:
 *
 * 1. "linux-bzimage": "HdrS" at offset 0x202 (the Linux setup header signature).
 * 2. "multiboot": a multiboot v1 header (magic 0x1BADB002, 4-byte aligned, in the first 8192
 *    bytes, with a valid checksum). It takes precedence over the ELF header: kvm-unit-tests
 *    kernels are ELF32/ELF64 files with a multiboot header.
 * 3. "pvh-vmlinux": an ELF file with a XEN_ELFNOTE_PHYS32_ENTRY note (type 18, name "Xen").
 * 4. "elf32" / "elf64": other ELF files, by class.
 * 5. "unknown".
 *
 * Detection never throws; a malformed file of a detected format fails in its loader.
 */

import type { LoadPlan } from "../boot_state.ts";
import { loadElf } from "./elf.ts";
import { LoadError } from "./errors.ts";
import { isElf } from "./elf_file.ts";
import { hasPvhNote, HDRS_MAGIC, loadLinuxBzImage, loadLinuxPvh } from "./linux.ts";
import { findMultibootHeader, loadMultiboot } from "./multiboot.ts";
import type { LoadOptions } from "./plan.ts";

export type ImageFormat =
  | "multiboot"
  | "linux-bzimage"
  | "elf64"
  | "elf32"
  | "pvh-vmlinux"
  | "unknown";

export function detectFormat(image: Uint8Array): ImageFormat {
  if (!(image instanceof Uint8Array)) return "unknown";
  if (image.length >= 0x206) {
    const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
    if (dv.getUint32(0x202, true) === HDRS_MAGIC) return "linux-bzimage";
  }
  if (findMultibootHeader(image) >= 0) return "multiboot";
  if (isElf(image) && image.length > 4) {
    if (hasPvhNote(image)) return "pvh-vmlinux";
    if (image[4] === 1) return "elf32";
    if (image[4] === 2) return "elf64";
  }
  return "unknown";
}

/** Detects the format of `opts.image` and loads it with the matching loader. */
export function loadImage(opts: LoadOptions): LoadPlan {
  const format = detectFormat(opts?.image);
  switch (format) {
    case "multiboot":
      return loadMultiboot(opts);
    case "linux-bzimage":
      return loadLinuxBzImage(opts);
    case "pvh-vmlinux":
      return loadLinuxPvh(opts);
    case "elf32":
    case "elf64":
      return loadElf(opts);
    case "unknown": {
      const name = typeof opts?.name === "string" && opts.name !== ""
        ? opts.name
        : "(unnamed image)";
      throw new LoadError(
        name,
        "unrecognized image format (not a Linux bzImage, multiboot kernel or ELF file)",
      );
    }
  }
}
