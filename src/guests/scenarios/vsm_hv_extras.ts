/**
 * Scenario: the Hyper-V interface pieces around VSM, from the guest side (spec/vsm.md §1.3, §2.11,
 * §7.2-7.4):
 * - the reference TSC page (TLFS §12.7): HV_X64_MSR_REFERENCE_TSC, the overlay (read-only, hides
 *   RAM, ignores VTL protections, one partition-wide page behind per-VTL MSRs), and
 *   ((TSC × TscScale) >> 64) + TscOffset equal to HV_X64_MSR_TIME_REF_COUNT read a known number of
 *   instructions later, bit for bit; a TSC write invalidates it (TscSequence 0);
 * - XMM fast hypercalls (TLFS §3.7-3.8): input in RDX, R8, XMM0-XMM5 and output in the following
 *   XMM registers for GetVpRegisters, TranslateVirtualAddress, the flush and cluster-IPI (Ex)
 *   forms; rep start and partial completion; registers beyond the block untouched;
 * - HvCallSignalEvent and HvCallPostMessage (TLFS §11) over connections from the machine config:
 *   SIEF flags with an interrupt on 0→1 only, SIM slots with MessagePending/EOM redelivery in
 *   order, the port's 16 message buffers, every status code, and a VTL0 → VTL1 connection whose
 *   event and message preempt VTL0;
 * - EOI assist (TLFS "EOI Assist", spec §7.4): "No EOI required" when nothing else is pending,
 *   clear when an EOI is needed or a new request arrives, and the lazy EOI taking effect.
 */

import { Kit, PAGES } from "../kit.ts";
import {
  byte,
  cr4,
  dword,
  eax,
  ebx,
  ecx,
  edx,
  type Label,
  qword,
  r13,
  r14,
  r15,
  r8,
  rax,
  rbx,
  rcx,
  rdi,
  rdx,
  rsi,
  xmm0,
  xmm1,
  xmm2,
  xmm3,
  xmm4,
  xmm5,
  xmmword,
} from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { DEFAULT_CONFIG } from "../../machine/config.ts";
import { rdmsr64, REG, repResult, setGate, setReg, ST, store64, Vtl1Server } from "./vsm_util.ts";

const VAR = PAGES.scratch + 0xf0000;
const REQ = VAR;
/** VTL1 results for VTL0 to check. */
const R = (i: number) => VAR + 0x100 + i * 8;
const CNT_EV = VAR + 0x08, EV_SNAP = VAR + 0x10, CNT_MSG = VAR + 0x18, CNT_IPI = VAR + 0x20;
const V1_EV = VAR + 0x28, V1_EVSNAP = VAR + 0x30, V1_MSG = VAR + 0x38, V1_MSGTYPE = VAR + 0x40;
const V1_MSGPAY = VAR + 0x48, SEQ0 = VAR + 0x50, TR0 = VAR + 0x58;
/** EOI assist records per handler slot (0x71, 0x72, 0x79, 0x7a). */
const EA_COUNT = (s: number) => VAR + 0x200 + s * 8;
const EA_BIT = (s: number) => VAR + 0x240 + s * 8;
const EA_CONV = (s: number) => VAR + 0x280 + s * 8;
const EA_AFTER = VAR + 0x2c0;
/** Payload sequence numbers of the messages SINT4's handler saw, in order. */
const SEQ = (i: number) => VAR + 0x400 + i * 8;
const MSGREC = VAR + 0x800;
/** Reference TSC page GPAs of VTL0 and VTL1; XMM staging. */
const TSCPAGE0 = PAGES.scratch + 0x10000, TSCPAGE1 = PAGES.scratch + 0x11000;
const XIN = PAGES.scratch + 0x12000, XOUT = PAGES.scratch + 0x12100;

const REFTSC = 0x40000021, TIME_REF = 0x40000020, HV_EOI = 0x40000070, SELF_IPI = 0x83f;
const SCONTROL = 0x40000080, SIEFP = 0x40000082, SIMP = 0x40000083, EOM = 0x40000084;
const SINT0 = 0x40000090;
const PATTERN = 0x5a5a5a5a_a5a5a5a5n, XPAT = 0x77777777_77777777n;
const GUEST_OS_ID0 = 0x8100000000000001n;
/** TscScale for the default 1 GHz TSC: ceil(10^7 × 2^64 / tscHz) (reference_tsc.ts). */
const SCALE = (10_000_000n * (1n << 64n) + BigInt(DEFAULT_CONFIG.tscHz) - 1n) /
  BigInt(DEFAULT_CONFIG.tscHz);

/** Connections (machine config): IDs. */
const EV0 = 0x10, MSG0 = 0x11, EV1 = 0x12, MSG_VP1 = 0x13, EV_VP1 = 0x14, MSG1 = 0x15;
/** HV_STATUS values beyond vsm_util's. */
const INVALID_PORT_ID = 0x11, INVALID_CONNECTION_ID = 0x12, INSUFFICIENT_BUFFERS = 0x13;
const INVALID_SYNIC_STATE = 0x18;
/** Hypercall control words. */
const SIGNAL_FAST = 0x1005d, POST = 0x5c, POST_FAST = 0x1005c;
const GET_FAST = (reps: number, start = 0) =>
  0x10050n | (BigInt(reps) << 32n) | (BigInt(start) << 48n);

export function buildVsmHvExtras(): BuiltinGuest {
  const k = new Kit("vsm-hv-extras");
  const a = k.a;
  const srv = new Vtl1Server(k, REQ);
  const XMM = [xmm0, xmm1, xmm2, xmm3, xmm4, xmm5];
  const IN = PAGES.input;

  const expectMsr = (name: string, msr: number, v: number | bigint) => {
    rdmsr64(k, msr);
    k.expectEq(name, rax, v);
  };
  /** Loads XMM0-5 from (lo, hi) pairs (missing ones: XPAT). Clobbers r10. */
  const loadXmm = (pairs: [bigint | number, bigint | number][]) => {
    for (let i = 0; i < 6; i++) {
      const [lo, hi] = pairs[i] ?? [XPAT, XPAT];
      store64(k, XIN + 16 * i, lo);
      store64(k, XIN + 16 * i + 8, hi);
      a.i("movdqu", XMM[i]!, xmmword(XIN + 16 * i));
    }
  };
  /** Stores XMM0-5 to XOUT. */
  const dumpXmm = () => {
    for (let i = 0; i < 6; i++) a.i("movdqu", xmmword(XOUT + 16 * i), XMM[i]!);
  };
  const xq = (reg: number, half: 0 | 1) => qword(XOUT + 16 * reg + 8 * half);
  const signal = (conn: number | bigint, flag: number, rsvd = 0) =>
    k.hypercall(0, SIGNAL_FAST, BigInt(conn) | (BigInt(flag) << 32n) | (BigInt(rsvd) << 48n), 0);
  /** PostMessage input at IN: header, payload qwords 0-2 = seq, 0x1111…, 0x2222…, then junk. */
  const postInput = (conn: number, type: number, size: number, rsvd = 0) => {
    a.mov(eax, conn).mov(dword(IN), eax).mov(eax, rsvd).mov(dword(IN + 4), eax);
    a.mov(eax, type).mov(dword(IN + 8), eax).mov(eax, size).mov(dword(IN + 12), eax);
    store64(k, IN + 24, 0x1111111111111111n);
    store64(k, IN + 32, 0x2222222222222222n);
    for (let q = 3; q < 30; q++) store64(k, IN + 16 + 8 * q, 0xeeeeeeeeeeeeeeeen);
  };
  const post = (conn: number, type: number, size: number, rsvd = 0) => {
    postInput(conn, type, size, rsvd);
    k.hypercall(0, POST, IN, 0);
  };

  // --- Setup: x2APIC, SSE, gates ---------------------------------------------------------------
  a.cli();
  k.hvInit(0);
  k.wrmsr(0x1b, 0xfee00c00);
  k.wrmsr(0x80f, 0x1ff);
  a.mov(rax, cr4).or(rax, 0x600).mov(cr4, rax); // OSFXSR, OSXMMEXCPT
  const hEv = a.label(), hMsg = a.label(), hIpi = a.label();
  const hEa = [0x71, 0x72, 0x79, 0x7a].map(() => a.label());
  setGate(k, 0, 0x53, hEv);
  setGate(k, 0, 0x54, hMsg);
  setGate(k, 0, 0x70, hIpi);
  [0x71, 0x72, 0x79, 0x7a].forEach((v, i) => setGate(k, 0, v, hEa[i]!));

  // --- CPUID (TLFS §2.4 feature discovery, spec §7.5) --------------------------------------------
  a.mov(eax, 0x40000003).cpuid().shr(eax, 9).and(eax, 1);
  k.expectEq("§2.4 AccessPartitionReferenceTsc advertised (CPUID 0x40000003 EAX bit 9)", eax, 1);
  a.mov(eax, 0x40000003).cpuid().mov(eax, ebx).shr(eax, 4).and(eax, 3);
  k.expectEq("§2.4 PostMessages and SignalEvents privileges (EBX bits 4, 5)", eax, 3);
  a.mov(eax, 0x40000003).cpuid().and(edx, 0x8010);
  k.expectEq("§2.4 XMM fast hypercall input and output advertised (EDX bits 4, 15)", edx, 0x8010);

  // --- Reference TSC page (TLFS §12.7) -----------------------------------------------------------
  expectMsr("§12.7 HV_X64_MSR_REFERENCE_TSC resets to 0 (disabled)", REFTSC, 0);
  store64(k, TSCPAGE0, PATTERN);
  store64(k, TSCPAGE0 + 8, PATTERN);
  k.wrmsr(REFTSC, TSCPAGE0 | 0x800 | 1);
  expectMsr("§12.7 GPFN|Enable read back, RsvdP bit 11 preserved", REFTSC, TSCPAGE0 | 0x801);
  k.check("§12.7 TscSequence is nonzero (valid)", () => a.cmp(dword(TSCPAGE0), 0), "e");
  a.mov(eax, dword(TSCPAGE0)).mov(qword(SEQ0), rax);
  k.expectEq("§12.7 TscScale = ceil(10^7 × 2^64 / 1 GHz)", qword(TSCPAGE0 + 8), SCALE);
  k.expectEq("§12.7 TscOffset = 0", qword(TSCPAGE0 + 16), 0);
  a.mov(eax, dword(TSCPAGE0 + 4)).or(rax, qword(TSCPAGE0 + 24)).or(rax, qword(TSCPAGE0 + 0xff8));
  k.expectEq("§12.7 the reserved fields read 0", rax, 0);
  // The formula against the MSR: RDTSC at T, RDMSR exactly 5 instructions later (time T + 5), for
  // every residue of T + 5 modulo 100 (one reference tick is 100 instructions at 1 GHz), so the
  // samples include each instant where the reference time steps.
  {
    const loop = a.label(), sledEnd = a.label(), same = a.label(), aligned = a.label();
    a.xor(r15, r15).xor(r14, r14).xor(rbx, rbx);
    a.mov(rcx, TIME_REF).rdmsr().shl(rdx, 32).or(rax, rdx).mov(qword(TR0), rax);
    a.bind(loop);
    a.rdtsc(); // A
    a.shl(rdx, 32).or(rax, rdx).add(rax, 20); // A + 20: the RDMSR's time if no NOP is run
    a.xor(edx, edx).mov(ecx, 100).div(rcx); // rdx = (A + 20) mod 100
    a.mov(rcx, r15).sub(rcx, rdx).lea(rdx, qword(rcx, 100)).test(rcx, rcx).i("cmovs", rcx, rdx);
    a.lea(rdx, qword(sledEnd)).sub(rdx, rcx).jmp(rdx); // A + 14: run rcx NOPs
    for (let i = 0; i < 100; i++) a.nop();
    a.bind(sledEnd);
    a.rdtsc(); // T = A + 15 + NOPs
    a.shl(rdx, 32); // T+1
    a.or(rax, rdx); // T+2
    a.mov(rsi, rax); // T+3
    a.mov(ecx, TIME_REF); // T+4
    a.rdmsr(); // T+5: HV_X64_MSR_TIME_REF_COUNT at time T+5 ≡ r15 (mod 100)
    a.shl(rdx, 32).or(rax, rdx).mov(rdi, rax);
    a.lea(rax, qword(rsi, 5)).mul(qword(TSCPAGE0 + 8)).add(rdx, qword(TSCPAGE0 + 16));
    a.cmp(rdx, rdi).je(same).i("inc", r14).bind(same);
    a.lea(rax, qword(rsi, 5)).xor(edx, edx).mov(ecx, 100).div(rcx);
    a.cmp(rdx, r15).je(aligned).i("inc", rbx).bind(aligned);
    a.i("inc", r15).cmp(r15, 100).jb(loop);
    k.expectEq(
      "§12.7 ((TSC × TscScale) >> 64) + TscOffset = TIME_REF_COUNT, exactly, 100 samples",
      r14,
      0,
    );
    k.expectEq("§12.7 ... one sample at every instruction count modulo 100", rbx, 0);
    a.sub(rdi, qword(TR0));
    k.check("§12.7 ... over a span of reference time", () => a.cmp(rdi, 100), "b", rdi);
  }
  k.expectFault(0, "§12.7 the page is read-only: a write raises #GP", 13, () => {
    a.mov(qword(TSCPAGE0 + 8), 0);
  });
  k.expectEq("§12.7 ... and changes nothing", qword(TSCPAGE0 + 8), SCALE);
  k.expectFault(0, "§12.7 the page is not executable: a fetch raises #GP", 13, () => {
    a.mov(rax, TSCPAGE0).call(rax);
  });
  k.wrmsr(REFTSC, TSCPAGE0);
  k.expectEq("§5.2.1 disabling the page uncovers the RAM below", qword(TSCPAGE0 + 8), PATTERN);
  k.wrmsr(REFTSC, 0x10000000 | 1); // GPA 256 MiB: beyond the 64 MiB of RAM
  expectMsr(
    "§12.7 a GPFN beyond the GPA space is accepted (no #GP) and read back",
    REFTSC,
    0x10000001,
  );
  k.wrmsr(REFTSC, TSCPAGE0 | 1);
  a.mov(eax, dword(TSCPAGE0)).cmp(rax, qword(SEQ0));
  k.check("§12.7 re-enabled: the same partition-wide page (same TscSequence)", () => {}, "ne");

  // --- XMM fast hypercalls (TLFS §3.7 XMM fast input, §3.8 XMM fast output) -------------------------
  // GetVpRegisters(GuestOsId): header in RDX/R8, the name in XMM0, the value comes back in XMM1.
  loadXmm([[0x00090002, 0]]);
  k.hypercall(0, GET_FAST(1), -1, 0xfffffffe);
  dumpXmm();
  k.expectEq("§3.8 fast GetVpRegisters: success, 1 rep", rax, repResult(0, 1));
  k.expectEq("§3.8 ... the value in XMM1 (low)", xq(1, 0), GUEST_OS_ID0);
  k.expectEq("§3.8 ... bits 127:64 zero (XMM1 high)", xq(1, 1), 0);
  k.expectEq("§3.8 ... XMM2 beyond the output untouched", xq(2, 0), XPAT);
  k.expectEq("§3.9 ... input registers unmodified: RDX", rdx, -1);
  k.expectEq("§3.9 ... R8", r8, 0xfffffffe);
  k.expectEq("§3.9 ... XMM0", xq(0, 0), 0x00090002);
  // Four names (32 input bytes, pairs 0-1) → 64 output bytes in XMM1-XMM4.
  loadXmm([[0x00090002_00090003n, 0x00090017_00090001n]]);
  k.hypercall(0, GET_FAST(4), -1, 0xfffffffe);
  dumpXmm();
  k.expectEq("§3.8 fast GetVpRegisters x4: success, 4 reps", rax, repResult(0, 4));
  k.expectEq("§3.8 ... VpIndex in XMM1", xq(1, 0), 0);
  k.expectEq("§3.8 ... GuestOsId in XMM2", xq(2, 0), GUEST_OS_ID0);
  k.expectEq("§3.8 ... Hypercall MSR in XMM3", xq(3, 0), PAGES.hc0 | 1);
  k.expectEq("§12.7 ... HvRegisterReferenceTsc in XMM4", xq(4, 0), TSCPAGE0 | 1);
  k.expectEq("§3.8 ... XMM5 untouched", xq(5, 1), XPAT);
  // Rep start 1 of 2: only element 1 (XMM2) is written.
  loadXmm([[0x00090002_00090003n, 0]]);
  k.hypercall(0, GET_FAST(2, 1), -1, 0xfffffffe);
  dumpXmm();
  k.expectEq("§3.7 fast rep start 1 of 2: success, 2 reps completed", rax, repResult(0, 2));
  k.expectEq("§3.7 ... element 0's register (XMM1) untouched", xq(1, 0), XPAT);
  k.expectEq("§3.7 ... element 1 in XMM2", xq(2, 0), GUEST_OS_ID0);
  // An unknown name as element 1: element 0 completed and written, element 1 not.
  loadXmm([[0x00012345_00090003n, 0]]);
  k.hypercall(0, GET_FAST(2), -1, 0xfffffffe);
  dumpXmm();
  k.expectEq(
    "§3.12 fast rep, bad 2nd name: INVALID_PARAMETER, 1 rep",
    rax,
    repResult(ST.INVALID_PARAMETER, 1),
  );
  k.expectEq("§3.12 ... the completed element is written (XMM1)", xq(1, 0), 0);
  k.expectEq("§3.12 ... the failed one is not (XMM2)", xq(2, 0), XPAT);
  // Five names: 36 input + 80 output bytes do not fit the 112-byte block.
  loadXmm([]);
  k.hypercall(0, GET_FAST(5), -1, 0xfffffffe);
  dumpXmm();
  k.expectEq(
    "§3.7 fast block overflow -> INVALID_HYPERCALL_INPUT",
    rax,
    ST.INVALID_HYPERCALL_INPUT,
  );
  k.expectEq("§3.7 ... no register written", xq(1, 0), XPAT);
  // TranslateVirtualAddress: 32 input bytes (ControlFlags, GvaPage in XMM0), result in XMM1.
  loadXmm([[1, 0x200]]);
  k.hypercall(0, 0x10052, -1, 0xfffffffe);
  dumpXmm();
  k.expectEq("§9.4.6 fast TranslateVirtualAddress succeeds", rax, 0);
  k.expectEq("§9.4.6 ... Result (Success, WB) in XMM1 low", xq(1, 0), 6n << 32n);
  k.expectEq("§9.4.6 ... GpaPage in XMM1 high", xq(1, 1), 0x200);
  // FlushVirtualAddressSpaceEx: Format and ValidBanksMask in XMM0, the bank in XMM1 (var header).
  loadXmm([[0, 1], [1, 0]]);
  k.hypercall(0, 0x30013, 0, 0);
  k.expectEq("§9.4.4 fast FlushVirtualAddressSpaceEx (HV_VP_SET in XMM0-1) succeeds", rax, 0);
  loadXmm([[5, 1], [1, 0]]);
  k.hypercall(0, 0x30013, 0, 0);
  k.expectEq(
    "§9.4.4 ... HV_VP_SET format 5 read from XMM0 -> INVALID_HYPERCALL_INPUT",
    rax,
    ST.INVALID_HYPERCALL_INPUT,
  );
  loadXmm([[0, 1], [1, 0]]);
  k.hypercall(0, 0x10013, 0, 0);
  k.expectEq(
    "§9.4.4 ... a bank but no variable header -> INVALID_HYPERCALL_INPUT",
    rax,
    ST.INVALID_HYPERCALL_INPUT,
  );
  // FlushVirtualAddressList, 3 GVA ranges in XMM0 high and XMM1.
  loadXmm([[1, 0x100000], [0x200000, 0x300000]]);
  k.hypercall(0, 0x0000_0003_0001_0003n, 0, 0);
  k.expectEq("§9.4.3 fast FlushVirtualAddressList x3 succeeds, 3 reps", rax, repResult(0, 3));
  // SendSyntheticClusterIpiEx to this VP: vector/VTL in RDX, Format in R8, mask and bank in XMM0.
  loadXmm([[1, 1]]);
  k.hypercall(0, 0x30015, 0x70, 0);
  k.expectEq("§10.5.3 fast SendSyntheticClusterIpiEx succeeds", rax, 0);
  a.sti().nop().cli();
  k.expectEq("§10.5.3 ... the IPI arrives once", qword(CNT_IPI), 1);

  // --- HvCallSignalEvent / HvCallPostMessage (TLFS §11; config connections) -----------------------
  signal(EV0, 0);
  k.expectEq("§11 SignalEvent, SynIC disabled -> INVALID_SYNIC_STATE", rax, INVALID_SYNIC_STATE);
  post(MSG0, 0x1234, 8);
  k.expectEq("§11 PostMessage, SynIC disabled -> INVALID_SYNIC_STATE", rax, INVALID_SYNIC_STATE);
  k.wrmsr(SCONTROL, 1);
  k.wrmsr(SIEFP, PAGES.siefp0 | 1);
  k.wrmsr(SIMP, PAGES.simp0 | 1);
  signal(EV0, 0);
  k.expectEq("§11 SignalEvent, SINT masked -> INVALID_SYNIC_STATE", rax, INVALID_SYNIC_STATE);
  k.wrmsr(SINT0 + 3, 0x53);
  k.wrmsr(SINT0 + 4, 0x54);
  signal(0x99, 0);
  k.expectEq("§11 unknown connection -> INVALID_CONNECTION_ID", rax, INVALID_CONNECTION_ID);
  signal(0x01000000 | EV0, 0);
  k.expectEq(
    "§11 connection ID with reserved bits 31:24 -> INVALID_CONNECTION_ID",
    rax,
    INVALID_CONNECTION_ID,
  );
  post(0x99, 0x1234, 8);
  k.expectEq("§11 PostMessage, unknown connection -> INVALID_CONNECTION_ID", rax, 0x12);
  signal(MSG0, 0);
  k.expectEq("§11 SignalEvent on a message port -> INVALID_PORT_ID", rax, INVALID_PORT_ID);
  post(EV0, 0x1234, 8);
  k.expectEq("§11 PostMessage on an event port -> INVALID_PORT_ID", rax, INVALID_PORT_ID);
  signal(EV0, 8);
  k.expectEq("§11 FlagNumber = FlagCount (8) -> INVALID_PARAMETER", rax, ST.INVALID_PARAMETER);
  signal(EV0, 0, 1);
  k.expectEq("§11 SignalEvent RsvdZ nonzero -> INVALID_PARAMETER", rax, ST.INVALID_PARAMETER);
  signal(EV_VP1, 0);
  k.expectEq("§11 SignalEvent to VP1 (SynIC off) -> INVALID_SYNIC_STATE", rax, 0x18);
  k.expectEq("§11 nothing was signalled so far", qword(PAGES.siefp0 + 3 * 256), 0);
  // Flag 2 of the port = SIEF flag 5 + 2 = 7 of SINT3.
  signal(EV0, 2);
  k.expectEq("§11 SignalEvent succeeds", rax, 0);
  k.expectEq(
    "§11 ... sets SIEF flag BaseFlagNumber + FlagNumber (bit 7)",
    byte(PAGES.siefp0 + 768),
    0x80,
  );
  a.sti().nop().cli();
  k.expectEq("§11 ... and interrupts (0→1)", qword(CNT_EV), 1);
  k.expectEq("§11 ... the handler saw the flag", qword(EV_SNAP), 0x80);
  signal(EV0, 2);
  k.expectEq("§11 signalling a set flag succeeds", rax, 0);
  a.sti().nop().cli();
  k.expectEq("§11 ... without an interrupt", qword(CNT_EV), 1);
  signal(EV0, 3);
  a.sti().nop().cli();
  k.expectEq("§11 another flag (8: byte 1, bit 0) interrupts", qword(CNT_EV), 2);
  k.expectEq("§11 ... both flags set", qword(PAGES.siefp0 + 768), 0x180);
  a.lock().btr(dword(PAGES.siefp0 + 768), 7);
  signal(EV0, 2);
  a.sti().nop().cli();
  k.expectEq("§11 a flag the guest cleared interrupts again", qword(CNT_EV), 3);
  a.mov(dword(IN), EV0).mov(dword(IN + 4), 7);
  k.hypercall(0, 0x5d, IN, 0);
  a.sti().nop().cli();
  k.expectEq("§11 memory-form SignalEvent (flag 7 → SIEF flag 12) succeeds", rax, 0);
  k.expectEq("§11 ... flag set, interrupt", qword(CNT_EV), 4);
  k.expectEq("§11 ... SIEF SINT3 flags 7, 8, 12", qword(PAGES.siefp0 + 768), 0x1180);
  // PostMessage parameters.
  post(MSG0, 0, 8);
  k.expectEq("§11 MessageType 0 -> INVALID_PARAMETER", rax, ST.INVALID_PARAMETER);
  post(MSG0, 0x80000001, 8);
  k.expectEq("§11 MessageType with bit 31 -> INVALID_PARAMETER", rax, ST.INVALID_PARAMETER);
  post(MSG0, 0x1234, 241);
  k.expectEq("§11 PayloadSize 241 -> INVALID_PARAMETER", rax, ST.INVALID_PARAMETER);
  post(MSG0, 0x1234, 8, 1);
  k.expectEq("§11 PostMessage RsvdZ nonzero -> INVALID_PARAMETER", rax, ST.INVALID_PARAMETER);
  post(MSG_VP1, 0x1234, 8);
  k.expectEq("§11 PostMessage to VP1 (SynIC off) -> INVALID_SYNIC_STATE", rax, 0x18);
  k.hypercall(0, POST_FAST, MSG0, 0x1234);
  k.expectEq(
    "§3.7 fast PostMessage (256 bytes > 112) -> INVALID_HYPERCALL_INPUT",
    rax,
    ST.INVALID_HYPERCALL_INPUT,
  );
  const slot4 = PAGES.simp0 + 4 * 256;
  k.expectEq("§11 no message delivered so far", dword(slot4), 0);
  // One message, 24 payload bytes.
  store64(k, IN + 16, 0xabcdef);
  post(MSG0, 0x1234, 24);
  k.expectEq("§11 PostMessage succeeds", rax, 0);
  k.expectEq("§11 ... SIM slot 4: MessageType", dword(slot4), 0x1234);
  k.expectEq("§11 ... PayloadSize 24, no MessagePending", dword(slot4 + 4), 24);
  k.expectEq("§11 ... Port (OriginationId) = the connection", qword(slot4 + 8), MSG0);
  k.expectEq("§11 ... payload copied", qword(slot4 + 16), 0xabcdef);
  k.expectEq("§11 ... payload copied (3rd qword)", qword(slot4 + 32), 0x2222222222222222n);
  k.expectEq("§11 ... bytes beyond PayloadSize are zero", qword(slot4 + 40), 0);
  a.sti().nop().cli();
  k.expectEq("§11 ... the SINT interrupt", qword(CNT_MSG), 1);
  // Queueing: with IF=0 the slot stays full; 16 more fill the port's buffers, the next fails.
  {
    const loop = a.label(), okl = a.label();
    a.mov(r13, 1).xor(r14, r14);
    a.bind(loop);
    a.mov(qword(IN + 16), r13);
    post(MSG0, 0x1234, 8);
    a.test(rax, rax).jz(okl).i("inc", r14).bind(okl);
    a.i("inc", r13).cmp(r13, 17).jbe(loop);
    k.expectEq("§11 17 posts succeed: 1 in the slot, 16 queued", r14, 0);
    k.expectEq("§11 ... MessagePending set in the occupied slot", byte(slot4 + 5), 1);
    a.mov(qword(IN + 16), 18);
    k.hypercall(0, POST, IN, 0);
    k.expectEq(
      "§11 the 18th: the port's 16 buffers are in use -> INSUFFICIENT_BUFFERS",
      rax,
      INSUFFICIENT_BUFFERS,
    );
    // Drain: the handler copies, clears, writes EOM (MessagePending), EOIs: one after another.
    const wait = a.label(), done = a.label();
    a.mov(r13, 100000).sti();
    a.bind(wait).cmp(qword(CNT_MSG), 18).jae(done).dec(r13).jnz(wait);
    a.bind(done).cli();
    k.expectEq("§11.9.3 EOM redelivers all 17 queued messages", qword(CNT_MSG), 18);
    const cmpl = a.label(), good = a.label();
    a.mov(r13, 1).xor(r14, r14);
    a.bind(cmpl).cmp(qword(null, r13, 8, SEQ(0)), r13).je(good).i("inc", r14).bind(good);
    a.i("inc", r13).cmp(r13, 17).jbe(cmpl);
    k.expectEq("§11 ... in the order posted", r14, 0);
    k.expectEq("§11 ... the last one without MessagePending", byte(MSGREC + 5), 0);
    a.mov(qword(IN + 16), 19);
    k.hypercall(0, POST, IN, 0);
    k.expectEq("§11 delivered messages free their buffers: posting works again", rax, 0);
    a.sti().nop().cli();
    k.expectEq("§11 ... and is delivered", qword(SEQ(18)), 19);
  }
  k.wrmsr(SIMP, PAGES.simp0);
  post(MSG0, 0x1234, 8);
  k.expectEq("§11 PostMessage, SIM page disabled -> INVALID_SYNIC_STATE", rax, 0x18);
  k.wrmsr(SIMP, PAGES.simp0 | 1);

  // --- A VTL0 → VTL1 connection (TLFS §15.12.2 preemption, §15.11 per-VTL SynIC) ------------------
  k.enableVtl1();
  srv.call(0); // VTL1 initialises (SynIC, its reference TSC page, protections)
  k.expectEq("§15.11 VTL1's HV_X64_MSR_REFERENCE_TSC is its own (reset 0)", qword(R(0)), 0);
  k.expectEq("§12.7 VTL1 maps the same partition-wide page: TscScale", qword(R(2)), SCALE);
  a.mov(rax, qword(R(1))).cmp(rax, qword(SEQ0));
  k.check("§12.7 ... and TscSequence", () => {}, "ne", rax);
  k.expectEq("§15.5.1 VTL1 enables VTL protection", qword(R(3)), repResult(0, 1));
  k.expectEq("§15.9 VTL1 makes the GPA under VTL0's page no-access", qword(R(4)), repResult(0, 1));
  k.expectEq(
    "§5.2.1 the overlay ignores the protection of the GPA below: VTL0 reads it",
    qword(TSCPAGE0 + 8),
    SCALE,
  );
  signal(EV1, 0); // VTL1 SINT2, SIEF flag 64
  k.expectEq("§11 SignalEvent to VTL1 succeeds", rax, 0);
  k.expectEq("§15.12.2 VTL1's SINT preempts VTL0 (IF=0) and its handler runs", qword(V1_EV), 1);
  k.expectEq("§15.11 ... the flag is in VTL1's SIEF page (flag 64)", qword(V1_EVSNAP), 1);
  k.expectEq("§15.11 ... not in VTL0's", qword(PAGES.siefp0 + 2 * 256 + 8), 0);
  store64(k, IN + 16, 0x5151);
  post(MSG1, 0x4321, 16);
  k.expectEq("§11 PostMessage to VTL1 succeeds", rax, 0);
  k.expectEq("§15.12.2 VTL1 gets the message at once", qword(V1_MSG), 1);
  k.expectEq("§15.11 ... in its own SIM page, slot 5", qword(V1_MSGTYPE), 0x4321);
  k.expectEq("§15.11 ... with the payload", qword(V1_MSGPAY), 0x5151);

  // --- EOI assist (TLFS "EOI Assist", spec §7.4) -----------------------------------------------
  k.wrmsr(0x40000073, PAGES.assist0 | 1);
  k.expectEq("§7.8.7 VTL0's VP assist page: EOI Assist field starts 0", dword(PAGES.assist0), 0);
  k.wrmsr(SELF_IPI, 0x71);
  a.sti().nop().cli();
  k.expectEq(
    "spec §7.4 edge interrupt, nothing else pending: No EOI required set",
    qword(EA_BIT(0)),
    1,
  );
  k.expectEq("spec §7.4 ... so the handler skipped the EOI write", qword(EA_CONV(0)), 0);
  rdmsr64(k, 0x810 + (0x71 >> 5));
  a.shr(rax, 0x71 & 31).and(eax, 1);
  k.expectEq("spec §7.4 ... and the APIC took the EOI (ISR clear)", rax, 0);
  k.wrmsr(SELF_IPI, 0x71);
  k.wrmsr(SELF_IPI, 0x72);
  a.sti().nop().nop().cli();
  k.expectEq("spec §7.4 0x72 with 0x71 pending: No EOI required clear", qword(EA_BIT(1)), 0);
  k.expectEq("spec §7.4 ... the handler wrote the EOI", qword(EA_CONV(1)), 1);
  k.expectEq("spec §7.4 then 0x71 alone: set again", qword(EA_BIT(0)), 1);
  k.expectEq("spec §7.4 ... both ran (0x71 twice in all)", qword(EA_COUNT(0)), 2);
  k.wrmsr(SELF_IPI, 0x7a);
  a.sti().nop().nop().cli();
  k.expectEq("spec §7.4 0x7a alone: set at entry", qword(EA_BIT(3)), 1);
  k.expectEq("spec §7.4 a request (0x79) during the handler clears it", qword(EA_AFTER), 0);
  k.expectEq("spec §7.4 ... so the handler writes the EOI", qword(EA_CONV(3)), 1);
  k.expectEq("spec §7.4 ... then 0x79 runs, with the bit set", qword(EA_BIT(2)), 1);
  k.expectEq("spec §7.4 ... and skips its EOI", qword(EA_CONV(2)), 0);
  rdmsr64(k, 0x80a);
  k.expectEq("spec §7.4 nothing left in service (PPR 0)", rax, 0);

  // --- TSC writes invalidate the page (reference_tsc.ts) -----------------------------------------
  rdmsr64(k, TIME_REF);
  a.mov(r15, rax);
  k.wrmsr(0x10, 0x1_0000_0000_0000n);
  k.expectEq("§12.7 a TSC write makes TscSequence 0 (fall back to the MSR)", dword(TSCPAGE0), 0);
  a.rdtsc().shl(rdx, 32).or(rax, rdx).shr(rax, 48);
  k.expectEq("§12.7 ... the TSC took the value written", rax, 1);
  rdmsr64(k, TIME_REF);
  a.sub(rax, r15);
  k.check("§12.4 TIME_REF_COUNT unaffected by the TSC write", () => a.cmp(rax, 100), "ae", rax);
  srv.call(1);
  k.expectEq("§12.7 ... VTL1's view of the page too (partition-wide)", qword(R(5)), 0);
  a.jmp(k.finish);

  // --- VTL0 handlers -------------------------------------------------------------------------
  const eoi = () => a.mov(rcx, HV_EOI).xor(eax, eax).xor(edx, edx).wrmsr();
  a.bind(hEv).push(rax).push(rcx).push(rdx);
  a.i("inc", qword(CNT_EV)).mov(rax, qword(PAGES.siefp0 + 768)).mov(qword(EV_SNAP), rax);
  eoi();
  a.pop(rdx).pop(rcx).pop(rax).iretq();
  a.bind(hMsg).push(rax).push(rcx).push(rdx).push(rsi).push(rdi);
  a.mov(rsi, slot4).mov(rdi, MSGREC).mov(ecx, 32).rep().movsq();
  a.mov(rax, qword(CNT_MSG)).mov(rcx, qword(slot4 + 16)).mov(qword(null, rax, 8, SEQ(0)), rcx);
  a.i("inc", qword(CNT_MSG));
  {
    const noEom = a.label();
    a.test(byte(slot4 + 5), 1).mov(dword(slot4), 0).jz(noEom);
    a.mov(rcx, EOM).xor(eax, eax).xor(edx, edx).wrmsr();
    a.bind(noEom);
  }
  eoi();
  a.pop(rdi).pop(rsi).pop(rdx).pop(rcx).pop(rax).iretq();
  a.bind(hIpi).push(rax).push(rcx).push(rdx).i("inc", qword(CNT_IPI));
  eoi();
  a.pop(rdx).pop(rcx).pop(rax).iretq();
  [0x71, 0x72, 0x79, 0x7a].forEach((vec, s) => eoiAssistHandler(vec, s, hEa[s]!));

  /** The TLFS's recommended EOI: `btr [assist], 0; jc NoEoiRequired; wrmsr EOI`. */
  function eoiAssistHandler(vec: number, s: number, l: Label): void {
    const skip = a.label();
    a.bind(l).push(rax).push(rcx).push(rdx);
    a.mov(eax, dword(PAGES.assist0)).and(eax, 1).mov(qword(EA_BIT(s)), rax);
    if (vec === 0x7a) {
      a.mov(ecx, SELF_IPI).mov(eax, 0x79).xor(edx, edx).wrmsr();
      a.mov(eax, dword(PAGES.assist0)).and(eax, 1).mov(qword(EA_AFTER), rax);
    }
    a.lock().btr(dword(PAGES.assist0), 0).jcc("c", skip);
    eoi();
    a.i("inc", qword(EA_CONV(s)));
    a.bind(skip).i("inc", qword(EA_COUNT(s)));
    a.pop(rdx).pop(rcx).pop(rax).iretq();
  }

  // --- VTL1 -------------------------------------------------------------------------------------------
  const h1Ev = a.label(), h1Msg = a.label();
  a.bind(h1Ev).push(rax).push(rcx).push(rdx);
  a.i("inc", qword(V1_EV)).mov(rax, qword(PAGES.siefp1 + 2 * 256 + 8)).mov(qword(V1_EVSNAP), rax);
  eoi();
  a.pop(rdx).pop(rcx).pop(rax).iretq();
  a.bind(h1Msg).push(rax).push(rcx).push(rdx);
  a.i("inc", qword(V1_MSG));
  a.mov(eax, dword(PAGES.simp1 + 5 * 256)).mov(qword(V1_MSGTYPE), rax);
  a.mov(rax, qword(PAGES.simp1 + 5 * 256 + 16)).mov(qword(V1_MSGPAY), rax);
  a.mov(dword(PAGES.simp1 + 5 * 256), 0);
  eoi();
  a.pop(rdx).pop(rcx).pop(rax).iretq();
  srv.init(() => {
    k.hvInit(1);
    k.wrmsr(0x40000073, PAGES.assist1 | 1);
    k.wrmsr(0x1b, 0xfee00c00);
    k.wrmsr(0x80f, 0x1ff);
    setGate(k, 1, 0x62, h1Ev);
    setGate(k, 1, 0x65, h1Msg);
    k.wrmsr(SCONTROL, 1);
    k.wrmsr(SIEFP, PAGES.siefp1 | 1);
    k.wrmsr(SIMP, PAGES.simp1 | 1);
    k.wrmsr(SINT0 + 2, 0x62);
    k.wrmsr(SINT0 + 5, 0x65);
    rdmsr64(k, REFTSC);
    a.mov(qword(R(0)), rax);
    k.wrmsr(REFTSC, TSCPAGE1 | 1);
    a.mov(eax, dword(TSCPAGE1)).mov(qword(R(1)), rax);
    a.mov(rax, qword(TSCPAGE1 + 8)).mov(qword(R(2)), rax);
    setReg(k, 1, REG.VSM_PARTITION_CONFIG, 1 | (0xf << 1));
    a.mov(qword(R(3)), rax);
    // ModifyVtlProtectionMask: owner VTL1, no access, the GPFN under VTL0's reference TSC page.
    store64(k, IN, -1);
    a.mov(dword(IN + 8), 0).mov(dword(IN + 12), 0x11);
    store64(k, IN + 16, TSCPAGE0 >> 12);
    k.hypercall(1, 0x0000_0001_0000_000cn, IN, 0);
    a.mov(qword(R(4)), rax);
  });
  srv.onInterrupt(() => a.sti().nop().cli());
  srv.on(1, () => a.mov(eax, dword(TSCPAGE1)).mov(qword(R(5)), rax));
  srv.emit();
  return {
    ...k.build(),
    config: {
      vps: 2,
      connections: [
        { id: EV0, kind: "event", vp: 0, vtl: 0, sint: 3, flag: 5, flagCount: 8 },
        { id: MSG0, kind: "message", vp: 0, vtl: 0, sint: 4 },
        { id: EV1, kind: "event", vp: 0, vtl: 1, sint: 2, flag: 64, flagCount: 1 },
        { id: MSG_VP1, kind: "message", vp: 1, vtl: 0, sint: 2 },
        { id: EV_VP1, kind: "event", vp: 1, vtl: 0, sint: 2 },
        { id: MSG1, kind: "message", vp: 0, vtl: 1, sint: 5 },
      ],
    },
  };
}
