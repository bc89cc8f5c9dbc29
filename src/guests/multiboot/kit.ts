/**
 * The multiboot test-kernel kit: every kernel of the device suite (`mb-*`) is a real multiboot v1
 * ELF32 file built with it. The boot loader enters it as QEMU -kernel would (Multiboot
 * Specification 0.6.96 §3.2: 32-bit protected mode, paging off, EAX = 0x2BADB002, EBX = the
 * multiboot_info structure, interrupts off); the kit's startup code then
 *
 * - loads its own GDT and a stack, zeroes its variable area, checks the boot loader magic;
 * - for a 64-bit kernel, switches to long mode (SDM Vol. 3A §9.8.5: CR4.PAE, CR3, EFER.LME|NXE,
 *   CR0.PG, far jump to a 64-bit code segment) with 4 GiB identity-mapped by 2 MiB pages;
 * - loads an IDT whose 256 gates lead to a common exception path (expected faults are caught
 *   and recorded, unexpected ones are reported and end the run) and a common interrupt path
 *   (per-CPU counters, an arrival log, an optional per-vector hook and a per-vector EOI kind).
 *
 * Kernels report over COM1 with the kit's check helpers:
 *
 *     PASS <name>
 *     FAIL <name>: got 0x<value> want 0x<value>
 *     SKIP <name>: <reason>
 *     SUMMARY <kernel> pass=<n> fail=<m>
 *
 * and exit through isa-debug-exit (port 0xf4) with the failure count (0 = all passed). Every
 * check name is registered at build time (`MbKernel.checks`), so tests can demand every PASS.
 *
 * Memory layout (physical = virtual):
 *
 *     0x020000            AP startup trampoline (SIPI vector 0x20), copied there at run time
 *     0x100000            the image (code, strings, GDT, IDT, TSS, page tables)
 *     0x200000-0x21ffff   kit variables (zeroed at startup), then kernel variables (`k.var`)
 *     0x380000-0x3fffff   stacks: CPU i (APIC ID i) uses [0x3f0000 - i*64K, 0x400000 - i*64K);
 *                         inside the BSP's region, RSP0 (ring 3 → 0) tops at 0x3fc000 and the
 *                         IST1 stack (#DF) at 0x3f8000
 *     0x500000-           scratch pages for kernels (`SCRATCH`)
 *
 * Register conventions for kernel code: the check helpers preserve every register (they
 * clobber flags); 32-bit data lives in e-registers in both modes, pointers in `k.r.*` (rax..
 * in 64-bit kernels, eax.. in 32-bit ones).
 */

import { Asm, byte, dword, type Label, type Mem, mem, qword, type Reg } from "../asm.ts";
import {
  al,
  dx,
  eax,
  ebp,
  ebx,
  ecx,
  edi,
  edx,
  esi,
  esp,
  r10,
  r11,
  r12,
  r13,
  r14,
  r15,
  r8,
  r9,
  rax,
  rbp,
  rbx,
  rcx,
  rdi,
  rdx,
  reg,
  rsi,
  rsp,
} from "../asm/operands.ts";
import { buildElf, multibootHeader } from "../../machine/loaders/testing.ts";
import { gdt, idt32, idt64, pageTables4, PTE_P, PTE_RW, PTE_US, tss64 } from "../x86_structs.ts";

export const IMAGE_BASE = 0x100000;
export const VARS = 0x200000;
export const VARS_END = 0x220000;
export const STACK_TOP = 0x400000;
export const STACK_SIZE = 0x10000;
export const IST1_TOP = 0x3f8000;
/** The BSP's ring-0 stack for entries from ring 3 (TSS RSP0), inside its stack region. */
export const RSP0_TOP = 0x3fc000;
export const SCRATCH = 0x500000;
export const TRAMPOLINE = 0x20000;
export const MAX_CPUS = 8;

/** GDT selectors (the same in every kit kernel). */
export const SEL = {
  code32: 0x08,
  data: 0x10,
  code64: 0x18,
  ucode32: 0x20,
  udata: 0x28,
  ucode64: 0x30,
  tss: 0x38,
} as const;

/** Kit variables (fixed addresses in the zeroed area). */
export const KV = {
  /** dword counts[cpu][vector]: interrupts taken. */
  counts: VARS,
  /** dword log[256] of (cpu << 8 | vector) in arrival order; logIdx counts entries. */
  log: VARS + 0x2000,
  logIdx: VARS + 0x2400,
  /** dword hooks[vector]: address of a routine the interrupt path calls (0 = none). */
  hooks: VARS + 0x3000,
  /** byte eoiKind[vector]: EOI_* below. */
  eoiKind: VARS + 0x3400,
  /** qword tsc[vector]: TSC at the last interrupt on that vector. */
  tsc: VARS + 0x4000,
  /** Exception catch state (qword slots, `CATCH`). */
  catch: VARS + 0x5000,
  passCount: VARS + 0x5100,
  failCount: VARS + 0x5108,
  skipCount: VARS + 0x5110,
  mbMagic: VARS + 0x5118,
  mbInfo: VARS + 0x511c,
  wdFired: VARS + 0x5120,
  /** Bit i: CPU i reached the kit's AP entry (set with LOCK BTS). */
  aliveMask: VARS + 0x5124,
  scratchVars: VARS + 0x6000,
} as const;

/** Catch-state slots (byte offsets of qwords at KV.catch). */
export const CATCH = {
  expect: 0,
  caught: 8,
  resume: 16,
  savedSp: 24,
  vector: 32,
  err: 40,
  ip: 48,
  cs: 56,
  flags: 64,
  frameSp: 72,
  frameSs: 80,
  cr2: 88,
  frameAt: 96,
  dr6: 104,
} as const;

/** How the common interrupt path ends an interrupt (KV.eoiKind[vector]). */
export const EOI_NONE = 0, EOI_LAPIC = 1, EOI_PIC_MASTER = 2, EOI_PIC_BOTH = 3;

/** The watchdog's vector (LAPIC timer, one-shot) used by `waitIrq`. */
export const WATCHDOG_VECTOR = 0xee;

const ERR_VECTORS = new Set([8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);

export type Bits = 32 | 64;
type Src = Reg | Mem;

/** A kernel of the suite, ready to be loaded as a file or a built-in guest. */
export interface MbKernel {
  readonly name: string;
  /** The multiboot ELF32 file. */
  readonly image: Uint8Array;
  /** Machine settings the built-in asks for (e.g. vps, cmdline). */
  readonly config: Readonly<Record<string, unknown>>;
  /** Every check name the kernel reports as `PASS <name>` when all is well. */
  readonly checks: readonly string[];
  /** What to give `boot` when running the file version (e.g. "--vps 4"). */
  readonly bootHint: string;
}

/** Pointer-width registers of the kernel's mode. */
export interface PtrRegs {
  ax: Reg;
  bx: Reg;
  cx: Reg;
  dx: Reg;
  si: Reg;
  di: Reg;
  bp: Reg;
  sp: Reg;
}

const RT_NAMES = [
  "putc",
  "puts",
  "puthex",
  "putdec",
  "pass",
  "failGot",
  "failRange",
  "fail",
  "skip",
  "finish",
  "apicRead",
  "apicWrite",
  "apicIcr",
  "isX2apic",
  "cpuIndex",
  "delay",
  "armWatchdog",
  "disarmWatchdog",
] as const;
type RtName = typeof RT_NAMES[number];

const R64: PtrRegs = { ax: rax, bx: rbx, cx: rcx, dx: rdx, si: rsi, di: rdi, bp: rbp, sp: rsp };
const R32: PtrRegs = { ax: eax, bx: ebx, cx: ecx, dx: edx, si: esi, di: edi, bp: ebp, sp: esp };

export class MbKit {
  readonly a: Asm;
  readonly name: string;
  readonly bits: Bits;
  readonly r: PtrRegs;
  readonly config: Record<string, unknown>;
  readonly bootHint: string;
  /**
   * Runtime routines (registers as documented at each; all preserve everything else): putc (al),
   * puts (esi), puthex/putdec (eax), pass/fail/skip (esi = text), failGot (esi, eax = got,
   * edx = want), failRange (esi, eax, ecx..edx), finish, apicRead (ecx = index → eax),
   * apicWrite (ecx, eax), apicIcr (eax = low, edx = destination), isX2apic (ZF = 0 if x2APIC),
   * cpuIndex (→ eax), delay (eax TSC ticks), armWatchdog (eax APIC ticks), disarmWatchdog.
   */
  readonly rt: Record<RtName, Label>;
  readonly gdt: ReturnType<typeof gdt>;
  readonly idt: ReturnType<typeof idt64>;
  readonly pml4: Label | undefined;
  /** The names of every check, in order (see `MbKernel.checks`). */
  readonly checks: string[] = [];
  #checkSet = new Set<string>();
  #strings = new Map<string, Label>();
  #varNext: number = KV.scratchVars;
  readonly #entry: Label;
  readonly #stubs: Label[] = [];
  readonly #excCommon: Label;
  readonly #irqCommon: Label;
  /** The code to run when an AP reaches the kernel's mode (see `smp.ts`); bound by the kernel. */
  readonly apMain: Label;
  /** Continues a 32-bit AP into the kernel's mode (bound in `#startup`). */
  readonly ap32: Label;

  constructor(
    name: string,
    opts: { bits: Bits; config?: Record<string, unknown>; bootHint?: string },
  ) {
    this.name = name;
    this.bits = opts.bits;
    this.config = opts.config ?? {};
    this.bootHint = opts.bootHint ?? "";
    this.r = opts.bits === 64 ? R64 : R32;
    const a = this.a = new Asm({ base: IMAGE_BASE, bits: 32 });
    // The multiboot header: page-align modules, memory info wanted (flags bits 0 and 1).
    a.bytes(multibootHeader(0x3));
    this.#entry = a.label("entry");
    this.apMain = a.label("ap_main");
    this.ap32 = a.label("ap32");
    this.#excCommon = a.label("exc_common");
    this.#irqCommon = a.label("irq_common");
    this.rt = Object.fromEntries(RT_NAMES.map((n) => [n, a.label(`rt_${n}`)])) as MbKit["rt"];
    a.jmp(this.#entry);
    // Descriptor tables.
    const tss = this.bits === 64 ? tss64(a, { rsp0: RSP0_TOP, ist: [IST1_TOP] }) : undefined;
    this.gdt = gdt(a, [
      { type: "null" },
      { type: "code32" },
      { type: "data" },
      { type: "code64" },
      { type: "code32", dpl: 3 },
      { type: "data", dpl: 3 },
      { type: "code64", dpl: 3 },
      ...(tss ? [{ type: "tss64" as const, base: tss.label }] : []),
    ], { pointerBits: 32 });
    for (let v = 0; v < 256; v++) this.#stubs.push(a.label(`vec${v}`));
    if (this.bits === 64) {
      this.idt = idt64(
        a,
        this.#stubs.map((l, v) => ({
          vector: v,
          handler: l,
          selector: SEL.code64,
          type: "interrupt" as const,
          ist: v === 8 ? 1 : 0,
          // INT3 and INT n from CPL 3 reach the kernel (for the user-mode tests).
          dpl: v === 3 || v === 4 ? 3 : 0,
        })),
        { count: 256 },
      );
      this.pml4 = pageTables4(a, {
        identityBytes: 2 ** 32,
        pageSize: "2M",
        flags: PTE_P | PTE_RW | PTE_US,
      });
    } else {
      this.idt = idt32(
        a,
        this.#stubs.map((l, v) => ({
          vector: v,
          handler: l,
          selector: SEL.code32,
          type: "interrupt" as const,
        })),
        { count: 256 },
      );
      this.pml4 = undefined;
    }
    this.#runtime();
    this.#startup();
  }

  // ---- build-time helpers -------------------------------------------------------------------

  /** A label holding the NUL-terminated string `s` (deduplicated). */
  str(s: string): Label {
    // The console decodes bytes one by one: keep guest strings ASCII.
    if (!/^[\x20-\x7e\n]*$/.test(s)) {
      throw new Error(`mbkit: non-ASCII string ${JSON.stringify(s)}`);
    }
    let l = this.#strings.get(s);
    if (l === undefined) this.#strings.set(s, l = this.a.label());
    return l;
  }

  /** Reserves `bytes` of zeroed kernel variables (8-byte aligned); returns the address. */
  var(bytes: number): number {
    const at = this.#varNext;
    this.#varNext += Math.ceil(bytes / 8) * 8;
    if (this.#varNext > VARS_END) throw new Error("mbkit: out of variable space");
    return at;
  }

  #register(name: string): void {
    if (this.#checkSet.has(name)) throw new Error(`mbkit ${this.name}: duplicate check "${name}"`);
    if (name.includes("\n")) throw new Error(`mbkit ${this.name}: newline in a check name`);
    this.#checkSet.add(name);
    this.checks.push(name);
  }

  /** Push/pop of pointer-width registers (by 32-bit name: eax, ecx, ...). */
  save(...regs: Reg[]): this {
    for (const r of regs) this.a.push(this.#wide(r));
    return this;
  }
  restore(...regs: Reg[]): this {
    for (const r of [...regs].reverse()) this.a.pop(this.#wide(r));
    return this;
  }
  #wide(r: Reg): Reg {
    if (this.bits === 32 || r.size === 8) return r;
    const m: Record<string, Reg> = {
      eax: rax,
      ebx: rbx,
      ecx: rcx,
      edx: rdx,
      esi: rsi,
      edi: rdi,
      ebp: rbp,
    };
    const w = m[r.name];
    if (!w) throw new Error(`mbkit: no wide form of ${r.name}`);
    return w;
  }

  // ---- output and checks ----------------------------------------------------------------------

  /** Prints a literal string. Preserves registers. */
  say(s: string): this {
    const a = this.a;
    this.save(esi);
    a.mov(esi, this.str(s)).call(this.rt.puts);
    this.restore(esi);
    return this;
  }

  /** Prints `text`, then `src` (32-bit) in hex, then a newline. */
  show(text: string, src: Src): this {
    const a = this.a;
    this.save(eax);
    this.#load(eax, src);
    this.say(text);
    a.call(this.rt.puthex);
    this.say("\n");
    this.restore(eax);
    return this;
  }

  /** Prints `text`, then `src` (32-bit) in decimal, then `after`. */
  showDec(text: string, src: Src, after = "\n"): this {
    const a = this.a;
    this.save(eax);
    this.#load(eax, src);
    this.say(text);
    a.call(this.rt.putdec);
    this.say(after);
    this.restore(eax);
    return this;
  }

  /** Loads `src` (1, 2 or 4 bytes; the low dword of an 8-byte memory operand) into `dst`. */
  #load(dst: Reg, src: Src): void {
    const a = this.a;
    if (src.size === 4) {
      if (src !== dst) a.mov(dst, src);
    } else if (src.size === 8) {
      if (!(src instanceof Object && "base" in src)) {
        throw new Error("mbkit: 64-bit register sources are not supported; use a 32-bit one");
      }
      a.mov(dst, (src as Mem).withSize(4));
    } else a.movzx(dst, src);
  }

  /** Unconditional PASS (registers the name). */
  pass(name: string): this {
    this.#register(name);
    this.#passRt(name);
    return this;
  }

  #passRt(name: string): void {
    this.save(esi);
    this.a.mov(esi, this.str(name)).call(this.rt.pass);
    this.restore(esi);
  }

  /** Unconditional FAIL with a reason (the name must be registered by another check). */
  failNow(name: string, why: string): this {
    this.save(esi);
    this.a.mov(esi, this.str(`${name}: ${why}`)).call(this.rt.fail);
    this.restore(esi);
    return this;
  }

  /** Prints `SKIP name: reason` (the check counts as neither passed nor failed). */
  skip(name: string, reason: string): this {
    this.save(esi);
    this.a.mov(esi, this.str(`${name}: ${reason}`)).call(this.rt.skip);
    this.restore(esi);
    return this;
  }

  /**
   * A check: `emit` leaves flags such that condition `failCc` means failure; on failure `got`
   * (32-bit, default none) is printed. Preserves registers.
   */
  check(name: string, emit: () => void, failCc: string, got?: Src): this {
    this.#register(name);
    const a = this.a, bad = a.label(), done = a.label();
    emit();
    a.jcc(failCc, bad);
    this.#passRt(name);
    a.jmp(done);
    a.bind(bad);
    if (got === undefined) {
      this.save(esi);
      a.mov(esi, this.str(name)).call(this.rt.fail);
      this.restore(esi);
    } else {
      this.save(eax, ecx, edx, esi);
      this.#load(eax, got);
      a.mov(ecx, eax).mov(edx, eax).mov(esi, this.str(name)).call(this.rt.failRange);
      this.restore(eax, ecx, edx, esi);
    }
    a.bind(done);
    return this;
  }

  /** PASS when `src` (zero-extended to 32 bits) equals `want`. */
  expectEq(name: string, src: Src, want: number): this {
    return this.#cmpCheck(name, src, 0xffffffff, want);
  }

  /** PASS when `(src & mask) === want`. */
  expectMask(name: string, src: Src, mask: number, want: number): this {
    return this.#cmpCheck(name, src, mask, want);
  }

  /** PASS when lo <= src <= hi (unsigned 32-bit). */
  expectRange(name: string, src: Src, lo: number, hi: number): this {
    this.#register(name);
    const a = this.a, bad = a.label(), done = a.label();
    this.save(eax, ecx, edx, esi);
    this.#load(eax, src);
    a.cmp(eax, lo >>> 0).jb(bad).cmp(eax, hi >>> 0).ja(bad);
    a.mov(esi, this.str(name)).call(this.rt.pass).jmp(done);
    a.bind(bad).mov(ecx, lo >>> 0).mov(edx, hi >>> 0).mov(esi, this.str(name));
    a.call(this.rt.failRange);
    a.bind(done);
    this.restore(eax, ecx, edx, esi);
    return this;
  }

  /** PASS when two 32-bit operands are equal (`b` may be a register or memory). */
  expectSame(name: string, x: Src, y: Src): this {
    this.#register(name);
    const a = this.a, bad = a.label(), done = a.label();
    this.save(eax, ecx, edx, esi);
    this.#load(ecx, y);
    this.#load(eax, x);
    a.cmp(eax, ecx).jne(bad);
    a.mov(esi, this.str(name)).call(this.rt.pass).jmp(done);
    a.bind(bad).mov(edx, ecx).mov(esi, this.str(name)).call(this.rt.failGot);
    a.bind(done);
    this.restore(eax, ecx, edx, esi);
    return this;
  }

  #cmpCheck(name: string, src: Src, mask: number, want: number): this {
    this.#register(name);
    const a = this.a, bad = a.label(), done = a.label();
    this.save(eax, edx, esi);
    this.#load(eax, src);
    if ((mask >>> 0) !== 0xffffffff) a.and(eax, mask >>> 0);
    a.cmp(eax, want >>> 0).jne(bad);
    a.mov(esi, this.str(name)).call(this.rt.pass).jmp(done);
    a.bind(bad).mov(edx, want >>> 0).mov(esi, this.str(name)).call(this.rt.failGot);
    a.bind(done);
    this.restore(eax, edx, esi);
    return this;
  }

  /** 64-bit kernels: PASS when the 64-bit `src` equals `want`. */
  expectEq64(name: string, src: Src, want: bigint | number): this {
    if (this.bits !== 64) throw new Error("mbkit: expectEq64 needs a 64-bit kernel");
    this.#register(name);
    const a = this.a, bad = a.label(), done = a.label();
    a.push(rax).push(rdx).push(rsi);
    a.mov(rax, src).mov(rdx, BigInt.asIntN(64, BigInt(want))).cmp(rax, rdx).jne(bad);
    a.mov(esi, this.str(name)).call(this.rt.pass).jmp(done);
    a.bind(bad).push(rax);
    this.say(`FAIL ${name}: got 0x`);
    a.pop(rax).push(rax).shr(rax, 32).call(this.rt.puthex).pop(rax).call(this.rt.puthex);
    this.say(` want 0x${BigInt.asUintN(64, BigInt(want)).toString(16)}\n`);
    a.i("inc", dword(KV.failCount));
    a.bind(done).pop(rsi).pop(rdx).pop(rax);
    return this;
  }

  // ---- interrupts ---------------------------------------------------------------------------

  /** Sets the common interrupt path's hook for `vector` (a routine: preserve ebx and esi). */
  hook(vector: number, routine: Label): this {
    const a = this.a;
    this.save(eax);
    a.mov(eax, routine).mov(dword(KV.hooks + vector * 4), eax);
    this.restore(eax);
    return this;
  }

  /** Removes `vector`'s hook. */
  unhook(vector: number): this {
    this.a.mov(dword(KV.hooks + vector * 4), 0);
    return this;
  }

  /** Sets how the common interrupt path EOIs `vector`. */
  eoiKind(vector: number, kind: number): this {
    this.a.mov(byte(KV.eoiKind + vector), kind);
    return this;
  }

  /** dword operand: interrupts taken on `vector` by CPU `cpu`. */
  count(vector: number, cpu = 0): Mem {
    return dword(KV.counts + (cpu * 256 + vector) * 4);
  }

  /**
   * Waits (STI; HLT) until `cond` (leaving flags) satisfies `okCc`, with the LAPIC timer as a
   * watchdog after `watchdogTicks` APIC ticks. Returns with IF = 0. Needs the BSP's LAPIC
   * software-enabled. Preserves registers.
   */
  waitIrq(cond: () => void, okCc: string, watchdogTicks = 20_000_000): this {
    const a = this.a, loop = a.label(), done = a.label();
    this.save(eax);
    a.mov(eax, watchdogTicks).call(this.rt.armWatchdog);
    a.bind(loop).cli();
    cond();
    a.jcc(okCc, done);
    a.cmp(dword(KV.wdFired), 0).jne(done);
    a.sti().hlt().jmp(loop);
    a.bind(done).call(this.rt.disarmWatchdog);
    this.restore(eax);
    return this;
  }

  /** Sleeps (HLT) for `apicTicks` LAPIC timer ticks (the watchdog); interrupts are taken. */
  sleep(apicTicks: number): this {
    return this.waitIrq(() => this.a.test(this.r.sp, 0), "nz", apicTicks);
  }

  /** Waits until the dword `m` is >= `n` (interrupt-driven, see `waitIrq`). */
  waitCount(m: Mem, n: number, watchdogTicks?: number): this {
    return this.waitIrq(() => this.a.cmp(m, n), "ae", watchdogTicks);
  }

  /**
   * Spins (with PAUSE) until `cond` satisfies `okCc` or `timeout` TSC ticks pass (for waits on
   * other CPUs or without interrupts). Preserves registers.
   */
  spinUntil(cond: () => void, okCc: string, timeout = 2_000_000): this {
    const a = this.a, loop = a.label(), done = a.label();
    this.save(eax, ecx, edx);
    a.rdtsc().mov(ecx, eax).add(ecx, timeout);
    a.bind(loop);
    cond();
    a.jcc(okCc, done);
    a.pause().rdtsc().cmp(eax, ecx).js(loop); // wrap-safe: (now - deadline) < 0
    a.bind(done);
    this.restore(eax, ecx, edx);
    return this;
  }

  /** Busy-waits about `ticks` TSC ticks (= instructions). */
  delay(ticks: number): this {
    this.save(eax);
    this.a.mov(eax, ticks).call(this.rt.delay);
    this.restore(eax);
    return this;
  }

  /** Enables this CPU's LAPIC in xAPIC mode: SVR = 0x1ff (spurious vector 0xff), TPR = 0. */
  lapicOn(): this {
    this.apicWrite(0x0f, 0x1ff).apicWrite(0x08, 0);
    return this;
  }

  /** Writes LAPIC register `index` (xAPIC offset >> 4) through MMIO or MSR, as enabled. */
  apicWrite(index: number, value: number | Reg): this {
    const a = this.a;
    this.save(eax, ecx);
    if (typeof value === "number") a.mov(eax, value >>> 0);
    else if (value !== eax) a.mov(eax, value);
    a.mov(ecx, index).call(this.rt.apicWrite);
    this.restore(eax, ecx);
    return this;
  }

  /** Reads LAPIC register `index` into eax. */
  apicRead(index: number): this {
    this.save(ecx);
    this.a.mov(ecx, index).call(this.rt.apicRead);
    this.restore(ecx);
    return this;
  }

  /** Sends an IPI: ICR low = `lo`, destination `dest` (APIC ID / logical mask). */
  ipi(lo: number, dest: number): this {
    this.save(eax, edx);
    this.a.mov(eax, lo >>> 0).mov(edx, dest >>> 0).call(this.rt.apicIcr);
    this.restore(eax, edx);
    return this;
  }

  // ---- exceptions -----------------------------------------------------------------------------

  /** Operand for a catch-state slot (qword; low dword in 32-bit kernels). */
  caught(slot: keyof typeof CATCH): Mem {
    return this.bits === 64 ? qword(KV.catch + CATCH[slot]) : dword(KV.catch + CATCH[slot]);
  }

  /**
   * Arms the catcher for `vector`: the exception resumes at `resume` (bind it after the body)
   * with the stack pointer of this point. Clobbers eax.
   */
  arm(vector: number, resume: Label): this {
    const a = this.a, r = this.r;
    a.mov(dword(KV.catch + CATCH.caught), 0);
    a.mov(dword(KV.catch + CATCH.expect), vector);
    a.mov(eax, resume).mov(dword(KV.catch + CATCH.resume), eax);
    a.mov(mem(KV.catch + CATCH.savedSp, { size: this.bits / 8 }), r.sp);
    return this;
  }

  /** After `resume`: restores the stack pointer and disarms. */
  disarm(): this {
    const a = this.a;
    a.mov(this.r.sp, mem(KV.catch + CATCH.savedSp, { size: this.bits / 8 }));
    a.mov(dword(KV.catch + CATCH.expect), -1);
    return this;
  }

  /**
   * Expects `body` to raise exception `vector` exactly once; then checks the error code and
   * saved instruction pointer when given. Registers eax is clobbered.
   */
  expectFault(
    name: string,
    vector: number,
    body: () => void,
    x: { err?: number; ip?: Label; cr2?: number | bigint } = {},
  ): this {
    const a = this.a, resume = a.label();
    this.arm(vector, resume);
    body();
    a.bind(resume);
    this.disarm();
    this.expectEq(name, dword(KV.catch + CATCH.caught), 1);
    if (x.err !== undefined) this.expectEq(`${name} (error code)`, this.#lo(CATCH.err), x.err);
    if (x.ip !== undefined) {
      const want = x.ip;
      this.check(
        `${name} (saved IP)`,
        () => {
          a.push(this.r.ax).mov(eax, want).cmp(eax, this.#lo(CATCH.ip)).pop(this.r.ax);
        },
        "ne",
        this.#lo(CATCH.ip),
      );
    }
    if (x.cr2 !== undefined) {
      if (this.bits === 64) this.expectEq64(`${name} (CR2)`, qword(KV.catch + CATCH.cr2), x.cr2);
      else this.expectEq(`${name} (CR2)`, this.#lo(CATCH.cr2), Number(x.cr2));
    }
    return this;
  }

  #lo(off: number): Mem {
    return dword(KV.catch + off);
  }

  // ---- image ----------------------------------------------------------------------------------

  /** The kernel body starts here (in the kernel's mode, on the BSP, IF = 0). */
  get body(): Label {
    return this.a.labelNamed("body");
  }

  /** Ends the kernel (jump to finish) and builds the ELF file. */
  build(): MbKernel {
    const a = this.a;
    a.jmp(this.rt.finish);
    if (!this.#apMainBound) {
      a.bind(this.apMain);
      a.ret();
    }
    a.align(16);
    for (const [s, l] of this.#strings) a.bind(l).asciz(s);
    const img = a.assemble();
    const image = buildElf({
      cls: 32,
      entry: img.addressOf(this.#entry),
      segments: [{ paddr: IMAGE_BASE, data: img.bytes }],
    });
    return {
      name: this.name,
      image,
      config: this.config,
      checks: [...this.checks],
      bootHint: this.bootHint,
    };
  }

  #apMainBound = false;

  /** Binds the AP main routine here (64-bit or 32-bit code, called on each AP; then parks). */
  bindApMain(): this {
    this.#apMainBound = true;
    this.a.bind(this.apMain);
    return this;
  }

  // ---- startup ---------------------------------------------------------------------------------

  #startup(): void {
    const a = this.a;
    const cs32 = a.label(), body = a.label("body"), ds = reg("ds"), es = reg("es");
    const ss = reg("ss"), fs = reg("fs"), gs = reg("gs");
    const loadSegs = () => {
      a.mov(eax, SEL.data).mov(ds, eax).mov(es, eax).mov(ss, eax).mov(fs, eax).mov(gs, eax);
    };
    a.bits(32).bind(this.#entry);
    a.cli().cld();
    a.mov(esp, eax); // keep the magic: no stack is used before the far jump
    a.lgdt(mem(this.gdt.pointer).withSize(6));
    a.jmpFar(SEL.code32, cs32, 32);
    a.bind(cs32);
    loadSegs();
    a.mov(edx, esp);
    // Zero the variable area (the loader promises nothing about memory contents).
    a.mov(edi, VARS).mov(ecx, (VARS_END - VARS) / 4).xor(eax, eax).rep().stosd();
    a.mov(dword(KV.mbMagic), edx).mov(dword(KV.mbInfo), ebx);
    a.mov(dword(KV.catch + CATCH.expect), -1);
    a.mov(esp, STACK_TOP);
    if (this.bits === 64) this.#toLongMode(body);
    else a.jmp(body);
    // Application processors arrive here in 32-bit protected mode (from the trampoline, with
    // CS = SEL.code32): flat segments and a stack by APIC ID, then the kernel's mode.
    a.bits(32).bind(this.ap32);
    loadSegs();
    a.mov(eax, 1).cpuid().shr(ebx, 24).shl(ebx, 16).mov(esp, STACK_TOP).sub(esp, ebx);
    if (this.bits === 64) {
      const ap64 = a.label();
      this.#toLongMode(ap64);
      a.bind(ap64).lidt(mem(this.idt.pointer));
    } else {
      a.lidt(mem(this.idt.pointer).withSize(6));
    }
    a.call(this.rt.cpuIndex);
    a.lock().bts(dword(KV.aliveMask), eax);
    a.call(this.apMain);
    const park = a.here();
    a.sti().hlt().jmp(park);
    // The BSP's body.
    a.bind(body);
    if (this.bits === 64) {
      a.lidt(mem(this.idt.pointer));
      a.mov(eax, SEL.tss).i("ltr", reg("ax"));
    } else {
      a.lidt(mem(this.idt.pointer).withSize(6));
    }
    this.hook(WATCHDOG_VECTOR, this.#wdHook!).eoiKind(WATCHDOG_VECTOR, EOI_LAPIC);
    this.expectEq("multiboot: EAX = 0x2BADB002 at entry", dword(KV.mbMagic), 0x2badb002);
  }

  /**
   * 32-bit code: enters long mode (SDM §9.8.5) and jumps to `cont` (64-bit code, segments
   * reloaded). ESP must hold the stack top to use (kept in RSP).
   */
  #toLongMode(cont: Label): void {
    const a = this.a, cr0 = reg("cr0"), cr3 = reg("cr3"), cr4 = reg("cr4");
    const lm = a.label();
    a.mov(eax, cr4).or(eax, 0x20).mov(cr4, eax); // PAE
    a.mov(eax, this.pml4!).mov(cr3, eax);
    a.mov(ecx, 0xc0000080).rdmsr().or(eax, 0x900).wrmsr(); // EFER.LME | EFER.NXE
    a.mov(eax, cr0).or(eax, 0x80010000).mov(cr0, eax); // PG | WP
    a.jmpFar(SEL.code64, lm, 32);
    a.bits(64).bind(lm);
    a.mov(eax, SEL.data).mov(reg("ds"), eax).mov(reg("es"), eax).mov(reg("ss"), eax);
    a.mov(reg("fs"), eax).mov(reg("gs"), eax);
    a.mov(esp, esp); // zero-extend RSP
    a.jmp(cont);
  }

  // ---- runtime --------------------------------------------------------------------------------

  #runtime(): void {
    const a = this.a, r = this.r, rt = this.rt;
    const skip = a.label();
    a.bits(this.bits);
    a.jmp(skip);
    // putc: AL → COM1, waiting for THR empty (LSR bit 5).
    a.bind(rt.putc);
    this.save(eax, edx);
    const w = a.here();
    a.mov(dx, 0x3fd).in_(al, dx).test(al, 0x20).jz(w);
    this.restore(eax, edx);
    this.save(edx);
    a.mov(dx, 0x3f8).out(dx, al);
    this.restore(edx);
    a.ret();
    // puts: [esi] NUL-terminated.
    a.bind(rt.puts);
    this.save(eax, esi);
    const pl = a.here(), pd = a.label();
    a.mov(al, byte(r.si)).test(al, al).jz(pd).call(rt.putc).i("inc", esi).jmp(pl);
    a.bind(pd);
    this.restore(eax, esi);
    a.ret();
    // puthex: eax as 8 hex digits.
    a.bind(rt.puthex);
    this.save(eax, ebx, ecx);
    a.mov(ebx, eax).mov(ecx, 8);
    const hl = a.here(), hd = a.label();
    a.rol(ebx, 4).mov(eax, ebx).and(eax, 0xf).cmp(al, 10).jb(hd).add(al, 0x27);
    a.bind(hd).add(al, 0x30).call(rt.putc).dec(ecx).jnz(hl);
    this.restore(eax, ebx, ecx);
    a.ret();
    // putdec: eax unsigned decimal.
    a.bind(rt.putdec);
    this.save(eax, ecx, edx, edi);
    a.xor(edi, edi).mov(ecx, 10);
    const dl = a.here();
    a.xor(edx, edx).div(ecx).add(edx, 0x30);
    this.save(edx);
    a.i("inc", edi).test(eax, eax).jnz(dl);
    const dp = a.here();
    this.restore(eax);
    a.call(rt.putc).dec(edi).jnz(dp);
    this.restore(eax, ecx, edx, edi);
    a.ret();
    // pass: esi = name.
    a.bind(rt.pass).i("inc", dword(KV.passCount));
    this.#sayRt("PASS ");
    a.call(rt.puts);
    this.#sayRt("\n");
    a.ret();
    // fail: esi = "name: reason" or name.
    a.bind(rt.fail).i("inc", dword(KV.failCount));
    this.#sayRt("FAIL ");
    a.call(rt.puts);
    this.#sayRt("\n");
    a.ret();
    a.bind(rt.skip).i("inc", dword(KV.skipCount));
    this.#sayRt("SKIP ");
    a.call(rt.puts);
    this.#sayRt("\n");
    a.ret();
    // failGot: esi = name, eax = got, edx = want.
    a.bind(rt.failGot).i("inc", dword(KV.failCount));
    this.#sayRt("FAIL ");
    a.call(rt.puts);
    this.#sayRt(": got 0x");
    a.call(rt.puthex);
    this.#sayRt(" want 0x");
    this.save(eax);
    a.mov(eax, edx).call(rt.puthex);
    this.restore(eax);
    this.#sayRt("\n");
    a.ret();
    // failRange: esi = name, eax = got, ecx..edx = wanted range (ecx = edx: just "got").
    a.bind(rt.failRange).i("inc", dword(KV.failCount));
    this.#sayRt("FAIL ");
    a.call(rt.puts);
    this.#sayRt(": got 0x");
    a.call(rt.puthex);
    const one = a.label();
    a.cmp(ecx, edx).je(one);
    this.#sayRt(" want 0x");
    this.save(eax);
    a.mov(eax, ecx).call(rt.puthex);
    this.#sayRt("-0x");
    a.mov(eax, edx).call(rt.puthex);
    this.restore(eax);
    a.bind(one);
    this.#sayRt("\n");
    a.ret();
    // finish: summary, isa-debug-exit with the failure count (capped at 255).
    a.bind(rt.finish).cli();
    this.#sayRt(`SUMMARY ${this.name} pass=`);
    a.mov(eax, dword(KV.passCount)).call(rt.putdec);
    this.#sayRt(" fail=");
    a.mov(eax, dword(KV.failCount)).call(rt.putdec);
    this.#sayRt(" skip=");
    a.mov(eax, dword(KV.skipCount)).call(rt.putdec);
    this.#sayRt("\n");
    const small = a.label();
    a.mov(eax, dword(KV.failCount)).cmp(eax, 255).jbe(small).mov(eax, 255);
    a.bind(small).out(0xf4, al);
    const spin = a.here();
    a.cli().hlt().jmp(spin);
    // cpuIndex → eax: the stack region the stack pointer is in.
    a.bind(rt.cpuIndex).mov(eax, STACK_TOP - 1).sub(eax, esp).shr(eax, 16).ret();
    // isX2apic → ZF = 0 when IA32_APIC_BASE.EXTD is set.
    a.bind(rt.isX2apic);
    this.save(eax, ecx, edx);
    a.mov(ecx, 0x1b).rdmsr().test(eax, 0x400);
    this.restore(eax, ecx, edx);
    a.ret();
    // apicRead: ecx = register index → eax.
    const xr = a.label(), xw = a.label();
    a.bind(rt.apicRead);
    a.call(rt.isX2apic).jz(xr);
    this.save(ecx, edx);
    a.add(ecx, 0x800).rdmsr();
    this.restore(ecx, edx);
    a.ret();
    a.bind(xr);
    this.save(ecx);
    a.shl(ecx, 4).add(ecx, 0xfee00000).mov(eax, dword(r.cx));
    this.restore(ecx);
    a.ret();
    // apicWrite: ecx = register index, eax = value.
    a.bind(rt.apicWrite);
    a.call(rt.isX2apic).jz(xw);
    this.save(ecx, edx);
    a.add(ecx, 0x800).xor(edx, edx).wrmsr();
    this.restore(ecx, edx);
    a.ret();
    a.bind(xw);
    this.save(ecx);
    a.shl(ecx, 4).add(ecx, 0xfee00000).mov(dword(r.cx), eax);
    this.restore(ecx);
    a.ret();
    // apicIcr: eax = ICR low, edx = destination (APIC ID or logical mask; full 32 bits in x2APIC).
    const xi = a.label(), idle = a.label();
    a.bind(rt.apicIcr);
    a.call(rt.isX2apic).jz(xi);
    this.save(ecx);
    a.mov(ecx, 0x830).wrmsr();
    this.restore(ecx);
    a.ret();
    a.bind(xi);
    this.save(ecx, edx);
    a.mov(ecx, 0xfee00000).shl(edx, 24).mov(dword(r.cx, 0x310), edx).mov(dword(r.cx, 0x300), eax);
    // Wait until the delivery status (bit 12) reads idle.
    a.bind(idle).test(dword(r.cx, 0x300), 0x1000).jnz(idle);
    this.restore(ecx, edx);
    a.ret();
    // delay: eax TSC ticks.
    a.bind(rt.delay);
    this.save(eax, ecx, edx);
    a.mov(ecx, eax).rdtsc().add(ecx, eax);
    const dly = a.here();
    a.pause().rdtsc().cmp(eax, ecx).js(dly);
    this.restore(eax, ecx, edx);
    a.ret();
    // Watchdog: LAPIC timer one-shot at WATCHDOG_VECTOR after eax ticks (divide by 1).
    a.bind(rt.armWatchdog);
    this.save(eax, ecx);
    a.mov(dword(KV.wdFired), 0);
    a.mov(ecx, eax);
    this.#apicW(0x3e, 0x0b);
    this.#apicW(0x32, WATCHDOG_VECTOR);
    a.mov(eax, ecx);
    this.#apicW(0x38, eax);
    this.restore(eax, ecx);
    a.ret();
    a.bind(rt.disarmWatchdog);
    this.save(eax);
    this.#apicW(0x38, 0);
    this.#apicW(0x32, 0x10000 | WATCHDOG_VECTOR);
    this.restore(eax);
    a.ret();
    // Interrupt stubs and the common paths.
    for (let v = 0; v < 256; v++) {
      a.bind(this.#stubs[v]!);
      if (v < 32 && !ERR_VECTORS.has(v)) a.push(0);
      a.push(v).jmp(v < 32 ? this.#excCommon : this.#irqCommon);
    }
    this.#emitIrqCommon();
    this.#emitExcCommon();
    // The watchdog's hook.
    const wd = a.label();
    a.bind(wd).mov(dword(KV.wdFired), 1).ret();
    this.#wdHook = wd;
    a.bind(skip);
    a.bits(32);
  }

  #wdHook: Label | undefined;

  #apicW(index: number, value: number | Reg): void {
    const a = this.a;
    this.save(ecx);
    if (typeof value === "number") a.mov(eax, value);
    a.mov(ecx, index).call(this.rt.apicWrite);
    this.restore(ecx);
  }

  #sayRt(s: string): void {
    this.save(esi);
    this.a.mov(esi, this.str(s)).call(this.rt.puts);
    this.restore(esi);
  }

  #emitIrqCommon(): void {
    const a = this.a, r = this.r;
    a.bind(this.#irqCommon);
    let vecAt: number;
    if (this.bits === 64) {
      for (const x of [rax, rcx, rdx, rbx, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15]) {
        a.push(x);
      }
      vecAt = 15 * 8;
    } else {
      a.i("pushad");
      vecAt = 32;
    }
    a.mov(ebx, dword(r.sp, vecAt));
    a.call(this.rt.cpuIndex).mov(esi, eax);
    // counts[cpu][vector]++
    a.shl(eax, 8).add(eax, ebx).i("inc", dword(mem(null, r.ax, 4, KV.counts)));
    // log
    a.mov(eax, 1).lock().xadd(dword(KV.logIdx), eax).and(eax, 255);
    a.mov(edx, esi).shl(edx, 8).or(edx, ebx).mov(dword(mem(null, r.ax, 4, KV.log)), edx);
    // tsc[vector]
    a.rdtsc().mov(dword(mem(null, r.bx, 8, KV.tsc)), eax).mov(
      dword(mem(null, r.bx, 8, KV.tsc + 4)),
      edx,
    );
    // hook
    const noHook = a.label();
    a.mov(eax, dword(mem(null, r.bx, 4, KV.hooks))).test(eax, eax).jz(noHook).call(r.ax);
    a.bind(noHook);
    // EOI
    const k = a.label(), done = a.label(), pic = a.label();
    a.movzx(eax, byte(mem(null, r.bx, 1, KV.eoiKind)));
    a.cmp(eax, EOI_LAPIC).jne(k);
    a.mov(eax, 0);
    this.#apicW(0x0b, eax);
    a.jmp(done);
    a.bind(k).cmp(eax, EOI_PIC_MASTER).jb(done).je(pic);
    a.mov(al, 0x20).out(0xa0, al);
    a.bind(pic).mov(al, 0x20).out(0x20, al);
    a.bind(done);
    if (this.bits === 64) {
      for (const x of [r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax]) {
        a.pop(x);
      }
      a.add(rsp, 8).iretq();
    } else {
      a.i("popad").add(esp, 4).iretd();
    }
  }

  #emitExcCommon(): void {
    const a = this.a, r = this.r, W = this.bits / 8;
    const st = (slot: keyof typeof CATCH) => mem(KV.catch + CATCH[slot], { size: W });
    const report = a.label();
    a.bind(this.#excCommon);
    // Frame after PUSH rAX: [sp+W] vector, [sp+2W] error, [sp+3W] IP, +4W CS, +5W FLAGS,
    // +6W SP, +7W SS (always in 64-bit mode; on a privilege change in 32-bit mode).
    a.push(r.ax);
    a.mov(r.ax, mem(r.sp, W, { size: W })).cmp(r.ax, st("expect")).jne(report);
    a.mov(st("vector"), r.ax);
    const save = (off: number, slot: keyof typeof CATCH) =>
      a.mov(r.ax, mem(r.sp, off * W, { size: W })).mov(st(slot), r.ax);
    save(2, "err");
    save(3, "ip");
    save(4, "cs");
    save(5, "flags");
    if (this.bits === 64) {
      save(6, "frameSp");
      save(7, "frameSs");
    }
    a.lea(r.ax, mem(r.sp, 3 * W)).mov(st("frameAt"), r.ax);
    a.mov(r.ax, reg("cr2")).mov(st("cr2"), r.ax);
    a.mov(r.ax, reg("dr6")).mov(st("dr6"), r.ax);
    a.i("inc", dword(KV.catch + CATCH.caught));
    a.mov(dword(KV.catch + CATCH.expect), -1);
    // Resume at `resume` with TF and RF clear (a single-step trap must not repeat).
    a.mov(r.ax, st("resume")).mov(mem(r.sp, 3 * W, { size: W }), r.ax);
    a.and(dword(r.sp, 5 * W), ~0x10100);
    if (this.bits === 64) {
      // Back to CPL 0 on the armed stack (the body may have faulted in user mode or with a bad
      // stack pointer).
      a.mov(qword(rsp, 4 * W), SEL.code64);
      a.mov(r.ax, st("savedSp")).mov(qword(rsp, 6 * W), r.ax);
      a.mov(qword(rsp, 7 * W), SEL.data);
      a.pop(rax).add(rsp, 16).iretq();
    } else {
      a.pop(eax).add(esp, 8).iretd();
    }
    a.bind(report);
    this.#sayRt("FAIL unexpected exception: vector 0x");
    a.mov(eax, dword(r.sp, W)).call(this.rt.puthex);
    this.#sayRt(" error 0x");
    a.mov(eax, dword(r.sp, 2 * W)).call(this.rt.puthex);
    this.#sayRt(" ip 0x");
    a.mov(eax, dword(r.sp, 3 * W)).call(this.rt.puthex);
    this.#sayRt(" cr2 0x");
    a.mov(r.ax, reg("cr2")).call(this.rt.puthex);
    this.#sayRt("\n");
    a.i("inc", dword(KV.failCount)).jmp(this.rt.finish);
  }
}
