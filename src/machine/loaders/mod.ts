/**
 * Guest image loaders: pure functions from an image and load options to a `LoadPlan` (memory
 * writes + entry state; src/machine/boot_state.ts). See each module for its memory layout;
 * plan.ts lists the fixed low-memory addresses all loaders share.
 */

export { detectFormat, type ImageFormat, loadImage } from "./detect.ts";
export { defaultE820, type E820Entry, type E820Type, MAX_MEM_BYTES } from "./e820.ts";
export { loadElf } from "./elf.ts";
export { loadFlat } from "./flat.ts";
export { LoadError } from "./errors.ts";
export {
  bzImagePlan,
  loadLinuxBzImage,
  loadLinuxPvh,
  parseSetupHeader,
  type SetupHeader,
} from "./linux.ts";
export { loadMultiboot, MULTIBOOT_BOOTLOADER_MAGIC } from "./multiboot.ts";
export { type LoadOptions, LOW } from "./plan.ts";
