/**
 * ELF32/ELF64 little-endian x86 executables (System V gABI, "ELF-64 Object File Format"): the file
 * header, program headers, loadable segments and notes. Only what the loaders need; every offset
 * and size is checked against the file.
 */

import { hex, type ImageReader } from "./bytes.ts";
import type { PlanBuilder } from "./plan.ts";

export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const EM_386 = 3;
export const EM_X86_64 = 62;
const ET_EXEC = 2;

export interface ElfSegment {
  /** Index in the program header table. */
  readonly index: number;
  readonly type: number;
  readonly offset: number;
  readonly vaddr: bigint;
  readonly paddr: number;
  readonly filesz: number;
  readonly memsz: number;
  readonly align: number;
}

export interface ElfFile {
  readonly cls: 32 | 64;
  readonly machine: number;
  /** e_entry (a virtual address). */
  readonly entry: bigint;
  readonly segments: readonly ElfSegment[];
}

/** Whether the file starts with the ELF magic. */
export function isElf(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

/** Parses and checks the ELF header and program header table. */
export function parseElf(f: ImageReader): ElfFile {
  if (!isElf(f.bytes)) f.fail("not an ELF file (no \\x7fELF magic)");
  f.need(0, 16, "ELF identification");
  const clsByte = f.u8(4, "ELF class");
  if (clsByte !== 1 && clsByte !== 2) f.fail(`unknown ELF class ${clsByte} (expected 1 or 2)`);
  const cls = clsByte === 1 ? 32 : 64;
  if (f.u8(5, "ELF data encoding") !== 1) f.fail("not a little-endian ELF file");
  if (f.u8(6, "ELF version") !== 1) f.fail(`unknown ELF version ${f.u8(6, "ELF version")}`);
  const ehsize = cls === 32 ? 52 : 64;
  f.need(0, ehsize, "ELF header");
  const type = f.u16(16, "e_type");
  if (type !== ET_EXEC) f.fail(`ELF file is not an executable (e_type ${type}, expected 2)`);
  const machine = f.u16(18, "e_machine");
  if (machine !== EM_386 && machine !== EM_X86_64) {
    f.fail(`ELF file is not for x86 (e_machine ${machine})`);
  }
  const entry = cls === 32 ? BigInt(f.u32(24, "e_entry")) : f.u64big(24, "e_entry");
  const phoff = cls === 32 ? f.u32(28, "e_phoff") : f.u64(32, "e_phoff");
  const phentsize = f.u16(cls === 32 ? 42 : 54, "e_phentsize");
  const phnum = f.u16(cls === 32 ? 44 : 56, "e_phnum");
  const minEnt = cls === 32 ? 32 : 56;
  if (phnum === 0) f.fail("ELF file has no program headers");
  if (phnum === 0xffff) f.fail("ELF file has an extended program header count (PN_XNUM)");
  if (phentsize < minEnt) {
    f.fail(`ELF program header size ${phentsize} is less than ${minEnt}`);
  }
  f.need(phoff, phnum * phentsize, "the program header table");
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const what = (field: string) => `program header ${i} ${field}`;
    if (cls === 32) {
      segments.push({
        index: i,
        type: f.u32(o, what("p_type")),
        offset: f.u32(o + 4, what("p_offset")),
        vaddr: BigInt(f.u32(o + 8, what("p_vaddr"))),
        paddr: f.u32(o + 12, what("p_paddr")),
        filesz: f.u32(o + 16, what("p_filesz")),
        memsz: f.u32(o + 20, what("p_memsz")),
        align: f.u32(o + 28, what("p_align")),
      });
    } else {
      segments.push({
        index: i,
        type: f.u32(o, what("p_type")),
        offset: f.u64(o + 8, what("p_offset")),
        vaddr: f.u64big(o + 16, what("p_vaddr")),
        paddr: f.u64(o + 24, what("p_paddr")),
        filesz: f.u64(o + 32, what("p_filesz")),
        memsz: f.u64(o + 40, what("p_memsz")),
        align: f.u64(o + 48, what("p_align")),
      });
    }
  }
  return { cls, machine, entry, segments };
}

/** A PT_LOAD segment ready to place: its file bytes followed by zeros up to p_memsz. */
export interface LoadSegment {
  readonly index: number;
  readonly paddr: number;
  readonly vaddr: bigint;
  readonly memsz: number;
  readonly filesz: number;
  readonly offset: number;
}

/**
 * The PT_LOAD segments with a non-zero p_memsz, checked: file bytes inside the file, p_filesz <=
 * p_memsz, physical range below 4 GiB. Fails if there are none.
 */
export function loadSegments(f: ImageReader, elf: ElfFile): LoadSegment[] {
  const out: LoadSegment[] = [];
  for (const s of elf.segments) {
    if (s.type !== PT_LOAD || s.memsz === 0) continue;
    if (s.filesz > s.memsz) {
      f.fail(
        `program header ${s.index} has p_filesz ${hex(s.filesz)} > p_memsz ${hex(s.memsz)}`,
      );
    }
    f.need(s.offset, s.filesz, `program header ${s.index}`);
    if (s.paddr + s.memsz > 2 ** 32) {
      f.fail(
        `program header ${s.index} is loaded at ${hex(s.paddr)}-${
          hex(s.paddr + s.memsz)
        }, above 4 GiB`,
      );
    }
    out.push({
      index: s.index,
      paddr: s.paddr,
      vaddr: s.vaddr,
      memsz: s.memsz,
      filesz: s.filesz,
      offset: s.offset,
    });
  }
  if (out.length === 0) f.fail("ELF file has no loadable (PT_LOAD) segments");
  return out;
}

/**
 * Writes the segments at their physical addresses (file bytes, then zeros up to p_memsz: the bss)
 * and returns the highest end address.
 */
export function placeSegments(
  b: PlanBuilder,
  f: ImageReader,
  segs: readonly LoadSegment[],
  what: string,
): number {
  let end = 0;
  for (const s of segs) {
    b.writeSized(`${what} (program header ${s.index})`, s.paddr, s.memsz, (buf) => {
      buf.set(f.bytes.subarray(s.offset, s.offset + s.filesz));
    });
    end = Math.max(end, s.paddr + s.memsz);
  }
  return end;
}

/**
 * The physical entry address: e_entry translated through the PT_LOAD segment whose virtual range
 * contains it (as GRUB does for multiboot ELF kernels), else e_entry itself; it must then lie in
 * one of the loaded segments' physical ranges.
 */
export function physicalEntry(f: ImageReader, elf: ElfFile, segs: readonly LoadSegment[]): number {
  let entry: bigint = elf.entry;
  for (const s of segs) {
    if (entry >= s.vaddr && entry < s.vaddr + BigInt(s.memsz)) {
      entry = entry - s.vaddr + BigInt(s.paddr);
      break;
    }
  }
  const e = Number(entry);
  if (!segs.some((s) => entry >= BigInt(s.paddr) && entry < BigInt(s.paddr + s.memsz))) {
    f.fail(`ELF entry point 0x${elf.entry.toString(16)} is not inside a loadable segment`);
  }
  return e;
}

export interface ElfNote {
  readonly name: string;
  readonly type: number;
  readonly desc: Uint8Array;
}

/** All notes of the PT_NOTE segments (4-byte aligned fields; 8 if the segment's p_align is 8). */
export function elfNotes(f: ImageReader, elf: ElfFile): ElfNote[] {
  const notes: ElfNote[] = [];
  for (const s of elf.segments) {
    if (s.type !== PT_NOTE) continue;
    f.need(s.offset, s.filesz, `note segment (program header ${s.index})`);
    const al = s.align === 8 ? 8 : 4;
    const end = s.offset + s.filesz;
    let o = s.offset;
    while (o + 12 <= end) {
      const namesz = f.u32(o, "note namesz");
      const descsz = f.u32(o + 4, "note descsz");
      const type = f.u32(o + 8, "note type");
      const nameOff = o + 12;
      const descOff = nameOff + Math.ceil(namesz / al) * al;
      const next = descOff + Math.ceil(descsz / al) * al;
      if (descOff + descsz > end) {
        f.fail(
          `note at offset ${
            hex(o)
          } extends past the end of its segment (program header ${s.index})`,
        );
      }
      let name = "";
      for (let i = 0; i < namesz; i++) {
        const c = f.bytes[nameOff + i]!;
        if (c === 0) break;
        name += String.fromCharCode(c);
      }
      notes.push({ name, type, desc: f.bytes.slice(descOff, descOff + descsz) });
      o = next;
    }
  }
  return notes;
}
