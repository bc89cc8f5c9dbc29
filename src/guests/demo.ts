/**
 * The built-in VSM demo guest (`deno task boot` with no guest). VTL0 sets the guest OS ID and
 * hypercall page, reads the VTL code-page offsets with HvCallGetVpRegisters, enables VTL1 for the
 * partition and the VP (with an initial context), and performs VTL call/return round trips
 * through the hypercall page (TLFS §3.13, §15.6-15.8; spec/vsm.md §1.4, §2.3, §4). VTL1 — a tiny
 * "secure kernel" — sets up its own hypercall page and VP assist page, serves each call
 * (rsi = rdi² + 1) and returns RAX through the assist page. VTL0 then takes periodic x2APIC timer
 * interrupts, echoes any serial input it receives, and exits through isa-debug-exit.
 */

import { Asm, dword, type Label, mem, qword } from "./asm.ts";
import {
  al,
  dx,
  eax,
  ebx,
  ecx,
  edx,
  r12d,
  r8,
  rax,
  rbx,
  rcx,
  rdi,
  rdx,
  rsi,
  rsp,
} from "./asm/operands.ts";
import { gdt, idt64, pageTables4 } from "./x86_structs.ts";

export const DEMO_BASE = 0x100000;
/** Guest physical pages the demo asks the hypervisor to overlay. */
export const HC_PAGE_VTL0 = 0x400000;
export const HC_PAGE_VTL1 = 0x401000;
export const ASSIST_VTL1 = 0x402000;
const ROUND_TRIPS = 4;
const TIMER_TICKS = 3;
const TIMER_VECTOR = 0x40;

export interface BuiltinGuest {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly load: number;
  readonly entry: { rip: number; rsp: number; cr3: number; gdtBase: number; gdtLimit: number };
  /** Machine settings the guest needs (e.g. { vps: 4 }); `boot` uses them unless overridden. */
  readonly config?: Readonly<Record<string, unknown>>;
}

function segDesc(a: Asm, base: number, limit: number, sel: number, attr: number): void {
  a.dq(BigInt(base)).dd(limit).dw(sel, attr);
}

export function buildDemo(): BuiltinGuest {
  const a = new Asm({ base: DEMO_BASE, bits: 64 });
  const L = (n: string): Label => a.label(n);
  const entry = L("entry"), puts = L("puts"), putc = L("putc"), puthex = L("puthex");
  const fail = L("fail"), exit = L("exit"), hcall = L("hcall"), echoInput = L("echo_input");
  const vtl1Entry = L("vtl1_entry"), vtl1Fail = L("vtl1_fail");
  const timerIsr = L("timer_isr"), spurious = L("spurious"), excCommon = L("exc_common");
  const excCommon1 = L("exc_common1");
  const ticks = L("ticks"), vtlCallPtr = L("vtl_call_ptr"), vtl1RetPtr = L("vtl1_ret_ptr");
  const hcIn = L("hc_in_getregs"), hcOut = L("hc_out"), enableVpIn = L("enable_vp_in");
  const stack0 = L("stack0_top"), stack1 = L("stack1_top");
  const msg = (name: string, text: string): Label => {
    const l = L(name);
    pending.push([l, text]);
    return l;
  };
  const pending: [Label, string][] = [];

  const mHello = msg("m_hello", "vtlrr demo: VTL0 up\n");
  const mVendor = msg("m_vendor", "hypervisor: ");
  const mOffsets = msg("m_offsets", "VsmCodePageOffsets: ");
  const mEnabled = msg("m_enabled", "VTL1 enabled for the partition and VP 0\n");
  const mCall = msg("m_call", "VTL0: VTL call, rdi=");
  const mGot = msg("m_got", "VTL0: back from VTL1, rsi=");
  const mRax = msg("m_rax", " rax=");
  const mNl = msg("m_nl", "\n");
  const mTrips = msg("m_trips", "VTL round trips ok\n");
  const mTick = msg("m_tick", "VTL0: timer tick\n");
  const mTicks = msg("m_ticks", "timer interrupts ok\n");
  const mInput = msg("m_input", "waiting for serial input...\n");
  const mDone = msg("m_done", "vtlrr demo: done\n");
  const mFail = msg("m_fail", "vtlrr demo: FAILED at check ");
  const mExc = msg("m_exc", "vtlrr demo: unexpected exception ");
  const mVtl1Up = msg("m_vtl1_up", "VTL1: secure kernel up\n");
  const mVtl1Req = msg("m_vtl1_req", "VTL1: serving request ");
  const mVtl1Fail = msg("m_vtl1_fail", "VTL1: bad entry reason\n");

  // ---- descriptor tables -----------------------------------------------------------------------
  const excStubs: Label[] = Array.from({ length: 32 }, (_, v) => a.label(`exc_${v}`));
  const g = gdt(a, [{ type: "null" }, { type: "code64" }, { type: "data" }]);
  const idt0 = idt64(a, [
    ...excStubs.map((h, v) => ({
      vector: v,
      handler: h,
      selector: 0x08,
      type: "interrupt" as const,
    })),
    { vector: TIMER_VECTOR, handler: timerIsr, selector: 0x08, type: "interrupt" as const },
    { vector: 0xff, handler: spurious, selector: 0x08, type: "interrupt" as const },
  ]);
  const idt1 = idt64(
    a,
    Array.from({ length: 32 }, (_, v) => ({
      vector: v,
      handler: excCommon1,
      selector: 0x08,
      type: "interrupt" as const,
    })),
  );

  // ---- VTL0 entry ---------------------------------------------------------------------------
  a.bind(entry);
  a.mov(rsp, stack0);
  a.lidt(mem(idt0.pointer));
  a.mov(dx, 0x3fa).mov(al, 0x01).out(dx, al); // UART: enable the FIFOs
  a.mov(rsi, mHello).call(puts);
  // CPUID 0x40000000: "Microsoft Hv"; 0x40000003 EBX bit 16: AccessVsm.
  a.mov(eax, 0x40000000).cpuid();
  a.mov(rsi, mVendor).call(puts);
  for (const r of [ebx, ecx, edx]) {
    a.mov(eax, r);
    for (let i = 0; i < 4; i++) a.call(putc).shr(eax, 8);
  }
  a.mov(rsi, mNl).call(puts);
  a.mov(eax, 0x40000003).cpuid();
  a.mov(edi32(), 1).bt(ebx, 16).jnc(fail);
  // Guest OS ID, then the hypercall page (TLFS §3.13).
  a.mov(ecx, 0x40000000).mov(eax, 0x0001).mov(edx, 0x81000000).wrmsr();
  a.mov(ecx, 0x40000001).mov(eax, HC_PAGE_VTL0 | 1).xor(edx, edx).wrmsr();
  // HvCallGetVpRegisters(HvRegisterVsmCodePageOffsets): memory form, rep count 1.
  a.mov(rcx, 0x0000000100000050n).mov(rdx, hcIn).mov(r8, hcOut).call(hcall);
  a.mov(edi32(), 2).mov(rbx, 0x100000000n).cmp(rax, rbx).jne(fail);
  a.mov(rax, qword(hcOut)).mov(rbx, rax);
  a.mov(rsi, mOffsets).call(puts).call(puthex).mov(rsi, mNl).call(puts);
  a.and(eax, 0xfff).add(rax, HC_PAGE_VTL0).mov(qword(vtlCallPtr), rax);
  a.shr(rbx, 12).and(ebx, 0xfff).add(rbx, HC_PAGE_VTL1).mov(qword(vtl1RetPtr), rbx);
  // HvCallEnablePartitionVtl (fast): partition SELF, target VTL 1.
  a.mov(rcx, 0x1000d).mov(rdx, -1).mov(r8, 1).call(hcall);
  a.mov(edi32(), 3).test(rax, rax).jnz(fail);
  // HvCallEnableVpVtl (memory form) with VTL1's initial context.
  a.mov(rcx, 0x0f).mov(rdx, enableVpIn).xor(r8d(), r8d()).call(hcall);
  a.mov(edi32(), 4).test(rax, rax).jnz(fail);
  a.mov(rsi, mEnabled).call(puts);
  // VTL call / return round trips.
  for (let i = 1; i <= ROUND_TRIPS; i++) {
    a.mov(rsi, mCall).call(puts).mov(rax, i).call(puthex).mov(rsi, mNl).call(puts);
    a.mov(rdi, i).xor(ecx, ecx).mov(rax, qword(vtlCallPtr)).call(rax);
    // Back in VTL0: rsi (shared GPR) = i*i + 1; rax restored from VTL1's assist page.
    a.mov(rbx, rax);
    a.mov(edi32(), 10 + i).cmp(rsi, i * i + 1).jne(fail);
    a.mov(rax, 0x5a5a0000 + i).cmp(rbx, rax).jne(fail);
    a.mov(rax, rsi).push(rsi).mov(rsi, mGot).call(puts).call(puthex);
    a.mov(rsi, mRax).call(puts).mov(rax, rbx).call(puthex).mov(rsi, mNl).call(puts).pop(rsi);
  }
  a.mov(rsi, mTrips).call(puts);
  // x2APIC periodic timer (IA32_APIC_BASE: EN | EXTD).
  a.mov(ecx, 0x1b).rdmsr().or(eax, 0xc00).wrmsr();
  a.xor(edx, edx);
  a.mov(ecx, 0x80f).mov(eax, 0x1ff).wrmsr(); // SVR: enabled, spurious vector 0xff
  a.mov(ecx, 0x83e).mov(eax, 0x0b).wrmsr(); // divide by 1
  a.mov(ecx, 0x832).mov(eax, 0x20000 | TIMER_VECTOR).wrmsr(); // periodic
  a.mov(ecx, 0x838).mov(eax, 50000).wrmsr(); // 50000 ticks
  a.sti();
  const wait = a.here("wait");
  a.hlt().cmp(dword(ticks), TIMER_TICKS).jb(wait);
  a.cli();
  a.mov(ecx, 0x832).mov(eax, 0x10000 | TIMER_VECTOR).xor(edx, edx).wrmsr(); // mask
  a.mov(rsi, mTicks).call(puts);
  a.mov(rsi, mInput).call(puts).call(echoInput);
  a.mov(rsi, mDone).call(puts);
  a.xor(eax, eax).jmp(exit);

  // fail: edi = check number.
  a.bind(fail);
  a.mov(rsi, mFail).call(puts).mov(eax, edi32()).call(puthex).mov(rsi, mNl).call(puts);
  a.mov(eax, 1);
  a.bind(exit);
  a.out(0xf4, al);
  const spin = a.here("spin");
  a.cli().hlt().jmp(spin);

  // hcall: call the hypercall page's plain entry (offset 0).
  a.bind(hcall);
  a.mov(rax, HC_PAGE_VTL0).call(rax).ret();

  // echo_input: echoes serial bytes until the line has been idle for a while.
  a.bind(echoInput);
  a.mov(r12d, 20000);
  const poll = a.here("echo_poll"), none = a.label("echo_none");
  a.mov(dx, 0x3fd).in_(al, dx).test(al, 1).jz(none);
  a.mov(dx, 0x3f8).in_(al, dx).call(putc).mov(r12d, 20000);
  a.bind(none);
  a.dec(r12d).jnz(poll).ret();

  // puts: print the NUL-terminated string at rsi.
  a.bind(puts);
  a.push(rax).push(rsi);
  const pl = a.here("puts_loop"), pd = a.label("puts_done");
  a.mov(al, mem(rsi)).test(al, al).jz(pd).call(putc).i("inc", rsi).jmp(pl);
  a.bind(pd);
  a.pop(rsi).pop(rax).ret();

  // putc: transmit al when the UART's THR is empty.
  a.bind(putc);
  a.push(rdx).push(rax);
  const pw = a.here("putc_wait");
  a.mov(dx, 0x3fd).in_(al, dx).test(al, 0x20).jz(pw);
  a.pop(rax).mov(dx, 0x3f8).out(dx, al).pop(rdx).ret();

  // puthex: print rax as 16 hex digits.
  a.bind(puthex);
  a.push(rax).push(rbx).push(rcx).mov(rbx, rax).mov(ecx, 16);
  const hl = a.here("hex_loop"), hd = a.label("hex_digit");
  a.i("rol", rbx, 4).mov(al, reg8("bl")).and(al, 0xf).cmp(al, 10).jb(hd).add(al, 0x27);
  a.bind(hd);
  a.add(al, 0x30).call(putc).dec(ecx).jnz(hl);
  a.pop(rcx).pop(rbx).pop(rax).ret();

  // Interrupt and exception handlers (VTL0).
  a.bind(timerIsr);
  a.push(rax).push(rcx).push(rdx).push(rsi);
  a.i("inc", dword(ticks));
  a.mov(rsi, mTick).call(puts);
  a.mov(ecx, 0x80b).xor(eax, eax).xor(edx, edx).wrmsr(); // x2APIC EOI
  a.pop(rsi).pop(rdx).pop(rcx).pop(rax).iretq();
  a.bind(spurious);
  a.iretq();
  for (let v = 0; v < 32; v++) a.bind(excStubs[v]!).mov(edi32(), v).jmp(excCommon);
  a.bind(excCommon);
  a.mov(rsi, mExc).call(puts).mov(eax, edi32()).call(puthex).mov(rsi, mNl).call(puts);
  a.mov(eax, 2).jmp(exit);

  // ---- VTL1 ------------------------------------------------------------------------------------
  a.bind(vtl1Entry);
  a.mov(ecx, 0x40000000).mov(eax, 0x0002).mov(edx, 0x81000000).wrmsr();
  a.mov(ecx, 0x40000001).mov(eax, HC_PAGE_VTL1 | 1).xor(edx, edx).wrmsr();
  a.mov(ecx, 0x40000073).mov(eax, ASSIST_VTL1 | 1).xor(edx, edx).wrmsr();
  a.mov(rsi, mVtl1Up).call(puts);
  const serve = a.here("vtl1_serve");
  a.push(rsi).mov(rsi, mVtl1Req).call(puts).mov(rax, rdi).call(puthex).mov(rsi, mNl).call(puts);
  a.pop(rsi);
  a.mov(rax, rdi).imul(rax, rdi).i("inc", rax).mov(rsi, rax);
  // Values VTL0 gets back in RAX/RCX on a normal (non-fast) VTL return.
  a.mov(rax, 0x5a5a0000).add(rax, rdi).mov(qword(ASSIST_VTL1 + 0x10), rax);
  a.mov(qword(ASSIST_VTL1 + 0x18), 0);
  a.xor(ecx, ecx).mov(rax, qword(vtl1RetPtr)).call(rax);
  // Entered again by a VTL call: the assist page says why (EntryReason 1 = VtlCall).
  a.cmp(dword(ASSIST_VTL1 + 0x08), 1).jne(vtl1Fail).jmp(serve);
  a.bind(vtl1Fail);
  a.mov(rsi, mVtl1Fail).call(puts).mov(eax, 3).jmp(exit);
  a.bind(excCommon1);
  a.mov(rsi, mExc).call(puts).mov(eax, 4).jmp(exit);

  // ---- data ----------------------------------------------------------------------------------
  a.align(8);
  a.bind(ticks).dq(0n);
  a.bind(vtlCallPtr).dq(0n);
  a.bind(vtl1RetPtr).dq(0n);
  a.bind(hcOut).dq(0n, 0n);
  // HvCallGetVpRegisters input: PartitionId SELF, VpIndex SELF, TargetVtl (own), one name.
  a.align(32);
  a.bind(hcIn).dq(-1n).dd(0xfffffffe).db(0, 0, 0, 0).dd(0x000d0002);
  for (const [l, text] of pending) a.bind(l).asciz(text);

  // HvCallEnableVpVtl input (240 bytes, within one page): header + HV_INITIAL_VP_CONTEXT.
  a.align(256);
  a.bind(enableVpIn);
  a.dq(-1n).dd(0xfffffffe).db(1, 0, 0, 0);
  a.dq(() => BigInt(a.addressOf(vtl1Entry)), () => BigInt(a.addressOf(stack1)), 2n);
  segDesc(a, 0, 0xffffffff, 0x08, 0xa09b); // CS
  for (let i = 0; i < 5; i++) segDesc(a, 0, 0xffffffff, 0x10, 0xc093); // DS ES FS GS SS
  segDesc(a, 0, 0x67, 0, 0x8b); // TR
  segDesc(a, 0, 0, 0, 0x82); // LDTR
  a.dw(0, 0, 0, idt1.limit).dq(() => BigInt(a.addressOf(idt1.table)));
  a.dw(0, 0, 0, g.limit).dq(() => BigInt(a.addressOf(g.table)));
  a.dq(0xd00n, 0x80050033n, () => BigInt(a.addressOf(pml4)), 0x20n, 0x0007040600070406n);

  // Stacks and page tables.
  a.align(16).space(4096);
  a.bind(stack0);
  a.space(4096);
  a.bind(stack1);
  const pml4 = pageTables4(a, { identityBytes: 1 << 30, pageSize: "2M" });
  const img = a.assemble();
  // The IDT pointer label used by `lidt` above.
  return {
    name: "demo",
    bytes: img.bytes,
    load: DEMO_BASE,
    entry: {
      rip: img.addressOf(entry),
      rsp: img.addressOf(stack0),
      cr3: img.addressOf(pml4),
      gdtBase: img.addressOf(g.table),
      gdtLimit: g.limit,
    },
  };
}

// Small register helpers (names not exported by operands.ts as constants in every size).
import { reg } from "./asm/operands.ts";
function edi32() {
  return reg("edi");
}
function r8d() {
  return reg("r8d");
}
function reg8(name: string) {
  return reg(name);
}
