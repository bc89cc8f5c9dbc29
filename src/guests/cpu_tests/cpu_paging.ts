/**
 * CPU test kernel `cpu-paging` (SDM Vol. 3A ch. 4): 4-level paging with 4K/2M/1G pages built at
 * run time under PML4[1] (VA 0x80_0000_0000), accessed/dirty bits at every level, exact #PF error
 * codes (P, W/R, U/S, RSVD, I/D) and CR2 for not-present, read-only (CR0.WP on and off), user
 * access to supervisor pages, NX instruction fetch with and without EFER.NXE, reserved bits;
 * SMEP and SMAP (STAC/CLAC) with a second CR3 whose identity map is supervisor-only; INVLPG,
 * CR3 reloads and CR4.PGE toggles making PTE changes visible.
 */

import { eax, type Label, mem, qword, rax, rbx, rcx, rdi, reg, rsp } from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { Kit } from "../kit.ts";
import { tss64 } from "../x86_structs.ts";
import { Catch64, gate64 } from "./common.ts";
import { cpuTestGdt, SEL } from "./cpu_exceptions.ts";

const cr0 = reg("cr0"), cr3 = reg("cr3"), cr4 = reg("cr4"), ax = reg("ax"), ds = reg("ds");
const ss = reg("ss");

/** Test region: VA T = PML4[1]; tables and pages in free RAM. */
const T = 0x8000000000;
const PDPT_T = 0x800000, PD_T = 0x801000, PT_T = 0x802000, PML4_B = 0x803000;
const PDPT_B = 0x804000, PAGE = (i: number) => 0x810000 + i * 0x1000;
const BIG = 0x1000000; // 2 MiB page frame
const RSP0_TOP = 0x880000, USER_TOP = 0x8b0000;
const P = 1, RW = 2, US = 4, PS = 0x80, A = 0x20, D = 0x40;
const NX = 1n << 63n;

export function buildCpuPaging(): BuiltinGuest {
  const k = new Kit("cpu-paging");
  const a = k.a;
  const c = new Catch64(k);
  const start = a.label();
  a.jmp(start);
  const tss = tss64(a, { rsp0: RSP0_TOP });
  const g = cpuTestGdt(a, tss.label);
  const known = a.label();
  a.align(8).bind(known).dq(0x600df00dn);
  a.bind(start);
  c.install();
  const hBack = a.label();
  gate64(a, k.idts[0]!.table, 0x81, hBack, { dpl: 3 });
  a.lgdt(mem(g.pointer));
  a.mov(eax, SEL.data).mov(ds, ax).mov(reg("es"), ax).mov(ss, ax);
  a.mov(ax, SEL.tss).i("ltr", ax);
  k.say("cpu-paging: building tables under PML4[1]\n");
  // Clear the table pages and the data pages.
  a.mov(rdi, PDPT_T).mov(rcx, 0x30000 / 8).xor(eax, eax).rep().stosq();
  const store = (addr: number, v: number | bigint) => {
    a.mov(rax, BigInt.asIntN(64, BigInt(v))).mov(qword(addr), rax);
  };
  const pml4e1 = (pml4: Label | number, v: number) => {
    a.mov(rax, v);
    if (typeof pml4 === "number") a.mov(qword(pml4 + 8), rax);
    else a.mov(qword(pml4, 8), rax);
  };
  pml4e1(k.pml4, PDPT_T | P | RW | US);
  store(PDPT_T, PD_T | P | RW | US);
  store(PDPT_T + 8, 0 | P | RW | PS); // 1 GiB page at T + 1 GiB → physical 0
  store(PD_T, PT_T | P | RW | US);
  store(PD_T + 8, BIG | P | RW | PS); // 2 MiB page at T + 2 MiB
  const pte = (i: number, v: number | bigint) => {
    store(PT_T + i * 8, v);
    a.mov(rax, T + i * 0x1000).invlpg(qword(rax));
  };
  const pteOf = (i: number) => qword(PT_T + i * 8);
  a.mov(rax, cr3).mov(cr3, rax);

  // ---- translation, accessed/dirty ---------------------------------------------------------------
  pte(0, PAGE(0) | P | RW);
  a.mov(rbx, T).mov(qword(rbx), 0x1122);
  k.expectEq("4K page: a write through the mapping lands in its frame", qword(PAGE(0)), 0x1122);
  pte(1, PAGE(1) | P | RW);
  a.mov(rbx, T + 0x1000).mov(rax, qword(rbx));
  a.mov(rax, pteOf(1)).and(eax, A | D);
  k.expectEq("read sets A in the PTE, not D", rax, A);
  a.mov(rax, qword(PD_T)).and(eax, A);
  k.expectEq("read sets A in the PDE", rax, A);
  a.mov(rax, qword(PDPT_T)).and(eax, A);
  k.expectEq("read sets A in the PDPTE", rax, A);
  a.mov(rax, qword(k.pml4, 8)).and(eax, A);
  k.expectEq("read sets A in the PML4E", rax, A);
  a.mov(qword(rbx), 5);
  a.mov(rax, pteOf(1)).and(eax, A | D);
  k.expectEq("write sets D in the PTE", rax, A | D);
  a.mov(qword(BIG + 0x1238), 0x2233);
  a.mov(rbx, T + 0x200000 + 0x1238).mov(rax, qword(rbx));
  k.expectEq("2M page: translation", rax, 0x2233);
  a.mov(qword(rbx), 0x3344);
  a.mov(rax, qword(PD_T + 8)).and(eax, A | D);
  k.expectEq("2M page: A and D set in the PDE", rax, A | D);
  a.mov(rbx, () => T + 0x40000000 + a.addressOf(known)).mov(rax, qword(rbx));
  k.expectEq("1G page: translation", rax, 0x600df00d);
  a.mov(rax, qword(PDPT_T + 8)).and(eax, A | D);
  k.expectEq("1G page: read sets A, not D, in the PDPTE", rax, A);

  // ---- #PF error codes ---------------------------------------------------------------------------
  const at = a.label();
  c.expectFault("#PF not-present read: error 0", 14, () => {
    a.mov(rbx, T + 0x2000).bind(at).mov(rax, qword(rbx));
  }, { err: 0, cr2: T + 0x2000, rip: at });
  c.expectFault("#PF not-present write: error W", 14, () => {
    a.mov(rbx, T + 0x2008).mov(qword(rbx), 1);
  }, { err: 2, cr2: T + 0x2008 });
  pte(3, PAGE(3) | P);
  c.expectFault("#PF supervisor write to a read-only page, CR0.WP=1: error P|W", 14, () => {
    a.mov(rbx, T + 0x3010).mov(qword(rbx), 1);
  }, { err: 3, cr2: T + 0x3010 });
  a.mov(rax, cr0).and(eax, ~(1 << 16)).mov(cr0, rax);
  a.mov(rbx, T + 0x3010).mov(qword(rbx), 0x77);
  k.expectEq(
    "CR0.WP=0: supervisor write to a read-only page succeeds",
    qword(PAGE(3) + 0x10),
    0x77,
  );
  a.mov(rax, pteOf(3)).and(eax, D);
  k.expectEq("CR0.WP=0: the write sets D", rax, D);
  a.mov(rax, cr0).or(eax, 1 << 16).mov(cr0, rax);
  pte(4, BigInt(PAGE(4) | P | RW) | (1n << 40n));
  c.expectFault("#PF reserved bit (bit 40 > MAXPHYADDR) in a PTE: error P|RSVD", 14, () => {
    a.mov(rbx, T + 0x4000).mov(rax, qword(rbx));
  }, { err: 9, cr2: T + 0x4000 });
  store(PD_T + 16, BIG + 0x200000 | P | RW | PS | 0x2000);
  c.expectFault("#PF reserved bit 13 in a 2M PDE: error P|RSVD", 14, () => {
    a.mov(rbx, T + 0x400000).mov(rax, qword(rbx));
  }, { err: 9 });
  pte(5, BigInt(PAGE(5) | P | RW) | NX);
  a.mov(qword(PAGE(5)), 0xc3); // ret
  const efer = (set: boolean) => {
    a.mov(rcx, 0xc0000080).rdmsr();
    if (set) a.or(eax, 0x800);
    else a.and(eax, ~0x800);
    a.wrmsr();
  };
  efer(false);
  c.expectFault("#PF XD bit with EFER.NXE=0 is reserved: error P|RSVD", 14, () => {
    a.mov(rbx, T + 0x5000).mov(rax, qword(rbx));
  }, { err: 9 });
  c.expectFault("#PF fetch from a not-present page, NXE=0 SMEP=0: no I/D bit", 14, () => {
    a.mov(rbx, T + 0x6000).call(rbx);
  }, { err: 0, cr2: T + 0x6000, rip: T + 0x6000 });
  efer(true);
  c.expectFault("#PF fetch from a not-present page, NXE=1: I/D", 14, () => {
    a.mov(rbx, T + 0x6000).call(rbx);
  }, { err: 0x10, cr2: T + 0x6000 });
  c.expectFault("#PF NX fetch: error P|I/D, RIP = target", 14, () => {
    a.mov(rbx, T + 0x5000).call(rbx);
  }, { err: 0x11, cr2: T + 0x5000, rip: T + 0x5000 });
  a.mov(rbx, T + 0x5000).mov(rax, qword(rbx));
  k.pass("NX page: data reads are allowed");

  // ---- user accesses -----------------------------------------------------------------------------
  pte(7, PAGE(7) | P | RW); // supervisor
  pte(8, PAGE(8) | P | US); // user, read-only
  pte(9, PAGE(9) | P | RW | US); // user, writable (holds a RET)
  a.mov(qword(PAGE(9)), 0xc3);
  const user = a.label(), back = a.label();
  a.mov(qword(PAGE(0) + 0x800), rsp);
  a.push(SEL.udata).push(USER_TOP).push(0x3002).push(SEL.ucode64).mov(rax, user).push(rax).iretq();
  a.bind(user);
  c.expectFault("#PF user read of a supervisor page: error P|U", 14, () => {
    a.mov(rbx, T + 0x7000).mov(rax, qword(rbx));
  }, { err: 5, cr2: T + 0x7000 });
  c.expectFault("#PF user write of a supervisor page: error P|W|U", 14, () => {
    a.mov(rbx, T + 0x7000).mov(qword(rbx), 1);
  }, { err: 7 });
  c.expectFault("#PF user write of a read-only user page: error P|W|U", 14, () => {
    a.mov(rbx, T + 0x8000).mov(qword(rbx), 1);
  }, { err: 7 });
  c.expectFault("#PF user read of a not-present page: error U", 14, () => {
    a.mov(rbx, T + 0x2000).mov(rax, qword(rbx));
  }, { err: 4 });
  a.mov(rbx, T + 0x9000).call(rbx);
  k.pass("user code runs from a user page");
  a.int(0x81).bind(back);
  // ---- SMEP / SMAP with a supervisor-only identity map ---------------------------------------------
  a.mov(rdi, PML4_B).mov(rcx, 0x2000 / 8).xor(eax, eax).rep().stosq();
  store(PML4_B, PDPT_B | P | RW);
  store(PML4_B + 8, PDPT_T | P | RW | US);
  store(PDPT_B, 0 | P | RW | PS); // 1 GiB supervisor identity
  a.mov(rax, PML4_B).mov(cr3, rax);
  a.mov(rbx, T + 0x9000).call(rbx);
  k.pass("SMEP=0: supervisor code may run from a user page");
  a.mov(rax, cr4).or(eax, 1 << 20).mov(cr4, rax);
  c.expectFault("SMEP: supervisor fetch from a user page: error P|I/D", 14, () => {
    a.mov(rbx, T + 0x9000).call(rbx);
  }, { err: 0x11, cr2: T + 0x9000 });
  a.mov(rax, cr4).and(eax, ~(1 << 20)).or(eax, 1 << 21).mov(cr4, rax);
  c.expectFault("SMAP: supervisor read of a user page with AC=0: error P", 14, () => {
    a.mov(rbx, T + 0x9000).mov(rax, qword(rbx));
  }, { err: 1, cr2: T + 0x9000 });
  a.i("stac").mov(rbx, T + 0x9000).mov(rax, qword(rbx)).i("clac");
  k.expectEq("SMAP: STAC (AC=1) allows the read", rax, 0xc3);
  c.expectFault("SMAP: after CLAC a write faults again: error P|W", 14, () => {
    a.mov(rbx, T + 0x9000).mov(qword(rbx), 1);
  }, { err: 3 });
  a.mov(rax, cr4).and(eax, ~(1 << 21)).mov(cr4, rax);
  a.mov(rax, k.pml4).mov(cr3, rax);

  // ---- TLB maintenance -----------------------------------------------------------------------------
  a.mov(qword(PAGE(10)), 0xaaaa).mov(qword(PAGE(11)), 0xbbbb);
  pte(10, PAGE(10) | P | RW);
  a.mov(rbx, T + 0xa000).mov(rax, qword(rbx)); // cache the translation
  store(PT_T + 10 * 8, PAGE(11) | P | RW); // no INVLPG yet
  a.mov(rax, qword(rbx));
  k.expectEq("without INVLPG the old translation is still used (TLB)", rax, 0xaaaa);
  a.invlpg(qword(rbx)).mov(rax, qword(rbx));
  k.expectEq("INVLPG makes the PTE change visible", rax, 0xbbbb);
  store(PT_T + 10 * 8, PAGE(10) | P | RW);
  a.mov(rax, cr3).mov(cr3, rax).mov(rax, qword(rbx));
  k.expectEq("a CR3 reload makes the PTE change visible", rax, 0xaaaa);
  a.mov(rax, cr4).or(eax, 0x80).mov(cr4, rax); // PGE on
  store(PT_T + 10 * 8, PAGE(11) | P | RW | 0x100); // global
  a.invlpg(qword(rbx)).mov(rax, qword(rbx));
  k.expectEq("global page (CR4.PGE=1) translates", rax, 0xbbbb);
  store(PT_T + 10 * 8, PAGE(10) | P | RW | 0x100);
  a.mov(rax, cr4).and(eax, ~0x80).mov(cr4, rax).mov(rax, qword(rbx));
  k.expectEq("clearing CR4.PGE flushes global translations", rax, 0xaaaa);
  k.say("cpu-paging: done\n");
  a.jmp(k.finish);

  // 0x81: back to CPL 0 after the INT (kernel stack saved in PAGE(0)+0x800).
  a.bind(hBack).mov(rax, qword(rsp)).mov(rsp, qword(PAGE(0) + 0x800)).push(2).popfq().jmp(rax);
  return k.build();
}
