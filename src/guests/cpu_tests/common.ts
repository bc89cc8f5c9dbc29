/**
 * Helpers shared by the CPU test kernels (cpu-paging, cpu-exceptions, cpu-modes, cpu-legacy):
 *
 * - `Catch64`: exception catching for kit-based 64-bit guests that also records the whole
 *   interrupt frame (vector, error code, RIP, CS, RFLAGS, RSP, SS, frame address, CR2), so checks
 *   can compare saved RIPs and stack switches. It rewrites the kit IDT's exception gates 0-31 at
 *   run time to its own stubs (the kit's emitted code stays as it is).
 * - `gate64`: writes one 64-bit IDT gate at run time (type, DPL, IST, present).
 * - `Legacy`: PASS/FAIL reporting, serial output and exception catching for 16- and 32-bit code
 *   (real mode, 16/32-bit protected mode), sharing the pass/fail counters and the string table
 *   of the 64-bit part. In 16-bit code, data is addressed through a segment whose base is `bias`.
 *
 * Output format as the kit's: `PASS <name>`, `FAIL <name>: got <hex>`, `SUMMARY pass=… fail=…`.
 */

import {
  al,
  type Asm,
  ax,
  bp,
  byte,
  dword,
  dx,
  eax,
  ebx,
  ecx,
  esi,
  esp,
  type Label,
  type Mem,
  mem,
  qword,
  rax,
  type Reg,
  reg,
  rsi,
  rsp,
  si,
  sp,
  word,
} from "../asm.ts";
import type { Kit } from "../kit.ts";
import { gateLow } from "../x86_structs.ts";

const r11 = reg("r11"), r12 = reg("r12"), ds = reg("ds");

/** Exception vectors that push an error code. */
export const ERR_VECTORS = new Set([8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);

/** Catch-state layout (qword slots) of `Catch64`. */
export const C64 = {
  expect: 0,
  caught: 8,
  resume: 16,
  err: 24,
  rsp: 32,
  rip: 40,
  cs: 48,
  rflags: 56,
  frameRsp: 64,
  frameSs: 72,
  /** Address of the saved RIP in the frame (the handler's stack). */
  frameAt: 80,
  cr2: 88,
  vector: 96,
} as const;

export interface GateOpts {
  type?: "interrupt" | "trap";
  dpl?: number;
  ist?: number;
  present?: boolean;
  selector?: number;
}

/** Writes gate `vector` of the 64-bit IDT at `table` at run time. Clobbers rax. */
export function gate64(a: Asm, table: Label, vector: number, handler: Label, o: GateOpts = {}) {
  a.mov(rax, () =>
    BigInt.asIntN(
      64,
      gateLow(
        BigInt(a.addressOf(handler)),
        o.selector ?? 0x08,
        o.type ?? "interrupt",
        o.dpl ?? 0,
        o.ist ?? 0,
        o.present ?? true,
      ),
    ));
  a.mov(qword(table, vector * 16), rax);
  a.mov(rax, () => BigInt(a.addressOf(handler)) >> 32n);
  a.mov(qword(table, vector * 16 + 8), rax);
}

export interface FaultExpect {
  /** Expected error code. */
  err?: number;
  /** Expected saved RIP: a label (its address) or a number. */
  rip?: Label | number;
  /** Expected CR2 (vector 14). */
  cr2?: number | bigint;
}

/** Exception catching for kit-based 64-bit guests (see the module doc). */
export class Catch64 {
  readonly k: Kit;
  readonly st: Label;
  readonly stubs: Label[] = [];

  constructor(k: Kit) {
    this.k = k;
    const a = k.a;
    this.st = a.label("catch64");
    const skip = a.label(), common = a.label(), report = a.label();
    a.jmp(skip);
    for (let v = 0; v < 32; v++) {
      const l = a.here();
      this.stubs.push(l);
      if (!ERR_VECTORS.has(v)) a.push(0);
      a.push(v).jmp(common);
    }
    const st = this.st;
    a.bind(common).push(rax);
    a.mov(rax, qword(rsp, 8)).mov(qword(st, C64.vector), rax).cmp(rax, qword(st)).jne(report);
    a.mov(qword(st, C64.caught), 1);
    const save = (off: number, slot: number) =>
      a.mov(rax, qword(rsp, off)).mov(qword(st, slot), rax);
    save(16, C64.err);
    save(24, C64.rip);
    save(32, C64.cs);
    save(40, C64.rflags);
    save(48, C64.frameRsp);
    save(56, C64.frameSs);
    a.lea(rax, qword(rsp, 24)).mov(qword(st, C64.frameAt), rax);
    a.mov(rax, reg("cr2")).mov(qword(st, C64.cr2), rax);
    a.mov(rax, qword(st, C64.resume)).mov(qword(rsp, 24), rax).mov(qword(st), -1);
    a.pop(rax).add(rsp, 16).iretq();
    a.bind(report);
    a.mov(rsi, k.str("FAIL unexpected exception: vector ")).call(k.puts);
    a.mov(rax, qword(rsp, 8)).call(k.puthex);
    a.mov(rsi, k.str(" error ")).call(k.puts).mov(rax, qword(rsp, 16)).call(k.puthex);
    a.mov(rsi, k.str(" rip ")).call(k.puts).mov(rax, qword(rsp, 24)).call(k.puthex);
    a.mov(rsi, k.str("\n")).call(k.puts);
    a.i("inc", qword(k.failCount)).jmp(k.finish);
    a.align(4096).bind(st).dq(...new Array(16).fill(-1n)).align(4096);
    a.bind(skip);
  }

  /** Points the kit IDT's (VTL0) exception gates 0-31 at the stubs. Clobbers rax. */
  install(): void {
    for (let v = 0; v < 32; v++) gate64(this.k.a, this.k.idts[0]!.table, v, this.stubs[v]!);
  }
  /** Arms the catcher for `vector`; the fault resumes at `resume` (bind it after the body). */
  arm(vector: number, resume: Label): void {
    const a = this.k.a, st = this.st;
    a.mov(qword(st, C64.expect), vector).mov(qword(st, C64.caught), 0);
    a.mov(rax, resume).mov(qword(st, C64.resume), rax).mov(qword(st, C64.rsp), rsp);
  }

  /** After `resume`: restores RSP, disarms. */
  disarm(): void {
    const a = this.k.a, st = this.st;
    a.mov(rsp, qword(st, C64.rsp)).mov(qword(st, C64.expect), -1);
  }

  /**
   * Expects `body` to raise exception `vector`: PASS/FAIL `name`, plus a check per expected
   * detail (error code, saved RIP, CR2).
   */
  expectFault(name: string, vector: number, body: () => void, x: FaultExpect = {}): this {
    const a = this.k.a, resume = a.label();
    this.arm(vector, resume);
    body();
    a.bind(resume);
    this.disarm();
    this.checkCaught(name, x);
    return this;
  }

  /** The checks of `expectFault` after a manual arm/disarm. */
  checkCaught(name: string, x: FaultExpect = {}): void {
    const k = this.k, a = k.a, st = this.st;
    k.check(name, () => a.cmp(qword(st, C64.caught), 1), "ne", qword(st, C64.vector));
    if (x.err !== undefined) k.expectEq(`${name}: error code`, qword(st, C64.err), x.err);
    if (x.rip !== undefined) this.eqAddr(`${name}: saved RIP`, qword(st, C64.rip), x.rip);
    if (x.cr2 !== undefined) k.expectEq(`${name}: CR2`, qword(st, C64.cr2), x.cr2);
  }

  /** PASS when the qword `m` equals a label's address or a number. Clobbers r11, r12. */
  eqAddr(name: string, m: Mem | Reg, v: Label | number | bigint): void {
    const a = this.k.a;
    this.k.check(
      name,
      () => {
        a.mov(r11, m);
        if (typeof v === "number" || typeof v === "bigint") {
          a.mov(r12, BigInt.asIntN(64, BigInt(v)));
        } else a.mov(r12, () => BigInt(a.addressOf(v)));
        a.cmp(r11, r12);
      },
      "ne",
      r11,
    );
  }

  /** A memory operand for catch-state slot `off`. */
  slot(off: number): Mem {
    return qword(this.st, off);
  }
}

// ---------------------------------------------------------------------------------------------
// 16/32-bit (and stand-alone 64-bit) code

export interface LegacyOpts {
  pass: Label;
  fail: Label;
  str: (s: string) => Label;
  /** Base of the data segment 16-bit code runs with (DS = bias >> 4 in real mode). */
  bias?: number;
  /** Flat 32-bit data selector the 32-bit exception stubs load into DS. */
  flatData?: number;
}

/** Catch-state layout (dword slots) of `Legacy`. */
export const CL = {
  expect: 0,
  caught: 4,
  resume: 8,
  err: 12,
  esp: 16,
  eip: 20,
  cs: 24,
  eflags: 28,
  vector: 32,
  frameAt: 36,
  frameEsp: 40,
  frameSs: 44,
} as const;

/**
 * Reporting and exception catching for 16-, 32- and 64-bit code without the kit (see the module
 * doc). Methods emit code for the assembler's current mode.
 */
export class Legacy {
  readonly a: Asm;
  readonly o: LegacyOpts;
  readonly bias: number;
  readonly st: Label;
  readonly puts32: Label;
  readonly puthex32: Label;
  readonly finish32: Label;
  readonly puts16: Label;
  readonly puthex16: Label;
  readonly finish16: Label;
  readonly puts64: Label;
  readonly puthex64: Label;
  readonly finish64: Label;
  /** Exception stubs for a 32-bit IDT (vectors 0-31). */
  readonly stubs32: Label[] = [];
  /** Exception stubs for the real-mode IVT (vectors 0-31). */
  readonly stubs16: Label[] = [];
  /** Exception stubs for a 64-bit IDT (vectors 0-31). */
  readonly stubs64: Label[] = [];

  constructor(a: Asm, o: LegacyOpts) {
    this.a = a;
    this.o = o;
    this.bias = o.bias ?? 0;
    this.st = a.label();
    this.puts32 = a.label();
    this.puthex32 = a.label();
    this.finish32 = a.label();
    this.puts16 = a.label();
    this.puthex16 = a.label();
    this.finish16 = a.label();
    this.puts64 = a.label();
    this.puthex64 = a.label();
    this.finish64 = a.label();
  }

  /** A memory operand for `l + disp` valid in the current mode (16-bit: minus the bias). */
  m(l: Label, disp = 0, size = 0): Mem {
    const a = this.a;
    if (a.mode === 16) {
      const b = this.bias;
      return mem(() => a.addressOf(l) - b + disp, { size });
    }
    return mem(l, disp, { size });
  }

  /** The address of `l` as an immediate valid in the current mode. */
  addr(l: Label): () => number {
    const a = this.a, b = a.mode === 16 ? this.bias : 0;
    return () => a.addressOf(l) - b;
  }

  /** The finish routine (summary and exit) of the current mode. */
  get finish(): Label {
    const m = this.a.mode;
    return m === 16 ? this.finish16 : m === 32 ? this.finish32 : this.finish64;
  }

  #puthex(): Label {
    const m = this.a.mode;
    return m === 16 ? this.puthex16 : m === 32 ? this.puthex32 : this.puthex64;
  }

  /** Emits the runtime (all modes); execution jumps over it. Restores the current mode. */
  emitRuntime(): void {
    const a = this.a, mode = a.mode;
    const skip = a.label();
    a.jmp(skip);
    this.#runtime(32);
    this.#runtime(16);
    this.#runtime(64);
    a.align(256).bind(this.st).dd(...new Array(16).fill(-1)).align(256);
    a.bits(mode).bind(skip);
  }

  /** putc/puts/puthex/finish for one mode. */
  #runtime(bits: 16 | 32 | 64): void {
    const a = this.a.bits(bits), o = this.o;
    const A = bits === 64 ? rax : bits === 32 ? eax : ax;
    const D = bits === 64 ? reg("rdx") : bits === 32 ? reg("edx") : dx;
    const S = bits === 64 ? rsi : bits === 32 ? esi : si;
    const B = bits === 64 ? reg("rbx") : ebx, C = bits === 64 ? reg("rcx") : ecx;
    const EA = bits === 16 ? eax : A;
    const puts = bits === 16 ? this.puts16 : bits === 32 ? this.puts32 : this.puts64;
    const puthex = bits === 16 ? this.puthex16 : bits === 32 ? this.puthex32 : this.puthex64;
    const finish = bits === 16 ? this.finish16 : bits === 32 ? this.finish32 : this.finish64;
    const m = (l: Label, d = 0, size = 0) => this.m(l, d, size);
    const putc = a.label();
    a.bind(putc).push(D).push(A);
    const w = a.here();
    a.mov(dx, 0x3fd).in_(al, dx).test(al, 0x20).jz(w);
    a.pop(A).mov(dx, 0x3f8).out(dx, al).pop(D).ret();
    a.bind(puts).push(A).push(S);
    const pl = a.here(), pd = a.label();
    a.mov(al, byte(S)).test(al, al).jz(pd).call(putc).inc(S).jmp(pl);
    a.bind(pd).pop(S).pop(A).ret();
    a.bind(puthex).push(EA).push(B).push(C).mov(ebx, eax).mov(ecx, 8);
    const hl = a.here(), hd = a.label();
    a.rol(ebx, 4).mov(eax, ebx).and(al, 0xf).cmp(al, 10).jb(hd).add(al, 0x27);
    a.bind(hd).add(al, 0x30).call(putc).dec(ecx).jnz(hl);
    a.pop(C).pop(B).pop(EA).ret();
    a.bind(finish);
    const p = (s: string) => a.mov(S, this.addr(o.str(s))).call(puts);
    p("SUMMARY pass=00000000");
    a.mov(eax, m(o.pass, 0, 4)).call(puthex);
    p(" fail=00000000");
    a.mov(eax, m(o.fail, 0, 4)).call(puthex);
    p("\n");
    const small = a.label();
    a.mov(eax, m(o.fail, 0, 4)).cmp(eax, 255).jbe(small).mov(eax, 255);
    a.bind(small).out(0xf4, al);
    const spin = a.here();
    a.cli().hlt().jmp(spin);
    const st = (d: number, size = 4) => m(this.st, d, size);
    const common = a.label(), report = a.label();
    if (bits === 16) {
      // Real-mode IVT stubs: frame [sp] ip, cs, flags.
      for (let v = 0; v < 32; v++) {
        this.stubs16.push(a.here());
        a.push(v).jmp(common);
      }
      a.bind(common).push(bp).mov(bp, sp).push(ds).push(eax); // [bp+2] vec, +4 ip, +6 cs, +8 fl
      a.mov(ax, this.bias >>> 4).mov(ds, ax);
      a.movzx(eax, word(bp, 2)).mov(st(CL.vector), eax).cmp(eax, st(0)).jne(report);
      a.mov(st(CL.caught), 1);
      for (const [off, slot] of [[4, CL.eip], [6, CL.cs], [8, CL.eflags]] as const) {
        a.movzx(eax, word(bp, off)).mov(st(slot), eax);
      }
      a.mov(ax, st(CL.resume, 2)).mov(word(bp, 4), ax).mov(st(0), -1);
      a.pop(eax).pop(ds).pop(bp).add(sp, 2).iret();
      a.bind(report);
      a.movzx(eax, word(bp, 2));
    } else if (bits === 32) {
      for (let v = 0; v < 32; v++) {
        this.stubs32.push(a.here());
        if (!ERR_VECTORS.has(v)) a.push(0);
        a.push(v).jmp(common);
      }
      // after push ds, eax: [esp+8] vec, +12 err, +16 eip, +20 cs, +24 eflags (+28 esp, +32 ss)
      a.bind(common).push(ds).push(eax);
      a.mov(eax, o.flatData ?? 0x10).mov(ds, ax);
      a.mov(eax, dword(esp, 8)).mov(st(CL.vector), eax).cmp(eax, st(0)).jne(report);
      a.mov(st(CL.caught), 1);
      const slots = [[12, CL.err], [16, CL.eip], [20, CL.cs], [24, CL.eflags], [28, CL.frameEsp], [
        32,
        CL.frameSs,
      ]] as const;
      for (const [off, slot] of slots) a.mov(eax, dword(esp, off)).mov(st(slot), eax);
      a.lea(eax, dword(esp, 16)).mov(st(CL.frameAt), eax);
      a.mov(eax, st(CL.resume)).mov(dword(esp, 16), eax).mov(st(0), -1);
      a.pop(eax).pop(ds).add(esp, 8).i("iretd");
      a.bind(report);
      a.mov(eax, dword(esp, 8));
    } else {
      for (let v = 0; v < 32; v++) {
        this.stubs64.push(a.here());
        if (!ERR_VECTORS.has(v)) a.push(0);
        a.push(v).jmp(common);
      }
      // after push rax: [rsp+8] vec, +16 err, +24 rip, +32 cs, +40 rflags, +48 rsp, +56 ss
      a.bind(common).push(rax);
      a.mov(rax, qword(rsp, 8)).mov(st(CL.vector), eax).cmp(eax, st(0)).jne(report);
      a.mov(st(CL.caught), 1);
      const slots = [[16, CL.err], [24, CL.eip], [32, CL.cs], [40, CL.eflags], [48, CL.frameEsp], [
        56,
        CL.frameSs,
      ]] as const;
      for (const [off, slot] of slots) a.mov(rax, qword(rsp, off)).mov(st(slot), eax);
      a.lea(rax, qword(rsp, 24)).mov(st(CL.frameAt), eax);
      a.mov(eax, st(CL.resume)).mov(qword(rsp, 24), rax).mov(st(0), -1);
      a.pop(rax).add(rsp, 16).iretq();
      a.bind(report);
      a.mov(eax, qword(rsp, 8).withSize(4));
    }
    p(`FAIL unexpected exception (${bits}-bit): vector `);
    a.call(puthex);
    p("\n");
    a.inc(m(o.fail, 0, 4)).jmp(finish);
  }

  /** Writes the real-mode IVT entries 0-31 (at linear 0) to point at the 16-bit stubs. */
  installIvt(): void {
    const a = this.a;
    if (a.mode !== 16) throw new Error("installIvt: 16-bit code only");
    a.push(es).xor(ax, ax).mov(es, ax);
    for (let v = 0; v < 32; v++) {
      a.mov(word({ disp: v * 4, seg: es }), this.addr(this.stubs16[v]!));
      a.mov(word({ disp: v * 4 + 2, seg: es }), this.bias >>> 4);
    }
    a.pop(es);
  }

  say(s: string): this {
    const a = this.a, l = this.o.str(s);
    if (a.mode === 16) a.push(si).mov(si, this.addr(l)).call(this.puts16).pop(si);
    else if (a.mode === 32) a.push(esi).mov(esi, l).call(this.puts32).pop(esi);
    else a.push(rsi).mov(rsi, l).call(this.puts64).pop(rsi);
    return this;
  }

  /** Prints `text`, register/memory `r` (32-bit) in hex, newline. */
  show(text: string, r: Reg | Mem): this {
    const a = this.a, acc = a.mode === 64 ? rax : eax;
    a.push(acc).mov(eax, r);
    this.say(text).a.call(this.#puthex());
    this.say("\n").a.pop(acc);
    return this;
  }

  pass(name: string): this {
    this.a.inc(this.m(this.o.pass, 0, 4));
    return this.say(`PASS ${name}\n`);
  }

  /** `emit` leaves flags; `failCc` means failure; `detail` (32-bit) is printed on failure. */
  check(name: string, emit: () => void, failCc: string, detail?: Reg | Mem): this {
    const a = this.a, fail = a.label(), done = a.label();
    emit();
    a.jcc(failCc, fail);
    this.pass(name);
    a.jmp(done);
    a.bind(fail);
    a.inc(this.m(this.o.fail, 0, 4));
    if (detail !== undefined) {
      const acc = a.mode === 64 ? rax : eax;
      a.push(acc);
      if (detail.size === 8) a.mov(rax, detail);
      else a.mov(eax, detail);
      this.say(`FAIL ${name}: got `).a.call(this.#puthex());
      this.say("\n").a.pop(acc);
    } else this.say(`FAIL ${name}\n`);
    a.bind(done);
    return this;
  }

  /** PASS when register/memory `r` (zero-extended if narrower than 32 bits) equals `value`. */
  expectEq(name: string, r: Reg | Mem, value: number | (() => number)): this {
    const a = this.a;
    const v = typeof value === "number" ? value | 0 : () => value() | 0;
    if (r.size === 4 || r.size === 8) return this.check(name, () => a.cmp(r, v), "ne", r);
    const acc = a.mode === 64 ? rax : eax, tmp = this.m(this.st, 60, 4);
    return this.check(
      name,
      () => {
        a.push(acc).movzx(eax, r).mov(tmp, eax).pop(acc);
        a.cmp(tmp, v);
      },
      "ne",
      tmp,
    );
  }

  /** Arms the catcher for `vector`, resuming at `resume` (an address valid as EIP/IP). */
  arm(vector: number, resume: Label): void {
    const a = this.a, m = (d: number) => this.m(this.st, d, 4);
    a.mov(m(CL.expect), vector).mov(m(CL.caught), 0).mov(m(CL.resume), this.addr(resume));
    a.mov(m(CL.esp), esp); // stacks live below 4 GiB
  }

  disarm(): void {
    const a = this.a, m = (d: number) => this.m(this.st, d, 4);
    a.mov(esp, m(CL.esp)).mov(m(CL.expect), -1);
  }

  /** Expects `body` to raise `vector` (see `Catch64.expectFault`). */
  expectFault(
    name: string,
    vector: number,
    body: () => void,
    x: { err?: number; eip?: Label | number } = {},
  ): this {
    const a = this.a, resume = a.label();
    this.arm(vector, resume);
    body();
    a.bind(resume);
    this.disarm();
    this.checkCaught(name, x);
    return this;
  }

  checkCaught(name: string, x: { err?: number; eip?: Label | number } = {}): void {
    const m = (d: number) => this.m(this.st, d, 4);
    this.check(name, () => this.a.cmp(m(CL.caught), 1), "ne", m(CL.vector));
    if (x.err !== undefined) this.expectEq(`${name}: error code`, m(CL.err), x.err);
    if (x.eip !== undefined) {
      const e = x.eip;
      this.expectEq(`${name}: saved EIP`, m(CL.eip), typeof e === "number" ? e : this.addr(e));
    }
  }

  slot(off: number, size = 4): Mem {
    return this.m(this.st, off, size);
  }
}

const es = reg("es");

/**
 * The common frame of a legacy-mode CPU test guest: a string pool, the pass/fail counters, the
 * `Legacy` runtime (jumped over from `entry` to `start16`), and `finish()`, which emits the
 * counters and the strings at the end of the image.
 */
export function legacyGuest(
  a: Asm,
  o: { bias: number; flatData: number },
): { t: Legacy; entry: Label; start16: Label; finish(): void } {
  const strings: [Label, string][] = [];
  const ids = new Map<string, Label>();
  const str = (s: string) => {
    let l = ids.get(s);
    if (!l) {
      l = a.label();
      ids.set(s, l);
      strings.push([l, s]);
    }
    return l;
  };
  const pass = a.label("pass"), fail = a.label("fail");
  const t = new Legacy(a, { pass, fail, str, bias: o.bias, flatData: o.flatData });
  const entry = a.here("entry");
  const start16 = a.label();
  a.jmp(start16);
  t.emitRuntime();
  const finish = () => {
    a.align(8).bind(pass).dq(0n).bind(fail).dq(0n);
    for (const [l, s] of strings) a.bind(l).asciz(s);
  };
  return { t, entry, start16, finish };
}
