/**
 * A kit for writing test guests ("small test kernels"): a 64-bit long-mode image with identity
 * paging, a GDT, per-VTL IDTs whose handlers report or catch exceptions, serial output helpers,
 * hypercall helpers, VTL1 enablement, and PASS/FAIL checks printed over COM1:
 *
 *   PASS <name>
 *   FAIL <name>: <details>
 *   SUMMARY pass=<n> fail=<m>
 *
 * then isa-debug-exit with the failure count. Tests parse these lines.
 *
 * Layout (guest physical = virtual): image at 0x100000; hypercall pages, VP assist pages, SynIC
 * pages and hypercall input/output pages at fixed addresses listed below (all RAM, overlaid by
 * the hypervisor where applicable); stacks at the top of the first 4 MiB.
 */

import { Asm, byte, dword, type Label, type Mem, mem, qword, type Reg } from "./asm.ts";
import {
  al,
  dx,
  eax,
  ecx,
  edi,
  edx,
  r8,
  rax,
  rbx,
  rcx,
  rdi,
  rdx,
  reg,
  rsi,
  rsp,
} from "./asm/operands.ts";
import type { BuiltinGuest } from "./demo.ts";
import { gdt, idt64, pageTables4 } from "./x86_structs.ts";

export const KIT_BASE = 0x100000;
/** Fixed guest physical pages used by the kit. */
export const PAGES = {
  hc0: 0x600000,
  hc1: 0x601000,
  assist0: 0x602000,
  assist1: 0x603000,
  simp1: 0x604000,
  siefp1: 0x605000,
  simp0: 0x606000,
  siefp0: 0x607000,
  input: 0x610000,
  output: 0x611000,
  /** Free pages for scenarios: 0x700000 .. 0x7fffff. */
  scratch: 0x700000,
} as const;
const STACK0 = 0x3f0000, STACK1 = 0x3e0000, STACK_AP = 0x3c0000;

/** Exception vectors that push an error code. */
const ERR_VECTORS = new Set([8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);

const r9 = reg("r9"), r10 = reg("r10"), r11 = reg("r11"), r12 = reg("r12");

export class Kit {
  readonly a: Asm;
  readonly name: string;
  readonly entry: Label;
  readonly puts: Label;
  readonly puthex: Label;
  readonly putc: Label;
  readonly hcall0: Label;
  readonly hcall1: Label;
  readonly finish: Label;
  readonly vtl1Entry: Label;
  readonly data: Label;
  #strings: [Label, string][] = [];
  #stringIds = new Map<string, Label>();
  readonly passCount: Label;
  readonly failCount: Label;
  /** Per-VTL catch state: [expect vector, caught flag, resume rip, last error code, rsp]. */
  readonly catchState: Label[];
  readonly gdt: ReturnType<typeof gdt>;
  readonly idts: ReturnType<typeof idt64>[];
  readonly pml4: Label;
  #vectors: Label[][] = [];
  #bound: Set<Label> = new Set();

  /** Where the hypercall pages' VTL call and return stubs are (VsmCodePageOffsets, 64-bit). */
  readonly #vtlStubs: { readonly call: number; readonly ret: number };
  /** The machine config the guest needs beyond the defaults (its hypervisor profile). */
  readonly #config: Record<string, unknown>;

  /**
   * `hvProfile`: the `--hv-profile` the guest is built for. It only moves the VTL call and
   * return stubs the kit calls (OpenVMM's 0x0F/0x26, the KVM RFC's 4/14: what VsmCodePageOffsets
   * reports for 64-bit code); a kvm-rfc guest's config selects that profile.
   */
  constructor(name: string, opts: { hvProfile?: "hyperv" | "kvm-rfc" } = {}) {
    this.name = name;
    const kvm = opts.hvProfile === "kvm-rfc";
    this.#vtlStubs = kvm ? { call: 4, ret: 14 } : { call: 0x0f, ret: 0x26 };
    this.#config = kvm ? { hvProfile: "kvm-rfc" } : {};
    const a = this.a = new Asm({ base: KIT_BASE, bits: 64 });
    this.entry = a.label("entry");
    this.puts = a.label("puts");
    this.puthex = a.label("puthex");
    this.putc = a.label("putc");
    this.hcall0 = a.label("hcall0");
    this.hcall1 = a.label("hcall1");
    this.finish = a.label("finish");
    this.vtl1Entry = a.label("vtl1_entry");
    this.data = a.label("data");
    this.passCount = a.label("pass_count");
    this.failCount = a.label("fail_count");
    this.catchState = [a.label("catch0"), a.label("catch1")];
    // Descriptor tables first (handlers bound later).
    this.gdt = gdt(a, [{ type: "null" }, { type: "code64" }, { type: "data" }, {
      type: "code64",
      dpl: 3,
    }, {
      type: "data",
      dpl: 3,
    }]);
    // Every vector of both IDTs gets a label: 0-31 are bound to the exception stubs, others to
    // handlers registered with `handler()`, or to an "unexpected interrupt" stub at build().
    const stubs: Label[][] = [[], []];
    this.#vectors = [0, 1].map((v) =>
      Array.from({ length: 256 }, (_, vec) => a.label(`vec${v}_${vec}`))
    );
    this.idts = [0, 1].map((v) =>
      idt64(
        a,
        this.#vectors[v]!.map((l, vec) => {
          if (vec < 32) stubs[v]!.push(l);
          return { vector: vec, handler: l, selector: 0x08, type: "interrupt" as const };
        }),
        { count: 256 },
      )
    );
    this.pml4 = pageTables4(a, { identityBytes: 1 << 30, pageSize: "2M", flags: 0x7n });
    this.#emitRuntime(stubs);
    a.bind(this.entry);
    a.mov(rsp, STACK0);
    a.lidt(mem(this.idts[0]!.pointer));
  }

  /** A label holding the NUL-terminated string `s` (deduplicated). */
  str(s: string): Label {
    let l = this.#stringIds.get(s);
    if (l === undefined) {
      l = this.a.label();
      this.#stringIds.set(s, l);
      this.#strings.push([l, s]);
    }
    return l;
  }

  /** Prints a literal string. Clobbers nothing. */
  say(s: string): this {
    this.a.push(rsi).mov(rsi, this.str(s)).call(this.puts).pop(rsi);
    return this;
  }

  /** Prints `label`'s name-like text followed by register `r` in hex and a newline. */
  show(text: string, r: Parameters<Asm["mov"]>[1]): this {
    this.a.push(rax).mov(rax, r);
    this.say(text).a.call(this.puthex);
    this.say("\n").a.pop(rax);
    return this;
  }

  pass(name: string): this {
    this.a.i("inc", qword(this.passCount));
    return this.say(`PASS ${name}\n`);
  }

  /**
   * Emits a check: `emit` must leave flags such that condition `failCc` (e.g. "ne") means
   * failure; `detail` (a register) is printed on failure. Checks clobber r11, r12.
   */
  check(name: string, emit: () => void, failCc: string, detail?: Parameters<Asm["mov"]>[1]): this {
    const a = this.a, fail = a.label(), done = a.label();
    emit();
    a.jcc(failCc, fail);
    this.pass(name);
    a.jmp(done);
    a.bind(fail);
    a.i("inc", qword(this.failCount));
    if (detail !== undefined) {
      a.push(rax).mov(rax, detail);
      this.say(`FAIL ${name}: got `).a.call(this.puthex);
      this.say("\n").a.pop(rax);
    } else this.say(`FAIL ${name}\n`);
    a.bind(done);
    return this;
  }

  /**
   * PASS when register or memory operand `r` (zero-extended from its size) equals `value`.
   * Clobbers r11, r12.
   */
  expectEq(name: string, r: Reg | Mem, value: number | bigint): this {
    const a = this.a;
    return this.check(
      name,
      () => {
        if (r.size === 8) a.mov(r11, r);
        else if (r.size === 4) a.mov(reg("r11d"), r);
        else a.movzx(reg("r11d"), r);
        a.mov(r12, BigInt.asUintN(64, BigInt(value))).cmp(r11, r12);
      },
      "ne",
      r11,
    );
  }

  /** A hypercall from VTL `vtl` through its hypercall page: RCX = control, RDX, R8 as given. */
  hypercall(
    vtl: 0 | 1,
    control: bigint | number,
    rdxVal: number | bigint | Label,
    r8Val: number | bigint | Label,
  ): this {
    const a = this.a;
    a.mov(rcx, BigInt(control)).mov(rdx, rdxVal as never).mov(r8, r8Val as never);
    a.call(vtl === 0 ? this.hcall0 : this.hcall1);
    return this;
  }

  wrmsr(msr: number, value: number | bigint): this {
    const v = BigInt.asUintN(64, BigInt(value));
    this.a.mov(ecx, msr).mov(eax, Number(v & 0xffffffffn)).mov(edx, Number(v >> 32n)).wrmsr();
    return this;
  }

  /** Guest OS ID and hypercall page for the current VTL. */
  hvInit(vtl: 0 | 1): this {
    this.wrmsr(0x40000000, 0x8100000000000000n + BigInt(vtl + 1));
    this.wrmsr(0x40000001, (vtl === 0 ? PAGES.hc0 : PAGES.hc1) | 1);
    return this;
  }

  /**
   * Enables VTL1 for the partition and this VP; VTL1 starts at `vtl1Entry` with its own stack
   * and IDT. Leaves the statuses in rax (EnableVpVtl's) — checked here.
   */
  enableVtl1(): this {
    const a = this.a;
    this.hypercall(0, 0x1000d, -1, 1); // EnablePartitionVtl fast: SELF, VTL1
    this.expectEq("EnablePartitionVtl(VTL1) succeeds", rax, 0);
    a.mov(rsi, this.enableVpInput(0xfffffffe, this.vtl1Entry, STACK1));
    a.mov(rdi, PAGES.input).mov(ecx, 240 / 8).rep().movsq();
    this.hypercall(0, 0x0f, PAGES.input, 0);
    this.expectEq("EnableVpVtl(VTL1) succeeds", rax, 0);
    return this;
  }

  /** Emits (as data) an HvCallEnableVpVtl/StartVirtualProcessor input for VTL1. */
  enableVpInput(vpIndex: number, rip: Label, stack: number, vtl = 1): Label {
    const a = this.a, l = a.label(), skip = a.label();
    a.jmp(skip).align(8).bind(l);
    a.dq(-1n).dd(vpIndex).db(vtl, 0, 0, 0);
    a.dq(() => BigInt(a.addressOf(rip)), BigInt(stack), 2n);
    const seg = (b: number, lim: number, sel: number, attr: number) =>
      a.dq(BigInt(b)).dd(lim).dw(sel, attr);
    seg(0, 0xffffffff, 0x08, 0xa09b);
    for (let i = 0; i < 5; i++) seg(0, 0xffffffff, 0x10, 0xc093);
    seg(0, 0x67, 0, 0x8b);
    seg(0, 0, 0, 0x82);
    const idt = this.idts[vtl === 0 ? 0 : 1]!;
    a.dw(0, 0, 0, idt.limit).dq(() => BigInt(a.addressOf(idt.table)));
    a.dw(0, 0, 0, this.gdt.limit).dq(() => BigInt(a.addressOf(this.gdt.table)));
    a.dq(0xd01n, 0x80050033n, () => BigInt(a.addressOf(this.pml4)), 0x20n, 0x0007040600070406n);
    a.bind(skip);
    return l;
  }

  /** VTL call (control word 0) through VTL `from`'s hypercall page. */
  vtlCall(from: 0 | 1 = 0): this {
    const page = from === 0 ? PAGES.hc0 : PAGES.hc1;
    this.a.xor(ecx, ecx).mov(rax, page + this.#vtlStubs.call).call(rax);
    return this;
  }

  /** VTL return (control: 0 normal, 1 fast) through VTL `from`'s hypercall page. */
  vtlReturn(fast = false, from: 0 | 1 = 1): this {
    const page = from === 0 ? PAGES.hc0 : PAGES.hc1;
    this.a.mov(ecx, fast ? 1 : 0).mov(rax, page + this.#vtlStubs.ret).call(rax);
    return this;
  }

  /**
   * Expects `body` to raise exception `vector` in VTL `vtl`: execution resumes after the body
   * with a PASS (caught) or FAIL (no fault / wrong vector).
   */
  expectFault(vtl: 0 | 1, name: string, vector: number, body: () => void): this {
    const a = this.a, resume = a.label(), st = this.catchState[vtl]!;
    a.mov(qword(st), vector).mov(qword(st, 8), 0);
    a.mov(rax, resume).mov(qword(st, 16), rax).mov(qword(st, 32), rsp);
    body();
    a.bind(resume);
    a.mov(rsp, qword(st, 32)); // the body may have left a call's return address behind
    a.mov(qword(st), -1);
    return this.check(name, () => a.cmp(qword(st, 8), 1), "ne");
  }

  /**
   * The IDT entry label of `vector` (32..255) in VTL `vtl`'s IDT: bind the interrupt handler's
   * code there (it must end with iretq). Vectors never bound report an unexpected interrupt.
   */
  handler(vtl: 0 | 1, vector: number): Label {
    if (vector < 32 || vector > 255) {
      throw new Error(`kit: vector ${vector} is an exception vector`);
    }
    const l = this.#vectors[vtl]![vector]!;
    this.#bound.add(l);
    return l;
  }

  /** Assembles the image (after the scenario code, which must end by jumping to `finish`). */
  build(): BuiltinGuest {
    const a = this.a;
    for (let v = 0; v < 2; v++) {
      const unexpected = a.label();
      for (let vec = 32; vec < 256; vec++) {
        const l = this.#vectors[v]![vec]!;
        if (!this.#bound.has(l)) a.bind(l);
      }
      a.bind(unexpected);
      a.mov(rsi, this.str(`FAIL unexpected interrupt in VTL${v}\n`)).call(this.puts);
      a.i("inc", qword(this.failCount)).jmp(this.finish);
    }
    for (const [l, s] of this.#strings) a.bind(l).asciz(s);
    const img = a.assemble();
    return {
      name: this.name,
      bytes: img.bytes,
      load: KIT_BASE,
      entry: {
        rip: img.addressOf(this.entry),
        rsp: STACK0,
        cr3: img.addressOf(this.pml4),
        gdtBase: img.addressOf(this.gdt.table),
        gdtLimit: this.gdt.limit,
      },
      ...(Object.keys(this.#config).length > 0 ? { config: this.#config } : {}),
    };
  }

  #emitRuntime(stubs: Label[][]): void {
    const a = this.a;
    const skip = a.label();
    a.jmp(skip);
    // putc: al → COM1 (waits for THR empty).
    a.bind(this.putc).push(rdx).push(rax);
    const w = a.here();
    a.mov(dx, 0x3fd).in_(al, dx).test(al, 0x20).jz(w);
    a.pop(rax).mov(dx, 0x3f8).out(dx, al).pop(rdx).ret();
    a.bind(this.puts).push(rax).push(rsi);
    const pl = a.here(), pd = a.label();
    a.mov(al, mem(rsi)).test(al, al).jz(pd).call(this.putc).i("inc", rsi).jmp(pl);
    a.bind(pd).pop(rsi).pop(rax).ret();
    a.bind(this.puthex).push(rax).push(rbx).push(rcx).mov(rbx, rax).mov(ecx, 16);
    const hl = a.here(), hd = a.label();
    a.i("rol", rbx, 4).mov(eax, reg("ebx")).and(al, 0xf).cmp(al, 10).jb(hd).add(al, 0x27);
    a.bind(hd).add(al, 0x30).call(this.putc).dec(ecx).jnz(hl);
    a.pop(rcx).pop(rbx).pop(rax).ret();
    // hypercall page entries (offset 0).
    a.bind(this.hcall0).push(r9).mov(r9, PAGES.hc0).call(r9).pop(r9).ret();
    a.bind(this.hcall1).push(r9).mov(r9, PAGES.hc1).call(r9).pop(r9).ret();
    // finish: summary and exit with the failure count.
    a.bind(this.finish);
    a.mov(rsi, this.str("SUMMARY pass=")).call(this.puts);
    a.mov(rax, qword(this.passCount)).call(this.puthex);
    a.mov(rsi, this.str(" fail=")).call(this.puts).mov(rax, qword(this.failCount)).call(
      this.puthex,
    );
    a.mov(rsi, this.str("\n")).call(this.puts);
    const small = a.label();
    a.mov(rax, qword(this.failCount)).cmp(rax, 255).jbe(small);
    a.mov(eax, 255);
    a.bind(small).out(0xf4, al);
    const spin = a.here();
    a.cli().hlt().jmp(spin);
    // Exception stubs: catch if expected, else report and fail.
    for (let v = 0; v < 2; v++) {
      const common = a.label(), st = this.catchState[v]!;
      for (let vec = 0; vec < 32; vec++) {
        a.bind(stubs[v]![vec]!);
        if (!ERR_VECTORS.has(vec)) a.push(0); // uniform frame: error code slot
        a.push(vec).jmp(common);
      }
      a.bind(common);
      // [rsp] vector, [rsp+8] error code, [rsp+16] RIP …
      const report = a.label();
      a.push(rax).mov(rax, qword(rsp, 8)).cmp(rax, qword(st)).jne(report);
      a.mov(qword(st, 8), 1).mov(rax, qword(rsp, 16)).mov(qword(st, 24), rax);
      a.mov(rax, qword(st, 16)).mov(qword(rsp, 24), rax).mov(qword(st), -1);
      a.pop(rax).add(rsp, 16).iretq();
      a.bind(report);
      a.mov(rsi, this.str(`FAIL unexpected exception in VTL${v}: vector `)).call(this.puts);
      a.mov(rax, qword(rsp, 8)).call(this.puthex);
      a.mov(rsi, this.str(" error ")).call(this.puts).mov(rax, qword(rsp, 16)).call(this.puthex);
      a.mov(rsi, this.str(" rip ")).call(this.puts).mov(rax, qword(rsp, 24)).call(this.puthex);
      a.mov(rsi, this.str("\n")).call(this.puts);
      a.i("inc", qword(this.failCount)).jmp(this.finish);
    }
    // Data.
    a.align(16).bind(this.data);
    a.bind(this.passCount).dq(0n);
    a.bind(this.failCount).dq(0n);
    for (const st of this.catchState) a.bind(st).dq(-1n, 0n, 0n, 0n, 0n);
    a.bind(skip);
    void [byte, dword, edi, r10, r12, STACK_AP];
  }
}

export { STACK0, STACK1, STACK_AP };
