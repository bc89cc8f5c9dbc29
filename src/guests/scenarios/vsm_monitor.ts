/**
 * A small VTL1 "secure monitor" for the VSM protection and intercept scenarios (vsm-protections,
 * vsm-mbec, vsm-register-intercepts, vsm-isolation), with the VTL0-side helpers that drive it
 * and check what it saw.
 *
 * VTL1 side (TLFS §15.6-§15.8, §15.9.2, §15.13, §11 / spec/vsm.md §4-§7):
 * - First entry (VTL call from VTL0): guest OS ID, hypercall page and VP assist page of VTL1, its
 *   SynIC (SIMP at PAGES.simp1, SCONTROL enable, SINT0 = MON_VECTOR with AutoEOI) and an IDT
 *   handler for MON_VECTOR, then the scenario's `init` code.
 * - Then a loop on VTL return. Every entry saves all shared GPRs on VTL1's stack and restores
 *   them before returning (RAX/RCX through VtlReturnX64Rax/Rcx of its VP assist page, normal
 *   return), so VTL0 sees its registers unchanged even when it was stopped by an intercept in the
 *   middle of arbitrary code.
 * - Entry reason VtlCall (1): a request from VTL0 (number at V.req, arguments V.arg0..3).
 * - Entry reason Interrupt (2) with the SINT0 handler having run: the HV_MESSAGE in SIM slot 0 is
 *   copied to MSG, the slot is freed (MessageType = 0) and EOM is written when MessagePending was
 *   set (TLFS §11 message protocol). Entry reason Intercept (3): the message is taken from the VP
 *   assist page at 0x70 (VsmPartitionConfig.InterceptPage, spec §5.3).
 * - An intercept is then resolved as VTL0 asked in V.act (ACT flags): probe a VTL0 register,
 *   relax the page's protection (retry), set a register, emulate an intercepted CR/MSR write,
 *   run the scenario's own handler (`onIntercept`), inject an exception with
 *   HvRegisterPendingEvent0, skip the instruction (RIP += length).
 *
 * Memory: VTL1's hypercall input/output pages and the monitor's variables and message copy live
 * at fixed scratch addresses (not in the image, so writing them does not invalidate decoded
 * code). Scenario test pages use PAGES.scratch .. 0x7dffff.
 */

import { Kit, PAGES } from "../kit.ts";
import {
  byte,
  dword,
  eax,
  ebx,
  ecx,
  type Label,
  type Mem,
  qword,
  r10,
  r11,
  r11d,
  r12,
  r12d,
  r13,
  r13d,
  r14,
  r14d,
  r15,
  r8,
  r8d,
  rax,
  rbx,
  rcx,
  rdi,
  rdx,
  type Reg,
  rsi,
} from "../asm.ts";
import { getReg, HC, popAll, pushAll, REG } from "./vsm_util.ts";

/** VTL1's hypercall input and output pages, the monitor's variables and the message copy. */
export const MON_IN = 0x7f0000, MON_OUT = 0x7f1000, MON_VARS = 0x7f2000;
/** The copy of the last intercept message (256-byte HV_MESSAGE). */
export const MSG = MON_VARS + 0x100;
/** A scratch area VTL0 uses for hypercall GPFN lists etc. */
export const V0_SCRATCH = 0x7e0000;
/** SINT0's vector in VTL1. */
export const MON_VECTOR = 0x30;

/** Monitor variables (qwords). */
export const V = {
  req: MON_VARS + 0x00,
  arg0: MON_VARS + 0x08,
  arg1: MON_VARS + 0x10,
  arg2: MON_VARS + 0x18,
  arg3: MON_VARS + 0x20,
  result: MON_VARS + 0x28,
  /** Intercepts handled. */
  count: MON_VARS + 0x30,
  /** Entry reason of the last VTL1 entry. */
  entry: MON_VARS + 0x38,
  /** SINT0 interrupts taken. */
  sints: MON_VARS + 0x40,
  sintFlag: MON_VARS + 0x48,
  act: MON_VARS + 0x50,
  actMask: MON_VARS + 0x58,
  actLen: MON_VARS + 0x60,
  actEvLo: MON_VARS + 0x68,
  actEvHi: MON_VARS + 0x70,
  actName: MON_VARS + 0x78,
  actVal: MON_VARS + 0x80,
  /** OR of the HV_STATUS of every hypercall made to resolve intercepts. */
  actStatus: MON_VARS + 0x88,
  probeName: MON_VARS + 0x90,
  probeVal: MON_VARS + 0x98,
  /** EOM writes. */
  eoms: MON_VARS + 0xa0,
  /** Entries with no message to handle. */
  spurious: MON_VARS + 0xa8,
  /** VTL calls served. */
  calls: MON_VARS + 0xb0,
  /** VTL0's snapshot of `count` (mon.arm). */
  mark: MON_VARS + 0xb8,
  /** A value returned by requests (GETREG). */
  value: MON_VARS + 0xc0,
  /** A GPFN list slot. */
  list: MON_VARS + 0xc8,
  /** Interrupts on vectors VTL1 did not expect (stray()). */
  stray: MON_VARS + 0xd0,
  /** VTL0's snapshot of `sints`. */
  sintMark: MON_VARS + 0xd8,
} as const;

/** Intercept resolutions (V.act bits), performed in this order. */
export const ACT = {
  /** Read VTL0 register V.probeName into V.probeVal before anything changes. */
  PROBE: 0x40,
  /** ModifyVtlProtectionMask(GPA page of the message, V.actMask): the instruction retries. */
  RELAX: 0x01,
  /** SetVpRegisters(VTL0, V.actName = V.actVal). */
  SETREG: 0x08,
  /** Emulate a RegisterIntercept: SetVpRegisters(VTL0, RegisterName = value from the message). */
  EMU_CR: 0x10,
  /** Emulate an MsrIntercept: SetVpRegisters(VTL0, V.actName = RDX:RAX from the message). */
  EMU_MSR: 0x20,
  /**
   * Run the scenario's `onIntercept` code. The shared GPRs VTL0 gets back are saved on VTL1's
   * stack at [rsp + SAVED.reg] there: changing a slot changes VTL0's register (RAX/RCX reach
   * VTL0 through VtlReturnX64Rax/Rcx). It must leave the OR of its hypercall statuses in eax.
   */
  CUSTOM: 0x100,
  /** HvRegisterPendingEvent0 of VTL0 = V.actEvLo (bits 63:0), V.actEvHi (127:64). */
  INJECT: 0x04,
  /** VTL0 RIP = message RIP + V.actLen (or the message's instruction length when 0). */
  SKIP: 0x02,
  /** Leave the message in SIM slot 0 (do not free the slot): the next one queues behind it. */
  KEEP: 0x80,
} as const;

/** Where `onIntercept` code finds VTL0's saved shared GPRs: [rsp + SAVED.reg] (pushAll order). */
export const SAVED = { rax: 112, rbx: 104, rcx: 96, rdx: 88, rsi: 80, rdi: 72 } as const;

/** Built-in requests (V.req). Scenario requests use numbers ≥ 100. */
export const REQ = {
  /** ModifyVtlProtectionMask: GPFN list at arg0, count arg1, MapFlags arg2, HV_INPUT_VTL arg3. */
  PROTECT_LIST: 1,
  /** Same with `count` consecutive pages from GPA arg0. */
  PROTECT_RANGE: 2,
  /** SetVpRegisters: name arg0, value arg1 (bits 63:0), HV_INPUT_VTL arg2, value bits 127:64 arg3. */
  SETREG: 3,
  /** GetVpRegisters: name arg0, HV_INPUT_VTL arg2 → status in result, value in V.value. */
  GETREG: 4,
  /** result = qword at arg0 (read by VTL1). */
  PEEK: 5,
  /** qword at arg0 = arg1 (written by VTL1). */
  POKE: 6,
} as const;

export const HC_MODIFY = 0x000cn;

/**
 * HvRegisterPendingEvent0 for an exception (spec §3): EventPending, type 0, DeliverErrorCode,
 * vector, error code; the parameter (CR2 for #PF) is the upper 64 bits.
 */
export function exceptionEvent(vector: number, errorCode?: number): bigint {
  const de = errorCode === undefined ? 0n : 0x100n;
  return 1n | de | (BigInt(vector) << 16n) | (BigInt(errorCode ?? 0) << 32n);
}

type Val = number | bigint | Label | Reg | (() => number | bigint);

export interface InterceptExpect {
  /** HV_INTERCEPT_ACCESS_TYPE: 0 read, 1 write, 2 execute. */
  access: 0 | 1 | 2;
  gpa: Val;
  gva: Val;
  /** RIP of the intercepted instruction (label or address). */
  rip: Val;
  /** CPL of VTL0 at the access (default 0). */
  cpl?: number;
  /** Delivered through the VP assist page (entry reason 3) instead of SINT0 (2). */
  viaPage?: boolean;
}

export class Monitor {
  readonly k: Kit;
  readonly #handlers: [number, () => void][] = [];
  #init: () => void = () => {};
  #onIntercept: () => void = () => {};
  /** VTL1 subroutines (bound by emit()). */
  readonly setRegSub: Label;
  readonly getRegSub: Label;
  readonly protectSub: Label;

  constructor(k: Kit) {
    this.k = k;
    this.setRegSub = k.a.label("mon_setreg");
    this.getRegSub = k.a.label("mon_getreg");
    this.protectSub = k.a.label("mon_protect");
  }

  /** Scenario code run once in VTL1 after the monitor's own set-up (first VTL call). */
  init(body: () => void): this {
    this.#init = body;
    return this;
  }

  /** Scenario code run in VTL1 for intercepts armed with ACT.CUSTOM (see ACT.CUSTOM). */
  onIntercept(body: () => void): this {
    this.#onIntercept = body;
    return this;
  }

  /** A scenario request served in VTL1 (arguments in V.arg0..3, result to V.result). */
  on(req: number, body: () => void): this {
    this.#handlers.push([req, body]);
    return this;
  }

  // ---- VTL0 side --------------------------------------------------------------------------------

  /** Loads a value (constant, label address, thunk or register) into `r`. */
  load(r: Reg, v: Val): void {
    const a = this.k.a;
    if (typeof v === "number" || typeof v === "bigint") a.mov(r, BigInt.asUintN(64, BigInt(v)));
    else a.mov(r, v as never);
  }

  /** Stores a value into the qword at `addr`. Clobbers r10. */
  store(addr: number | Mem, v: Val): void {
    this.load(r10, v);
    this.k.a.mov(typeof addr === "number" ? qword(addr) : addr, r10);
  }

  /** VTL0: request `req` from VTL1 with up to four arguments (VTL call). Clobbers r10. */
  req(req: number, ...args: Val[]): void {
    args.forEach((v, i) => this.store(V.arg0 + 8 * i, v));
    this.store(V.req, req);
    this.k.vtlCall();
  }

  /**
   * VTL0: how VTL1 is to resolve the next intercept, and a snapshot of the intercept and SINT
   * counters for the checks after it. Clobbers r10.
   */
  arm(
    act: number,
    o: { mask?: number; len?: Val; event?: bigint; param?: Val; name?: number; val?: Val } = {},
    probe?: number,
  ): void {
    this.store(V.act, act | (probe !== undefined ? ACT.PROBE : 0));
    this.store(V.actMask, o.mask ?? 0);
    this.store(V.actLen, o.len ?? 0);
    this.store(V.actEvLo, o.event ?? 0);
    this.store(V.actEvHi, o.param ?? 0);
    this.store(V.actName, o.name ?? 0);
    this.store(V.actVal, o.val ?? 0);
    this.store(V.probeName, probe ?? 0);
    this.store(V.actStatus, 0);
    const a = this.k.a;
    a.mov(r10, qword(V.count)).mov(qword(V.mark), r10);
    a.mov(r10, qword(V.sints)).mov(qword(V.sintMark), r10);
  }

  /** PASS when the qword at `m` equals `v`. Clobbers r11, r12. */
  eq(name: string, m: Mem | Reg, v: Val): void {
    const a = this.k.a;
    this.k.check(
      name,
      () => {
        if (m.size === 8) a.mov(r11, m);
        else if (m.size === 4) a.mov(r11d, m);
        else a.movzx(r11d, m);
        this.load(r12, v);
        a.cmp(r11, r12);
      },
      "ne",
      r11,
    );
  }

  /** Intercepts handled since arm(). Into r11. */
  #delta(): void {
    this.k.a.mov(r11, qword(V.count)).sub(r11, qword(V.mark));
  }

  /**
   * One check for a GpaIntercept: exactly one intercept since arm(), entered with reason 2 (or 3
   * `viaPage`), resolved without hypercall errors, MessageType GpaIntercept with an 80-byte
   * payload, the access type, GPA and GVA.
   */
  expectOne(name: string, access: 0 | 1 | 2, gpa: Val, gva: Val, viaPage = false): void {
    const a = this.k.a;
    this.k.check(
      name,
      () => {
        this.#delta();
        a.shl(r11, 8).or(r11, qword(V.entry));
        a.mov(r12, qword(V.actStatus)).shl(r12, 16).or(r11, r12).xor(
          r11,
          0x100 | (viaPage ? 3 : 2),
        );
        a.mov(r12, qword(MSG)).xor(r12, qword(this.#constAddr(0x80000001n | (80n << 32n))));
        a.or(r11, r12);
        a.movzx(r12d, byte(MSG + 16 + 5)).xor(r12d, access).or(r11, r12);
        this.load(r12, gpa);
        a.xor(r12, qword(MSG + 16 + 56)).or(r11, r12);
        this.load(r12, gva);
        a.xor(r12, qword(MSG + 16 + 48)).or(r11, r12);
      },
      "nz",
      r11,
    );
  }

  /** PASS when no intercept happened since arm(). */
  expectNoIntercept(name: string): void {
    const a = this.k.a;
    this.k.check(
      name,
      () => {
        this.#delta();
        a.test(r11, r11);
      },
      "ne",
      r11,
    );
  }

  /**
   * Checks the last intercept (spec §5.3-5.4) in three checks named after `what`: (1) exactly one
   * intercept since arm(), the entry reason, and every hypercall VTL1 made to resolve it
   * succeeded; (2) MessageType, PayloadSize, no MessagePending, and the intercept header's VP
   * index, instruction length, access type and execution state; (3) the RIP and the
   * type-specific `fields` (payload offsets relative to the message's payload).
   */
  expectIntercept(sec: string, what: string, e: {
    type: number;
    typeName: string;
    payload: number;
    access: 0 | 1 | 2;
    rip: Val;
    insnLen?: number;
    cpl?: number;
    /** Extra ExecutionState bits (e.g. 8 = CR0.AM). */
    exec?: number;
    viaPage?: boolean;
    fields: [string, number, Val, 4 | 8][];
  }): void {
    const a = this.k.a;
    const entry = e.viaPage ? 3 : 2;
    this.k.check(
      `${sec} ${what}: one intercept, VTL1 entered with reason ${
        e.viaPage ? "Intercept (3)" : "Interrupt (2, SINT0)"
      }, resolved`,
      () => {
        this.#delta();
        a.shl(r11, 8).or(r11, qword(V.entry));
        a.mov(r12, qword(V.actStatus)).shl(r12, 16).or(r11, r12);
        a.cmp(r11, 0x100 | entry);
      },
      "ne",
      r11,
    );
    const cpl = e.cpl ?? 0;
    // ExecutionState: CPL, CR0.PE, CR0.AM, EFER.LMA; VTL 0 in bits 10:7.
    const exec = BigInt(cpl | 4 | 16 | (e.exec ?? 0));
    const hdr = (BigInt(e.insnLen ?? 0) << 32n) | (BigInt(e.access) << 40n) | (exec << 48n);
    const names = ["read", "write", "execute"];
    this.k.check(
      `${sec} ${what}: ${e.typeName} (0x${e.type.toString(16)}), payload ${e.payload}, VP 0, ${
        e.insnLen ? `length ${e.insnLen}, ` : ""
      }access ${names[e.access]} (${e.access}), CPL ${cpl}`,
      () => {
        a.mov(r11, qword(MSG)).mov(r12, BigInt(e.type) | (BigInt(e.payload) << 32n));
        a.xor(r11, r12);
        a.mov(r12, qword(MSG + 16)).xor(r12, qword(this.#constAddr(hdr))).or(r11, r12);
      },
      "nz",
      r11,
    );
    this.k.check(
      `${sec} ${what}: message RIP = the instruction, ${e.fields.map((f) => f[0]).join(", ")}`,
      () => {
        this.load(r12, e.rip);
        a.mov(r11, qword(MSG + 16 + 24)).xor(r11, r12);
        for (const [, off, v, size] of e.fields) {
          this.load(r12, v);
          if (size === 4) a.mov(r12d, r12d).xor(r12d, dword(MSG + 16 + off));
          else a.xor(r12, qword(MSG + 16 + off));
          a.or(r11, r12);
        }
      },
      "nz",
      r11,
    );
  }

  /** expectIntercept for a GpaIntercept (HV_X64_MEMORY_INTERCEPT_MESSAGE, 80-byte payload). */
  expectGpaIntercept(sec: string, what: string, e: InterceptExpect): void {
    this.expectIntercept(sec, what, {
      type: 0x80000001,
      typeName: "GpaIntercept",
      payload: 80,
      access: e.access,
      rip: e.rip,
      cpl: e.cpl,
      viaPage: e.viaPage,
      fields: [["GPA", 56, e.gpa, 8], ["GVA", 48, e.gva, 8]],
    });
  }

  readonly #consts: [Label, bigint][] = [];

  /** A label holding the qword constant `v` (emitted at emit()). */
  #constAddr(v: bigint): Label {
    const l = this.k.a.label();
    this.#consts.push([l, v]);
    return l;
  }

  /** PASS when the hypercalls VTL1 made to resolve the intercept all succeeded. */
  expectResolved(name: string): void {
    this.eq(name, qword(V.actStatus), 0);
  }

  // ---- hypercalls from VTL0 ---------------------------------------------------------------------

  /** VTL0 GetVpRegisters(name) with HV_INPUT_VTL `sel`: result value in rax, value at output. */
  getReg0(name: number, sel = 0): void {
    getReg(this.k, 0, name, { vtlSel: sel });
  }

  /** VTL0 SetVpRegisters(name = value) with HV_INPUT_VTL `sel`: result value in rax. */
  setReg0(name: number, value: Val, sel = 0): void {
    const a = this.k.a, p = PAGES.input;
    a.mov(qword(p), -1);
    this.store(p + 8, 0xfffffffen | (BigInt(sel) << 32n));
    a.mov(qword(p + 16), name).mov(qword(p + 24), 0);
    this.store(p + 32, value);
    a.mov(qword(p + 40), 0);
    this.k.hypercall(0, HC.SET_REGS_1, p, 0);
  }

  // ---- VTL1 side --------------------------------------------------------------------------------

  /** VTL1: SetVpRegisters(name, value) (see setRegSub). Clobbers rax, rcx, rdx, r8. */
  setReg1(name: Val, value: Val, sel: number, hi: Val = 0): void {
    this.load(r13, name);
    this.load(r14, value);
    this.load(rbx, hi);
    this.load(r15, sel);
    this.k.a.call(this.setRegSub);
  }

  /** VTL1: GetVpRegisters(name) → status in rax, value in r14. */
  getReg1(name: Val, sel: number): void {
    this.load(r13, name);
    this.load(r15, sel);
    this.k.a.call(this.getRegSub);
  }

  /** VTL1 handler counting interrupts on `vector` in V.stray (vectors that must not arrive). */
  stray(vector: number): void {
    const a = this.k.a, skip = a.label();
    a.jmp(skip);
    a.bind(this.k.handler(1, vector));
    a.i("inc", qword(V.stray));
    a.iretq();
    a.bind(skip);
  }

  /** Emits VTL1: the entry, the loop, the subroutines and the SINT0 handler. */
  emit(): void {
    const k = this.k, a = k.a;
    const loop = a.label("mon_loop"), exit = a.label("mon_exit"), call = a.label("mon_call");
    const intr = a.label("mon_intr"), page = a.label("mon_page"), handle = a.label("mon_handle");
    const spurious = a.label("mon_spurious");
    const push = () => pushAll(k);
    const pop = () => popAll(k);

    a.bind(k.vtl1Entry);
    push();
    k.hvInit(1);
    k.wrmsr(0x40000073, PAGES.assist1 | 1); // VP assist page
    k.wrmsr(0x40000080, 1).wrmsr(0x40000083, PAGES.simp1 | 1); // SCONTROL, SIMP
    k.wrmsr(0x40000090, (1 << 17) | MON_VECTOR); // SINT0: vector, AutoEOI, unmasked
    this.#init();
    a.jmp(exit);

    a.bind(loop);
    push();
    a.cli();
    a.mov(eax, dword(PAGES.assist1 + 8)).mov(qword(V.entry), rax);
    a.cmp(eax, 1).je(call);
    a.cmp(eax, 2).je(intr);
    a.cmp(eax, 3).je(page);
    a.jmp(spurious);

    // A request from VTL0.
    a.bind(call);
    a.i("inc", qword(V.calls));
    const builtins: [number, () => void][] = [
      [REQ.PROTECT_LIST, () => {
        a.mov(r13, qword(V.arg0)).mov(r14, qword(V.arg1));
        a.mov(r15, qword(V.arg3)).shl(r15, 32).or(r15, qword(V.arg2));
        a.call(this.protectSub).mov(qword(V.result), rax);
      }],
      [REQ.PROTECT_RANGE, () => {
        // Build the GPFN list in MON_OUT, then as PROTECT_LIST.
        const l = a.label();
        a.mov(rax, qword(V.arg0)).shr(rax, 12).mov(rcx, qword(V.arg1)).mov(rdi, MON_OUT);
        a.bind(l).mov(qword(rdi), rax).add(rdi, 8).i("inc", rax).dec(rcx).jnz(l);
        a.mov(r13, MON_OUT).mov(r14, qword(V.arg1));
        a.mov(r15, qword(V.arg3)).shl(r15, 32).or(r15, qword(V.arg2));
        a.call(this.protectSub).mov(qword(V.result), rax);
      }],
      [REQ.SETREG, () => {
        a.mov(r13, qword(V.arg0)).mov(r14, qword(V.arg1)).mov(r15, qword(V.arg2));
        a.mov(rbx, qword(V.arg3)).call(this.setRegSub).mov(qword(V.result), rax);
      }],
      [REQ.GETREG, () => {
        a.mov(r13, qword(V.arg0)).mov(r15, qword(V.arg2)).call(this.getRegSub);
        a.mov(qword(V.result), rax).mov(qword(V.value), r14);
      }],
      [REQ.PEEK, () => {
        a.mov(rax, qword(V.arg0)).mov(rax, qword(rax)).mov(qword(V.result), rax);
      }],
      [REQ.POKE, () => {
        a.mov(rax, qword(V.arg0)).mov(rcx, qword(V.arg1)).mov(qword(rax), rcx);
      }],
    ];
    for (const [req, body] of [...builtins, ...this.#handlers]) {
      const next = a.label();
      a.cmp(qword(V.req), req).jne(next);
      body();
      a.jmp(exit);
      a.bind(next);
    }
    k.say("FAIL VTL1 monitor: unknown request\n");
    a.i("inc", qword(k.failCount));
    a.jmp(exit);

    // Entered through SINT0: the message is in SIM slot 0 (TLFS §11, spec §5.3).
    a.bind(intr);
    a.cmp(qword(V.sintFlag), 0).je(spurious);
    a.mov(qword(V.sintFlag), 0);
    a.cmp(dword(PAGES.simp1), 0).je(spurious);
    a.mov(rsi, PAGES.simp1).mov(rdi, MSG).mov(ecx, 32).rep().movsq();
    const noEom = a.label();
    a.test(qword(V.act), ACT.KEEP).jnz(noEom);
    a.mov(dword(PAGES.simp1), 0); // free the slot: MessageType = HvMessageTypeNone
    a.test(byte(MSG + 5), 1).jz(noEom); // MessagePending: tell the hypervisor with EOM
    k.wrmsr(0x40000084, 0);
    a.i("inc", qword(V.eoms));
    a.bind(noEom);
    a.jmp(handle);

    // Entered with reason Intercept: the message is in the VP assist page (spec §5.3).
    a.bind(page);
    a.mov(rsi, PAGES.assist1 + 0x70).mov(rdi, MSG).mov(ecx, 32).rep().movsq();
    a.mov(dword(PAGES.assist1 + 0x70), 0);

    // Resolve the intercept as VTL0 asked.
    a.bind(handle);
    a.i("inc", qword(V.count));
    const step = (bit: number, body: () => void) => {
      const skip = a.label();
      a.test(qword(V.act), bit).jz(skip);
      body();
      a.and(eax, 0xffff).or(qword(V.actStatus), rax);
      a.bind(skip);
    };
    step(ACT.PROBE, () => {
      a.mov(r13, qword(V.probeName)).mov(r15, 0x10).call(this.getRegSub);
      a.mov(qword(V.probeVal), r14);
    });
    step(ACT.RELAX, () => {
      a.mov(rax, qword(MSG + 16 + 56)).shr(rax, 12).mov(qword(V.list), rax);
      a.mov(r13, V.list).mov(r14, 1).mov(r15, 0x11n << 32n).or(r15, qword(V.actMask));
      a.call(this.protectSub);
    });
    step(ACT.SETREG, () => {
      a.mov(r13, qword(V.actName)).mov(r14, qword(V.actVal)).xor(ebx, ebx).mov(r15, 0x10);
      a.call(this.setRegSub);
    });
    step(ACT.EMU_CR, () => {
      a.mov(r13d, dword(MSG + 16 + 44)).mov(r14, qword(MSG + 16 + 48)).xor(ebx, ebx);
      a.mov(r15, 0x10).call(this.setRegSub);
    });
    step(ACT.EMU_MSR, () => {
      a.mov(r14d, dword(MSG + 16 + 48)).shl(r14, 32).mov(eax, dword(MSG + 16 + 56));
      a.or(r14, rax).mov(r13, qword(V.actName)).xor(ebx, ebx).mov(r15, 0x10);
      a.call(this.setRegSub);
    });
    step(ACT.CUSTOM, () => this.#onIntercept());
    step(ACT.INJECT, () => {
      a.mov(r13, REG.PENDING_EVENT0).mov(r14, qword(V.actEvLo)).mov(rbx, qword(V.actEvHi));
      a.mov(r15, 0x10).call(this.setRegSub);
    });
    step(ACT.SKIP, () => {
      const have = a.label();
      a.mov(r14, qword(V.actLen)).test(r14, r14).jnz(have);
      a.movzx(r14d, byte(MSG + 16 + 4)).and(r14, 0xf);
      a.bind(have).add(r14, qword(MSG + 16 + 24));
      a.mov(r13, REG.RIP).xor(ebx, ebx).mov(r15, 0x10).call(this.setRegSub);
    });
    a.jmp(exit);

    a.bind(spurious);
    a.i("inc", qword(V.spurious));

    a.bind(exit);
    pop();
    a.mov(qword(PAGES.assist1 + 0x10), rax).mov(qword(PAGES.assist1 + 0x18), rcx);
    a.sti();
    k.vtlReturn(false);
    a.jmp(loop);

    // SINT0 (AutoEOI: no EOI needed).
    a.bind(k.handler(1, MON_VECTOR));
    a.mov(qword(V.sintFlag), 1);
    a.i("inc", qword(V.sints));
    a.iretq();

    // setRegSub: r13 name, r14 value 63:0, rbx value 127:64, r15 HV_INPUT_VTL → rax result.
    const header = (p: number) => {
      a.mov(qword(p), -1);
      a.mov(eax, 0xfffffffe).mov(rdx, r15).shl(rdx, 32).or(rax, rdx).mov(qword(p + 8), rax);
    };
    a.bind(this.setRegSub);
    header(MON_IN);
    a.mov(qword(MON_IN + 16), r13).mov(qword(MON_IN + 24), 0);
    a.mov(qword(MON_IN + 32), r14).mov(qword(MON_IN + 40), rbx);
    a.mov(rcx, HC.SET_REGS_1).mov(rdx, MON_IN).xor(r8d, r8d).call(k.hcall1);
    a.ret();
    // getRegSub: r13 name, r15 HV_INPUT_VTL → rax result, r14 value 63:0.
    a.bind(this.getRegSub);
    header(MON_IN);
    a.mov(qword(MON_IN + 16), r13);
    a.mov(rcx, HC.GET_REGS_1).mov(rdx, MON_IN).mov(r8, MON_OUT).call(k.hcall1);
    a.mov(r14, qword(MON_OUT));
    a.ret();
    // protectSub: r13 GPFN list, r14 count, r15 MapFlags | HV_INPUT_VTL << 32 → rax result.
    a.bind(this.protectSub);
    a.mov(qword(MON_IN), -1).mov(qword(MON_IN + 8), r15);
    a.mov(rsi, r13).mov(rdi, MON_IN + 16).mov(rcx, r14).rep().movsq();
    a.mov(rcx, r14).shl(rcx, 32).or(rcx, Number(HC_MODIFY)).mov(rdx, MON_IN).xor(r8d, r8d);
    a.call(k.hcall1);
    a.ret();

    a.align(8);
    for (const [l, v] of this.#consts) a.bind(l).dq(v);
  }
}
