/**
 * Scenario: HvCallGetVpRegisters / HvCallSetVpRegisters (TLFS §7.10.1-7.10.2, §15.3, §15.5,
 * §15.11; spec/vsm.md §2.5, §3): the 32-byte Set element layout, rep counts with partial
 * completion and rep start, reserved fields, target-VTL rules, a lower VTL's private registers
 * read and written by VTL1 (RIP, RSP, RFLAGS, CR0/3/4, EFER, MSRs, segments, descriptor tables)
 * against shared ones (GPRs, CR2), the VSM registers (status, capabilities, partition config,
 * secure config, pending event) and the per-VTL guest OS ID, hypercall and VP assist registers.
 */

import { Kit, PAGES } from "../kit.ts";
import {
  al,
  ax,
  cr0,
  cr2,
  cr3,
  cr4,
  dword,
  eax,
  fs,
  mem,
  qword,
  rax,
  rbx,
  rcx,
  rsp,
  word,
} from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import {
  fill,
  getReg,
  rdmsr64,
  REG,
  repResult,
  setReg,
  ST,
  store64,
  Vtl1Server,
} from "./vsm_util.ts";

const VAR = PAGES.scratch + 0xf0000;
const REQ = VAR, SAVED_RSP = VAR + 0x08, S_CR0 = VAR + 0x10, S_CR3 = VAR + 0x18;
const S_CR4 = VAR + 0x20, S_EFER = VAR + 0x28, S_GDTR = VAR + 0x40, S_IDTR = VAR + 0x50;
const PAT = 0x5a5a5a5a5a5a5a5an;
const OS0 = 0x8100000000000001n, OS1 = 0x8100000000000002n;
const MSR_EFER = 0xc0000080, MSR_LSTAR = 0xc0000082, MSR_FS_BASE = 0xc0000100;
const MSR_KGS = 0xc0000102;
const UNKNOWN = 0xdead0000;
const TO0 = 0x10;

export function buildVsmRegisters(): BuiltinGuest {
  const k = new Kit("vsm-registers");
  const a = k.a;
  const srv = new Vtl1Server(k, REQ);
  const out = (i = 0, half = 0) => qword(PAGES.output + i * 16 + half * 8);
  const landing = a.label();

  /** A rep GetVpRegisters of `names` from VTL `vtl` (output prefilled with a pattern). */
  const getMany = (vtl: 0 | 1, names: number[], vtlSel = 0, repStart = 0) => {
    a.mov(qword(PAGES.input), -1);
    store64(k, PAGES.input + 8, 0xfffffffen | (BigInt(vtlSel) << 32n));
    names.forEach((n, i) => a.mov(dword(PAGES.input + 16 + 4 * i), n));
    fill(k, PAGES.output, 2 * names.length, PAT);
    const ctl = 0x50n | (BigInt(names.length) << 32n) | (BigInt(repStart) << 48n);
    k.hypercall(vtl, ctl, PAGES.input, PAGES.output);
  };
  /** A rep SetVpRegisters: elements {name, 12 reserved bytes (or `rsvd`), value lo, value hi}. */
  const setMany = (
    vtl: 0 | 1,
    elems: { name: number; lo: bigint | number; hi?: bigint; rsvd?: number }[],
    vtlSel = 0,
    hdrRsvd = 0,
  ) => {
    a.mov(qword(PAGES.input), -1);
    store64(k, PAGES.input + 8, 0xfffffffen | (BigInt(vtlSel) << 32n) | (BigInt(hdrRsvd) << 40n));
    elems.forEach((e, i) => {
      const b = PAGES.input + 16 + 32 * i;
      store64(k, b, BigInt(e.name) | (BigInt(e.rsvd ?? 0) << 32n));
      store64(k, b + 8, 0);
      store64(k, b + 16, e.lo);
      store64(k, b + 24, e.hi ?? 0n);
    });
    k.hypercall(vtl, 0x51n | (BigInt(elems.length) << 32n), PAGES.input, 0);
  };
  const ok1 = repResult(0, 1);

  // --- VTL0 on its own -------------------------------------------------------------------------
  k.hvInit(0);
  k.enableVtl1();
  getReg(k, 0, REG.VSM_VP_STATUS);
  k.expectEq("§7.10.1 GetVpRegisters(VsmVpStatus) from VTL0: 1 rep done", rax, ok1);
  k.expectEq("§15.3.3 VsmVpStatus: ActiveVtl 0, EnabledVtlSet {0,1}", out(), 0x30000);
  getReg(k, 0, REG.VP_INDEX);
  k.expectEq("§7.10.1 HvRegisterVpIndex of VP0 is 0", out(), 0);
  getReg(k, 0, REG.GUEST_OS_ID);
  k.expectEq("§15.11 VTL0 reads its own guest OS ID register", out(), OS0);
  getReg(k, 0, REG.RIP, { vtlSel: 0x11 });
  k.expectEq("§7.10.1 Get with TargetVtl above the caller -> ACCESS_DENIED", rax, ST.ACCESS_DENIED);
  setReg(k, 0, REG.VSM_PARTITION_CONFIG, 0x1f, { vtlSel: 0x11 });
  k.expectEq("§7.10.2 Set with TargetVtl above the caller -> ACCESS_DENIED", rax, ST.ACCESS_DENIED);
  setReg(k, 0, REG.VSM_PARTITION_CONFIG, 0x1f);
  k.expectEq(
    "§15.5.1 VTL0 has no VsmPartitionConfig -> INVALID_PARAMETER",
    rax,
    ST.INVALID_PARAMETER,
  );
  getReg(k, 0, REG.VSM_VP_SECURE_CONFIG_VTL0);
  k.expectEq(
    "§15.5.2 VsmVpSecureConfigVtl0 of VTL0 itself -> INVALID_PARAMETER",
    rax,
    ST.INVALID_PARAMETER,
  );
  setReg(k, 0, REG.VSM_VP_SECURE_CONFIG_VTL0, 2);
  k.expectEq("§15.5.2 VTL0 writing VsmVpSecureConfigVtl0 -> ACCESS_DENIED", rax, ST.ACCESS_DENIED);
  setReg(k, 0, REG.VSM_VINA, 0x170);
  k.expectEq(
    "§15.12.4 VsmVina is not a VTL0 register -> INVALID_PARAMETER",
    rax,
    ST.INVALID_PARAMETER,
  );
  getMany(0, [UNKNOWN]);
  k.expectEq(
    "§7.10.1 an unknown register name -> INVALID_PARAMETER, 0 reps",
    rax,
    ST.INVALID_PARAMETER,
  );
  k.expectEq("§7.10.1 ... no output element written", out(), PAT);

  // --- VTL1 looks at and changes VTL0's state ---------------------------------------------------------
  a.mov(rax, cr0).mov(qword(S_CR0), rax).mov(rax, cr3).mov(qword(S_CR3), rax);
  a.mov(rax, cr4).mov(qword(S_CR4), rax);
  rdmsr64(k, MSR_EFER);
  a.mov(qword(S_EFER), rax);
  a.sgdt(mem(S_GDTR)).sidt(mem(S_IDTR));
  a.mov(rbx, 0xb0b0b0b0);
  a.mov(qword(SAVED_RSP), rsp);
  srv.call(1); // VTL1 redirects VTL0 to `landing`
  k.say("FAIL VTL1 did not redirect VTL0's RIP\n");
  a.i("inc", qword(k.failCount));
  a.bind(landing);
  a.setcc("c", al);
  k.expectEq("§7.10.2 RFLAGS written by VTL1 (CF set) took effect", al, 1);
  a.mov(rax, rsp);
  k.check("§7.10.2 RSP written by VTL1 took effect", () => a.cmp(rax, qword(SAVED_RSP)), "ne", rax);
  rdmsr64(k, MSR_EFER);
  a.and(rax, 1);
  k.expectEq("§7.10.2 EFER.SCE written by VTL1 took effect", rax, 1);
  rdmsr64(k, MSR_KGS);
  k.expectEq(
    "§7.10.2 KernelGsBase written by VTL1 (first element of a partial rep)",
    rax,
    0x1111000,
  );
  rdmsr64(k, MSR_LSTAR);
  k.expectEq("§7.10.2 LSTAR written by VTL1", rax, 0x2222000);
  rdmsr64(k, MSR_FS_BASE);
  k.expectEq("§7.10.2 FS base written by VTL1 (segment register value)", rax, 0x12345000);
  a.xor(eax, eax).mov(ax, fs);
  k.expectEq("§7.10.2 FS selector written by VTL1", rax, 0x10);
  a.mov(rax, cr4).and(rax, 0x200);
  k.expectEq("§7.10.2 CR4.OSFXSR written by VTL1", rax, 0x200);
  a.mov(rax, cr2);
  k.expectEq("§15.11 CR2 is shared: VTL0 sees the value VTL1 wrote", rax, 0xc2c2000);
  srv.call(2);
  k.expectFault(0, "§15.13 VTL1 injects #UD into VTL0 with HvRegisterPendingEvent0", 6, () => {
    srv.call(3);
  });
  k.expectFault(0, "§15.13 VTL1 injects #GP with an error code", 13, () => srv.call(4));
  k.expectEq("§15.13 ... the injected error code", qword(k.catchState[0]!, 24), 0x1234);
  srv.call(5);
  a.jmp(k.finish);

  // --- VTL1 -----------------------------------------------------------------------------------------------
  srv.init(() => {
    k.hvInit(1);
    k.wrmsr(0x40000073, PAGES.assist1 | 1);
  });
  const get0 = (name: number) => getReg(k, 1, name, { vtlSel: TO0 });
  srv.on(1, () => {
    get0(REG.RIP);
    k.expectEq("§7.10.1 VTL1 reads VTL0's RIP: 1 rep done", rax, ok1);
    k.expectEq(
      "§15.11 VTL0's RIP is after the VMCALL of its code page (0x60001A)",
      out(),
      PAGES.hc0 + 0x1a,
    );
    get0(REG.RSP);
    a.mov(rax, qword(SAVED_RSP)).sub(rax, 8);
    k.check(
      "§15.11 VTL0's RSP (one return address below the saved value)",
      () => {
        a.cmp(rax, out());
      },
      "ne",
      rax,
    );
    get0(REG.RFLAGS);
    a.mov(rax, out()).and(rax, 0x202);
    k.expectEq("§15.11 VTL0's RFLAGS: IF clear, bit 1 set", rax, 2);
    for (
      const [name, saved, text] of [
        [REG.CR0, S_CR0, "CR0"],
        [REG.CR3, S_CR3, "CR3"],
        [REG.CR4, S_CR4, "CR4"],
        [REG.EFER, S_EFER, "EFER"],
      ] as const
    ) {
      get0(name);
      a.mov(rax, out());
      k.check(`§15.11 VTL0's ${text} as VTL0 saw it`, () => a.cmp(rax, qword(saved)), "ne", rax);
    }
    get0(REG.CS);
    k.expectEq("§7.10.1 VTL0's CS: base 0", out(), 0);
    k.expectEq(
      "§7.10.1 VTL0's CS: limit, selector 0x08, attributes 0xA09B",
      out(0, 1),
      0xa09b0008ffffffffn,
    );
    get0(REG.SS);
    k.expectEq(
      "§7.10.1 VTL0's SS: selector 0x10, attributes 0xC093",
      out(0, 1),
      0xc0930010ffffffffn,
    );
    get0(REG.TR);
    k.expectEq("§7.10.1 VTL0's TR: selector 0, attributes 0x8B", out(0, 1), 0x008b00000000ffffn);
    get0(REG.GDTR);
    a.movzx(eax, word(PAGES.output + 6));
    a.movzx(rcx, word(S_GDTR));
    k.check("§7.10.1 VTL0's GDTR limit", () => a.cmp(rax, rcx), "ne", rax);
    a.mov(rax, out(0, 1));
    k.check("§7.10.1 VTL0's GDTR base", () => a.cmp(rax, qword(S_GDTR + 2)), "ne", rax);
    get0(REG.IDTR);
    a.mov(rax, out(0, 1));
    k.check(
      "§7.10.1 VTL0's IDTR base (VTL0's own IDT)",
      () => a.cmp(rax, qword(S_IDTR + 2)),
      "ne",
      rax,
    );
    // Rep Get: all, partial, rep start.
    getMany(1, [REG.CR0, REG.CR3, REG.CR4], TO0);
    k.expectEq("§7.10.1 rep Get of 3 registers: 3 reps done", rax, repResult(0, 3));
    a.mov(rax, out(2));
    k.check("§7.10.1 ... third element is CR4", () => a.cmp(rax, qword(S_CR4)), "ne", rax);
    getMany(1, [REG.RIP, UNKNOWN, REG.CR3], TO0);
    k.expectEq(
      "§7.10.1 unknown register at index 1 -> INVALID_PARAMETER, 1 rep done",
      rax,
      repResult(ST.INVALID_PARAMETER, 1),
    );
    k.expectEq("§7.10.1 ... element 0 written", out(0), PAGES.hc0 + 0x1a);
    k.expectEq("§7.10.1 ... element 1 untouched", out(1), PAT);
    k.expectEq("§7.10.1 ... element 2 untouched", out(2), PAT);
    getMany(1, [REG.CR0, REG.CR3, REG.CR4], TO0, 1);
    k.expectEq("§3.8 rep start 1 of 3: reps completed is absolute (3)", rax, repResult(0, 3));
    k.expectEq("§3.8 ... element 0 not written", out(0), PAT);
    a.mov(rax, out(1));
    k.check("§3.8 ... element 1 is CR3", () => a.cmp(rax, qword(S_CR3)), "ne", rax);
    // Shared and private registers (TLFS §15.11).
    get0(REG.RBX);
    k.expectEq("§15.11 VTL0's RBX as VTL1 reads it", out(), 0xb0b0b0b0);
    getReg(k, 1, REG.RBX);
    k.expectEq("§15.11 VTL1's own RBX is the same register", out(), 0xb0b0b0b0);
    setReg(k, 1, REG.RBX, 0x77, { vtlSel: TO0 });
    k.expectEq("§15.11 writing VTL0's RBX changes VTL1's RBX (shared)", rbx, 0x77);
    getReg(k, 1, REG.RSP);
    a.mov(rax, out()).sub(rax, 0x3d0000);
    k.check(
      "§15.11 VTL1's own RSP is private (in VTL1's stack)",
      () => a.cmp(rax, 0x10000),
      "ae",
      rax,
    );
    a.mov(rax, 0xc2c2000).mov(cr2, rax);
    get0(REG.CR2);
    k.expectEq("§15.11 CR2 written in VTL1 reads back as VTL0's CR2 (shared)", out(), 0xc2c2000);
    // Per-VTL Hyper-V registers.
    get0(REG.GUEST_OS_ID);
    k.expectEq("§15.11 VTL0's guest OS ID", out(), OS0);
    getReg(k, 1, REG.GUEST_OS_ID);
    k.expectEq("§15.11 VTL1's guest OS ID is its own", out(), OS1);
    rdmsr64(k, 0x40000000);
    k.expectEq("§15.11 RDMSR of GUEST_OS_ID in VTL1 reads VTL1's", rax, OS1);
    get0(REG.HYPERCALL);
    k.expectEq("§15.11 VTL0's hypercall MSR", out(), PAGES.hc0 | 1);
    getReg(k, 1, REG.HYPERCALL);
    k.expectEq("§15.11 VTL1's hypercall MSR", out(), PAGES.hc1 | 1);
    get0(REG.VP_ASSIST_PAGE);
    k.expectEq("§15.11 VTL0's VP assist page register (never enabled)", out(), 0);
    getReg(k, 1, REG.VP_ASSIST_PAGE);
    k.expectEq("§15.11 VTL1's VP assist page register", out(), PAGES.assist1 | 1);
    get0(REG.VSM_CODE_PAGE_OFFSETS);
    k.expectEq("§15.8 VsmCodePageOffsets of 64-bit VTL0: call 0x0F, return 0x26", out(), 0x2600f);
    // VSM registers (TLFS §15.3).
    getReg(k, 1, REG.VSM_VP_STATUS);
    k.expectEq("§15.3.3 VsmVpStatus in VTL1: ActiveVtl 1, EnabledVtlSet {0,1}", out(), 0x30001);
    getReg(k, 1, REG.VSM_PARTITION_STATUS);
    k.expectEq("§15.3.2 VsmPartitionStatus: EnabledVtlSet {0,1}, MaximumVtl 2", out(), 0x20003);
    getReg(k, 1, REG.VSM_CAPABILITIES);
    k.expectEq(
      "§15.3.1 VsmCapabilities (OpenVMM order): MbecVtlMask, DenyLowerVtlStartup, InterceptPage",
      out(),
      0x0802000e,
    );
    setReg(k, 1, REG.VSM_PARTITION_STATUS, 0);
    k.check(
      "§7.10.2 writing read-only VsmPartitionStatus fails",
      () => a.test(eax, 0xffff),
      "z",
      rax,
    );
    getReg(k, 1, REG.VSM_PARTITION_STATUS);
    k.expectEq("§7.10.2 ... and changes nothing", out(), 0x20003);
    // Partial Set (TLFS §7.10.2: 32-byte elements).
    setMany(1, [{ name: REG.KERNEL_GS_BASE, lo: 0x1111000 }, { name: UNKNOWN, lo: 5 }, {
      name: REG.LSTAR,
      lo: 0x2222000,
    }], TO0);
    k.expectEq(
      "§7.10.2 unknown register at index 1 -> INVALID_PARAMETER, 1 rep done",
      rax,
      repResult(ST.INVALID_PARAMETER, 1),
    );
    get0(REG.KERNEL_GS_BASE);
    k.expectEq("§7.10.2 ... element 0 applied", out(), 0x1111000);
    get0(REG.LSTAR);
    k.expectEq("§7.10.2 ... element 2 not applied", out(), 0);
    setMany(1, [{ name: REG.LSTAR, lo: 0x2222000 }, { name: REG.EFER, lo: 0, rsvd: 1 }], TO0);
    k.expectEq(
      "§7.10.2 nonzero reserved bytes in element 1 -> INVALID_PARAMETER, 1 rep",
      rax,
      repResult(ST.INVALID_PARAMETER, 1),
    );
    get0(REG.EFER);
    a.mov(rax, out());
    k.check("§7.10.2 ... EFER unchanged", () => a.cmp(rax, qword(S_EFER)), "ne", rax);
    setMany(1, [{ name: REG.LSTAR, lo: 0x3333000 }], TO0, 1);
    k.expectEq(
      "§7.10.2 nonzero reserved header byte -> INVALID_PARAMETER, 0 reps",
      rax,
      ST.INVALID_PARAMETER,
    );
    setMany(1, [{ name: REG.LSTAR, lo: 0x3333000 }], 0x30);
    k.expectEq("§1.6 reserved HV_INPUT_VTL bits -> INVALID_PARAMETER", rax, ST.INVALID_PARAMETER);
    setMany(1, [{ name: REG.LSTAR, lo: 0x3333000 }], 0x12);
    k.expectEq("§7.10.2 TargetVtl 2 from VTL1 -> ACCESS_DENIED", rax, ST.ACCESS_DENIED);
    getReg(k, 1, REG.RIP, { vp: 1 });
    k.expectEq("§7.10.1 VP index 1 (one VP) -> INVALID_VP_INDEX", rax, ST.INVALID_VP_INDEX);
    get0(REG.LSTAR);
    k.expectEq("§7.10.2 ... none of the failed calls changed LSTAR", out(), 0x2222000);
    // VsmPartitionConfig (TLFS §15.5.1).
    getReg(k, 1, REG.VSM_PARTITION_CONFIG);
    k.expectEq("§15.5.1 VTL1's VsmPartitionConfig starts 0", out(), 0);
    setReg(k, 1, REG.VSM_PARTITION_CONFIG, 0x5); // protection on, default mask W only
    k.expectEq(
      "§15.5.1 default mask write-only -> INVALID_REGISTER_VALUE",
      rax,
      ST.INVALID_REGISTER_VALUE,
    );
    setReg(k, 1, REG.VSM_PARTITION_CONFIG, 0x1 | (1 << 20));
    k.expectEq("§15.5.1 reserved bit 20 -> INVALID_REGISTER_VALUE", rax, ST.INVALID_REGISTER_VALUE);
    getReg(k, 1, REG.VSM_PARTITION_CONFIG);
    k.expectEq("§15.5.1 ... the rejected writes changed nothing", out(), 0);
    setReg(k, 1, REG.VSM_PARTITION_CONFIG, 0x1f);
    k.expectEq("§15.5.1 EnableVtlProtection with default mask RWX", rax, ok1);
    setReg(k, 1, REG.VSM_PARTITION_CONFIG, 0x3);
    getReg(k, 1, REG.VSM_PARTITION_CONFIG);
    k.expectEq(
      "§15.5.1 EnableVtlProtection and DefaultVtlProtectionMask are write-once",
      out(),
      0x1f,
    );
    setReg(k, 1, REG.VSM_PARTITION_CONFIG, 0x22);
    getReg(k, 1, REG.VSM_PARTITION_CONFIG);
    k.expectEq("§15.5.1 other bits stay writable (ZeroMemoryOnReset)", out(), 0x3f);
    setReg(k, 1, REG.VSM_PARTITION_CONFIG, 0x1f, { vtlSel: TO0 });
    k.expectEq(
      "§15.5.1 VTL1 writing VTL0's VsmPartitionConfig -> INVALID_PARAMETER",
      rax,
      ST.INVALID_PARAMETER,
    );
    setReg(k, 1, REG.VSM_VINA, 0x170, { vtlSel: TO0 });
    k.expectEq(
      "§15.12.4 VTL1 writing VTL0's VsmVina -> INVALID_PARAMETER",
      rax,
      ST.INVALID_PARAMETER,
    );
    setReg(k, 1, REG.VSM_VINA, 0x370);
    getReg(k, 1, REG.VSM_VINA);
    k.expectEq("§15.12.4 VTL1's own VsmVina reads back", out(), 0x370);
    setReg(k, 1, REG.VSM_VINA, 0);
    // VsmVpSecureConfigVtl0 (TLFS §15.5.2).
    getReg(k, 1, REG.VSM_VP_SECURE_CONFIG_VTL0);
    k.expectEq("§15.5.2 VsmVpSecureConfigVtl0 starts 0", out(), 0);
    setReg(k, 1, REG.VSM_VP_SECURE_CONFIG_VTL0, 1);
    k.expectEq(
      "§15.5.2 MbecEnabled without MBEC -> INVALID_REGISTER_VALUE",
      rax,
      ST.INVALID_REGISTER_VALUE,
    );
    setReg(k, 1, REG.VSM_VP_SECURE_CONFIG_VTL0, 0x10);
    k.expectEq("§15.5.2 a reserved bit -> INVALID_REGISTER_VALUE", rax, ST.INVALID_REGISTER_VALUE);
    setReg(k, 1, REG.VSM_VP_SECURE_CONFIG_VTL0, 2);
    k.expectEq("§15.5.2 TlbLocked set", rax, ok1);
    getReg(k, 1, REG.VSM_VP_SECURE_CONFIG_VTL0);
    k.expectEq("§15.5.2 ... reads back 2", out(), 2);
    getReg(k, 1, REG.VSM_VP_SECURE_CONFIG_VTL1);
    k.expectEq(
      "§15.5.2 VsmVpSecureConfigVtl1 in VTL1 -> INVALID_PARAMETER",
      rax,
      ST.INVALID_PARAMETER,
    );
    setReg(k, 1, REG.VSM_VP_SECURE_CONFIG_VTL1, 0);
    k.expectEq(
      "§15.5.2 writing VsmVpSecureConfigVtl1 from VTL1 -> ACCESS_DENIED",
      rax,
      ST.ACCESS_DENIED,
    );
    // Write VTL0's private state, and redirect it (TLFS §7.10.2).
    setReg(k, 1, REG.FS, 0x12345000, { vtlSel: TO0, hi: 0x0f930010ffffffffn });
    k.expectEq(
      "§7.10.2 segment with reserved attribute bits 11:8 -> INVALID_PARAMETER",
      rax,
      ST.INVALID_PARAMETER,
    );
    setReg(k, 1, REG.FS, 0x12345000, { vtlSel: TO0, hi: 0xc0930010ffffffffn });
    k.expectEq("§7.10.2 VTL1 sets VTL0's FS", rax, ok1);
    a.mov(rax, qword(S_EFER)).or(rax, 1).mov(rcx, rax);
    setReg(k, 1, REG.EFER, rcx, { vtlSel: TO0 });
    a.mov(rax, qword(S_CR4)).or(rax, 0x200).mov(rcx, rax);
    setReg(k, 1, REG.CR4, rcx, { vtlSel: TO0 });
    a.mov(rcx, () => a.addressOf(landing));
    setReg(k, 1, REG.RIP, rcx, { vtlSel: TO0 });
    k.expectEq("§7.10.2 VTL1 sets VTL0's RIP", rax, ok1);
    a.mov(rcx, qword(SAVED_RSP));
    setReg(k, 1, REG.RSP, rcx, { vtlSel: TO0 });
    setReg(k, 1, REG.RFLAGS, 0x3, { vtlSel: TO0 });
    get0(REG.RFLAGS);
    k.expectEq("§7.10.2 VTL0's RFLAGS reads back", out(), 3);
  });
  srv.on(2, () => {
    getReg(k, 1, REG.VSM_VP_SECURE_CONFIG_VTL0);
    k.expectEq("§15.9 the VTL return released VTL1's TLB lock (TlbLocked 0)", out(), 0);
  });
  srv.on(3, () => {
    setReg(k, 1, 0x00010004, 0x60001, { vtlSel: 0 });
    k.expectEq("§15.13 PendingEvent0 for VTL1 itself -> ACCESS_DENIED", rax, ST.ACCESS_DENIED);
    setReg(k, 1, 0x00010004, 0x60001, { vtlSel: TO0 });
    k.expectEq("§15.13 PendingEvent0 #UD for VTL0 accepted", rax, ok1);
    get0(0x00010004);
    k.expectEq("§15.13 ... reads back as pending", out(), 0x60001);
  });
  srv.on(4, () => setReg(k, 1, 0x00010004, 0x00001234000d0101n, { vtlSel: TO0 }));
  srv.on(5, () => {
    setReg(k, 1, 0x00010004, 0x200001, { vtlSel: TO0 });
    k.expectEq(
      "§15.13 PendingEvent0 with vector 32 -> INVALID_REGISTER_VALUE",
      rax,
      ST.INVALID_REGISTER_VALUE,
    );
    setReg(k, 1, 0x00010004, 0x60003, { vtlSel: TO0 });
    k.expectEq(
      "§15.13 PendingEvent0 with EventType 1 -> INVALID_REGISTER_VALUE",
      rax,
      ST.INVALID_REGISTER_VALUE,
    );
    get0(0x00010004);
    k.expectEq("§15.13 nothing pending after the delivered events", out(), 0);
  });
  srv.emit();
  return k.build();
}
