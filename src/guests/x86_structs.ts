/**
 * x86 system structures for guest setup: page tables, GDT/TSS descriptors, IDT gates and the TSS,
 * emitted as data into an `Asm` (all little-endian). Field layouts follow the Intel SDM, Vol. 3A:
 * paging structures §4.5 (Tables 4-15..4-20), segment descriptors §3.4.5 (Figure 3-8), system
 * descriptors §3.5 and §8.2.3 (64-bit TSS descriptor, Figure 8-4), IDT gates §6.11 (Figure 6-2) and
 * §6.14.1 (64-bit gates, Figure 6-8), the 64-bit TSS §8.7 (Figure 8-11), and the pseudo-descriptor
 * for LGDT/LIDT §3.5.1 (Figure 3-11).
 *
 * Values that depend on the layout (table addresses, handler addresses) are emitted as thunks, so
 * the structures can reference labels that are bound anywhere in the image.
 */

import { type Asm, Label, type Thunk } from "./asm.ts";

// ---------------------------------------------------------------------------------------------
// Paging (SDM Vol. 3A §4.5, 4-level paging)

/** Present. */
export const PTE_P = 1n;
/** Read/write: writes allowed. */
export const PTE_RW = 2n;
/** User/supervisor: user-mode accesses allowed. */
export const PTE_US = 4n;
/** Page-level write-through. */
export const PTE_PWT = 8n;
/** Page-level cache disable. */
export const PTE_PCD = 0x10n;
/** Accessed. */
export const PTE_A = 0x20n;
/** Dirty (leaf entries only). */
export const PTE_D = 0x40n;
/** Page size: the entry maps a 2 MiB (PDE) or 1 GiB (PDPTE) page. */
export const PTE_PS = 0x80n;
/** Global (leaf entries only; needs CR4.PGE). */
export const PTE_G = 0x100n;
/** Execute-disable (needs IA32_EFER.NXE). */
export const PTE_NX = 1n << 63n;

/** All page-table flags by short name (`PTE.RW`, `PTE.NX`, ...). */
export const PTE = {
  P: PTE_P,
  RW: PTE_RW,
  US: PTE_US,
  PWT: PTE_PWT,
  PCD: PTE_PCD,
  A: PTE_A,
  D: PTE_D,
  PS: PTE_PS,
  G: PTE_G,
  NX: PTE_NX,
} as const;

/** Bits 51:12 of an entry hold the physical address of the page/table. */
const ADDR_MASK = ((1n << 52n) - 1n) & ~0xfffn;

/**
 * A paging-structure entry: the 4 KiB-aligned physical `address` (bits 51:12) ORed with `flags`
 * (bits 11:0 and 63:52: `PTE_*`). For a 2 MiB / 1 GiB leaf, pass `PTE_PS` and an address aligned to
 * the page size.
 */
export function pte(address: number | bigint, flags: number | bigint): bigint {
  const a = BigInt(address);
  const f = BigInt(flags);
  if (a < 0n || (a & ~ADDR_MASK) !== 0n) {
    throw new Error(
      `x86: page-table entry address 0x${a.toString(16)} is not a 4 KiB-aligned 52-bit address`,
    );
  }
  if ((f & ADDR_MASK) !== 0n || f < 0n || f >= (1n << 64n)) {
    throw new Error(`x86: page-table entry flags 0x${f.toString(16)} overlap the address bits`);
  }
  if ((f & PTE_PS) !== 0n && (a & 0x1fffffn) !== 0n) {
    throw new Error(`x86: large-page entry address 0x${a.toString(16)} is not 2 MiB-aligned`);
  }
  return a | f;
}

export type PageSize = "4K" | "2M" | "1G";

const PAGE_BYTES: Record<PageSize, number> = { "4K": 0x1000, "2M": 0x200000, "1G": 0x40000000 };

export interface PageTablesOptions {
  /** First address mapped (virtual = physical); a multiple of the page size. Default 0. */
  base?: number;
  /** Bytes mapped from `base`, rounded up to whole pages. */
  identityBytes: number;
  /** Leaf page size: 4 KiB PTEs, 2 MiB PDEs (PS=1) or 1 GiB PDPTEs (PS=1). */
  pageSize: PageSize;
  /** Leaf flags (`PTE_*`); default `PTE_P | PTE_RW`. P is always set, PS is added for 2M/1G. */
  flags?: bigint | number;
  /**
   * Flags of the non-leaf entries (PML4E/PDPTE/PDE pointing to tables); default
   * `PTE_P | PTE_RW`, plus `PTE_US` when the leaf flags have it (permissions are the AND of all
   * levels, so the leaves decide).
   */
  tableFlags?: bigint | number;
  /** Optional name of the PML4 label. */
  name?: string;
}

interface Table {
  readonly label: Label;
  readonly entries: Array<bigint | Thunk | undefined>;
  readonly children: Map<number, Table>;
}

const TWO_39 = 2 ** 39;
const TWO_30 = 2 ** 30;
const TWO_21 = 2 ** 21;
const TWO_12 = 2 ** 12;

/**
 * Emits 4-level identity-mapping page tables into `a` (each table one 4 KiB-aligned page, in the
 * order PML4, PDPTs, PDs, PTs) and returns the PML4's label; load `a.addressOf(label)` into CR3.
 * Tables only exist for the mapped range; other entries are 0 (not present).
 */
export function pageTables4(a: Asm, opts: PageTablesOptions): Label {
  const ps = PAGE_BYTES[opts.pageSize];
  if (ps === undefined) throw new Error(`x86: unknown page size ${String(opts.pageSize)}`);
  const base = opts.base ?? 0;
  if (!Number.isSafeInteger(base) || base < 0 || base % ps !== 0) {
    throw new Error(`x86: page-table base 0x${base.toString(16)} is not ${opts.pageSize}-aligned`);
  }
  if (!Number.isSafeInteger(opts.identityBytes) || opts.identityBytes <= 0) {
    throw new Error(`x86: identityBytes must be a positive integer`);
  }
  const end = base + Math.ceil(opts.identityBytes / ps) * ps;
  if (end > 2 ** 47) {
    throw new Error("x86: identity map must stay below 2^47 (canonical lower half)");
  }
  const leafFlags = (BigInt(opts.flags ?? PTE_P | PTE_RW) | PTE_P) |
    (opts.pageSize === "4K" ? 0n : PTE_PS);
  const tableFlags = BigInt(opts.tableFlags ?? (PTE_P | PTE_RW | (leafFlags & PTE_US)));

  const levels: Table[][] = [[], [], [], []]; // PML4, PDPT, PD, PT
  const newTable = (level: number, name?: string): Table => {
    const t: Table = { label: a.label(name), entries: new Array(512), children: new Map() };
    levels[level].push(t);
    return t;
  };
  const child = (t: Table, level: number, i: number): Table => {
    let c = t.children.get(i);
    if (!c) {
      const made = newTable(level);
      c = made;
      t.children.set(i, made);
      t.entries[i] = () => BigInt(a.addressOf(made.label)) | tableFlags;
    }
    return c;
  };
  const pml4 = newTable(0, opts.name);
  for (let v = base; v < end; v += ps) {
    const i4 = Math.floor(v / TWO_39) % 512;
    const i3 = Math.floor(v / TWO_30) % 512;
    const i2 = Math.floor(v / TWO_21) % 512;
    const i1 = Math.floor(v / TWO_12) % 512;
    const pdpt = child(pml4, 1, i4);
    if (opts.pageSize === "1G") {
      pdpt.entries[i3] = pte(v, leafFlags);
      continue;
    }
    const pd = child(pdpt, 2, i3);
    if (opts.pageSize === "2M") {
      pd.entries[i2] = pte(v, leafFlags);
      continue;
    }
    const pt = child(pd, 3, i2);
    pt.entries[i1] = pte(v, leafFlags);
  }
  for (const level of levels) {
    for (const t of level) {
      a.align(4096, 0);
      a.bind(t.label);
      a.dq(...Array.from(t.entries, (e) => e ?? 0n));
    }
  }
  return pml4.label;
}

// ---------------------------------------------------------------------------------------------
// Segment descriptors (SDM Vol. 3A §3.4.5, §3.5, §8.2.3)

/** An address given directly or by label/thunk (resolved after layout). */
export type AddressValue = number | bigint | Label | Thunk;

function resolveAddr(a: Asm, v: AddressValue): bigint {
  if (v instanceof Label) return BigInt(a.addressOf(v));
  if (typeof v === "function") return BigInt(v());
  return BigInt(v);
}

/** Fields of an 8-byte segment descriptor. */
export interface DescriptorFields {
  /** Segment base (32 bits). */
  base: number;
  /**
   * Byte limit (offset of the last byte). Up to 0xfffff it is stored as is with G=0; larger limits
   * must end in 0xfff and are stored in 4 KiB units with G=1.
   */
  limit: number;
  /** Type field (bits 43:40). Code: 8|C(4)|R(2)|A(1); data: E(4)|W(2)|A(1); system: 2=LDT, 9=TSS. */
  type: number;
  /** S flag: true for code/data, false for system descriptors. */
  s: boolean;
  dpl?: number;
  present?: boolean;
  avl?: boolean;
  /** L: 64-bit code segment. */
  l?: boolean;
  /** D/B: 32-bit default operand size (code) / big (data). */
  db?: boolean;
}

/**
 * Encodes an 8-byte segment descriptor (SDM Figure 3-8): limit 15:0 → bits 15:0, base 23:0 →
 * 39:16, type → 43:40, S → 44, DPL → 46:45, P → 47, limit 19:16 → 51:48, AVL → 52, L → 53,
 * D/B → 54, G → 55, base 31:24 → 63:56.
 */
export function segmentDescriptor(f: DescriptorFields): bigint {
  const base = BigInt(f.base);
  if (base < 0n || base > 0xffffffffn) throw new Error("x86: descriptor base must be 32-bit");
  let limit = f.limit;
  let g = 0n;
  if (!Number.isInteger(limit) || limit < 0 || limit > 0xffffffff) {
    throw new Error(`x86: descriptor limit 0x${limit.toString(16)} out of range`);
  }
  if (limit > 0xfffff) {
    if ((limit & 0xfff) !== 0xfff) {
      throw new Error(
        `x86: descriptor limit 0x${limit.toString(16)} needs G=1 and must end in fff`,
      );
    }
    limit = Math.floor(limit / 4096);
    g = 1n;
  }
  const dpl = BigInt(f.dpl ?? 0);
  if (dpl < 0n || dpl > 3n) throw new Error("x86: DPL must be 0..3");
  if (f.type < 0 || f.type > 15) throw new Error("x86: descriptor type must be 0..15");
  const lim = BigInt(limit);
  return (lim & 0xffffn) |
    ((base & 0xffffffn) << 16n) |
    (BigInt(f.type) << 40n) |
    ((f.s ? 1n : 0n) << 44n) |
    (dpl << 45n) |
    ((f.present ?? true ? 1n : 0n) << 47n) |
    (((lim >> 16n) & 0xfn) << 48n) |
    ((f.avl ? 1n : 0n) << 52n) |
    ((f.l ? 1n : 0n) << 53n) |
    ((f.db ? 1n : 0n) << 54n) |
    (g << 55n) |
    (((base >> 24n) & 0xffn) << 56n);
}

/**
 * The 16-byte 64-bit TSS/LDT descriptor (SDM Figure 8-4): the low 8 bytes are a system segment
 * descriptor (type 9 = available 64-bit TSS, S=0), the high 8 bytes hold base 63:32 (bits 31:0) and
 * zeros.
 */
export function systemDescriptor64(
  base: bigint | number,
  limit: number,
  type = 9,
  dpl = 0,
): [bigint, bigint] {
  const b = BigInt(base);
  if (b < 0n || b >= (1n << 64n)) throw new Error("x86: system descriptor base must be 64-bit");
  const lo = segmentDescriptor({
    base: Number(b & 0xffffffffn),
    limit,
    type,
    s: false,
    dpl,
  });
  return [lo, b >> 32n];
}

/** A GDT entry description for `gdt()`. */
export type GdtEntry =
  | { type: "null" }
  /** 64-bit code: L=1, D=0 (base/limit ignored in 64-bit mode; emitted as flat 4 GiB). */
  | { type: "code64"; dpl?: number; conforming?: boolean; accessed?: boolean }
  /** 32-bit code: D=1; default flat (base 0, limit 0xffffffff → G=1). Readable by default. */
  | {
    type: "code32";
    base?: number;
    limit?: number;
    dpl?: number;
    conforming?: boolean;
    readable?: boolean;
    accessed?: boolean;
  }
  /** 16-bit code: D=0; default base 0, limit 0xffff. */
  | {
    type: "code16";
    base?: number;
    limit?: number;
    dpl?: number;
    conforming?: boolean;
    readable?: boolean;
    accessed?: boolean;
  }
  /** Data: writable, B=1; default flat 4 GiB. */
  | {
    type: "data";
    base?: number;
    limit?: number;
    dpl?: number;
    writable?: boolean;
    accessed?: boolean;
  }
  /** 16-bit data: writable, B=0; default base 0, limit 0xffff. */
  | {
    type: "data16";
    base?: number;
    limit?: number;
    dpl?: number;
    writable?: boolean;
    accessed?: boolean;
  }
  /** 64-bit TSS (16-byte system descriptor, takes two GDT slots); default limit 103. */
  | { type: "tss64"; base: AddressValue; limit?: number; dpl?: number }
  /** 32-bit TSS (type 9, 8 bytes); default limit 103. */
  | { type: "tss32"; base: AddressValue; limit?: number; dpl?: number }
  /** A raw 8-byte descriptor. */
  | { type: "raw"; value: bigint };

export interface DescriptorTable {
  /** Label of the first entry. */
  readonly table: Label;
  /** Label of the pseudo-descriptor (`dw limit; dq base` or `dw limit; dd base`) for LGDT/LIDT. */
  readonly pointer: Label;
  /** Table limit: size in bytes − 1. */
  readonly limit: number;
}

export interface Gdt extends DescriptorTable {
  /** Selector (byte offset, RPL 0, TI 0) of each entry, by entry index. */
  readonly selectors: readonly number[];
}

export interface PointerOptions {
  /** Pseudo-descriptor base width: 64 (`dw; dq`, 10 bytes) or 32 (`dw; dd`, 6 bytes). */
  pointerBits?: 32 | 64;
}

function codeType(e: { conforming?: boolean; readable?: boolean; accessed?: boolean }): number {
  return 8 | (e.conforming ? 4 : 0) | (e.readable ?? true ? 2 : 0) | (e.accessed ? 1 : 0);
}

function dataType(e: { writable?: boolean; accessed?: boolean }): number {
  return (e.writable ?? true ? 2 : 0) | (e.accessed ? 1 : 0);
}

/**
 * Emits a GDT (8-byte aligned) followed by its pseudo-descriptor. Default pointer width: 64-bit
 * when the assembler is in 64-bit mode, else 32-bit.
 */
export function gdt(a: Asm, entries: readonly GdtEntry[], opts: PointerOptions = {}): Gdt {
  const table = a.label();
  const pointer = a.label();
  const selectors: number[] = [];
  a.align(8, 0);
  a.bind(table);
  let off = 0;
  for (const e of entries) {
    selectors.push(off);
    switch (e.type) {
      case "null":
        a.dq(0n);
        off += 8;
        break;
      case "code64":
        a.dq(segmentDescriptor({
          base: 0,
          limit: 0xffffffff,
          type: codeType({ ...e, readable: true }),
          s: true,
          dpl: e.dpl,
          l: true,
        }));
        off += 8;
        break;
      case "code32":
      case "code16": {
        const is32 = e.type === "code32";
        a.dq(segmentDescriptor({
          base: e.base ?? 0,
          limit: e.limit ?? (is32 ? 0xffffffff : 0xffff),
          type: codeType(e),
          s: true,
          dpl: e.dpl,
          db: is32,
        }));
        off += 8;
        break;
      }
      case "data":
      case "data16": {
        const is32 = e.type === "data";
        a.dq(segmentDescriptor({
          base: e.base ?? 0,
          limit: e.limit ?? (is32 ? 0xffffffff : 0xffff),
          type: dataType(e),
          s: true,
          dpl: e.dpl,
          db: is32,
        }));
        off += 8;
        break;
      }
      case "tss64": {
        const limit = e.limit ?? 103;
        const base = e.base;
        a.dq(
          () => systemDescriptor64(resolveAddr(a, base), limit, 9, e.dpl ?? 0)[0],
          () => systemDescriptor64(resolveAddr(a, base), limit, 9, e.dpl ?? 0)[1],
        );
        off += 16;
        break;
      }
      case "tss32": {
        const limit = e.limit ?? 103;
        const base = e.base;
        a.dq(() =>
          segmentDescriptor({
            base: Number(resolveAddr(a, base)),
            limit,
            type: 9,
            s: false,
            dpl: e.dpl ?? 0,
          })
        );
        off += 8;
        break;
      }
      case "raw":
        a.dq(e.value);
        off += 8;
        break;
    }
  }
  const limit = off - 1;
  emitPointer(a, pointer, table, limit, opts.pointerBits ?? (a.mode === 64 ? 64 : 32));
  return { table, pointer, limit, selectors };
}

function emitPointer(a: Asm, pointer: Label, table: Label, limit: number, bits: 32 | 64): void {
  if (limit < 0 || limit > 0xffff) {
    throw new Error(`x86: descriptor table limit ${limit} out of range`);
  }
  a.align(2, 0);
  a.bind(pointer);
  a.dw(limit);
  if (bits === 64) a.dq(table);
  else a.dd(table);
}

/**
 * Emits a pseudo-descriptor (`dw limit; dq base` / `dw limit; dd base`, SDM Figure 3-11) for an
 * existing table and returns its label.
 */
export function descriptorPointer(
  a: Asm,
  table: Label,
  limit: number,
  bits: 32 | 64 = 64,
): Label {
  const p = a.label();
  emitPointer(a, p, table, limit, bits);
  return p;
}

// ---------------------------------------------------------------------------------------------
// IDT (SDM Vol. 3A §6.11, §6.14.1)

export interface IdtGate64 {
  vector: number;
  handler: AddressValue;
  /** Code segment selector of the handler. */
  selector: number;
  /** Interrupt gate (type 0xE, clears IF) or trap gate (type 0xF). */
  type: "interrupt" | "trap";
  dpl?: number;
  /** Interrupt stack table index 1..7, 0 = none. */
  ist?: number;
  present?: boolean;
}

export interface IdtGate32 {
  vector: number;
  /** Handler offset (ignored for task gates). */
  handler?: AddressValue;
  /** Code segment selector, or the TSS selector for a task gate. */
  selector: number;
  /**
   * 32-bit interrupt gate (0xE), 32-bit trap gate (0xF), task gate (0x5), or a 16-bit interrupt
   * (0x6) or trap (0x7) gate, whose handler offset must fit in 16 bits.
   */
  type: "interrupt" | "trap" | "task" | "interrupt16" | "trap16";
  dpl?: number;
  present?: boolean;
}

export interface IdtOptions extends PointerOptions {
  /** Number of gates; default max vector + 1. */
  count?: number;
}

const GATE_TYPE = {
  interrupt: 0xen,
  trap: 0xfn,
  task: 0x5n,
  interrupt16: 0x6n,
  trap16: 0x7n,
} as const;

/**
 * The low 8 bytes of a gate (both 32- and 64-bit layouts, SDM Figures 6-2/6-8): offset 15:0 →
 * bits 15:0, selector → 31:16, IST → 34:32 (64-bit only), type → 43:40, DPL → 46:45, P → 47,
 * offset 31:16 → 63:48.
 */
export function gateLow(
  offset: bigint,
  selector: number,
  type: keyof typeof GATE_TYPE,
  dpl = 0,
  ist = 0,
  present = true,
): bigint {
  if (!Number.isInteger(selector) || selector < 0 || selector > 0xffff) {
    throw new Error("x86: gate selector must be 16-bit");
  }
  if (!Number.isInteger(ist) || ist < 0 || ist > 7) throw new Error("x86: IST index must be 0..7");
  if (!Number.isInteger(dpl) || dpl < 0 || dpl > 3) throw new Error("x86: DPL must be 0..3");
  return (offset & 0xffffn) |
    (BigInt(selector) << 16n) |
    (BigInt(ist) << 32n) |
    (GATE_TYPE[type] << 40n) |
    (BigInt(dpl) << 45n) |
    ((present ? 1n : 0n) << 47n) |
    (((offset >> 16n) & 0xffffn) << 48n);
}

function checkVectors(gates: ReadonlyArray<{ vector: number }>, count: number | undefined): number {
  const seen = new Set<number>();
  let max = -1;
  for (const g of gates) {
    if (!Number.isInteger(g.vector) || g.vector < 0 || g.vector > 255) {
      throw new Error(`x86: IDT vector ${g.vector} out of range 0..255`);
    }
    if (seen.has(g.vector)) throw new Error(`x86: IDT vector ${g.vector} given twice`);
    seen.add(g.vector);
    max = Math.max(max, g.vector);
  }
  const n = count ?? max + 1;
  if (n <= max || n > 256 || n < 1) throw new Error(`x86: IDT gate count ${n} is invalid`);
  return n;
}

/** Emits a 64-bit IDT (16-byte gates, 16-byte aligned) and its pseudo-descriptor. */
export function idt64(a: Asm, gates: readonly IdtGate64[], opts: IdtOptions = {}): DescriptorTable {
  const n = checkVectors(gates, opts.count);
  const byVector = new Map(gates.map((g) => [g.vector, g]));
  const table = a.label();
  const pointer = a.label();
  a.align(16, 0);
  a.bind(table);
  for (let v = 0; v < n; v++) {
    const g = byVector.get(v);
    if (!g) {
      a.dq(0n, 0n);
      continue;
    }
    gateLow(0n, g.selector, g.type, g.dpl ?? 0, g.ist ?? 0); // validate eagerly
    a.dq(
      () =>
        gateLow(
          resolveAddr(a, g.handler),
          g.selector,
          g.type,
          g.dpl ?? 0,
          g.ist ?? 0,
          g.present ?? true,
        ),
      () => (resolveAddr(a, g.handler) >> 32n) & 0xffffffffn,
    );
  }
  const limit = n * 16 - 1;
  emitPointer(a, pointer, table, limit, opts.pointerBits ?? 64);
  return { table, pointer, limit };
}

/** Emits a 32-bit IDT (8-byte gates) and its `dw limit; dd base` pseudo-descriptor. */
export function idt32(a: Asm, gates: readonly IdtGate32[], opts: IdtOptions = {}): DescriptorTable {
  const n = checkVectors(gates, opts.count);
  const byVector = new Map(gates.map((g) => [g.vector, g]));
  const table = a.label();
  const pointer = a.label();
  a.align(8, 0);
  a.bind(table);
  for (let v = 0; v < n; v++) {
    const g = byVector.get(v);
    if (!g) {
      a.dq(0n);
      continue;
    }
    gateLow(0n, g.selector, g.type, g.dpl ?? 0);
    const handler = g.handler;
    if (g.type !== "task" && handler === undefined) {
      throw new Error(`x86: IDT vector ${v} needs a handler`);
    }
    a.dq(() => {
      const off = g.type === "task" || handler === undefined ? 0n : resolveAddr(a, handler);
      const max = g.type === "interrupt16" || g.type === "trap16" ? 0xffffn : 0xffffffffn;
      if (off > max) throw new Error(`x86: IDT gate offset 0x${off.toString(16)} too large`);
      return gateLow(off, g.selector, g.type, g.dpl ?? 0, 0, g.present ?? true);
    });
  }
  const limit = n * 8 - 1;
  emitPointer(a, pointer, table, limit, opts.pointerBits ?? 32);
  return { table, pointer, limit };
}

// ---------------------------------------------------------------------------------------------
// 64-bit TSS (SDM Vol. 3A §8.7, Figure 8-11)

export interface Tss64Options {
  rsp0: AddressValue;
  rsp1?: AddressValue;
  rsp2?: AddressValue;
  /** IST1..IST7 stack pointers (up to 7; missing ones are 0). */
  ist?: readonly AddressValue[];
  /** I/O map base offset; default 104 (= no I/O permission bitmap within the 104-byte TSS). */
  iomapBase?: number;
  name?: string;
}

export interface Tss {
  readonly label: Label;
  /** Limit for the TSS descriptor (103). */
  readonly limit: number;
}

/**
 * Emits a 104-byte 64-bit TSS (16-byte aligned): reserved dword at 0, RSP0/1/2 at 4/12/20,
 * reserved qword at 28, IST1..7 at 36..84, reserved qword at 92, reserved word at 100, I/O map base
 * at 102.
 */
export function tss64(a: Asm, opts: Tss64Options): Tss {
  const ist = opts.ist ?? [];
  if (ist.length > 7) throw new Error("x86: at most 7 IST entries");
  const iomap = opts.iomapBase ?? 104;
  if (!Number.isInteger(iomap) || iomap < 0 || iomap > 0xffff) {
    throw new Error("x86: I/O map base must be 16-bit");
  }
  const label = a.label(opts.name);
  const val = (v: AddressValue | undefined) => v === undefined ? 0n : () => resolveAddr(a, v);
  a.align(16, 0);
  a.bind(label);
  a.dd(0);
  a.dq(val(opts.rsp0), val(opts.rsp1), val(opts.rsp2));
  a.dq(0n);
  for (let i = 0; i < 7; i++) a.dq(val(ist[i]));
  a.dq(0n);
  a.dw(0, iomap);
  return { label, limit: 103 };
}
