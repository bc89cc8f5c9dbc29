/**
 * Test support for the loaders: builders for tiny guest images (ELF32/ELF64 with or without a
 * multiboot header or PVH note, multiboot a.out-kludge flat images, bzImages with a valid setup
 * header), a reader for a plan's memory, and a runner that executes a plan on the CPU.
 */

import { applyEntryState, type LoadPlan } from "../boot_state.ts";
import { makeCpu, type TestMachine } from "../../cpu/testing.ts";
import { defaultE820 } from "./e820.ts";
import type { LoadOptions } from "./plan.ts";

const enc = new TextEncoder();

function le(size: number, v: number | bigint): Uint8Array {
  const b = new Uint8Array(size);
  let x = BigInt(v);
  for (let i = 0; i < size; i++) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface SegSpec {
  /** p_type, default PT_LOAD (1). */
  type?: number;
  paddr: number;
  /** p_vaddr, default paddr. */
  vaddr?: number | bigint;
  data: Uint8Array;
  /** p_memsz, default data.length. */
  memsz?: number;
  align?: number;
}

/**
 * An executable ELF file: header, program headers, then each segment's data at a 16-byte-aligned
 * file offset (in order).
 */
export function buildElf(o: {
  cls: 32 | 64;
  machine?: number;
  entry: number | bigint;
  segments: SegSpec[];
}): Uint8Array {
  const ehsize = o.cls === 32 ? 52 : 64;
  const phentsize = o.cls === 32 ? 32 : 56;
  let off = Math.ceil((ehsize + o.segments.length * phentsize) / 16) * 16;
  const offsets = o.segments.map((s) => {
    const at = off;
    off = Math.ceil((off + s.data.length) / 16) * 16;
    return at;
  });
  const file = new Uint8Array(off);
  const dv = new DataView(file.buffer);
  file.set([0x7f, 0x45, 0x4c, 0x46, o.cls === 32 ? 1 : 2, 1, 1]);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, o.machine ?? (o.cls === 32 ? 3 : 62), true);
  dv.setUint32(20, 1, true);
  if (o.cls === 32) {
    dv.setUint32(24, Number(o.entry), true);
    dv.setUint32(28, ehsize, true);
    dv.setUint16(40, ehsize, true);
    dv.setUint16(42, phentsize, true);
    dv.setUint16(44, o.segments.length, true);
  } else {
    dv.setBigUint64(24, BigInt(o.entry), true);
    dv.setBigUint64(32, BigInt(ehsize), true);
    dv.setUint16(52, ehsize, true);
    dv.setUint16(54, phentsize, true);
    dv.setUint16(56, o.segments.length, true);
  }
  o.segments.forEach((s, i) => {
    const p = ehsize + i * phentsize;
    const vaddr = BigInt(s.vaddr ?? s.paddr);
    const memsz = s.memsz ?? s.data.length;
    const align = s.align ?? 16;
    if (o.cls === 32) {
      dv.setUint32(p, s.type ?? 1, true);
      dv.setUint32(p + 4, offsets[i]!, true);
      dv.setUint32(p + 8, Number(vaddr), true);
      dv.setUint32(p + 12, s.paddr, true);
      dv.setUint32(p + 16, s.data.length, true);
      dv.setUint32(p + 20, memsz, true);
      dv.setUint32(p + 24, 7, true);
      dv.setUint32(p + 28, align, true);
    } else {
      dv.setUint32(p, s.type ?? 1, true);
      dv.setUint32(p + 4, 7, true);
      dv.setBigUint64(p + 8, BigInt(offsets[i]!), true);
      dv.setBigUint64(p + 16, vaddr, true);
      dv.setBigUint64(p + 24, BigInt(s.paddr), true);
      dv.setBigUint64(p + 32, BigInt(s.data.length), true);
      dv.setBigUint64(p + 40, BigInt(memsz), true);
      dv.setBigUint64(p + 48, BigInt(align), true);
    }
    file.set(s.data, offsets[i]!);
  });
  return file;
}

/** An ELF note (4-byte aligned name and descriptor). */
export function elfNote(name: string, type: number, desc: Uint8Array): Uint8Array {
  const n = enc.encode(name + "\0");
  const pad = (b: Uint8Array) => concat([b, new Uint8Array((4 - (b.length % 4)) % 4)]);
  return concat([le(4, n.length), le(4, desc.length), le(4, type), pad(n), pad(desc)]);
}

export interface AoutFields {
  headerAddr: number;
  loadAddr: number;
  loadEndAddr: number;
  bssEndAddr: number;
  entryAddr: number;
}

/** A multiboot header (12 bytes, or 32 with the a.out-kludge address fields). */
export function multibootHeader(flags: number, aout?: AoutFields): Uint8Array {
  const magic = 0x1badb002;
  const parts = [le(4, magic), le(4, flags), le(4, (-(magic + flags)) >>> 0)];
  if (aout) {
    parts.push(
      le(4, aout.headerAddr),
      le(4, aout.loadAddr),
      le(4, aout.loadEndAddr),
      le(4, aout.bssEndAddr),
      le(4, aout.entryAddr),
    );
  }
  return concat(parts);
}

export interface BzImageSpec {
  /** The protected-mode kernel (padded to 16 bytes); its 64-bit entry is at offset 0x200. */
  kernel: Uint8Array;
  setupSects?: number;
  version?: number;
  loadflags?: number;
  xloadflags?: number;
  prefAddress?: number;
  initSize?: number;
  cmdlineSize?: number;
  initrdAddrMax?: number;
  kernelAlignment?: number;
  relocatable?: boolean;
  kernelVersion?: string;
  /** Bytes appended after the kernel (like a signature). */
  trailer?: Uint8Array;
}

/** A bzImage: setup sectors with a valid setup header (ending at 0x26c), then the kernel. */
export function buildBzImage(s: BzImageSpec): Uint8Array {
  const setupSects = s.setupSects ?? 4;
  const setupBytes = ((setupSects === 0 ? 4 : setupSects) + 1) * 512;
  const kernelLen = Math.ceil(s.kernel.length / 16) * 16;
  const trailer = s.trailer ?? new Uint8Array(0);
  const img = new Uint8Array(setupBytes + kernelLen + trailer.length);
  const dv = new DataView(img.buffer);
  img[0x1f1] = setupSects;
  dv.setUint32(0x1f4, kernelLen / 16, true);
  dv.setUint16(0x1fa, 0xffff, true); // vid_mode
  dv.setUint16(0x1fe, 0xaa55, true);
  img[0x200] = 0xeb; // jmp short
  img[0x201] = 0x6a; // header ends at 0x26c
  dv.setUint32(0x202, 0x53726448, true); // "HdrS"
  dv.setUint16(0x206, s.version ?? 0x20f, true);
  dv.setUint16(0x20e, 0x100, true); // kernel_version string at 0x300
  img.set(enc.encode((s.kernelVersion ?? "6.99.0-test (vtlrr@test) #1") + "\0"), 0x300);
  img[0x211] = s.loadflags ?? 0x01;
  dv.setUint32(0x214, 0x100000, true); // code32_start
  dv.setUint32(0x22c, s.initrdAddrMax ?? 0x7fffffff, true);
  dv.setUint32(0x230, s.kernelAlignment ?? 0x200000, true);
  img[0x234] = s.relocatable === false ? 0 : 1;
  img[0x235] = 21;
  dv.setUint16(0x236, s.xloadflags ?? 0x7f, true);
  dv.setUint32(0x238, s.cmdlineSize ?? 0x7ff, true);
  dv.setUint32(0x248, 0x100, true); // payload_offset
  dv.setUint32(0x24c, 0x80, true); // payload_length
  dv.setBigUint64(0x258, BigInt(s.prefAddress ?? 0x1000000), true);
  dv.setUint32(0x260, s.initSize ?? 0x200000, true);
  dv.setUint32(0x264, 0x190, true); // handover_offset
  img.set(s.kernel, setupBytes);
  img.set(trailer, setupBytes + kernelLen);
  return img;
}

/** Load options with the default memory map. */
export function options(
  name: string,
  image: Uint8Array,
  more: Partial<LoadOptions> = {},
): LoadOptions {
  const memBytes = more.memBytes ?? 64 << 20;
  return { name, image, memBytes, cmdline: "", vps: 1, e820: defaultE820(memBytes), ...more };
}

/** Reads guest memory as the plan leaves it (each range must lie inside one write). */
export class PlanMemory {
  constructor(readonly plan: LoadPlan) {}

  bytes(addr: number, len: number): Uint8Array {
    for (const w of this.plan.writes) {
      if (addr >= w.addr && addr + len <= w.addr + w.bytes.length) {
        return w.bytes.subarray(addr - w.addr, addr - w.addr + len);
      }
    }
    throw new Error(`no write covers 0x${addr.toString(16)}+0x${len.toString(16)}`);
  }
  write(what: string) {
    const w = this.plan.writes.find((w) => w.what === what);
    if (!w) throw new Error(`no write "${what}"`);
    return w;
  }
  private dv(addr: number, len: number): DataView {
    const b = this.bytes(addr, len);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  u8(addr: number): number {
    return this.bytes(addr, 1)[0]!;
  }
  u16(addr: number): number {
    return this.dv(addr, 2).getUint16(0, true);
  }
  u32(addr: number): number {
    return this.dv(addr, 4).getUint32(0, true);
  }
  u64(addr: number): number {
    return Number(this.dv(addr, 8).getBigUint64(0, true));
  }
  cstring(addr: number): string {
    for (const w of this.plan.writes) {
      if (addr >= w.addr && addr < w.addr + w.bytes.length) {
        const s = w.bytes.subarray(addr - w.addr);
        const end = s.indexOf(0);
        if (end < 0) throw new Error(`unterminated string at 0x${addr.toString(16)}`);
        return new TextDecoder().decode(s.subarray(0, end));
      }
    }
    throw new Error(`no write covers 0x${addr.toString(16)}`);
  }
}

/** Invariants of every plan: writes inside guest memory and not overlapping each other. */
export function checkPlanInvariants(plan: LoadPlan, memBytes: number): string | null {
  const ws = [...plan.writes].sort((a, b) => a.addr - b.addr);
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i]!;
    if (w.addr < 0 || w.addr + w.bytes.length > memBytes) return `${w.what} outside memory`;
    const n = ws[i + 1];
    if (n && w.addr + w.bytes.length > n.addr) return `${w.what} overlaps ${n.what}`;
  }
  return null;
}

/** Applies the plan to a test CPU and runs it until it halts (or `maxSteps` x 1000 insns). */
export function runPlan(plan: LoadPlan, memBytes: number, maxSteps = 1000): TestMachine {
  const t = makeCpu(memBytes);
  for (const w of plan.writes) t.mem.writeBytes(w.addr, w.bytes);
  applyEntryState(t.cpu, plan.entry);
  for (let i = 0; i < maxSteps && !t.cpu.halted && !t.cpu.shutdown; i++) t.cpu.run(1000);
  return t;
}
