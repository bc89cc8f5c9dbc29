/**
 * Helpers shared by the VSM scenario guests (all of them, the monitor of vsm_monitor.ts too):
 * register names, HV_STATUS values, IDT gates above the exception vectors, memory-form
 * Get/SetVpRegisters, all-GPR save/restore and a VTL1 "server" loop that VTL0 calls with request
 * numbers and that also serves interrupt entries (TLFS §15.6-§15.8, §15.12).
 *
 * Scratch memory: variables live at fixed addresses in PAGES.scratch (never in the image, so
 * that writing them does not invalidate decoded code).
 */

import { Kit, PAGES } from "../kit.ts";
import {
  dword,
  type Label,
  qword,
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
  rsi,
} from "../asm.ts";

/** Register names (TLFS hv_register_name, spec §3). */
export const REG = {
  PENDING_EVENT0: 0x00010004,
  RAX: 0x00020000,
  RCX: 0x00020001,
  RDX: 0x00020002,
  RBX: 0x00020003,
  RSP: 0x00020004,
  RIP: 0x00020010,
  RFLAGS: 0x00020011,
  CR0: 0x00040000,
  CR2: 0x00040001,
  CR3: 0x00040002,
  CR4: 0x00040003,
  ES: 0x00060000,
  CS: 0x00060001,
  SS: 0x00060002,
  DS: 0x00060003,
  FS: 0x00060004,
  GS: 0x00060005,
  LDTR: 0x00060006,
  TR: 0x00060007,
  IDTR: 0x00070000,
  GDTR: 0x00070001,
  EFER: 0x00080001,
  KERNEL_GS_BASE: 0x00080002,
  LSTAR: 0x00080009,
  HYPERCALL: 0x00090001,
  GUEST_OS_ID: 0x00090002,
  VP_INDEX: 0x00090003,
  VP_ASSIST_PAGE: 0x00090013,
  INTERCEPT_SUSPEND: 0x00000001,
  VSM_CODE_PAGE_OFFSETS: 0x000d0002,
  VSM_VP_STATUS: 0x000d0003,
  VSM_PARTITION_STATUS: 0x000d0004,
  VSM_VINA: 0x000d0005,
  VSM_CAPABILITIES: 0x000d0006,
  VSM_PARTITION_CONFIG: 0x000d0007,
  VSM_VP_SECURE_CONFIG_VTL0: 0x000d0010,
  VSM_VP_SECURE_CONFIG_VTL1: 0x000d0011,
  CR_INTERCEPT_CONTROL: 0x000e0000,
  CR_INTERCEPT_CR0_MASK: 0x000e0001,
  CR_INTERCEPT_CR4_MASK: 0x000e0002,
} as const;

/** Hypercall control words (memory form unless noted), rep count 1 where the call is a rep. */
export const HC = {
  GET_REGS_1: 0x0000_0001_0000_0050n,
  SET_REGS_1: 0x0000_0001_0000_0051n,
} as const;

/** HV_STATUS values used by the checks (TLFS §3.12, spec §1.5). */
export const ST = {
  SUCCESS: 0,
  INVALID_HYPERCALL_CODE: 2,
  INVALID_HYPERCALL_INPUT: 3,
  INVALID_ALIGNMENT: 4,
  INVALID_PARAMETER: 5,
  ACCESS_DENIED: 6,
  INVALID_PARTITION_ID: 0x0d,
  INVALID_VP_INDEX: 0x0e,
  INVALID_VP_STATE: 0x15,
  INVALID_REGISTER_VALUE: 0x50,
  INVALID_VTL_STATE: 0x51,
} as const;

/** The result value of a rep call: status | reps completed << 32. */
export function repResult(status: number, reps: number): bigint {
  return BigInt(status) | (BigInt(reps) << 32n);
}

/**
 * Writes an interrupt gate for `vector` (≥ 32) into VTL `vtl`'s IDT at run time. Clobbers r10.
 */
export function setGate(k: Kit, vtl: 0 | 1, vector: number, handler: Label): void {
  const a = k.a, t = k.idts[vtl]!.table;
  a.mov(r10, () => {
    const h = BigInt(a.addressOf(handler));
    return (h & 0xffffn) | (0x08n << 16n) | (0x8en << 40n) | (((h >> 16n) & 0xffffn) << 48n);
  });
  a.mov(qword(t, vector * 16), r10);
  a.mov(r10, () => BigInt(a.addressOf(handler)) >> 32n);
  a.mov(qword(t, vector * 16 + 8), r10);
}

/** Stores a 64-bit constant at an absolute address. Clobbers r10. */
export function store64(k: Kit, addr: number, value: number | bigint): void {
  const v = BigInt.asIntN(64, BigInt(value));
  if (v >= -(1n << 31n) && v < (1n << 31n)) k.a.mov(qword(addr), Number(v));
  else k.a.mov(r10, v).mov(qword(addr), r10);
}

/** Fills `qwords` qwords at `addr` with `pattern`. Clobbers rax, rcx, rdi. */
export function fill(k: Kit, addr: number, qwords: number, pattern: number | bigint): void {
  k.a.mov(rdi, addr).mov(rcx, qwords).mov(rax, BigInt.asUintN(64, BigInt(pattern))).rep().stosq();
}

const GPRS = [rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15];

/** Pushes the 15 GPRs other than RSP. */
export function pushAll(k: Kit): void {
  for (const r of GPRS) k.a.push(r);
}

/** Pops what pushAll pushed. */
export function popAll(k: Kit): void {
  for (const r of [...GPRS].reverse()) k.a.pop(r);
}

export interface RegOpts {
  /** VpIndex (default HV_VP_INDEX_SELF). */
  vp?: number;
  /** HV_INPUT_VTL byte (default 0: the caller's VTL). */
  vtlSel?: number;
  /** setReg: bits 127:64 of the value (default 0). */
  hi?: number | bigint;
}

/**
 * HvCallGetVpRegisters for one register from VTL `vtl`: status (result value) in rax, the value
 * at PAGES.output (16 bytes). Clobbers r10.
 */
export function getReg(k: Kit, vtl: 0 | 1, name: number, o: RegOpts = {}): void {
  const a = k.a, p = PAGES.input;
  a.mov(qword(p), -1);
  a.mov(r10, BigInt(o.vp ?? 0xfffffffe) | (BigInt(o.vtlSel ?? 0) << 32n)).mov(qword(p + 8), r10);
  a.mov(qword(p + 16), name);
  k.hypercall(vtl, HC.GET_REGS_1, p, PAGES.output);
}

/**
 * HvCallSetVpRegisters for one register from VTL `vtl`; the value is a constant or a register
 * (its 64 bits; the upper 64 bits of the 128-bit value are 0). Status in rax. Clobbers r10.
 */
export function setReg(
  k: Kit,
  vtl: 0 | 1,
  name: number,
  value: number | bigint | typeof rax,
  o: RegOpts = {},
): void {
  const a = k.a, p = PAGES.input;
  if (typeof value === "number" || typeof value === "bigint") {
    a.mov(r10, BigInt.asUintN(64, BigInt(value))).mov(qword(p + 32), r10);
  } else a.mov(qword(p + 32), value);
  a.mov(qword(p), -1);
  a.mov(r10, BigInt(o.vp ?? 0xfffffffe) | (BigInt(o.vtlSel ?? 0) << 32n)).mov(qword(p + 8), r10);
  a.mov(qword(p + 16), name).mov(qword(p + 24), 0);
  a.mov(r10, BigInt.asUintN(64, BigInt(o.hi ?? 0))).mov(qword(p + 40), r10);
  k.hypercall(vtl, HC.SET_REGS_1, p, 0);
}

/** Reads MSR `msr` into rax (edx:eax combined). Clobbers rcx, rdx. */
export function rdmsr64(k: Kit, msr: number): void {
  k.a.mov(rcx, msr).rdmsr().shl(rdx, 32).or(rax, rdx);
}

/**
 * A VTL1 request server on the VP's VTL1 (TLFS §15.6-§15.8): after the VTL's first entry (`init`)
 * it loops on VTL return. Every entry saves all shared GPRs on VTL1's stack and restores them
 * before returning, with RAX/RCX handed back through VtlReturnX64Rax/Rcx of VTL1's VP assist page
 * (normal return), so VTL0 sees its registers unchanged, even when VTL1 was entered through an
 * interrupt (entry reason 2) in the middle of arbitrary VTL0 code. VTL0 selects the request with
 * the qword at `reqAddr` (0: nothing; the first entry runs `init` and then its request); entries
 * with reason Interrupt run `onInterrupt` instead.
 */
export class Vtl1Server {
  readonly k: Kit;
  readonly reqAddr: number;
  readonly assist: number;
  readonly #handlers: [number, () => void][] = [];
  #onInterrupt: () => void = () => {};
  #init: () => void = () => {};

  constructor(k: Kit, reqAddr: number, assist: number = PAGES.assist1) {
    this.k = k;
    this.reqAddr = reqAddr;
    this.assist = assist;
  }

  init(body: () => void): this {
    this.#init = body;
    return this;
  }

  on(req: number, body: () => void): this {
    this.#handlers.push([req, body]);
    return this;
  }

  onInterrupt(body: () => void): this {
    this.#onInterrupt = body;
    return this;
  }

  /** VTL0 side: request `req` from VTL1 (clobbers rax, rcx through the code page). */
  call(req: number): void {
    this.k.a.mov(qword(this.reqAddr), req);
    this.k.vtlCall();
  }

  /** Emits the server at the kit's VTL1 entry. */
  emit(): void {
    const k = this.k, a = k.a, loop = a.label(), dispatch = a.label();
    a.bind(k.vtl1Entry);
    pushAll(k);
    this.#init();
    a.jmp(dispatch); // the first entry serves its request too
    a.bind(loop);
    pushAll(k);
    const intr = a.label(), done = a.label();
    a.cmp(dword(this.assist + 8), 2).je(intr);
    a.bind(dispatch);
    a.cmp(qword(this.reqAddr), 0).je(done); // request 0: nothing
    for (const [req, body] of this.#handlers) {
      const next = a.label();
      a.cmp(qword(this.reqAddr), req).jne(next);
      body();
      a.jmp(done);
      a.bind(next);
    }
    k.say(`FAIL VTL1: unknown request\n`);
    a.i("inc", qword(k.failCount));
    a.jmp(done);
    a.bind(intr);
    this.#onInterrupt();
    a.bind(done);
    popAll(k);
    a.mov(qword(this.assist + 0x10), rax).mov(qword(this.assist + 0x18), rcx);
    k.vtlReturn(false);
    a.jmp(loop);
  }
}
