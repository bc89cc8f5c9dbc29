/**
 * Scenario: HvCallInstallIntercept I/O-port intercepts and HvCallAssertVirtualInterrupt
 * (TLFS-md HvCallInstallIntercept, hv_intercept_type, hv_intercept_parameters,
 * HvCallAssertVirtualInterrupt, hv_interrupt_control; TLFS §15.13 intercept delivery, §15.12
 * per-VTL APICs; spec/vsm.md §2, §4.6, §5.3-5.4, §6; OpenVMM `install_intercept`,
 * `cvm_try_protect_io_port_access`, `assert_virtual_interrupt`).
 *
 * VTL1 (the monitor, vsm_monitor.ts) installs I/O intercepts on port 0x80 and the range
 * 0x5F0-0x5F3. VTL0 then executes IN, OUT and REP OUTSB there: none of them runs; VTL1 gets an
 * HvMessageTypeX64IoPortIntercept message on SINT0, and its handler compares the message's CS,
 * DS, ES and RFLAGS with GetVpRegisters of VTL0, emulates the instruction (IN: the value into
 * VTL0's AL; OUT: records AL; REP OUTSB: copies the string and advances RSI/RCX) and skips it
 * (SetVpRegisters RIP += instruction length). VTL0 checks every message field and the emulated
 * result. Then VTL1 asserts virtual interrupts into VTL0, and the rules of both calls are probed:
 * VTL0 may not install intercepts or interrupt VTL1; a VTL may not interrupt itself (OpenVMM);
 * bad types, access masks, ranges and vectors are refused. Last, VTL1 asserts an NMI into VTL0,
 * which takes it through vector 2 with IF = 0.
 */

import { Kit, PAGES } from "../kit.ts";
import {
  al,
  byte,
  dx,
  eax,
  ecx,
  edx,
  qword,
  r13,
  r14,
  r8,
  rax,
  rbp,
  rcx,
  rdi,
  rdx,
  rsi,
  rsp,
} from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { ACT, MON_IN, MON_OUT, Monitor, MSG, SAVED, V } from "./vsm_monitor.ts";
import { REG, ST } from "./vsm_util.ts";

/** Scenario variables (VTL0 and VTL1 both see them). */
const SV = {
  /** What VTL1's intercept handler emulates: 1 IN, 2 OUT, 3 OUTS. */
  mode: 0x7c0000,
  /** RAX of the last OUT, as VTL1 saw it. */
  out: 0x7c0008,
  /** OR of the differences between the message's CS/DS/ES/RFLAGS and GetVpRegisters. */
  segdiff: 0x7c0010,
  /** Interrupts taken by VTL0's vector-0x61 handler. */
  count0: 0x7c0018,
  /** Where VTL1 copies the REP OUTSB string. */
  buf: 0x7c0040,
  /** VTL0's REP OUTSB source. */
  src: 0x7c0100,
} as const;

const REQ_INSTALL = 100, REQ_ASSERT = 101;
const HC_INSTALL = 0x004d, HC_ASSERT = 0x0094;
const IO_PORT_INTERCEPT = 0x80010000;
const PORT = 0x80, RANGE_BASE = 0x5f0, RANGE_END = 0x5f3;
const VEC = 0x61;
const RAXV = 0x1111_2222_3333_4444n, RCXV = 0x0c0c_0c0cn, RSIV = 0x5151_5151n;
const RDIV = 0xd1d1_d1d1n;
const HELLO = 0x4f_4c_4c_45_48n; // "HELLO"

export function buildVsmInstallIntercept(): BuiltinGuest {
  const k = new Kit("vsm-install-intercept");
  const a = k.a;
  const mon = new Monitor(k);
  const S = "HvCallInstallIntercept";
  const T = "HvCallAssertVirtualInterrupt";
  const M = "§15.13 IoPortIntercept";

  // VTL1: InstallIntercept(PartitionId arg3, AccessType arg0, InterceptType arg1, param arg2).
  mon.on(REQ_INSTALL, () => {
    a.mov(rax, qword(V.arg3)).mov(qword(MON_IN), rax);
    a.mov(rax, qword(V.arg1)).shl(rax, 32).or(rax, qword(V.arg0)).mov(qword(MON_IN + 8), rax);
    a.mov(rax, qword(V.arg2)).mov(qword(MON_IN + 16), rax);
    a.mov(rcx, HC_INSTALL).mov(rdx, MON_IN).xor(r8, r8).call(k.hcall1);
    a.mov(qword(V.result), rax);
  });
  // VTL1: AssertVirtualInterrupt(TargetPartition arg3, InterruptControl arg0, Destination arg1,
  // RequestedVector | TargetVtl << 32 arg2).
  mon.on(REQ_ASSERT, () => {
    a.mov(rax, qword(V.arg3)).mov(qword(MON_IN), rax);
    a.mov(rax, qword(V.arg0)).mov(qword(MON_IN + 8), rax);
    a.mov(rax, qword(V.arg1)).mov(qword(MON_IN + 16), rax);
    a.mov(rax, qword(V.arg2)).mov(qword(MON_IN + 24), rax);
    a.mov(rcx, HC_ASSERT).mov(rdx, MON_IN).xor(r8, r8).call(k.hcall1);
    a.mov(qword(V.result), rax);
  });

  // VTL1's I/O intercept handler (ACT.CUSTOM), then ACT.SKIP advances VTL0's RIP.
  mon.onIntercept(() => {
    a.xor(rbp, rbp);
    for (const [name, off] of [[REG.CS, 8], [REG.DS, 72], [REG.ES, 88]] as const) {
      mon.getReg1(name, 0x10);
      a.and(eax, 0xffff).or(rbp, rax); // HV_STATUS (bits 43:32 count the reps done)
      a.xor(r14, qword(MSG + 16 + off)).or(rbp, r14);
      a.mov(r14, qword(MON_OUT + 8)).xor(r14, qword(MSG + 16 + off + 8)).or(rbp, r14);
    }
    mon.getReg1(REG.RFLAGS, 0x10);
    a.and(eax, 0xffff).or(rbp, rax).xor(r14, qword(MSG + 16 + 32)).or(rbp, r14);
    a.mov(qword(SV.segdiff), rbp);
    const notIn = a.label(), notOut = a.label(), done = a.label();
    const size2 = a.label(), size4 = a.label(), merge = a.label();
    a.cmp(qword(SV.mode), 1).jne(notIn);
    // IN: AL/AX gets the value, the rest of RAX is kept; EAX zero-extends (SDM IN).
    a.mov(rax, qword(MSG + 16 + 48)).mov(rdx, qword(V.actVal));
    a.movzx(ecx, byte(MSG + 16 + 42)).and(ecx, 7);
    a.cmp(ecx, 2).je(size2).cmp(ecx, 4).je(size4);
    a.mov(r8, 0xff).jmp(merge);
    a.bind(size2).mov(r8, 0xffff).jmp(merge);
    a.bind(size4).xor(rax, rax).mov(r8, 0xffffffff);
    a.bind(merge).and(rdx, r8).i("not", r8);
    a.and(rax, r8).or(rax, rdx).mov(qword(rsp, SAVED.rax), rax);
    a.jmp(done);
    a.bind(notIn).cmp(qword(SV.mode), 2).jne(notOut);
    // OUT: record what VTL0 wrote.
    a.mov(rax, qword(MSG + 16 + 48)).mov(qword(SV.out), rax);
    a.jmp(done);
    // REP OUTSB: take the string from DS:RSI, then RSI += RCX, RCX = 0 (DF clear).
    a.bind(notOut);
    a.mov(rsi, qword(MSG + 16 + 112)).mov(rcx, qword(MSG + 16 + 104)).mov(rdi, SV.buf);
    a.rep().movsb();
    a.mov(rax, qword(MSG + 16 + 112)).add(rax, qword(MSG + 16 + 104));
    a.mov(qword(rsp, SAVED.rsi), rax).mov(qword(rsp, SAVED.rcx), 0);
    a.bind(done).xor(eax, eax);
  });

  // VTL0's handler for the asserted vector: count, EOI through HV_X64_MSR_EOI.
  const skipHandler = a.label();
  a.jmp(skipHandler);
  a.bind(k.handler(0, VEC));
  a.push(rax).push(rcx).push(rdx);
  a.i("inc", qword(SV.count0));
  k.wrmsr(0x40000070, 0);
  a.pop(rdx).pop(rcx).pop(rax).iretq();
  a.bind(skipHandler);

  k.hvInit(0);
  k.enableVtl1();
  mon.req(0); // first VTL call: the monitor sets itself up
  a.cli();

  // ---- who may install intercepts, and which --------------------------------------------------
  const p = PAGES.input;
  a.mov(qword(p), -1).mov(rax, 1).mov(qword(p + 8), rax).mov(qword(p + 16), PORT);
  k.hypercall(0, HC_INSTALL, p, 0);
  mon.eq(`${S} from VTL0 (OpenVMM: only VTL >= 1) -> HV_STATUS_ACCESS_DENIED`, rax, 6);
  mon.req(REQ_INSTALL, 1, 0, PORT, 0);
  mon.eq(`${S} PartitionId 0 (not HV_PARTITION_ID_SELF) -> ACCESS_DENIED`, qword(V.result), 6);
  a.xor(r13, r13);
  for (const type of [1, 2, 3]) {
    mon.req(REQ_INSTALL, 1, type, 0x10, -1);
    a.mov(r14, qword(V.result)).xor(r14, ST.INVALID_PARAMETER).or(r13, r14);
  }
  mon.eq(
    `${S} HvInterceptTypeX64Msr/X64Cpuid/Exception (OpenVMM: I/O only) -> INVALID_PARAMETER`,
    r13,
    0,
  );
  mon.req(REQ_INSTALL, 4, 0, PORT, -1);
  mon.eq(
    `${S} AccessType execute (4) on an I/O port -> HV_STATUS_INVALID_PARAMETER`,
    qword(V.result),
    ST.INVALID_PARAMETER,
  );
  mon.req(REQ_INSTALL, 3, 0x11, (RANGE_BASE << 16) | RANGE_END, -1);
  mon.eq(
    `${S} HvInterceptTypeX64IoPortRange with End < Base -> HV_STATUS_INVALID_PARAMETER`,
    qword(V.result),
    ST.INVALID_PARAMETER,
  );
  mon.req(REQ_INSTALL, 3, 0, PORT, -1);
  mon.eq(`${S} VTL1: HvInterceptTypeX64IoPort 0x80, read|write -> SUCCESS`, qword(V.result), 0);
  mon.req(REQ_INSTALL, 2, 0x11, (RANGE_END << 16) | RANGE_BASE, -1);
  mon.eq(`${S} VTL1: IoPortRange 0x5F0-0x5F3, write -> SUCCESS`, qword(V.result), 0);

  const regs = () => {
    a.mov(rax, RAXV).mov(rcx, RCXV).mov(rsi, RSIV).mov(rdi, RDIV);
  };
  const ioFields = (port: number, info: number, len: number): [string, number, bigint, 8] => [
    `PortNumber 0x${port.toString(16)}, AccessInfo 0x${info.toString(16)}, ` +
    `InstructionByteCount ${len}`,
    40,
    BigInt(port) | (BigInt(info) << 16n) | (BigInt(len) << 24n),
    8,
  ];
  const common: [string, number, bigint, 8][] = [["RDI", 120, RDIV, 8]];

  // ---- IN AL, DX: intercepted, emulated by VTL1 ------------------------------------------------
  const inAt = a.label("io_in");
  a.mov(qword(SV.mode), 1);
  mon.arm(ACT.CUSTOM | ACT.SKIP, { val: 0xa5 });
  regs();
  a.mov(edx, PORT);
  a.bind(inAt).i("in", al, dx);
  a.mov(r13, rax);
  mon.expectIntercept(M, "IN AL, DX to port 0x80", {
    type: IO_PORT_INTERCEPT,
    typeName: "X64IoPortIntercept",
    payload: 128,
    access: 0,
    insnLen: 1,
    rip: inAt,
    fields: [
      ioFields(PORT, 1, 1),
      ["RAX", 48, RAXV, 8],
      ["InstructionBytes EC", 56, 0xecn, 8],
      ["RCX", 104, RCXV, 8],
      ["RSI", 112, RSIV, 8],
      ...common,
    ],
  });
  mon.eq(`${M} CS, DS, ES and RFLAGS in the message = GetVpRegisters(VTL0)`, qword(SV.segdiff), 0);
  mon.eq(
    `${M} VTL0 sees the emulated IN: AL = 0xA5, RAX 63:8 kept, next instruction`,
    r13,
    (RAXV & ~0xffn) | 0xa5n,
  );

  // ---- OUT DX, AL: intercepted, VTL1 records the value -----------------------------------------
  const outAt = a.label("io_out");
  a.mov(qword(SV.mode), 2);
  mon.arm(ACT.CUSTOM | ACT.SKIP);
  regs();
  a.mov(edx, PORT);
  a.bind(outAt).i("out", dx, al);
  mon.expectIntercept(M, "OUT DX, AL to port 0x80", {
    type: IO_PORT_INTERCEPT,
    typeName: "X64IoPortIntercept",
    payload: 128,
    access: 1,
    insnLen: 1,
    rip: outAt,
    fields: [
      ioFields(PORT, 1, 1),
      ["RAX", 48, RAXV, 8],
      ["InstructionBytes EE", 56, 0xeen, 8],
      ...common,
    ],
  });
  mon.eq(`${M} VTL1 got the OUT's RAX (AL = 0x44 written)`, qword(SV.out), RAXV);

  // ---- REP OUTSB to a port of the range ------------------------------------------------------------
  const outsAt = a.label("io_outs");
  a.mov(rax, HELLO).mov(qword(SV.src), rax);
  a.mov(qword(SV.mode), 3);
  mon.arm(ACT.CUSTOM | ACT.SKIP);
  regs();
  a.mov(rsi, SV.src).mov(ecx, 5).mov(edx, RANGE_BASE + 1);
  a.bind(outsAt).rep().outsb();
  a.mov(r13, rsi).mov(r14, rcx);
  mon.expectIntercept(M, "REP OUTSB to port 0x5F1 (IoPortRange)", {
    type: IO_PORT_INTERCEPT,
    typeName: "X64IoPortIntercept",
    payload: 128,
    access: 1,
    insnLen: 2,
    rip: outsAt,
    fields: [
      ioFields(RANGE_BASE + 1, 1 | 8 | 16, 2),
      ["InstructionBytes F3 6E", 56, 0x6ef3n, 8],
      ["RCX", 104, 5n, 8],
      ["RSI", 112, BigInt(SV.src), 8],
      ...common,
    ],
  });
  mon.eq(`${M} VTL1 read the string "HELLO" from DS:RSI`, qword(SV.buf), HELLO);
  a.mov(rax, r14).shl(rax, 32).or(rax, r13);
  mon.eq(`${M} VTL0 sees the emulated REP OUTSB: RSI advanced by 5, RCX = 0`, rax, SV.src + 5);

  // ---- what is not intercepted -------------------------------------------------------------------
  mon.req(REQ_INSTALL, 2, 0, PORT, -1);
  mon.arm(0);
  a.mov(edx, PORT).i("in", al, dx);
  a.mov(edx, RANGE_END + 1).i("out", dx, al);
  a.mov(edx, RANGE_BASE).i("in", al, dx);
  mon.expectNoIntercept(
    `${S} IN from a write-only port, OUT next to the range, IN from a write-only range: ` +
      "not intercepted",
  );
  mon.req(REQ_INSTALL, 0, 0, PORT, -1);
  mon.req(REQ_INSTALL, 0, 0x11, (RANGE_END << 16) | RANGE_BASE, -1);
  mon.arm(0);
  a.mov(edx, PORT).i("out", dx, al);
  a.mov(edx, RANGE_BASE + 2).i("out", dx, al);
  mon.expectNoIntercept(`${S} AccessType 0 removes the intercepts: OUT runs`);

  // ---- AssertVirtualInterrupt --------------------------------------------------------------------
  a.mov(qword(SV.count0), 0);
  mon.req(REQ_ASSERT, 0, 0, VEC, -1);
  mon.eq(
    `${T} VTL1 -> VTL0, fixed, physical APIC ID 0, vector 0x61 -> SUCCESS`,
    qword(V.result),
    0,
  );
  mon.eq(`§15.12 the interrupt waits in VTL0's APIC while VTL0 has IF = 0`, qword(SV.count0), 0);
  a.sti().nop().cli();
  mon.eq(`§15.12 VTL0 takes vector 0x61 once it sets IF`, qword(SV.count0), 1);
  mon.req(REQ_ASSERT, 1, 0xff, VEC, -1);
  a.sti().nop().cli();
  mon.eq(
    `${T} lowest priority, broadcast destination 0xFF -> SUCCESS, VTL0 takes it`,
    qword(SV.count0),
    2,
  );
  mon.req(REQ_ASSERT, 0, 0, BigInt(VEC) | (1n << 32n), -1);
  mon.eq(
    `${T} VTL1 -> VTL1, its own VTL (OpenVMM: lower VTLs only) -> HV_STATUS_ACCESS_DENIED`,
    qword(V.result),
    ST.ACCESS_DENIED,
  );
  mon.req(REQ_ASSERT, 0, 0, BigInt(VEC) | (2n << 32n), -1);
  mon.eq(
    `${T} VTL1 -> VTL2, above the caller -> HV_STATUS_ACCESS_DENIED`,
    qword(V.result),
    ST.ACCESS_DENIED,
  );
  a.xor(r13, r13);
  for (const [control, vector] of [[0, 0x0f], [0, 0x100], [5, VEC], [1n << 34n, VEC]]) {
    mon.req(REQ_ASSERT, control!, 0, vector!, -1);
    a.mov(r14, qword(V.result)).xor(r14, ST.INVALID_PARAMETER).or(r13, r14);
  }
  mon.eq(
    `${T} vector 0x0F, vector 0x100, HvX64InterruptTypeInit, reserved control bit 34 -> ` +
      "HV_STATUS_INVALID_PARAMETER",
    r13,
    0,
  );
  for (const [vtl, what] of [[1, "VTL1, above the caller"], [0, "VTL0, its own VTL"]] as const) {
    a.mov(qword(p), -1).mov(qword(p + 8), 0).mov(qword(p + 16), 0);
    a.mov(rax, BigInt(VEC) | (BigInt(vtl) << 32n)).mov(qword(p + 24), rax);
    k.hypercall(0, HC_ASSERT, p, 0);
    mon.eq(`${T} VTL0 -> ${what} -> HV_STATUS_ACCESS_DENIED`, rax, ST.ACCESS_DENIED);
  }
  a.sti().nop().cli();
  mon.eq(`${T} refused calls asserted nothing`, qword(SV.count0), 2);
  // The NMI is taken with IF = 0 as soon as VTL1 returns (the kit's stub catches vector 2).
  k.expectFault(0, `${T} VTL0 takes an HvX64InterruptTypeNmi (vector 2) with IF = 0`, 2, () => {
    mon.req(REQ_ASSERT, 4, 0, 2, -1);
  });
  mon.eq(`${T} HvX64InterruptTypeNmi, physical APIC ID 0 -> SUCCESS`, qword(V.result), 0);
  a.jmp(k.finish);

  mon.emit();
  return k.build();
}
