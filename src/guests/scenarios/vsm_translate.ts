/**
 * Scenario: HvCallTranslateVirtualAddress (0x0052) and …Ex (0x00AC) from VTL1 on VTL0's paging
 * context (TLFS §9.4.6, §15.9, §15.11; spec/vsm.md §2.6): success with the GPA page and cache
 * type, the result codes (PageNotPresent, PrivilegeViolation, InvalidPageTableFlags, GpaUnmapped,
 * GpaNoReadAccess, GpaNoWriteAccess) including page-table pages protected by VTL1, the
 * OverlayPage flag, SetPageTableBits, TlbFlushInhibit, and the input checks.
 *
 * VTL0 switches to its own page tables (built at run time): PML4[0] is the kit's identity map,
 * PML4[1] (GVA 0x80_0000_0000) a 4 KiB-page test area.
 */

import { Kit, PAGES } from "../kit.ts";
import { byte, cr3, dword, qword, rax, rcx } from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { fill, getReg, REG, setReg, ST, store64, Vtl1Server } from "./vsm_util.ts";

const VAR = PAGES.scratch + 0xf0000;
const REQ = VAR, CR0SAVE = VAR + 8, CR4SAVE = VAR + 16;
const PML4 = 0x700000, PDPT = 0x701000, PD = 0x702000, PT_A = 0x703000, PT_B = 0x704000;
const PT_C = 0x705000;
const BASE = 0x80_0000_0000;
const P = 1, RW = 2, US = 4, A = 0x20, D = 0x40, PS = 0x80;
const NX = 1n << 63n, RSVD51 = 1n << 51n;
/** Control flags (TLFS §9.4.6). */
const VR = 1, VW = 2, VX = 4, EXEMPT = 8, SETBITS = 0x10, INHIBIT = 0x20, SUPER = 0x40;
const USER = 0x80;
const TO_VTL0 = 0x10n << 56n;
/** Result codes. */
const OK = 0, NOT_PRESENT = 1, PRIV = 2, BAD_FLAGS = 3, UNMAPPED = 4, NO_READ = 5, NO_WRITE = 6;

export function buildVsmTranslate(): BuiltinGuest {
  const k = new Kit("vsm-translate");
  const a = k.a;
  const srv = new Vtl1Server(k, REQ);

  // --- VTL0: page tables ------------------------------------------------------------------------
  k.hvInit(0);
  k.enableVtl1();
  fill(k, PML4, 6 * 512, 0);
  a.mov(rax, qword(k.pml4)).mov(qword(PML4), rax); // the kit's identity map (first 512 GiB)
  store64(k, PML4 + 8, PDPT | P | RW | US);
  store64(k, PDPT, PD | P | RW | US);
  store64(k, PD + 0 * 8, PT_A | P | RW | US);
  store64(k, PD + 1 * 8, PT_B | P | RW | US); // VTL1 makes this page-table page inaccessible
  store64(k, PD + 2 * 8, PT_C | P | RW | US); // … and this one read-only
  store64(k, PD + 3 * 8, 0x800000 | P | RW | PS | A | D); // a 2 MiB page at GPA 8 MiB
  store64(k, PD + 4 * 8, BigInt(PT_A | P | RW | US) | RSVD51); // reserved bit in a PDE
  const pte = (i: number, v: number | bigint) => store64(k, PT_A + i * 8, v);
  pte(0, 0x720000 | P | RW | US | A | D);
  pte(1, 0); // not present
  pte(2, 0x721000 | P | A); // supervisor, read-only
  pte(3, BigInt(0x722000 | P | RW | US) | RSVD51);
  pte(4, 0x723000 | P | RW | US); // VTL1: no access
  pte(5, 0x724000 | P | RW | US); // VTL1: read-only
  pte(6, 0x725000 | P | RW | US); // A and D clear
  pte(7, BigInt(0x726000 | P | RW | US | A) | NX);
  pte(8, PAGES.hc0 | P | RW | US | A); // VTL0's hypercall page (an overlay)
  pte(9, 0x727000 | P | US | A); // user, read-only
  pte(10, 0x10000000 | P | RW | US | A); // beyond RAM
  store64(k, PT_B, 0x728000 | P | RW | US);
  store64(k, PT_C, 0x729000 | P | RW | US); // A clear
  a.mov(rax, PML4).mov(cr3, rax);

  srv.call(0); // VTL1 initialises and protects pages
  srv.call(1); // most translations
  srv.call(2); // TlbFlushInhibit released by the VTL return
  // From VTL0: its own context is fine, VTL1's is not.
  const xlate0 = (flags: bigint) => {
    a.mov(qword(PAGES.input), -1);
    store64(k, PAGES.input + 8, 0xfffffffe);
    a.mov(rax, flags).mov(qword(PAGES.input + 16), rax);
    store64(k, PAGES.input + 24, BASE / 4096);
    fill(k, PAGES.output, 8, 0x5a5a5a5a5a5a5a5an);
    k.hypercall(0, 0x52, PAGES.input, PAGES.output);
  };
  xlate0(BigInt(VR));
  k.expectEq("§9.4.6 VTL0 translates with its own context: status SUCCESS", rax, ST.SUCCESS);
  k.expectEq("§9.4.6 ... result Success", dword(PAGES.output), OK);
  k.expectEq("§9.4.6 ... GPA page 0x720", qword(PAGES.output + 8), 0x720);
  xlate0(BigInt(VR) | (0x11n << 56n));
  k.expectEq("§9.4.6 VTL0 asking for VTL1's context -> ACCESS_DENIED", rax, ST.ACCESS_DENIED);
  k.expectEq("§3.12.1 ... output untouched", qword(PAGES.output), 0x5a5a5a5a5a5a5a5an);
  a.jmp(k.finish);

  // --- VTL1 --------------------------------------------------------------------------------------
  srv.init(() => {
    k.hvInit(1);
    k.wrmsr(0x40000073, PAGES.assist1 | 1);
    setReg(k, 1, REG.VSM_PARTITION_CONFIG, 0x1f); // EnableVtlProtection, default RWX
    k.expectEq("§15.5.1 VTL1 enables VTL protection", rax, 0x100000000n);
    const protect = (gpn: number, flags: number) => {
      a.mov(qword(PAGES.input), -1).mov(qword(PAGES.input + 8), flags);
      a.mov(qword(PAGES.input + 16), gpn);
      k.hypercall(1, 0x0000_0001_0000_000cn, PAGES.input, 0);
    };
    protect(0x723, 0);
    k.expectEq("§15.9 protect GPA page 0x723 (no access)", rax, 0x100000000n);
    protect(0x724, 1);
    k.expectEq("§15.9 protect GPA page 0x724 (read only)", rax, 0x100000000n);
    protect(PT_B >> 12, 0);
    k.expectEq("§15.9 protect page-table page PT_B (no access)", rax, 0x100000000n);
    protect(PT_C >> 12, 1);
    k.expectEq("§15.9 protect page-table page PT_C (read only)", rax, 0x100000000n);
  });

  /** Translates `gva` from VTL1 (call 0x52 or 0xAC). Output prefilled with a pattern. */
  const xlate = (
    gva: number,
    flags: number | bigint,
    o: { ex?: boolean; vp?: number; part?: bigint; rsvd?: number } = {},
  ) => {
    a.mov(rax, o.part ?? -1n).mov(qword(PAGES.input), rax);
    a.mov(rax, BigInt(o.vp ?? 0xfffffffe) | (BigInt(o.rsvd ?? 0) << 32n));
    a.mov(qword(PAGES.input + 8), rax);
    a.mov(rax, BigInt(flags)).mov(qword(PAGES.input + 16), rax);
    store64(k, PAGES.input + 24, Math.floor(gva / 4096));
    fill(k, PAGES.output, 8, 0x5a5a5a5a5a5a5a5an);
    k.hypercall(1, o.ex ? 0xac : 0x52, PAGES.input, PAGES.output);
  };
  const code = () => dword(PAGES.output);
  const gpa = (ex = false) => qword(PAGES.output + (ex ? 48 : 8));
  /** One translation of VTL0's `gva`: SUCCESS status, result code and (optionally) GPA page. */
  const expectXlate = (
    name: string,
    gva: number,
    flags: number,
    result: number,
    gpaPage?: number,
    ex = false,
  ) => {
    xlate(gva, BigInt(flags) | TO_VTL0, { ex });
    k.expectEq(`${name}: status SUCCESS`, rax, ST.SUCCESS);
    k.expectEq(`${name}: result ${result}`, code(), result);
    if (gpaPage !== undefined) {
      k.expectEq(`${name}: GPA page 0x${gpaPage.toString(16)}`, gpa(ex), gpaPage);
    }
  };
  const V = (i: number) => BASE + i * 4096;

  srv.on(1, () => {
    expectXlate("§9.4.6 read of a mapped 4K page", V(0), VR, OK, 0x720);
    k.expectEq("§9.4.6 CacheType WB (6), not an overlay", byte(PAGES.output + 4), 6);
    k.expectEq("§9.4.6 OverlayPage clear for RAM", byte(PAGES.output + 5), 0);
    expectXlate("§9.4.6 TranslateVirtualAddressEx read", V(0), VR, OK, 0x720, true);
    k.expectEq("§9.4.6 Ex: reserved qword @8 zero", qword(PAGES.output + 8), 0);
    expectXlate("§9.4.6 a not-present PTE -> PageNotPresent", V(1), VR, NOT_PRESENT);
    expectXlate("§9.4.6 a not-present PML4E -> PageNotPresent", 0x100_0000_0000, VR, NOT_PRESENT);
    expectXlate("§9.4.6 supervisor read of a supervisor page", V(2), VR, OK, 0x721);
    expectXlate(
      "§9.4.6 user read of a supervisor page -> PrivilegeViolation",
      V(2),
      VR | USER,
      PRIV,
    );
    expectXlate(
      "§9.4.6 write to a read-only page with CR0.WP -> PrivilegeViolation",
      V(2),
      VW,
      PRIV,
    );
    expectXlate("§9.4.6 PrivilegeExempt write to a read-only page", V(2), VW | EXEMPT, OK, 0x721);
    // CR0.WP clear (VTL1 changes VTL0's CR0): supervisor writes to read-only pages are allowed.
    getReg(k, 1, REG.CR0, { vtlSel: 0x10 });
    a.mov(rax, qword(PAGES.output)).mov(qword(CR0SAVE), rax);
    a.and(rax, ~0x10000).mov(rcx, rax);
    setReg(k, 1, REG.CR0, rcx, { vtlSel: 0x10 });
    expectXlate("§9.4.6 supervisor write to a read-only page without CR0.WP", V(2), VW, OK, 0x721);
    expectXlate(
      "§9.4.6 user write still -> PrivilegeViolation without CR0.WP",
      V(9),
      VW | USER,
      PRIV,
    );
    a.mov(rcx, qword(CR0SAVE));
    setReg(k, 1, REG.CR0, rcx, { vtlSel: 0x10 });
    expectXlate("§9.4.6 user read of a user read-only page", V(9), VR | USER, OK, 0x727);
    expectXlate("§9.4.6 reserved PTE bit 51 -> InvalidPageTableFlags", V(3), VR, BAD_FLAGS);
    expectXlate(
      "§9.4.6 reserved PDE bit 51 -> InvalidPageTableFlags",
      BASE + 4 * 0x200000,
      VR,
      BAD_FLAGS,
    );
    expectXlate("§9.4.6 execute of an NX page -> PrivilegeViolation", V(7), VX, PRIV);
    expectXlate("§9.4.6 read of an NX page", V(7), VR, OK, 0x726);
    expectXlate("§9.4.6 a GPA beyond RAM -> GpaUnmapped", V(10), VR, UNMAPPED, 0x10000);
    expectXlate("§15.9 VTL1 no-access page -> GpaNoReadAccess", V(4), VR, NO_READ, 0x723);
    expectXlate("§15.9 VTL1 read-only page, write -> GpaNoWriteAccess", V(5), VW, NO_WRITE, 0x724);
    expectXlate("§15.9 VTL1 read-only page, read", V(5), VR, OK, 0x724);
    expectXlate(
      "§15.9 page-table page without read access -> GpaNoReadAccess",
      BASE + 0x200000,
      VR,
      NO_READ,
      PT_B >> 12,
    );
    expectXlate("§15.9 read through a read-only page-table page", BASE + 0x400000, VR, OK, 0x729);
    expectXlate(
      "§15.9 SetPageTableBits on a read-only page-table page -> GpaNoWriteAccess",
      BASE + 0x400000,
      VR | SETBITS,
      NO_WRITE,
      PT_C >> 12,
    );
    expectXlate("§9.4.6 a 2 MiB page", BASE + 3 * 0x200000 + 0x3000, VR, OK, 0x803);
    expectXlate("§9.4.6 the identity-mapped kit area", 0x123000, VR, OK, 0x123);
    expectXlate("§5.2.1 VTL0's hypercall page through a 4K PTE", V(8), VR, OK, PAGES.hc0 >> 12);
    k.expectEq("§9.4.6 OverlayPage set for VTL0's hypercall page", byte(PAGES.output + 5), 1);
    // SetPageTableBits (TLFS §9.4.6).
    expectXlate("§9.4.6 read without SetPageTableBits", V(6), VR, OK, 0x725);
    k.expectEq("§9.4.6 ... leaves the PTE's A bit clear", qword(PT_A + 6 * 8), 0x725007);
    expectXlate("§9.4.6 read with SetPageTableBits", V(6), VR | SETBITS, OK, 0x725);
    k.expectEq("§9.4.6 ... sets A, not D", qword(PT_A + 6 * 8), 0x725027);
    expectXlate("§9.4.6 write with SetPageTableBits", V(6), VW | SETBITS, OK, 0x725);
    k.expectEq("§9.4.6 ... sets D", qword(PT_A + 6 * 8), 0x725067);
    a.mov(rax, qword(PD)).and(rax, A);
    k.expectEq("§9.4.6 ... and A in the PDE", rax, A);
    // SMEP (VTL1 sets it in VTL0's CR4 for the duration of the check).
    getReg(k, 1, REG.CR4, { vtlSel: 0x10 });
    a.mov(rax, qword(PAGES.output)).mov(qword(CR4SAVE), rax).or(rax, 1 << 20).mov(rcx, rax);
    setReg(k, 1, REG.CR4, rcx, { vtlSel: 0x10 });
    expectXlate(
      "§9.4.6 supervisor execute of a user page with SMEP -> PrivilegeViolation",
      V(0),
      VX | SUPER,
      PRIV,
    );
    a.mov(rcx, qword(CR4SAVE));
    setReg(k, 1, REG.CR4, rcx, { vtlSel: 0x10 });
    expectXlate(
      "§9.4.6 supervisor execute of a user page without SMEP",
      V(0),
      VX | SUPER,
      OK,
      0x720,
    );
    // VTL1's own context (its private CR3 maps no test area).
    xlate(V(0), VR);
    k.expectEq("§15.11 VTL1's own context: status SUCCESS", rax, ST.SUCCESS);
    k.expectEq(
      "§15.11 VTL1's own CR3 does not map VTL0's test area -> PageNotPresent",
      code(),
      NOT_PRESENT,
    );
    // TlbFlushInhibit (TLFS §9.1.4).
    expectXlate(
      "§9.4.6 a failed translation with TlbFlushInhibit",
      V(1),
      VR | INHIBIT,
      NOT_PRESENT,
    );
    getReg(k, 1, REG.INTERCEPT_SUSPEND);
    k.expectEq("§9.1.4 ... does not inhibit flushes", qword(PAGES.output), 0);
    expectXlate("§9.4.6 a translation with TlbFlushInhibit", V(0), VR | INHIBIT, OK, 0x720);
    getReg(k, 1, REG.INTERCEPT_SUSPEND);
    k.expectEq("§9.1.4 HvRegisterInterceptSuspend.TlbFlushInhibit set", qword(PAGES.output), 2);
    setReg(k, 1, REG.INTERCEPT_SUSPEND, 0);
    getReg(k, 1, REG.INTERCEPT_SUSPEND);
    k.expectEq("§9.1.4 writing 0 releases the inhibition", qword(PAGES.output), 0);
    expectXlate("§9.4.6 TlbFlushInhibit again", V(0), VR | INHIBIT, OK, 0x720);
    // Input checks.
    xlate(V(0), BigInt(VR) | TO_VTL0, { part: 0n });
    k.expectEq("§9.4.6 partition not SELF -> INVALID_PARTITION_ID", rax, ST.INVALID_PARTITION_ID);
    k.expectEq("§3.12.1 ... output untouched", qword(PAGES.output + 8), 0x5a5a5a5a5a5a5a5an);
    xlate(V(0), BigInt(VR) | TO_VTL0, { vp: 7 });
    k.expectEq("§9.4.6 VP index 7 -> INVALID_VP_INDEX", rax, ST.INVALID_VP_INDEX);
    xlate(V(0), BigInt(VR | 0x800) | TO_VTL0);
    k.expectEq(
      "§9.4.6 reserved control flag bit 11 -> INVALID_PARAMETER",
      rax,
      ST.INVALID_PARAMETER,
    );
    xlate(V(0), BigInt(VR) | (1n << 40n) | TO_VTL0);
    k.expectEq(
      "§9.4.6 reserved control flag bit 40 -> INVALID_PARAMETER",
      rax,
      ST.INVALID_PARAMETER,
    );
    xlate(V(0), BigInt(VR) | (0x30n << 56n));
    k.expectEq("§1.6 reserved HV_INPUT_VTL bit 5 -> INVALID_PARAMETER", rax, ST.INVALID_PARAMETER);
    xlate(V(0), BigInt(VR) | (0x12n << 56n));
    k.expectEq("§9.4.6 VTL1 asking for VTL2's context -> ACCESS_DENIED", rax, ST.ACCESS_DENIED);
    k.expectEq("§3.12.1 ... output untouched", qword(PAGES.output), 0x5a5a5a5a5a5a5a5an);
  });
  srv.on(2, () => {
    getReg(k, 1, REG.INTERCEPT_SUSPEND);
    k.expectEq("§9.1.4 the VTL return released TlbFlushInhibit", qword(PAGES.output), 0);
  });
  srv.emit();
  return k.build();
}
