/**
 * Decoding of 8-byte segment and gate descriptors from their two little-endian dwords (`lo`,
 * `hi`), SDM Vol. 3A §3.4.5 (segment descriptors), §3.5 (system types), §5.8.3 (call gates),
 * §7.2.5 (task gates). One place for the bit layout: segment loads, far transfers, task switches,
 * LTR/LLDT and LAR/LSL/VERR/VERW all use it.
 */

/** System descriptor types (S = 0), legacy and IA-32e meanings. */
export const SYS_TSS16 = 1, SYS_LDT = 2, SYS_CALL_GATE16 = 4;
export const SYS_TASK_GATE = 5, SYS_TSS32 = 9, SYS_CALL_GATE32 = 0xc;
/** In IA-32e mode type 9/0xb are the 64-bit TSS and 0xc the 64-bit call gate. */
export const SYS_CALL_GATE64 = 0xc;

/** The 4-bit type field. */
export function descType(hi: number): number {
  return (hi >>> 8) & 0xf;
}

/** S flag: code or data segment (true), system descriptor (false). */
export function descIsSeg(hi: number): boolean {
  return (hi & 0x1000) !== 0;
}

export function descDpl(hi: number): number {
  return (hi >>> 13) & 3;
}

export function descPresent(hi: number): boolean {
  return (hi & 0x8000) !== 0;
}

/** A code segment (S = 1, type bit 3). */
export function descIsCode(hi: number): boolean {
  return (hi & 0x1800) === 0x1800;
}

/** A conforming code segment. */
export function descIsConforming(hi: number): boolean {
  return (hi & 0x1c00) === 0x1c00;
}

/** A writable data segment (a valid SS). */
export function descIsWritableData(hi: number): boolean {
  return (hi & 0x1a00) === 0x1200;
}

/** A 64-bit code segment: L = 1, D = 0. */
export function descIs64Code(hi: number): boolean {
  return (hi & 0x00600000) === 0x00200000;
}

/** L and D both set: a reserved combination, #GP for a code segment loaded in IA-32e mode. */
export function descHasLAndD(hi: number): boolean {
  return (hi & 0x00600000) === 0x00600000;
}

/** Segment base, bits 31:0 (system descriptors in IA-32e mode add the next dword's bits 63:32). */
export function descBase(lo: number, hi: number): number {
  return ((hi & 0xff000000) | ((hi & 0xff) << 16) | (lo >>> 16)) >>> 0;
}

/** Byte-granular segment limit (G scales by 4 KiB). */
export function descLimit(lo: number, hi: number): number {
  const limit = ((hi & 0x000f0000) | (lo & 0xffff)) >>> 0;
  return (hi & 0x00800000) ? (limit * 4096 + 4095) >>> 0 : limit;
}

/** Attributes in the packed form of `Cpu.segAttr` (type, S, DPL, P in 7:0; AVL L D/B G in 15:12). */
export function descAttr(hi: number): number {
  return ((hi >>> 8) & 0xff) | (((hi >>> 20) & 0xf) << 12);
}

/** A gate's target selector. */
export function gateSelector(lo: number): number {
  return lo >>> 16;
}

/** A gate's 32-bit offset (16-bit gates use its low half). */
export function gateOffset(lo: number, hi: number): number {
  return ((hi & 0xffff0000) | (lo & 0xffff)) >>> 0;
}

/** A call gate's parameter count. */
export function gateParams(hi: number): number {
  return hi & 0x1f;
}
