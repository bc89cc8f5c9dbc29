/**
 * One x86-64 logical processor: architectural state, the MMU (page walk + software TLB), the
 * block-cached execution loop, and exception/interrupt delivery. Instruction semantics live in
 * src/cpu/ops/*; decoding and the decode cache in decode.ts and code_cache.ts.
 *
 * Execution model: code is decoded once into blocks of pre-bound operation closures (`Op`), cached
 * by guest physical address. An op updates `rip` only when it completes, so after a fault `rip`
 * still points at the faulting instruction. Ops signal "stop after me" through `brk` (re-check
 * interrupts) and `exitReq` (return to the caller of run()). `icount` counts retired
 * instructions; inside a block it holds the count at block start (see `exactIcount`).
 */

import type { GuestMemory } from "../memory/guest_memory.ts";
import { PAGE_SIZE } from "../memory/guest_memory.ts";
import type { CodeCache } from "./code_cache.ts";
import type { CpuHost } from "./host.ts";
import type { Insn } from "./insn.ts";
import { compileBlock, jitConfig } from "./jit/compile.ts";
import {
  ACCESS_EXECUTE,
  ACCESS_READ,
  ACCESS_WRITE,
  GPA_UNMAPPED,
  RIGHT_GP_ON_VIOLATION,
  RIGHT_KX,
  RIGHT_R,
  RIGHT_UX,
  RIGHT_W,
} from "./host.ts";
import { arithFlags, LF_NONE } from "./flags.ts";
import {
  CR0_AM,
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CR4_PAE,
  CR4_PSE,
  CR4_SMAP,
  CR4_SMEP,
  CS,
  EFER_LMA,
  EFER_NXE,
  FLAG_AC,
  FLAG_IF,
  FLAG_NT,
  FLAG_RF,
  FLAG_TF,
  FLAG_VM,
  FLAGS_ARITH,
  RSP,
  SEG_ATTR_DB,
  SEG_ATTR_L,
  SS,
  VEC_AC,
  VEC_DB,
  VEC_DF,
  VEC_GP,
  VEC_NMI,
  VEC_NP,
  VEC_PF,
  VEC_SS,
  VEC_TS,
} from "./regs.ts";
import { hiOf, isCanonicalNum, setU64, TWO32 } from "./u64.ts";
import { descAttr, descBase, descDpl, descIsWritableData, descLimit } from "./descriptor.ts";
import { interruptTask, tssStack } from "./task.ts";
import { nullV86DataSegments, pushV86DataSegments } from "./v86.ts";

/** A pre-bound instruction. */
export type Op = (c: Cpu) => void;

/** Thrown (never constructed per fault) when an instruction raises an exception. */
export const FAULT: { readonly fault: true } = Object.freeze({ fault: true });
/**
 * ORed into the access kind given to `CpuHost.protectionFault` when the faulting access is the page
 * walk's own (reading a paging-structure entry, or setting its accessed/dirty bit): `gpa` is then
 * the entry's address, not the translation of `gva`.
 */
export const ACCESS_WALK = 0x10;

/** Thrown when an instruction is abandoned without an exception (e.g. a VTL intercept). */
export const ABORT: { readonly abort: true } = Object.freeze({ abort: true });

export interface Block {
  /** RIP (not linear address) of the first instruction. */
  readonly rip: number;
  readonly mode: number;
  /** Host offset of the first byte. */
  readonly pa: number;
  readonly ops: Op[];
  /** RIP of each instruction, for exact positions inside the block. */
  readonly rips: Float64Array;
  readonly n: number;
  valid: boolean;
  /** Times the block ran in full; compiled into `fn` when it gets hot. */
  hits: number;
  /** The whole block as one generated function returning the number of ops run. */
  fn: ((c: Cpu) => number) | null;
  /** The decoded instructions (for the block compiler). */
  readonly insns: readonly Insn[];
  /** Host pages the block's bytes come from (1 or 2). */
  readonly pages: number[];
  readonly startOff: number;
  readonly endOff: number; // exclusive offset in the last page
}

const TLB_SIZE = 1024;
const TLB_MASK = TLB_SIZE - 1;
const INV4K = 1 / 4096;
const JC_SIZE = 1024;

/**
 * One software TLB, direct-mapped by 4 KiB linear page, with the jump cache of blocks fetched
 * through it. A translation from a 2 MiB, 4 MiB or 1 GiB page fills one slot per 4 KiB page used;
 * each slot remembers which large page it came from (`largeKey`), so that INVLPG of any address
 * in the large page drops all of them.
 */
export class Tlb {
  readonly rTag = new Float64Array(TLB_SIZE).fill(NaN);
  readonly rBase = new Float64Array(TLB_SIZE);
  readonly wTag = new Float64Array(TLB_SIZE).fill(NaN);
  readonly wBase = new Float64Array(TLB_SIZE);
  readonly xTag = new Float64Array(TLB_SIZE).fill(NaN);
  readonly xBase = new Float64Array(TLB_SIZE);
  /** Per slot: `largeKey` of the large page the translation came from, NaN for a 4 KiB page. */
  readonly rLarge = new Float64Array(TLB_SIZE).fill(NaN);
  readonly wLarge = new Float64Array(TLB_SIZE).fill(NaN);
  readonly xLarge = new Float64Array(TLB_SIZE).fill(NaN);
  /** Keys of the large pages filled since the last full flush (a superset of those cached). */
  readonly large = new Set<number>();
  /**
   * Blocks by RIP. An entry is used only while this TLB's execute translation of its first byte
   * still leads to the block's physical address (see Cpu.fetchBlock), so it needs no
   * invalidation when translations change.
   */
  readonly jc: (Block | undefined)[] = new Array(JC_SIZE).fill(undefined);

  flush(): void {
    this.rTag.fill(NaN);
    this.wTag.fill(NaN);
    this.xTag.fill(NaN);
    this.large.clear();
    this.jc.fill(undefined);
  }

  flushWrites(): void {
    this.wTag.fill(NaN);
  }

  /** INVLPG: drops the translations of 4 KiB page `vpn`, or of the large page holding it. */
  flushPage(vpn: number): void {
    const i = vpn & TLB_MASK;
    if (this.rTag[i] === vpn) this.rTag[i] = NaN;
    if (this.wTag[i] === vpn) this.wTag[i] = NaN;
    if (this.xTag[i] === vpn) this.xTag[i] = NaN;
    if (this.large.size === 0) return;
    this.#flushLarge(largeKey(vpn, LARGE_2M));
    this.#flushLarge(largeKey(vpn, LARGE_4M));
    this.#flushLarge(largeKey(vpn, LARGE_1G));
  }

  #flushLarge(key: number): void {
    if (!this.large.delete(key)) return;
    dropLarge(this.rTag, this.rLarge, key);
    dropLarge(this.wTag, this.wLarge, key);
    dropLarge(this.xTag, this.xLarge, key);
  }
}

/** Sizes of large pages in 4 KiB pages: 2 MiB, 4 MiB (32-bit paging with PSE), 1 GiB. */
const LARGE_2M = 512, LARGE_4M = 1024, LARGE_1G = 262144;

/**
 * Identifies the large page of `span` 4 KiB pages (a power of two from 512 to 262144) holding
 * page `vpn`: its first page number times 4 plus 1, 2 or 3 for 2 MiB, 4 MiB or 1 GiB.
 */
function largeKey(vpn: number, span: number): number {
  return Math.floor(vpn / span) * span * 4 + (span === LARGE_2M ? 1 : span === LARGE_4M ? 2 : 3);
}

function dropLarge(tag: Float64Array, lg: Float64Array, key: number): void {
  for (let j = 0; j < TLB_SIZE; j++) if (lg[j] === key) tag[j] = NaN;
}

/** Page-walk access kinds (`translate`, `probe`). */
export const WALK_READ = 0, WALK_WRITE = 1;
const WALK_EXEC = 2;

export class Cpu {
  readonly host: CpuHost;
  readonly mem: GuestMemory;
  readonly code: CodeCache;
  readonly u8: Uint8Array;
  readonly dv: DataView;
  readonly codeMap: Uint8Array;

  /** General-purpose registers: low and high 32-bit halves, over one buffer. */
  readonly regBuf = new ArrayBuffer(16 * 4 * 2);
  readonly lo = new Int32Array(this.regBuf, 0, 16);
  readonly hi = new Int32Array(this.regBuf, 64, 16);
  /** XMM0-15, four little-endian dwords each (xmm[4*n] is bits 31:0 of XMMn). */
  readonly xmm = new Int32Array(64);
  mxcsr = 0x1f80;
  /**
   * x87 state as stored by FXSAVE: control, status, abridged tag word (bit p set: physical
   * register Rp is not empty — the only tag state kept; the full tag word FSTENV/FSAVE store is
   * computed from the contents, fp/f80.ts fullTagWord), last instruction/data pointers and
   * opcode, and ST0-ST7 as raw 80-bit values (10 bytes each, physical register order R0-R7).
   */
  fcw = 0x37f;
  fsw = 0;
  ftwAbridged = 0;
  fop = 0;
  fip = 0;
  fdp = 0;
  readonly fpr = new Uint8Array(80);
  /** RIP: canonical signed number in 64-bit mode, else 0..2^32-1 (EIP/IP). */
  rip = 0xfff0;

  // Lazy flags (see flags.ts).
  eflags = 2;
  lfOp = LF_NONE;
  lfA = 0;
  lfB = 0;
  lfRes = 0;
  lfAHi = 0;
  lfBHi = 0;
  lfResHi = 0;
  lfAux = 0;

  /** Segment registers 0..5 (ES CS SS DS FS GS), 6 = LDTR, 7 = TR. */
  readonly segSel = new Int32Array(8);
  readonly segBase = new Float64Array(8);
  readonly segLimit = new Float64Array(8);
  readonly segAttr = new Int32Array(8);
  gdtBase = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtLimit = 0xffff;

  cr0 = 0x60000010;
  cr2 = 0; // linear address (number)
  cr3 = 0;
  cr4 = 0;
  efer = 0;
  xcr0 = 1;
  readonly dr = new Float64Array(8);

  // Architectural MSRs kept by the CPU.
  star = 0; // high 32 bits (selectors); low half kept in starLo
  starLo = 0;
  lstar = 0;
  cstar = 0;
  sfmask = 0;
  kernelGsBase = 0;
  tscAux = 0;
  patLo = 0x00070406;
  patHi = 0x00070406;
  sysenterCs = 0;
  sysenterEsp = 0;
  sysenterEip = 0;
  miscEnable = 1; // fast-strings
  tscOffset = 0;
  readonly mtrr = new Map<number, [number, number]>();

  // Derived mode (updateMode()).
  bits: 16 | 32 | 64 = 16;
  cpl = 0;
  /** Identifies everything decoding depends on: code size. */
  modeKey = 16;
  longMode = false;

  // Execution control.
  brk = false;
  exitReq = false;
  halted = false;
  shutdown = false;
  /** Interrupt shadow (after STI / MOV SS): interrupts are held for one instruction. */
  shadow = false;
  /**
   * The shadow is MOV SS / POP SS's: it holds NMIs too (SDM §6.8.3). STI's shadow does not
   * (the SDM allows either; most processors deliver an NMI right after STI).
   */
  shadowSs = false;
  /**
   * Set by the host when an external interrupt or an NMI may be deliverable (the only flag the
   * run loop tests between blocks).
   */
  intrPending = false;
  /** NMI input: one NMI latched for delivery (a second one while it waits is lost). */
  nmiPending = false;
  /** NMIs are blocked from an NMI's delivery until the next IRET executes (SDM §6.7.1). */
  nmiBlocked = false;
  icount = 0;
  curBlock: Block | null = null;

  // Fault being raised.
  faultVec = 0;
  faultErr = 0;
  faultHasErr = false;
  /** Vector of the exception currently being delivered (-1 none), for #DF detection. */
  delivering = -1;

  // Scratch.
  tHi = 0;
  rmwPa = -1;
  rmwLin = 0;
  readonly msrOut = new Int32Array(2);
  readonly cpuidOut = new Int32Array(4);
  readonly wide = new Int32Array(4);

  // TLBs: one per (context, user/supervisor); the host selects the context (e.g. per VTL).
  readonly #tlbs: Tlb[][] = [];
  #ctx = 0;
  tlb: Tlb;
  rTag: Float64Array;
  rBase: Float64Array;
  wTag: Float64Array;
  wBase: Float64Array;

  constructor(host: CpuHost, mem: GuestMemory, code: CodeCache, contexts = 1) {
    this.host = host;
    this.mem = mem;
    this.code = code;
    this.u8 = mem.u8;
    this.dv = mem.dv;
    this.codeMap = mem.code;
    for (let i = 0; i < contexts; i++) this.#tlbs.push([new Tlb(), new Tlb()]);
    this.tlb = this.#tlbs[0]![0]!;
    this.rTag = this.tlb.rTag;
    this.rBase = this.tlb.rBase;
    this.wTag = this.tlb.wTag;
    this.wBase = this.tlb.wBase;
    this.reset();
  }

  /** Power-on / INIT state (real mode at F000:FFF0). */
  reset(): void {
    this.lo.fill(0);
    this.hi.fill(0);
    this.lo[2] = 0x600; // RDX = family/model stepping signature
    this.eflags = 2;
    this.lfOp = LF_NONE;
    for (let s = 0; s < 6; s++) {
      this.segSel[s] = 0;
      this.segBase[s] = 0;
      this.segLimit[s] = 0xffff;
      this.segAttr[s] = 0x93; // present, writable data, accessed
    }
    this.segSel[CS] = 0xf000;
    this.segBase[CS] = 0xffff0000;
    this.segAttr[CS] = 0x9b;
    this.segAttr[6] = 0x82;
    this.segLimit[6] = 0xffff;
    this.segAttr[7] = 0x8b;
    this.segLimit[7] = 0xffff;
    this.rip = 0xfff0;
    this.gdtBase = 0;
    this.gdtLimit = 0xffff;
    this.idtBase = 0;
    this.idtLimit = 0xffff;
    this.cr0 = 0x60000010;
    this.cr2 = 0;
    this.cr3 = 0;
    this.cr4 = 0;
    this.efer = 0;
    this.xcr0 = 1;
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0;
    this.dr[7] = 0x400;
    this.xmm.fill(0);
    this.mxcsr = 0x1f80;
    this.fcw = 0x40;
    this.fsw = 0;
    this.ftwAbridged = 0;
    this.fop = 0;
    this.fip = 0;
    this.fdp = 0;
    this.fpr.fill(0);
    this.halted = false;
    this.shutdown = false;
    this.shadow = false;
    this.shadowSs = false;
    this.nmiPending = false;
    this.nmiBlocked = false;
    this.updateMode();
    this.flushTlbAll();
  }

  // ---------------------------------------------------------------------------------------------
  // Mode

  /** Recomputes derived mode fields after CR0/EFER/CS changes; flushes caches as needed. */
  updateMode(): void {
    this.longMode = (this.efer & EFER_LMA) !== 0;
    // RFLAGS.VM only means something in legacy protected mode: IA-32e mode has no virtual-8086
    // mode and real mode cannot set VM (a VMX entry with VM = 1 and IA-32e mode or CR0.PE = 0
    // fails, SDM Vol. 3C §26.3.1.4). State loaded from outside (Hyper-V registers and initial
    // contexts, VTL switches, loaders) may still combine them: VM is cleared, so that the CPU
    // runs in the mode CR0 and EFER select instead of a user-mode 16-bit hybrid.
    if ((this.eflags & FLAG_VM) && (this.longMode || !(this.cr0 & CR0_PE))) {
      this.eflags &= ~FLAG_VM;
    }
    const attr = this.segAttr[CS]!;
    let bits: 16 | 32 | 64;
    if (!(this.cr0 & CR0_PE)) bits = 16;
    else if (this.eflags & FLAG_VM) bits = 16;
    else if (this.longMode && (attr & SEG_ATTR_L)) bits = 64;
    else bits = (attr & SEG_ATTR_DB) ? 32 : 16;
    const cpl = !(this.cr0 & CR0_PE) ? 0 : (this.eflags & FLAG_VM) ? 3 : (this.segSel[CS]! & 3);
    if (bits !== this.bits || cpl !== this.cpl) {
      this.bits = bits;
      this.modeKey = bits;
      this.cpl = cpl;
      this.#selectTlb();
    }
  }

  /** Selects the TLB context (e.g. the active VTL). */
  setContext(ctx: number): void {
    if (ctx !== this.#ctx) {
      this.#ctx = ctx;
      this.#selectTlb();
    }
  }

  #selectTlb(): void {
    const t = this.#tlbs[this.#ctx]![this.cpl === 3 ? 1 : 0]!;
    this.tlb = t;
    this.rTag = t.rTag;
    this.rBase = t.rBase;
    this.wTag = t.wTag;
    this.wBase = t.wBase;
  }

  flushTlbAll(): void {
    for (const pair of this.#tlbs) for (const t of pair) t.flush();
  }

  /** Flushes the translations of the active context (MOV CR3, INVLPG-all semantics). */
  flushTlb(): void {
    this.flushTlbContext(this.#ctx);
  }

  /** Flushes the translations of context `ctx` (which need not be the active one). */
  flushTlbContext(ctx: number): void {
    const pair = this.#tlbs[ctx]!;
    pair[0]!.flush();
    pair[1]!.flush();
  }

  flushTlbPage(lin: number): void {
    const vpn = Math.floor(lin * INV4K);
    const pair = this.#tlbs[this.#ctx]!;
    pair[0]!.flushPage(vpn);
    pair[1]!.flushPage(vpn);
  }

  /** Drops all write translations (after the dirty map is cleared). */
  flushWriteTlbs(): void {
    for (const pair of this.#tlbs) for (const t of pair) t.flushWrites();
  }

  /** Length of the instruction currently executing (0 if unknown). */
  currentInsnLength(): number {
    const b = this.curBlock;
    if (b === null) return 0;
    for (let i = 0; i < b.n; i++) if (b.rips[i] === this.rip) return b.insns[i]?.len ?? 0;
    return 0;
  }

  /** Instructions retired before the instruction currently executing. */
  exactIcount(): number {
    const b = this.curBlock;
    if (b === null) return this.icount;
    const rips = b.rips;
    for (let i = 0; i < b.n; i++) if (rips[i] === this.rip) return this.icount + i;
    return this.icount;
  }

  // ---------------------------------------------------------------------------------------------
  // Registers

  getRflags(): number {
    return ((this.eflags & ~FLAGS_ARITH) | arithFlags(this) | 2) >>> 0;
  }

  setRflags(v: number): void {
    const oldIf = this.eflags & FLAG_IF;
    const oldAc = this.eflags & FLAG_AC;
    this.eflags = (v & 0x3f7fd7) | 2;
    this.lfOp = LF_NONE;
    if ((this.eflags & FLAG_IF) !== oldIf) this.brk = true;
    if ((this.eflags & FLAG_AC) !== oldAc && ((this.cr4 & CR4_SMAP) || (this.cr0 & CR0_AM))) {
      this.flushTlb();
    }
  }

  /** Full 64-bit register as a number (exact within ±2^53). */
  reg(i: number): number {
    return this.hi[i]! * TWO32 + (this.lo[i]! >>> 0);
  }

  setReg(i: number, n: number): void {
    this.lo[i] = n | 0;
    this.hi[i] = hiOf(n);
  }

  // ---------------------------------------------------------------------------------------------
  // Far-transfer rollback

  #fCsSel = 0;
  #fCsBase = 0;
  #fCsLim = 0;
  #fCsAttr = 0;
  #fSsSel = 0;
  #fSsBase = 0;
  #fSsLim = 0;
  #fSsAttr = 0;
  #fSpLo = 0;
  #fSpHi = 0;
  #fFlags = 0;
  #fLfOp = 0;
  #fLfA = 0;
  #fLfB = 0;
  #fLfRes = 0;
  #fLfAHi = 0;
  #fLfBHi = 0;
  #fLfResHi = 0;
  #fLfAux = 0;

  /**
   * Saves CS, SS, RSP and RFLAGS (lazy flags included) before a far transfer — event delivery,
   * IRET, far CALL, far RET — that commits some of them before its last check. If the transfer
   * then faults, `restoreFar` puts them back, so that the fault is delivered from the state before
   * the instruction (or the event), as on hardware. There is one snapshot: transfers don't nest
   * (a fault during delivery restores it before the next event is delivered, which saves anew).
   */
  saveFar(): void {
    this.#fCsSel = this.segSel[CS]!;
    this.#fCsBase = this.segBase[CS]!;
    this.#fCsLim = this.segLimit[CS]!;
    this.#fCsAttr = this.segAttr[CS]!;
    this.#fSsSel = this.segSel[SS]!;
    this.#fSsBase = this.segBase[SS]!;
    this.#fSsLim = this.segLimit[SS]!;
    this.#fSsAttr = this.segAttr[SS]!;
    this.#fSpLo = this.lo[RSP]!;
    this.#fSpHi = this.hi[RSP]!;
    this.#fFlags = this.eflags;
    this.#fLfOp = this.lfOp;
    this.#fLfA = this.lfA;
    this.#fLfB = this.lfB;
    this.#fLfRes = this.lfRes;
    this.#fLfAHi = this.lfAHi;
    this.#fLfBHi = this.lfBHi;
    this.#fLfResHi = this.lfResHi;
    this.#fLfAux = this.lfAux;
  }

  /** Undoes a far transfer: the state of the last `saveFar`, mode (CPL, TLB) recomputed. */
  restoreFar(): void {
    this.segSel[CS] = this.#fCsSel;
    this.segBase[CS] = this.#fCsBase;
    this.segLimit[CS] = this.#fCsLim;
    this.segAttr[CS] = this.#fCsAttr;
    this.segSel[SS] = this.#fSsSel;
    this.segBase[SS] = this.#fSsBase;
    this.segLimit[SS] = this.#fSsLim;
    this.segAttr[SS] = this.#fSsAttr;
    this.lo[RSP] = this.#fSpLo;
    this.hi[RSP] = this.#fSpHi;
    this.eflags = this.#fFlags;
    this.lfOp = this.#fLfOp;
    this.lfA = this.#fLfA;
    this.lfB = this.#fLfB;
    this.lfRes = this.#fLfRes;
    this.lfAHi = this.#fLfAHi;
    this.lfBHi = this.#fLfBHi;
    this.lfResHi = this.#fLfResHi;
    this.lfAux = this.#fLfAux;
    this.updateMode();
  }

  /**
   * The `catch` of a far transfer that called `saveFar` first: after a fault or an abandoned
   * access, restores the saved state; rethrows in every case.
   */
  undoFar(e: unknown): never {
    if (e === FAULT || e === ABORT) this.restoreFar();
    throw e;
  }

  /**
   * Checks a far transfer's new RIP against the (already loaded) CS: canonical in 64-bit mode,
   * within the segment limit otherwise; #GP(0) if not.
   */
  checkFarTarget(rip: number): void {
    if (this.bits === 64 ? !isCanonicalNum(rip) : rip > this.segLimit[CS]!) this.raise(VEC_GP, 0);
  }

  // ---------------------------------------------------------------------------------------------
  // Exceptions

  /** Raises exception `vec` (throws FAULT). */
  raise(vec: number, err = -1): never {
    this.abortRip = this.rip;
    this.faultVec = vec;
    this.faultHasErr = err >= 0;
    this.faultErr = err >= 0 ? err : 0;
    throw FAULT;
  }

  gp0(): never {
    return this.raise(VEC_GP, 0);
  }

  // ---------------------------------------------------------------------------------------------
  // Linear addresses

  /** Linear address of `off` in segment `seg` for a data access (limit checks in legacy modes). */
  segLin(seg: number, off: number): number {
    if (this.bits === 64) return seg >= 4 ? this.segBase[seg]! + off : off;
    return (this.segBase[seg]! + off) >>> 0;
  }

  /**
   * Linear address of an access of `size` bytes at offset `off` in segment `seg`, in 16/32-bit
   * modes: the segment limit (expand-up or expand-down) and, in protected mode, the segment type
   * (no writes to code or read-only data, no reads of execute-only code, no null segment) are
   * checked: #GP(0), or #SS(0) for SS.
   */
  segAddr(seg: number, off: number, size: number, write: boolean): number {
    const attr = this.segAttr[seg]!;
    if (
      off + size - 1 <= this.segLimit[seg]! &&
      ((attr & (write ? 0x1001e : 0x1001c)) === (write ? 0x12 : 0x10) || !(this.cr0 & CR0_PE))
    ) return (this.segBase[seg]! + off) >>> 0;
    return this.#segAddrSlow(seg, off, size, write);
  }

  #segAddrSlow(seg: number, off: number, size: number, write: boolean): number {
    const vec = seg === SS ? VEC_SS : VEC_GP;
    const end = off + size - 1, limit = this.segLimit[seg]!, attr = this.segAttr[seg]!;
    if (!(this.cr0 & CR0_PE) || (this.eflags & FLAG_VM)) {
      if (end > limit) this.raise(vec, 0);
    } else {
      if (attr & 0x10000) this.raise(vec, 0); // null selector
      const type = attr & 0xf;
      if (type & 8) {
        if (write || !(type & 2)) this.raise(vec, 0);
        if (end > limit) this.raise(vec, 0);
      } else {
        if (write && !(type & 2)) this.raise(vec, 0);
        if (type & 4) {
          const upper = (attr & SEG_ATTR_DB) ? 0xffffffff : 0xffff;
          if (off <= limit || end > upper) this.raise(vec, 0);
        } else if (end > limit) this.raise(vec, 0);
      }
    }
    return (this.segBase[seg]! + off) >>> 0;
  }

  /** Checks a 64-bit-mode linear address is canonical (else #GP(0), or #SS(0) for stack). */
  canon(lin: number, stack = false): number {
    if (isCanonicalNum(lin)) return lin;
    // Sums of 64-bit values computed in float may leave the signed range: wrap once.
    let w = lin;
    if (w >= 9223372036854775808) w -= 18446744073709551616;
    else if (w < -9223372036854775808) w += 18446744073709551616;
    if (!isCanonicalNum(w)) this.raise(stack ? 12 : VEC_GP, 0);
    return w;
  }

  // ---------------------------------------------------------------------------------------------
  // Memory access: fast paths

  read8(lin: number): number {
    const vpn = Math.floor(lin * INV4K);
    const i = vpn & TLB_MASK;
    if (this.rTag[i] === vpn) return this.u8[this.rBase[i]! + (lin & 0xfff)]!;
    return this.readSlow(lin, 1);
  }

  read16(lin: number): number {
    const vpn = Math.floor(lin * INV4K);
    const i = vpn & TLB_MASK;
    const off = lin & 0xfff;
    if (this.rTag[i] === vpn && off <= 0xffe) return this.dv.getUint16(this.rBase[i]! + off, true);
    return this.readSlow(lin, 2);
  }

  /** Returns the value as int32. */
  read32(lin: number): number {
    const vpn = Math.floor(lin * INV4K);
    const i = vpn & TLB_MASK;
    const off = lin & 0xfff;
    if (this.rTag[i] === vpn && off <= 0xffc) return this.dv.getInt32(this.rBase[i]! + off, true);
    return this.readSlow(lin, 4);
  }

  /** Returns the low half; the high half is left in `tHi`. */
  read64(lin: number): number {
    const vpn = Math.floor(lin * INV4K);
    const i = vpn & TLB_MASK;
    const off = lin & 0xfff;
    if (this.rTag[i] === vpn && off <= 0xff8) {
      const pa = this.rBase[i]! + off;
      this.tHi = this.dv.getInt32(pa + 4, true);
      return this.dv.getInt32(pa, true);
    }
    return this.readSlow(lin, 8);
  }

  write8(lin: number, v: number): void {
    const vpn = Math.floor(lin * INV4K);
    const i = vpn & TLB_MASK;
    if (this.wTag[i] === vpn) {
      const pa = this.wBase[i]! + (lin & 0xfff);
      if (this.codeMap[pa >>> 12] === 0) {
        this.u8[pa] = v;
        return;
      }
    }
    this.writeSlow(lin, 1, v, 0);
  }

  write16(lin: number, v: number): void {
    const vpn = Math.floor(lin * INV4K);
    const i = vpn & TLB_MASK;
    const off = lin & 0xfff;
    if (this.wTag[i] === vpn && off <= 0xffe) {
      const pa = this.wBase[i]! + off;
      if (this.codeMap[pa >>> 12] === 0) {
        this.dv.setUint16(pa, v, true);
        return;
      }
    }
    this.writeSlow(lin, 2, v, 0);
  }

  write32(lin: number, v: number): void {
    const vpn = Math.floor(lin * INV4K);
    const i = vpn & TLB_MASK;
    const off = lin & 0xfff;
    if (this.wTag[i] === vpn && off <= 0xffc) {
      const pa = this.wBase[i]! + off;
      if (this.codeMap[pa >>> 12] === 0) {
        this.dv.setInt32(pa, v, true);
        return;
      }
    }
    this.writeSlow(lin, 4, v, 0);
  }

  write64(lin: number, lo: number, hi: number): void {
    const vpn = Math.floor(lin * INV4K);
    const i = vpn & TLB_MASK;
    const off = lin & 0xfff;
    if (this.wTag[i] === vpn && off <= 0xff8) {
      const pa = this.wBase[i]! + off;
      if (this.codeMap[pa >>> 12] === 0) {
        this.dv.setInt32(pa, lo, true);
        this.dv.setInt32(pa + 4, hi, true);
        return;
      }
    }
    this.writeSlow(lin, 8, lo, hi);
  }

  /**
   * For read-modify-write: checks write access to [lin, lin+size) and returns the host offset when
   * the access is plain RAM within one page (the caller then reads and writes `dv` directly), or
   * -1 (the caller uses readN/writeN, which will succeed permission-wise).
   */
  rmwAddr(lin: number, size: number): number {
    const vpn = Math.floor(lin * INV4K);
    const i = vpn & TLB_MASK;
    const off = lin & 0xfff;
    if (this.wTag[i] === vpn && off <= 4096 - size) {
      const pa = this.wBase[i]! + off;
      if (this.codeMap[pa >>> 12] === 0) return pa;
    }
    // A read-modify-write is checked as a write (hardware reports W=1 in the #PF error code);
    // write rights imply read rights at every level (paging and VTL masks).
    this.#alignCheck(lin, size);
    this.probe(lin, size, WALK_WRITE);
    return -1;
  }

  /**
   * Host offset of `lin` when the data TLB already holds a translation of its page for a read
   * (`write` false) or a write, else -1. A lookup only: no walk, no fault, no side effect — what
   * the fast paths of read8/write8 & co. use, for callers that run many accesses to one page
   * (bulk string operations). Device memory is never in the TLB; a write to a page holding
   * decoded code must still go through `mem.touch`.
   */
  cachedAddr(lin: number, write: boolean): number {
    const vpn = Math.floor(lin * INV4K);
    const i = vpn & TLB_MASK;
    if (write) return this.wTag[i] === vpn ? this.wBase[i]! + (lin & 0xfff) : -1;
    return this.rTag[i] === vpn ? this.rBase[i]! + (lin & 0xfff) : -1;
  }

  /**
   * Whether accesses to `seg` at offsets from 0 to `end` all pass segAddr's fast path for a
   * `write` or a read: an expand-up data segment (any segment in real mode) whose limit covers
   * `end`. Never faults; false means "check each access with segAddr".
   */
  segFast(seg: number, end: number, write: boolean): boolean {
    const attr = this.segAttr[seg]!;
    return end <= this.segLimit[seg]! &&
      ((attr & (write ? 0x1001e : 0x1001c)) === (write ? 0x12 : 0x10) || !(this.cr0 & CR0_PE));
  }

  // ---------------------------------------------------------------------------------------------
  // Memory access: slow paths

  /** Translates and checks every page of [lin, lin+size) for `kind` without touching data. */
  probe(lin: number, size: number, kind: number): void {
    this.translate(lin, kind, false);
    const page = Math.floor(lin * INV4K);
    // A fault on the second page reports that page's first byte (as hardware does).
    if (Math.floor((lin + size - 1) * INV4K) !== page) {
      this.translate((page + 1) * 4096, kind, false);
    }
  }

  /**
   * Alignment checking (#AC(0)): CR0.AM, RFLAGS.AC and CPL 3. While it is in force, user-mode
   * translations are not cached, so every user access comes through the slow paths that check.
   */
  acActive(): boolean {
    return (this.cr0 & CR0_AM) !== 0 && (this.eflags & FLAG_AC) !== 0 && this.cpl === 3;
  }

  #alignCheck(lin: number, size: number): void {
    if (size > 1 && (lin & (size - 1)) !== 0 && this.acActive()) this.raise(VEC_AC, 0);
  }

  /** Slow read of 1, 2, 4 or 8 bytes (8 returns low half, high in tHi). Returns int32 for 4. */
  readSlow(lin: number, size: number): number {
    this.#alignCheck(lin, size);
    const off = lin & 0xfff;
    if (off + size <= PAGE_SIZE) {
      const pa = this.translate(lin, WALK_READ, true);
      if (pa >= 0) {
        if (size === 1) return this.u8[pa]!;
        if (size === 2) return this.dv.getUint16(pa, true);
        if (size === 4) return this.dv.getInt32(pa, true);
        this.tHi = this.dv.getInt32(pa + 4, true);
        return this.dv.getInt32(pa, true);
      }
      return this.#readDevice(pa, lin, size);
    }
    // Crosses a page: check both pages, then assemble byte by byte.
    this.probe(lin, size, WALK_READ);
    let lo = 0, hi = 0;
    for (let k = 0; k < size; k++) {
      const b = this.#readByteAny(lin + k);
      if (k < 4) lo |= b << (8 * k);
      else hi |= b << (8 * (k - 4));
    }
    if (size === 8) {
      this.tHi = hi;
      return lo;
    }
    return size === 4 ? lo | 0 : lo;
  }

  #readByteAny(lin: number): number {
    const pa = this.translate(lin, WALK_READ, true);
    if (pa >= 0) return this.u8[pa]!;
    return this.#readDevice(pa, lin, 1);
  }

  #devGpa = 0;

  #readDevice(code: number, _lin: number, size: number): number {
    if (code === GPA_UNMAPPED) {
      if (size === 8) {
        this.tHi = -1;
        return -1;
      }
      return size === 4 ? -1 : size === 2 ? 0xffff : 0xff;
    }
    const gpa = this.#devGpa;
    if (size === 8) {
      const lo = this.host.mmioRead(gpa, 4);
      this.tHi = this.host.mmioRead(gpa + 4, 4) | 0;
      return lo | 0;
    }
    const v = this.host.mmioRead(gpa, size as 1 | 2 | 4);
    return size === 4 ? v | 0 : v;
  }

  writeSlow(lin: number, size: number, lo: number, hi: number): void {
    this.#alignCheck(lin, size);
    const off = lin & 0xfff;
    if (off + size <= PAGE_SIZE) {
      const pa = this.translate(lin, WALK_WRITE, true);
      if (pa >= 0) {
        this.#storeRam(pa, size, lo, hi);
        return;
      }
      this.#writeDevice(pa, size, lo, hi);
      return;
    }
    // Crossing: both pages must be writable before any byte is written.
    this.probe(lin, size, WALK_WRITE);
    for (let k = 0; k < size; k++) {
      const b = k < 4 ? (lo >>> (8 * k)) & 0xff : (hi >>> (8 * (k - 4))) & 0xff;
      const pa = this.translate(lin + k, WALK_WRITE, true);
      if (pa >= 0) this.#storeRam(pa, 1, b, 0);
      else this.#writeDevice(pa, 1, b, 0);
    }
  }

  #storeRam(pa: number, size: number, lo: number, hi: number): void {
    if (size === 1) this.u8[pa] = lo;
    else if (size === 2) this.dv.setUint16(pa, lo, true);
    else if (size === 4) this.dv.setInt32(pa, lo, true);
    else {
      this.dv.setInt32(pa, lo, true);
      this.dv.setInt32(pa + 4, hi, true);
    }
    const page = pa >>> 12;
    if (this.codeMap[page] !== 0) {
      this.mem.touch(pa, size);
      // The running block may have been rewritten: stop after this instruction.
      this.brk = true;
    }
  }

  #writeDevice(code: number, size: number, lo: number, hi: number): void {
    if (code === GPA_UNMAPPED) return;
    const gpa = this.#devGpa;
    if (size === 8) {
      this.host.mmioWrite(gpa, 4, lo >>> 0);
      this.host.mmioWrite(gpa + 4, 4, hi >>> 0);
    } else this.host.mmioWrite(gpa, size as 1 | 2 | 4, size === 4 ? lo >>> 0 : lo);
    this.brk = true;
  }

  /**
   * Translates linear `lin` for an access of `kind` by the current CPL. Returns the host offset of
   * the byte, or GPA_MMIO / GPA_UNMAPPED (with the GPA left in #devGpa). Raises #PF / #GP, or
   * reports a protection fault to the host and throws ABORT. When `fill` is set, caches the
   * translation in the TLB.
   */
  translate(lin: number, kind: number, fill: boolean): number {
    return this.translateAs(lin, kind, fill, this.cpl === 3, false);
  }

  /**
   * The page walk proper. `user` = access is made with user privilege; `implicit` = a supervisor
   * system-structure access (descriptor tables, IDT, TSS), for which SMAP does not apply.
   */
  translateAs(lin: number, kind: number, fill: boolean, user: boolean, implicit: boolean): number {
    let gpa: number;
    let userPage = true, writable = true, nx = false;
    const off = lin & 0xfff;
    if (!(this.cr0 & CR0_PG)) {
      gpa = this.longMode ? lin : lin >>> 0;
      if (gpa < 0) gpa += 18446744073709551616; // cannot happen in practice
      this.#wSpan = 0;
    } else if (this.longMode) {
      gpa = this.#walk4(lin, kind, user);
      userPage = this.#wUser;
      writable = this.#wWrite;
      nx = this.#wNx;
    } else if (this.cr4 & CR4_PAE) {
      gpa = this.#walkPae(lin >>> 0, kind, user);
      userPage = this.#wUser;
      writable = this.#wWrite;
      nx = this.#wNx;
    } else {
      gpa = this.#walk2(lin >>> 0, kind, user);
      userPage = this.#wUser;
      writable = this.#wWrite;
    }
    // Guest paging rights (the walk already faulted on not-present/reserved).
    if (this.cr0 & CR0_PG) {
      const err = (kind === WALK_WRITE ? 2 : 0) | (user ? 4 : 0) | this.#idBit(kind) | 1;
      if (user && !userPage) this.#pf(lin, err);
      if (kind === WALK_WRITE && !writable && (user || (this.cr0 & CR0_WP))) this.#pf(lin, err);
      if (kind === WALK_EXEC) {
        if (nx) this.#pf(lin, err);
        if (!user && userPage && (this.cr4 & CR4_SMEP)) this.#pf(lin, err);
      } else if (!user && userPage && !implicit && (this.cr4 & CR4_SMAP)) {
        if (!(this.eflags & FLAG_AC)) this.#pf(lin, err);
        fill = false; // allowed only while AC=1: don't cache
      }
    }
    // Guest physical → host, with the hypervisor's rights for the active context.
    const gpn = Math.floor(gpa * INV4K);
    const r = this.host.resolveGpa(gpn);
    if (r < 0) {
      this.#devGpa = gpa;
      return r;
    }
    const rights = r & 31;
    // Execute rights: the host reports kernel and user execute separately only under MBEC (TLFS
    // §15.10); a user-mode fetch needs UX only while CR4.SMEP is set — with SMEP available (it
    // always is in CPUID) but disabled, every fetch is governed by KX ("only code marked KMX=1
    // will be allowed to execute").
    const need = kind === WALK_READ
      ? RIGHT_R
      : kind === WALK_WRITE
      ? RIGHT_W
      : user && (this.cr4 & CR4_SMEP)
      ? RIGHT_UX
      : RIGHT_KX;
    if ((rights & need) === 0) {
      if (this.#peeking) throw FAULT;
      if (rights & RIGHT_GP_ON_VIOLATION) this.raise(VEC_GP, 0);
      this.abortRip = this.rip;
      this.host.protectionFault(
        gpa,
        lin,
        kind === WALK_READ ? ACCESS_READ : kind === WALK_WRITE ? ACCESS_WRITE : ACCESS_EXECUTE,
      );
      this.exitReq = true;
      throw ABORT;
    }
    const base = (r >>> 5) * PAGE_SIZE;
    if (this.#peeking) return base + off;
    if (fill && user === (this.cpl === 3) && !(user && this.acActive())) {
      const vpn = Math.floor(lin * INV4K);
      const i = vpn & TLB_MASK;
      const t = this.tlb;
      let lg = NaN;
      if (this.#wSpan !== 0) {
        lg = largeKey(vpn, this.#wSpan);
        t.large.add(lg);
      }
      if (kind === WALK_READ) {
        t.rTag[i] = vpn;
        t.rBase[i] = base;
        t.rLarge[i] = lg;
      } else if (kind === WALK_WRITE) {
        t.wTag[i] = vpn;
        t.wBase[i] = base;
        t.wLarge[i] = lg;
        this.mem.dirty[r >>> 5] = 1;
        // A writable translation implies a readable one.
        if (rights & RIGHT_R) {
          t.rTag[i] = vpn;
          t.rBase[i] = base;
          t.rLarge[i] = lg;
        }
      } else {
        t.xTag[i] = vpn;
        t.xBase[i] = base;
        t.xLarge[i] = lg;
      }
    } else if (kind === WALK_WRITE) {
      this.mem.dirty[r >>> 5] = 1;
    }
    return base + off;
  }

  /** Host offset of the code byte at linear `lin` (exec access), or throws. */
  fetchAddr(lin: number): number {
    const vpn = Math.floor(lin * INV4K);
    const i = vpn & TLB_MASK;
    const t = this.tlb;
    if (t.xTag[i] === vpn) return t.xBase[i]! + (lin & 0xfff);
    const pa = this.translate(lin, WALK_EXEC, true);
    if (pa < 0) {
      // Executing from device memory or nowhere: machine check would be more exact; #PF-like #GP.
      this.raise(VEC_GP, 0);
    }
    return pa;
  }

  /** The I/D bit of a #PF error code: instruction fetch with SMEP, or NXE under PAE paging. */
  #idBit(kind: number): number {
    if (kind !== WALK_EXEC) return 0;
    if (this.cr4 & CR4_SMEP) return 16;
    return (this.cr4 & CR4_PAE) && (this.efer & EFER_NXE) ? 16 : 0;
  }

  #pf(lin: number, err: number): never {
    if (this.#peeking) throw FAULT;
    this.cr2 = lin;
    return this.raise(VEC_PF, err);
  }

  #peeking = false;

  /**
   * Reads up to `max` code bytes at the current RIP without side effects (no accessed bits, no
   * faults, no TLB fills); stops at the first unreadable byte. For event records and diagnostics.
   */
  peekCode(max = 15, rip = this.rip): Uint8Array {
    const out: number[] = [];
    const saved = [this.cr2, this.faultVec, this.faultErr, this.tHi, this.tLo];
    const savedHas = this.faultHasErr;
    this.#peeking = true;
    try {
      for (let k = 0; k < max; k++) {
        const off = rip + k;
        const lin = this.bits === 64 ? off : (this.segBase[CS]! + off) >>> 0;
        const pa = this.translateAs(lin, WALK_EXEC, false, this.cpl === 3, false);
        if (pa < 0) break;
        out.push(this.u8[pa]!);
      }
    } catch (e) {
      if (e !== FAULT && e !== ABORT) throw e;
    } finally {
      this.#peeking = false;
      [this.cr2, this.faultVec, this.faultErr, this.tHi, this.tLo] = saved as [
        number,
        number,
        number,
        number,
        number,
      ];
      this.faultHasErr = savedHas;
    }
    return Uint8Array.from(out);
  }

  // Walk outputs (avoid allocation).
  #wUser = true;
  #wWrite = true;
  #wNx = false;
  /** Size of the page the walk ended in, in 4 KiB pages when large (LARGE_*), else 0. */
  #wSpan = 0;

  /** Reads a paging-structure entry at guest physical `gpa` (8 bytes) → lo, tHi. */
  #pte(gpa: number, lin: number): number {
    const r = this.host.resolveGpa(Math.floor(gpa * INV4K));
    if (r < 0) {
      this.tHi = 0;
      return 0; // not present
    }
    if ((r & RIGHT_R) === 0) {
      if (this.#peeking) throw FAULT;
      this.abortRip = this.rip;
      this.host.protectionFault(gpa, lin, ACCESS_READ | ACCESS_WALK);
      this.exitReq = true;
      throw ABORT;
    }
    const pa = (r >>> 5) * PAGE_SIZE + (gpa & 0xfff);
    this.tHi = this.dv.getInt32(pa + 4, true);
    return this.dv.getInt32(pa, true);
  }

  /** Sets bits in the low half of a paging-structure entry (accessed/dirty). */
  #pteSet(gpa: number, lin: number, bits: number): void {
    if (this.#peeking) return;
    const r = this.host.resolveGpa(Math.floor(gpa * INV4K));
    if (r < 0) return;
    if ((r & RIGHT_W) === 0) {
      this.abortRip = this.rip;
      this.host.protectionFault(gpa, lin, ACCESS_WRITE | ACCESS_WALK);
      this.exitReq = true;
      throw ABORT;
    }
    const pa = (r >>> 5) * PAGE_SIZE + (gpa & 0xfff);
    this.dv.setInt32(pa, this.dv.getInt32(pa, true) | bits, true);
    this.mem.touch(pa, 4);
  }

  /** Physical address width reported in CPUID 0x80000008. */
  static readonly MAXPHYADDR = 40;

  #walk4(lin: number, kind: number, user: boolean): number {
    const errBase = (kind === WALK_WRITE ? 2 : 0) | (user ? 4 : 0) | this.#idBit(kind);
    const nxe = (this.efer & EFER_NXE) !== 0;
    // Reserved bits in the high half: 51:MAXPHYADDR (bits 51:40 → hi bits 19:8), plus NX if !NXE.
    const rsvdHi = 0x000fff00 | (nxe ? 0 : 0x80000000);
    let table = Math.floor(this.cr3 / 4096) * 4096;
    let userOk = true, writeOk = true, nx = false;
    for (let level = 0; level < 4; level++) {
      // Index bits 47:39, 38:30, 29:21, 20:12 of the (signed) linear address.
      const ix = Math.floor(
        level === 0
          ? lin / 549755813888
          : level === 1
          ? lin / 1073741824
          : level === 2
          ? lin / 2097152
          : lin * INV4K,
      ) & 511;
      const eAddr = table + ix * 8;
      const lo = this.#pte(eAddr, lin);
      const hi = this.tHi;
      if (!(lo & 1)) this.#pf(lin, errBase);
      const ps = (lo & 0x80) !== 0;
      if ((hi & rsvdHi) !== 0 || (level === 0 && ps)) this.#pf(lin, errBase | 1 | 8);
      if (!(lo & 2)) writeOk = false;
      if (!(lo & 4)) userOk = false;
      if (hi < 0) nx = true;
      if (!(lo & 0x20)) this.#pteSet(eAddr, lin, 0x20);
      const addr = (hi & 0xfffff) * TWO32 + ((lo & ~0xfff) >>> 0);
      if (level === 3 || (ps && level >= 1)) {
        let pageBase: number, pageMask: number;
        if (level === 1) {
          if (lo & 0x3fffe000) this.#pf(lin, errBase | 1 | 8);
          pageBase = addr - (addr % 1073741824);
          pageMask = 1073741823;
          this.#wSpan = LARGE_1G;
        } else if (level === 2) {
          if (lo & 0x1fe000) this.#pf(lin, errBase | 1 | 8);
          pageBase = addr - (addr % 2097152);
          pageMask = 2097151;
          this.#wSpan = LARGE_2M;
        } else {
          pageBase = addr;
          pageMask = 4095;
          this.#wSpan = 0;
        }
        // Permission checks happen in translateAs; set D only if the write is allowed there.
        this.#wUser = userOk;
        this.#wWrite = writeOk;
        this.#wNx = nx;
        if (
          kind === WALK_WRITE && !(lo & 0x40) &&
          (writeOk || (!user && !(this.cr0 & CR0_WP))) && (userOk || !user)
        ) {
          this.#pteSet(eAddr, lin, 0x40);
        }
        const within = lin - Math.floor(lin / (pageMask + 1)) * (pageMask + 1);
        return pageBase + within;
      }
      table = addr;
    }
    throw new Error("unreachable");
  }

  #walkPae(lin: number, kind: number, user: boolean): number {
    const errBase = (kind === WALK_WRITE ? 2 : 0) | (user ? 4 : 0) | this.#idBit(kind);
    const nxe = (this.efer & EFER_NXE) !== 0;
    const rsvdHi = 0x000fff00 | (nxe ? 0 : 0x80000000);
    const pdpteAddr = (this.cr3 & ~0x1f) >>> 0;
    const pdpte = this.#pte(pdpteAddr + ((lin >>> 30) & 3) * 8, lin);
    const pdpteHi = this.tHi;
    if (!(pdpte & 1)) this.#pf(lin, errBase);
    if ((pdpteHi & 0x000fff00) || (pdpte & 0x1e6)) this.#pf(lin, errBase | 1 | 8);
    let table = (pdpteHi & 0xfffff) * TWO32 + ((pdpte & ~0xfff) >>> 0);
    let userOk = true, writeOk = true, nx = false;
    for (let level = 0; level < 2; level++) {
      const eAddr = table + ((lin >>> (level === 0 ? 21 : 12)) & 511) * 8;
      const lo = this.#pte(eAddr, lin);
      const hi = this.tHi;
      if (!(lo & 1)) this.#pf(lin, errBase);
      if (hi & rsvdHi) this.#pf(lin, errBase | 1 | 8);
      if (!(lo & 2)) writeOk = false;
      if (!(lo & 4)) userOk = false;
      if (hi < 0) nx = true;
      if (!(lo & 0x20)) this.#pteSet(eAddr, lin, 0x20);
      const addr = (hi & 0xfffff) * TWO32 + ((lo & ~0xfff) >>> 0);
      const ps = level === 0 && (lo & 0x80) !== 0;
      if (level === 1 || ps) {
        if (ps && (lo & 0x1fe000)) this.#pf(lin, errBase | 1 | 8);
        this.#wSpan = ps ? LARGE_2M : 0;
        this.#wUser = userOk;
        this.#wWrite = writeOk;
        this.#wNx = nx;
        if (
          kind === WALK_WRITE && !(lo & 0x40) &&
          (writeOk || (!user && !(this.cr0 & CR0_WP))) && (userOk || !user)
        ) {
          this.#pteSet(eAddr, lin, 0x40);
        }
        return ps ? addr - (addr % 2097152) + (lin & 0x1fffff) : addr + (lin & 0xfff);
      }
      table = addr;
    }
    throw new Error("unreachable");
  }

  #walk2(lin: number, kind: number, user: boolean): number {
    const errBase = (kind === WALK_WRITE ? 2 : 0) | (user ? 4 : 0) | this.#idBit(kind);
    let userOk = true, writeOk = true;
    const pdeAddr = ((this.cr3 & ~0xfff) >>> 0) + (lin >>> 22) * 4;
    const pde = this.#pte(pdeAddr, lin) | 0;
    if (!(pde & 1)) this.#pf(lin, errBase);
    if (!(pde & 2)) writeOk = false;
    if (!(pde & 4)) userOk = false;
    if (!(pde & 0x20)) this.#pteSet(pdeAddr, lin, 0x20);
    if ((pde & 0x80) && (this.cr4 & CR4_PSE)) {
      // Bit 21 is reserved (PSE-36 with a 40-bit physical address width).
      if (pde & 0x200000) this.#pf(lin, errBase | 1 | 8);
      this.#wSpan = LARGE_4M;
      this.#wUser = userOk;
      this.#wWrite = writeOk;
      this.#wNx = false;
      if (
        kind === WALK_WRITE && !(pde & 0x40) &&
        (writeOk || (!user && !(this.cr0 & CR0_WP))) && (userOk || !user)
      ) this.#pteSet(pdeAddr, lin, 0x40);
      // PSE-36: bits 20:13 give physical address bits 39:32.
      return ((pde >>> 13) & 0xff) * TWO32 + ((pde & 0xffc00000) >>> 0) + (lin & 0x3fffff);
    }
    const pteAddr = ((pde & ~0xfff) >>> 0) + ((lin >>> 12) & 1023) * 4;
    const pte = this.#pte(pteAddr, lin) | 0;
    if (!(pte & 1)) this.#pf(lin, errBase);
    if (!(pte & 2)) writeOk = false;
    if (!(pte & 4)) userOk = false;
    if (!(pte & 0x20)) this.#pteSet(pteAddr, lin, 0x20);
    this.#wSpan = 0;
    this.#wUser = userOk;
    this.#wWrite = writeOk;
    this.#wNx = false;
    if (
      kind === WALK_WRITE && !(pte & 0x40) &&
      (writeOk || (!user && !(this.cr0 & CR0_WP))) && (userOk || !user)
    ) {
      this.#pteSet(pteAddr, lin, 0x40);
    }
    return ((pte & ~0xfff) >>> 0) + (lin & 0xfff);
  }

  // ---------------------------------------------------------------------------------------------
  // Supervisor-implicit accesses (descriptor tables, IDT, TSS)

  sysRead32(lin: number): number {
    const pa = this.translateAs(lin, WALK_READ, false, false, true);
    if (pa >= 0 && (lin & 0xfff) <= 0xffc) return this.dv.getInt32(pa, true);
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const p = this.translateAs(lin + k, WALK_READ, false, false, true);
      v |= (p >= 0 ? this.u8[p]! : 0xff) << (8 * k);
    }
    return v | 0;
  }

  /** Reads 8 bytes (low half returned, high half in tHi) with one translation when in one page. */
  sysRead64(lin: number): number {
    if ((lin & 0xfff) <= 0xff8) {
      const pa = this.translateAs(lin, WALK_READ, false, false, true);
      if (pa >= 0) {
        this.tHi = this.dv.getInt32(pa + 4, true);
        return this.dv.getInt32(pa, true);
      }
    }
    const lo = this.sysRead32(lin);
    this.tHi = this.sysRead32(lin + 4);
    return lo;
  }

  sysWrite32(lin: number, v: number): void {
    if ((lin & 0xfff) <= 0xffc) {
      const p = this.translateAs(lin, WALK_WRITE, false, false, true);
      if (p >= 0) {
        this.dv.setInt32(p, v, true);
        this.mem.touch(p, 4);
      }
      return;
    }
    for (let k = 0; k < 4; k++) {
      const p = this.translateAs(lin + k, WALK_WRITE, false, false, true);
      if (p >= 0) {
        this.u8[p] = (v >>> (8 * k)) & 0xff;
        this.mem.touch(p, 1);
      }
    }
  }

  #sysWrite64(lin: number, lo: number, hi: number): void {
    if ((lin & 0xfff) <= 0xff8) {
      const p = this.translateAs(lin, WALK_WRITE, false, false, true);
      if (p >= 0) {
        this.dv.setInt32(p, lo, true);
        this.dv.setInt32(p + 4, hi, true);
        this.mem.touch(p, 8);
      }
      return;
    }
    this.sysWrite32(lin, lo);
    this.sysWrite32(lin + 4, hi);
  }

  // ---------------------------------------------------------------------------------------------
  // Stack helpers (64-bit mode and legacy)

  /** Stack-pointer width in bytes for the current mode. */
  stackSize(): number {
    if (this.bits === 64) return 8;
    return (this.segAttr[SS]! & SEG_ATTR_DB) ? 4 : 2;
  }

  push64(lo: number, hi: number): void {
    if (this.bits === 64) {
      const rsp = this.hi[RSP]! * TWO32 + (this.lo[RSP]! >>> 0) - 8;
      const lin = isCanonicalNum(rsp) ? rsp : this.canon(rsp, true);
      this.write64(lin, lo, hi);
      this.lo[RSP] = lin | 0;
      this.hi[RSP] = hiOf(lin);
      return;
    }
    this.#pushLegacy(8, lo, hi);
  }

  push32(v: number): void {
    if (this.bits === 64) {
      this.push64(v, v >> 31);
      return;
    }
    this.#pushLegacy(4, v, 0);
  }

  push16(v: number): void {
    if (this.bits === 64) {
      const rsp = this.hi[RSP]! * TWO32 + (this.lo[RSP]! >>> 0) - 2;
      const lin = this.canon(rsp, true);
      this.write16(lin, v);
      this.lo[RSP] = lin | 0;
      this.hi[RSP] = hiOf(lin);
      return;
    }
    this.#pushLegacy(2, v, 0);
  }

  #pushLegacy(size: number, lo: number, hi: number): void {
    const ss = this.stackSize();
    const sp = ss === 4 ? (this.lo[RSP]! - size) >>> 0 : ((this.lo[RSP]! & 0xffff) - size) & 0xffff;
    const lin = this.segAddr(SS, sp, size, true);
    if (size === 8) this.write64(lin, lo, hi);
    else if (size === 4) this.write32(lin, lo);
    else this.write16(lin, lo);
    if (ss === 4) this.lo[RSP] = sp | 0;
    else this.lo[RSP] = (this.lo[RSP]! & ~0xffff) | sp;
  }

  /** Pops 8 bytes (64-bit mode); low half returned, high in tHi. */
  pop64(): number {
    const rsp = this.hi[RSP]! * TWO32 + (this.lo[RSP]! >>> 0);
    const lo = this.read64(rsp);
    const hi = this.tHi;
    const n = rsp + 8;
    this.lo[RSP] = n | 0;
    this.hi[RSP] = hiOf(n);
    this.tHi = hi;
    return lo;
  }

  /** Pops `size` bytes in any mode; returns low half (int32 for 4), tHi for 8. */
  popN(size: number): number {
    if (this.bits === 64) {
      const rsp = this.hi[RSP]! * TWO32 + (this.lo[RSP]! >>> 0);
      const v = size === 8 ? this.read64(rsp) : size === 4 ? this.read32(rsp) : this.read16(rsp);
      const hi = this.tHi;
      const n = rsp + size;
      this.lo[RSP] = n | 0;
      this.hi[RSP] = hiOf(n);
      this.tHi = hi;
      return v;
    }
    const ss = this.stackSize();
    const sp = ss === 4 ? this.lo[RSP]! >>> 0 : this.lo[RSP]! & 0xffff;
    const lin = this.segAddr(SS, sp, size, false);
    const v = size === 4 ? this.read32(lin) : this.read16(lin);
    if (ss === 4) this.lo[RSP] = (sp + size) | 0;
    else this.lo[RSP] = (this.lo[RSP]! & ~0xffff) | ((sp + size) & 0xffff);
    return v;
  }

  // ---------------------------------------------------------------------------------------------
  // Run loop

  /**
   * Executes until `budget` instructions have retired, the VP halts, or an instruction asks to
   * return to the caller (`exitReq`). Returns the number retired.
   */
  run(budget: number): number {
    const start = this.icount;
    const end = start + budget;
    this.exitReq = false;
    while (this.icount < end && !this.exitReq) {
      if (this.shutdown) break;
      if (this.intrPending) {
        // NMI first (SDM §6.9 priorities), whatever RFLAGS.IF says.
        if (this.nmiPending && !this.nmiBlocked && !this.shadowSs) {
          try {
            this.deliverNmi();
          } catch (e) {
            this.#onThrow(e);
          }
          continue;
        }
        if (!this.shadow && (this.eflags & FLAG_IF)) {
          const vec = this.host.interruptAck();
          if (vec >= 0) {
            try {
              this.deliverInterrupt(vec);
            } catch (e) {
              this.#onThrow(e);
            }
            continue;
          }
          // A pending NMI here is blocked: the IRET that unblocks it raises intrPending again.
          this.intrPending = false;
        }
      }
      if (this.halted) break;
      let b: Block;
      try {
        b = this.fetchBlock();
      } catch (e) {
        this.#onThrow(e);
        continue;
      }
      let n = b.n;
      const rem = end - this.icount;
      if (n > rem) n = rem;
      if (this.shadow) {
        n = 1;
        this.shadow = false;
        this.shadowSs = false;
      }
      // Single-step (RFLAGS.TF at the start of an instruction): one instruction, then #DB.
      const step = (this.eflags & FLAG_TF) !== 0;
      if (step) {
        n = 1;
        this.softInt = false;
      }
      this.curBlock = b;
      const ops = b.ops;
      let i = 0;
      try {
        if (n === b.n && b.fn !== null) i = b.fn(this);
        else {
          if (n === b.n && ++b.hits > jitConfig.threshold && jitConfig.enabled) {
            b.fn = compileBlock(b, b.insns);
          }
          while (i < n) {
            ops[i]!(this);
            i++;
            if (this.brk) break;
          }
        }
      } catch (e) {
        if (i === 0 && b.fn !== null) i = this.#indexOfRip(b);
        this.icount += i;
        this.curBlock = null;
        this.brk = false;
        this.#onThrow(e);
        continue;
      }
      this.icount += i;
      this.curBlock = null;
      this.brk = false;
      if (step && i === 1 && !this.softInt && !this.halted) this.#singleStepTrap();
    }
    return this.icount - start;
  }

  /** Set by software interrupts (no single-step trap follows them: they clear TF). */
  softInt = false;

  #singleStepTrap(): void {
    this.dr[6] = (this.dr[6]! | 0x4000) >>> 0; // DR6.BS
    try {
      this.deliverException(VEC_DB, false, 0);
    } catch (e) {
      this.#onThrow(e);
    }
  }

  #indexOfRip(b: Block): number {
    const rips = b.rips;
    for (let k = 0; k < b.n; k++) if (rips[k] === this.abortRip) return k;
    return 0;
  }

  /** RIP of the instruction that threw (set before host calls that may switch contexts). */
  abortRip = 0;
  /**
   * Work the host deferred from `protectionFault` until the abandoned instruction has been
   * unwound (its own rollback of RSP etc. done): run once, between instructions, right after the
   * ABORT is caught. A host that switches the CPU to another context must do it here, never
   * inside `protectionFault`, or the instruction's rollback would land in the new context.
   */
  afterAbort: (() => void) | null = null;

  #onThrow(e: unknown): void {
    if (e === FAULT) {
      this.deliverException(this.faultVec, this.faultHasErr, this.faultErr);
    } else if (e === ABORT) {
      const f = this.afterAbort;
      if (f !== null) {
        this.afterAbort = null;
        f();
      }
    } else {
      throw e;
    }
  }

  /**
   * The block at RIP. A jump-cache entry is used only if the current execute translation of its
   * first byte (CS base + RIP, this TLB) still leads to the block's physical address: a far jump
   * to another CS base, INVLPG, a remap or a TLB slot taken by another page then all miss. For
   * a block spanning two pages, the second page's translation is checked the same way.
   */
  fetchBlock(): Block {
    const rip = this.rip;
    const t = this.tlb;
    const jc = t.jc;
    const k = rip & (JC_SIZE - 1);
    const b = jc[k];
    const lin = this.bits === 64 ? rip : (this.segBase[CS]! + rip) >>> 0;
    if (b !== undefined && b.rip === rip && b.valid && b.mode === this.modeKey) {
      const vpn = Math.floor(lin * INV4K);
      const i = vpn & TLB_MASK;
      if (t.xTag[i] === vpn && t.xBase[i]! + (lin & 0xfff) === b.pa) {
        if (b.pages.length === 1) return b;
        // An instruction crossing into the next page: that page's translation too.
        const i2 = (vpn + 1) & TLB_MASK;
        if (t.xTag[i2] === vpn + 1 && t.xBase[i2] === b.pages[1]! * PAGE_SIZE) return b;
      }
    }
    const pa = this.fetchAddr(lin);
    const nb = this.code.lookup(this, pa, rip, lin);
    jc[k] = nb;
    return nb;
  }

  // ---------------------------------------------------------------------------------------------
  // Exception and interrupt delivery

  deliverException(vec: number, hasErr: boolean, err: number): void {
    const prev = this.delivering;
    if (prev === VEC_DF) {
      this.shutdown = true;
      this.exitReq = true;
      this.host.onShutdown("triple_fault");
      return;
    }
    if (prev >= 0 && isContributoryPair(prev, vec)) {
      vec = VEC_DF;
      hasErr = true;
      err = 0;
    }
    this.host.onException(vec, hasErr, hasErr ? err : 0, vec === VEC_PF ? this.cr2 : 0);
    this.#deliver(vec, hasErr, err, false, this.rip);
  }

  deliverInterrupt(vec: number): void {
    this.halted = false;
    this.host.onInterrupt(vec);
    this.#deliver(vec, false, 0, false, this.rip);
  }

  /**
   * Delivers the latched NMI through IDT vector 2 and blocks NMIs until the next IRET. The
   * blocking stays if the delivery itself faults.
   */
  deliverNmi(): void {
    this.nmiPending = false;
    this.nmiBlocked = true;
    this.halted = false;
    if (this.host.onNmi !== undefined) this.host.onNmi();
    else this.host.onInterrupt(VEC_NMI);
    this.#deliver(VEC_NMI, false, 0, false, this.rip);
  }

  /** The NMI input: latches one NMI (SDM §6.7.1). */
  raiseNmi(): void {
    this.nmiPending = true;
    this.intrPending = true;
    this.brk = true;
  }

  /** IRET executes: NMIs are unblocked (even if the IRET then faults). */
  iretUnblocksNmi(): void {
    this.nmiBlocked = false;
    if (this.nmiPending) this.intrPending = true;
  }

  /** INT n / INT3 / INTO: software interrupt with return address `next`. */
  softwareInterrupt(vec: number, next: number): void {
    this.softInt = true;
    this.#deliver(vec, false, 0, true, next);
  }

  /** INT1 (ICEBP): a #DB trap without the gate-DPL check, delivered like a hardware event. */
  icebp(next: number): void {
    this.softInt = true;
    this.#deliver(VEC_DB, false, 0, false, next);
  }

  #deliver(vec: number, hasErr: boolean, err: number, soft: boolean, retRip: number): void {
    const outer = this.delivering;
    this.delivering = vec;
    // A fault during delivery leaves no trace of the attempt (CS, SS, RSP, flags).
    this.saveFar();
    try {
      if (!(this.cr0 & CR0_PE)) this.#deliverReal(vec, retRip);
      else if (this.longMode) this.#deliver64(vec, hasErr, err, soft, retRip);
      else this.#deliver32(vec, hasErr, err, soft, retRip);
      this.delivering = outer;
    } catch (e) {
      // (Also after ABORT: a host context switch waits for `afterAbort`, after this rollback.)
      if (e === FAULT || e === ABORT) this.restoreFar();
      if (e === FAULT) {
        // A fault while delivering: double fault rules.
        const v2 = this.faultVec;
        this.delivering = vec;
        if (vec === VEC_DF) {
          this.delivering = -1;
          this.shutdown = true;
          this.exitReq = true;
          this.host.onShutdown("triple_fault");
          return;
        }
        if (isContributoryPair(vec, v2) || v2 === VEC_DF) {
          this.host.onException(VEC_DF, true, 0, 0);
          this.#deliver(VEC_DF, true, 0, false, this.rip);
        } else {
          this.host.onException(v2, this.faultHasErr, this.faultErr, v2 === VEC_PF ? this.cr2 : 0);
          this.delivering = outer;
          this.#deliver(v2, this.faultHasErr, this.faultErr, false, this.rip);
        }
        this.delivering = outer;
        return;
      }
      this.delivering = outer;
      throw e;
    }
  }

  #deliverReal(vec: number, retRip: number): void {
    const ivt = this.idtBase + vec * 4;
    if (vec * 4 + 3 > this.idtLimit) this.raise(VEC_GP, 0);
    const ip = this.read16(ivt);
    const cs = this.read16(ivt + 2);
    this.push16(this.getRflags() & 0xffff);
    this.push16(this.segSel[CS]!);
    this.push16(retRip & 0xffff);
    this.eflags &= ~(FLAG_IF | FLAG_TF | FLAG_AC | FLAG_RF);
    this.loadSegReal(CS, cs);
    this.rip = ip;
    this.updateMode();
  }

  /** Validates the gate's target code segment (SDM 6.12.1.1); returns its DPL. */
  #gateTarget(sel: number, ext: number, long: boolean): number {
    if ((sel & ~3) === 0) this.raise(VEC_GP, ext);
    if (this.readDescriptor(sel) === null) this.raise(VEC_GP, (sel & ~3) + ext);
    const hi = this.tHi, dpl = (hi >>> 13) & 3;
    if ((hi & 0x1800) !== 0x1800 || dpl > this.cpl) this.raise(VEC_GP, (sel & ~3) + ext);
    if (long && ((hi & 0x200000) === 0 || (hi & 0x400000) !== 0)) {
      this.raise(VEC_GP, (sel & ~3) + ext); // must be a 64-bit code segment
    }
    if (!(hi & 0x8000)) this.raise(VEC_NP, (sel & ~3) + ext);
    return (hi & 0x400) !== 0 ? this.cpl : dpl; // conforming: no privilege change
  }

  /** Checks that [off, off+size) lies within the TSS (else #TS(TR selector)). */
  #tssCheck(off: number, size: number, ext: number): void {
    if (off + size - 1 > this.segLimit[7]!) this.raise(VEC_TS, (this.segSel[7]! & ~3) + ext);
  }

  #deliver32(vec: number, hasErr: boolean, err: number, soft: boolean, retRip: number): void {
    const ext = soft ? 0 : 1;
    if (vec * 8 + 7 > this.idtLimit) this.raise(VEC_GP, vec * 8 + 2 + ext);
    const w0 = this.sysRead64(this.idtBase + vec * 8), w1 = this.tHi;
    const type = (w1 >>> 8) & 0x1f;
    const dpl = (w1 >>> 13) & 3;
    // Interrupt and trap gates, 16-bit (6, 7) or 32-bit (0xe, 0xf), and task gates (5).
    if ((type & 0x16) !== 6 && type !== 5) this.raise(VEC_GP, vec * 8 + 2 + ext);
    if (soft && dpl < this.cpl) this.raise(VEC_GP, vec * 8 + 2);
    if (!(w1 & 0x8000)) this.raise(VEC_NP, vec * 8 + 2 + ext);
    if (type === 5) {
      interruptTask(this, w0, ext, hasErr, err, retRip);
      return;
    }
    // A 16-bit gate pushes a 16-bit frame (FLAGS, CS, IP; SS, SP) and jumps to a 16-bit offset.
    const size = type & 8 ? 4 : 2;
    const sel = w0 >>> 16;
    const offset = size === 4 ? ((w1 & 0xffff0000) | (w0 & 0xffff)) >>> 0 : w0 & 0xffff;
    const newDpl = this.#gateTarget(sel, ext, false);
    // Out of virtual-8086 mode only to a ring-0 non-conforming segment (conforming: newDpl = 3).
    const v86 = (this.eflags & FLAG_VM) !== 0;
    if (v86 && newDpl !== 0) this.raise(VEC_GP, (sel & ~3) + ext);
    const csLo = this.tLo, csHi = this.tHi;
    const flags = this.getRflags();
    const oldCs = this.segSel[CS]!, oldSs = this.segSel[SS]!;
    const oldEsp = this.lo[RSP]!;
    // The frame: EIP, CS, EFLAGS and the error code; ESP and SS inward; GS, FS, DS, ES from
    // virtual-8086 mode. Its room on the stack is checked before CS is loaded, then the offset.
    const words = hasErr ? 4 : 3;
    if (newDpl < this.cpl) {
      // Stack switch: SS:ESP (SS:SP in a 16-bit TSS) for the new privilege level.
      const esp = tssStack(this, newDpl, ext);
      const ss = this.tHi;
      const ssErr = (ss & ~3) + ext;
      if ((ss & ~3) === 0) this.raise(VEC_TS, ext);
      if (this.readDescriptor(ss) === null) this.raise(VEC_TS, ssErr);
      const sh = this.tHi;
      if (
        (ss & 3) !== newDpl || descDpl(sh) !== newDpl || !descIsWritableData(sh)
      ) this.raise(VEC_TS, ssErr);
      if (!(sh & 0x8000)) this.raise(VEC_SS, ssErr);
      // Leaving virtual-8086 mode: SS is loaded from its descriptor, the pushes are CPL 0's.
      if (v86) this.eflags &= ~FLAG_VM;
      this.loadSeg(SS, ss, newDpl);
      this.lo[RSP] = esp;
      this.#stackRoom(size * (words + (v86 ? 6 : 2)), ssErr);
      if (offset > descLimit(csLo, csHi)) this.raise(VEC_GP, ext);
      this.#setCs(sel, newDpl, csLo, csHi);
      if (v86) pushV86DataSegments(this, size);
      this.#pushW(size, oldSs);
      this.#pushW(size, oldEsp);
    } else {
      this.#stackRoom(size * words, ext);
      if (offset > descLimit(csLo, csHi)) this.raise(VEC_GP, ext);
      this.#setCs(sel, this.cpl, csLo, csHi);
    }
    this.#pushW(size, flags);
    this.#pushW(size, oldCs);
    this.#pushW(size, retRip);
    if (hasErr) this.#pushW(size, err);
    if (v86) nullV86DataSegments(this);
    this.eflags &= ~(FLAG_TF | FLAG_NT | FLAG_RF | FLAG_VM);
    if (!(type & 1)) this.eflags &= ~FLAG_IF;
    this.rip = offset;
    this.updateMode();
  }

  /**
   * INT n "new stack does not have room for N bytes": #SS(`err`) unless the `bytes` below SS:ESP
   * (SS:SP for a 16-bit stack, wrapping) lie within SS's limit, expand-up or expand-down. Page
   * faults are left to the pushes.
   */
  #stackRoom(bytes: number, err: number): void {
    const big = (this.segAttr[SS]! & SEG_ATTR_DB) !== 0;
    const top = big ? 0xffffffff : 0xffff;
    const sp = big ? this.lo[RSP]! >>> 0 : this.lo[RSP]! & 0xffff;
    const limit = this.segLimit[SS]!, down = (this.segAttr[SS]! & 4) !== 0;
    const low = sp - bytes;
    const fits = low >= 0
      ? inSegment(low, sp - 1, limit, top, down)
      : inSegment(low + top + 1, top, limit, top, down) &&
        (sp === 0 || inSegment(0, sp - 1, limit, top, down));
    if (!fits) this.raise(VEC_SS, err);
  }

  /** Pushes the low `size` (2 or 4) bytes of `v`: a frame word of a 16- or 32-bit gate. */
  #pushW(size: number, v: number): void {
    if (size === 4) this.push32(v);
    else this.push16(v & 0xffff);
  }

  #deliver64(vec: number, hasErr: boolean, err: number, soft: boolean, retRip: number): void {
    const ext = soft ? 0 : 1;
    if (vec * 16 + 15 > this.idtLimit) this.raise(VEC_GP, vec * 8 + 2 + ext);
    const g = this.idtBase + vec * 16;
    const w0 = this.sysRead64(g), w1 = this.tHi;
    const w2 = this.sysRead32(g + 8);
    const type = (w1 >>> 8) & 0x1f;
    const dpl = (w1 >>> 13) & 3;
    const ist = (w1 >>> 0) & 7;
    if (type !== 0xe && type !== 0xf) this.raise(VEC_GP, vec * 8 + 2 + ext);
    if (soft && dpl < this.cpl) this.raise(VEC_GP, vec * 8 + 2);
    if (!(w1 & 0x8000)) this.raise(VEC_NP, vec * 8 + 2 + ext);
    const sel = w0 >>> 16;
    const offset = w2 * TWO32 + (((w1 & 0xffff0000) | (w0 & 0xffff)) >>> 0);
    const newDpl = this.#gateTarget(sel, ext, true);
    const csLo = this.tLo, csHi = this.tHi;
    const flags = this.getRflags();
    const oldCs = this.segSel[CS]!, oldSs = this.segSel[SS]!;
    const oldRsp = this.reg(RSP);
    let newRsp: number;
    if (ist !== 0 || newDpl < this.cpl) {
      const tss = this.segBase[7]!;
      const o = ist !== 0 ? 0x24 + (ist - 1) * 8 : 4 + newDpl * 8;
      this.#tssCheck(o, 8, ext);
      const lo = this.sysRead64(tss + o);
      newRsp = this.tHi * TWO32 + (lo >>> 0);
    } else newRsp = oldRsp;
    // A non-canonical new RSP is #SS(EXT), then a non-canonical target RIP #GP(EXT).
    if (!isCanonicalNum(newRsp)) this.raise(VEC_SS, ext);
    if (!isCanonicalNum(offset)) this.raise(VEC_GP, ext);
    newRsp -= newRsp % 16 === 0 ? 0 : ((newRsp % 16) + 16) % 16;
    // Build the frame at the new stack (supervisor accesses), lowest quadword first, then switch.
    const size = hasErr ? 48 : 40;
    const base = this.canon(newRsp - size, true);
    const pa = (base & 0xfff) <= PAGE_SIZE - size
      ? this.translateAs(base, WALK_WRITE, false, false, true)
      : -1;
    if (pa >= 0) {
      // The whole frame in one page of RAM: one translation.
      const dv = this.dv;
      let p = pa;
      if (hasErr) {
        setU64(dv, p, err >>> 0);
        p += 8;
      }
      setU64(dv, p, retRip);
      setU64(dv, p + 8, oldCs);
      setU64(dv, p + 16, flags);
      setU64(dv, p + 24, oldRsp);
      setU64(dv, p + 32, oldSs);
      this.mem.touch(pa, size);
    } else {
      let p = base;
      if (hasErr) {
        this.#sysWrite64(p, err, 0);
        p += 8;
      }
      this.#sysWrite64(p, retRip | 0, hiOf(retRip));
      this.#sysWrite64(p + 8, oldCs, 0);
      this.#sysWrite64(p + 16, flags, 0);
      this.#sysWrite64(p + 24, oldRsp | 0, hiOf(oldRsp));
      this.#sysWrite64(p + 32, oldSs, 0);
    }
    if (newDpl < this.cpl) {
      this.segSel[SS] = newDpl;
      this.segBase[SS] = 0;
      this.segLimit[SS] = 0xffffffff;
      this.segAttr[SS] = SEG_ATTR_UNUSABLE_NULL;
    }
    this.#setCs(sel, newDpl, csLo, csHi);
    this.setReg(RSP, base);
    this.eflags &= ~(FLAG_TF | FLAG_NT | FLAG_RF | FLAG_VM);
    if (type === 0xe) this.eflags &= ~FLAG_IF;
    this.rip = offset;
    this.updateMode();
  }

  /** Loads CS from its (validated) descriptor words for event delivery, with privilege `cpl`. */
  #setCs(sel: number, cpl: number, lo: number, hi: number): void {
    this.segSel[CS] = (sel & ~3) | cpl;
    this.#loadCache(CS, lo, hi);
    this.updateMode();
  }

  /** Last descriptor read (low, high words). */
  tLo = 0;

  /**
   * Reads the 8-byte descriptor for `sel` from the GDT/LDT into (tLo, tHi). Returns null when the
   * selector is outside the table.
   */
  readDescriptor(sel: number): number | null {
    const ti = sel & 4;
    const index = sel & ~7;
    const base = ti ? this.segBase[6]! : this.gdtBase;
    const limit = ti ? this.segLimit[6]! : this.gdtLimit;
    if (index + 7 > limit) return null;
    const lo = this.sysRead64(base + index);
    this.tLo = lo;
    return lo;
  }

  /** Fills segment cache `seg` from descriptor words. */
  #loadCache(seg: number, lo: number, hi: number): void {
    this.segBase[seg] = descBase(lo, hi);
    this.segLimit[seg] = descLimit(lo, hi);
    this.segAttr[seg] = descAttr(hi);
  }

  /**
   * Loads segment register `seg` with `sel` and its already validated descriptor (lo, hi),
   * setting the descriptor's accessed bit in its table first. For CS the caller gives `sel` the
   * new CPL as RPL and calls `updateMode`.
   */
  commitSeg(seg: number, sel: number, lo: number, hi: number): void {
    if (!(hi & 0x100)) {
      const tbl = (sel & 4) ? this.segBase[6]! : this.gdtBase;
      hi |= 0x100;
      this.sysWrite32(tbl + (sel & ~7) + 4, hi);
    }
    this.segSel[seg] = sel;
    this.#loadCache(seg, lo, hi);
  }

  loadSegReal(seg: number, sel: number): void {
    this.segSel[seg] = sel & 0xffff;
    this.segBase[seg] = (sel & 0xffff) * 16;
    if (seg === CS) this.updateMode();
  }

  /**
   * Loads a data/stack segment register in protected or long mode with the architectural checks
   * (#GP/#SS/#NP with the selector as error code). `rplCpl` is the CPL to check against.
   */
  loadSeg(seg: number, sel: number, rplCpl = this.cpl): void {
    sel &= 0xffff;
    if (!(this.cr0 & CR0_PE) || (this.eflags & FLAG_VM)) {
      this.loadSegReal(seg, sel);
      return;
    }
    if ((sel & ~3) === 0) {
      if (seg === SS && (!this.longMode || rplCpl === 3 || this.bits !== 64)) {
        this.raise(VEC_GP, 0);
      }
      this.segSel[seg] = sel;
      this.segBase[seg] = 0;
      this.segLimit[seg] = 0;
      this.segAttr[seg] = SEG_ATTR_UNUSABLE_NULL;
      return;
    }
    if (this.readDescriptor(sel) === null) this.raise(VEC_GP, sel & ~3);
    const lo = this.tLo, hi = this.tHi;
    const s = (hi >>> 12) & 1;
    const type = (hi >>> 8) & 0xf;
    const dpl = (hi >>> 13) & 3;
    const rpl = sel & 3;
    if (!s) this.raise(VEC_GP, sel & ~3);
    if (seg === SS) {
      if ((type & 0xa) !== 2 || rpl !== rplCpl || dpl !== rplCpl) this.raise(VEC_GP, sel & ~3);
      if (!(hi & 0x8000)) this.raise(12, sel & ~3);
    } else {
      const code = (type & 8) !== 0;
      if (code && !(type & 2)) this.raise(VEC_GP, sel & ~3); // execute-only code
      const conforming = code && (type & 4) !== 0;
      if (!conforming && (rpl > dpl || rplCpl > dpl)) this.raise(VEC_GP, sel & ~3);
      if (!(hi & 0x8000)) this.raise(11, sel & ~3);
    }
    // Set the accessed bit.
    if (!(hi & 0x100)) {
      const tbl = (sel & 4) ? this.segBase[6]! : this.gdtBase;
      this.sysWrite32(tbl + (sel & ~7) + 4, hi | 0x100);
    }
    this.segSel[seg] = sel;
    this.#loadCache(seg, lo, hi | 0x100);
  }

  /** Replaces the hidden part of a segment register directly (loaders, VTL contexts). */
  setSegment(seg: number, sel: number, base: number, limit: number, attr: number): void {
    this.segSel[seg] = sel;
    this.segBase[seg] = base;
    this.segLimit[seg] = limit;
    this.segAttr[seg] = attr;
    if (seg === CS) this.updateMode();
  }
}

/** Attribute value for a null/unusable segment. */
export const SEG_ATTR_UNUSABLE_NULL = 0x10000;

/** Whether offsets [a, b] lie within a data segment's limit (expand-down: above it, up to `top`). */
function inSegment(a: number, b: number, limit: number, top: number, down: boolean): boolean {
  return down ? a > limit && b <= top : b <= limit;
}

function isContributory(v: number): boolean {
  return v === 0 || (v >= 10 && v <= 13);
}

/** Whether a fault `second` while delivering `first` becomes a double fault (SDM Table 6-5). */
function isContributoryPair(first: number, second: number): boolean {
  if (first === VEC_PF) return second === VEC_PF || isContributory(second);
  if (isContributory(first)) return isContributory(second);
  return false;
}
