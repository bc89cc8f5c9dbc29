/**
 * `mb-smp` (64-bit long mode, 4 VPs): SMP start-up and inter-processor interrupts, after the
 * Intel SDM Vol. 3A §9.4 (MP initialization) and §11.6 (issuing IPIs), and the MP
 * specification's start-up sequence:
 *
 * - the CPU count comes from the ACPI MADT (cross-checked with fw_cfg FW_CFG_NB_CPUS);
 * - INIT / STARTUP (twice) to all excluding self: every AP starts in real mode at the SIPI
 *   vector page (CS = 0x2000, CR0 = 0x60000010, entered once, local APIC software-disabled),
 *   reaches long mode and reports in; a STARTUP to a running AP is ignored; INIT + STARTUP
 *   restarts one AP, whose local APIC INIT reset to SVR 0xff, flat DFR, LDR 0 (§11.4.7.3);
 * - fixed IPIs in physical destination mode to each AP, AP → BSP and AP → AP;
 * - shorthands: self, all including self, all excluding self; physical broadcast (0xff);
 * - logical destination mode, flat model (DFR = 0xffffffff) and cluster model (DFR =
 *   0x0fffffff), LDR set by each CPU;
 * - lowest-priority delivery reaches exactly one of the addressed processors (§11.6.2.4);
 * - x2APIC IPIs (ICR MSR 0x830): physical by 32-bit APIC ID, logical by the derived LDR
 *   (cluster = ID[19:4], bit = ID[3:0]) and the 0xffffffff broadcast.
 *
 * APs run commands from the BSP: a routine address and arguments in per-CPU mailboxes,
 * signalled by IPI vector 0x60; the AP's handler runs it and bumps its completion count.
 */

import { dword, type Label, mem } from "../asm.ts";
import { cl, eax, ecx, edi, edx, esi, rax, rdi } from "../asm/operands.ts";
import { EOI_LAPIC, KV, type MbKernel, MbKit } from "./kit.ts";
import { discover, PV } from "./platform.ts";
import { installTrampoline, SLOT, SLOTS, startAps } from "./smp.ts";

const N = 4;
const CMD_VEC = 0x60;

export function buildMbSmp(): MbKernel {
  const k = new MbKit("mb-smp", { bits: 64, config: { vps: N }, bootHint: `--vps ${N}` });
  const a = k.a;
  a.bits(64);
  const cmdFn = k.var(4 * 8), cmdArg0 = k.var(4 * 8), cmdArg1 = k.var(4 * 8);
  const cmdDone = k.var(4 * 8);
  const sentDone = new Array(N).fill(0);
  const routines = new Map<string, Label>();
  /** An AP routine (esi = cpu, ecx = arg0, edx = arg1), emitted once. */
  const routine = (name: string, body: () => void): Label => {
    let l = routines.get(name);
    if (l) return l;
    const skip = a.label();
    l = a.label();
    routines.set(name, l);
    a.jmp(skip).bind(l);
    body();
    a.ret().bind(skip);
    return l;
  };
  /** Has CPU `cpu` run `fn(arg0, arg1)`; waits for completion. */
  const command = (cpu: number, fn: Label, arg0 = 0, arg1 = 0) => {
    a.mov(eax, fn).mov(dword(cmdFn + cpu * 4), eax);
    a.mov(dword(cmdArg0 + cpu * 4), arg0 >>> 0).mov(dword(cmdArg1 + cpu * 4), arg1 >>> 0);
    k.ipi(0x4000 | CMD_VEC, cpu);
    sentDone[cpu]++;
    k.spinUntil(() => a.cmp(dword(cmdDone + cpu * 4), sentDone[cpu]), "e", 1_000_000);
  };
  const onAll = (fn: Label, arg0 = 0, arg1 = 0) => {
    for (let c = 1; c < N; c++) command(c, fn, arg0, arg1);
  };
  // The command handler (all CPUs).
  const cmdHook = a.label(), skipHook = a.label();
  a.jmp(skipHook).bind(cmdHook);
  a.mov(eax, dword(mem(null, k.r.si, 4, cmdFn)));
  a.mov(ecx, dword(mem(null, k.r.si, 4, cmdArg0))).mov(edx, dword(mem(null, k.r.si, 4, cmdArg1)));
  a.call(rax).i("inc", dword(mem(null, k.r.si, 4, cmdDone))).ret();
  a.bind(skipHook);
  const sendIpi = routine("send_ipi", () => {
    a.mov(eax, ecx).call(k.rt.apicIcr);
  });
  const setFlat = routine("set_flat", () => {
    // DFR flat, LDR = 1 << (24 + cpu).
    k.apicWrite(0x0e, 0xffffffff);
    a.mov(ecx, esi).add(ecx, 24).mov(eax, 1).shl(eax, cl);
    k.apicWrite(0x0d, eax);
  });
  const setCluster = routine("set_cluster", () => {
    // DFR cluster, LDR = (cpu >> 1) << 28 | 1 << (24 + (cpu & 1)).
    k.apicWrite(0x0e, 0x0fffffff);
    a.mov(ecx, esi).and(ecx, 1).add(ecx, 24).mov(eax, 1).shl(eax, cl);
    a.mov(ecx, esi).shr(ecx, 1).shl(ecx, 28).or(eax, ecx);
    k.apicWrite(0x0d, eax);
  });
  const toX2apic = routine("to_x2apic", () => {
    k.save(ecx, edx);
    a.mov(ecx, 0x1b).rdmsr().or(eax, 0x400).wrmsr();
    k.restore(ecx, edx);
  });

  // ---- discovery and start-up --------------------------------------------------------------------
  discover(k);
  k.showDec("smp: ", dword(PV.cpus), " CPUs in the MADT\n");
  for (let vec = 0x40; vec <= 0x4e; vec++) k.eoiKind(vec, EOI_LAPIC);
  k.eoiKind(CMD_VEC, EOI_LAPIC);
  k.hook(CMD_VEC, cmdHook);
  k.lapicOn();
  const noSmp = a.label(), end = a.label();
  a.cmp(dword(PV.cpus), N).jb(noSmp);
  // APs: record the local APIC state they start with (SVR, DFR, LDR, TPR at +0, 4, 8, 12 of
  // their 16-byte slot), enable it and idle.
  const apState = k.var(16 * 8);
  const skipAp = a.label();
  a.jmp(skipAp);
  k.bindApMain();
  a.call(k.rt.cpuIndex).shl(eax, 4).add(eax, apState).mov(edi, eax);
  for (const [i, reg] of [0x0f, 0x0e, 0x0d, 0x08].entries()) {
    k.apicRead(reg);
    a.mov(dword(rdi, 4 * i), eax);
  }
  k.lapicOn();
  a.ret();
  a.bind(skipAp);
  installTrampoline(k);
  startAps(k);
  k.spinUntil(() => a.cmp(dword(KV.aliveMask), (1 << N) - 1), "e", 5_000_000);
  k.expectEq("INIT/SIPI: all 4 CPUs are up (alive mask 0xf)", dword(KV.aliveMask), 0xf);
  for (let c = 1; c < N; c++) {
    const s = SLOTS + c * 16;
    k.expectEq(
      `AP ${c}: started in real mode at the SIPI page (CS = 0x2000)`,
      dword(s + SLOT.cs),
      0x2000,
    );
    k.expectEq(
      `AP ${c}: CR0 = 0x60000010 at the start (reset value)`,
      dword(s + SLOT.cr0),
      0x60000010,
    );
    k.expectEq(
      `AP ${c}: entered the trampoline once (second SIPI ignored)`,
      dword(s + SLOT.entries),
      1,
    );
    k.expectMask(`AP ${c}: IF = 0 at the start`, dword(s + SLOT.flags), 0x200, 0);
    k.expectEq(
      `AP ${c}: local APIC starts software-disabled (SVR = 0xff)`,
      dword(apState + c * 16),
      0xff,
    );
  }

  /** Expects count(vector) on each CPU to equal `want[cpu]`. */
  const counts = (what: string, vector: number, want: number[]) => {
    want.forEach((n, c) => k.expectEq(`${what}: CPU ${c} got ${n}`, k.count(vector, c), n));
  };
  /** Lets the BSP take interrupts for a moment and the APs run. */
  const settle = () => {
    a.sti();
    k.delay(40_000);
    a.cli();
  };
  // Fixed, physical destination.
  for (let c = 1; c < N; c++) {
    k.ipi(0x4000 | 0x40, c);
    k.spinUntil(() => a.cmp(k.count(0x40, c), 1), "e", 1_000_000);
  }
  settle();
  counts("fixed physical IPI to each AP (vector 0x40)", 0x40, [0, 1, 1, 1]);
  command(1, sendIpi, 0x4000 | 0x41, 0);
  settle();
  counts("AP 1 -> BSP (vector 0x41)", 0x41, [1, 0, 0, 0]);
  command(2, sendIpi, 0x4000 | 0x42, 3);
  k.spinUntil(() => a.cmp(k.count(0x42, 3), 1), "e", 1_000_000);
  counts("AP 2 -> AP 3 (vector 0x42)", 0x42, [0, 0, 0, 1]);
  // Shorthands and broadcast.
  k.ipi(0x80000 | 0x43, 0);
  settle();
  counts("shorthand all including self (vector 0x43)", 0x43, [1, 1, 1, 1]);
  k.ipi(0xc0000 | 0x44, 0);
  settle();
  counts("shorthand all excluding self (vector 0x44)", 0x44, [0, 1, 1, 1]);
  k.ipi(0x40000 | 0x45, 0);
  settle();
  counts("shorthand self (vector 0x45)", 0x45, [1, 0, 0, 0]);
  k.ipi(0x4000 | 0x46, 0xff);
  settle();
  counts("physical broadcast 0xff (vector 0x46)", 0x46, [1, 1, 1, 1]);
  // Logical destination, flat model.
  a.mov(esi, 0).call(setFlat);
  onAll(setFlat);
  k.apicRead(0x0d);
  k.expectEq("flat model: BSP LDR = 0x01000000", eax, 0x01000000);
  k.apicRead(0x0e);
  k.expectEq("flat model: DFR reads back 0xffffffff", eax, 0xffffffff);
  k.ipi(0x4800 | 0x47, 0x0a);
  settle();
  counts("logical flat, destination 0x0a (vector 0x47)", 0x47, [0, 1, 0, 1]);
  k.ipi(0x4800 | 0x48, 0x05);
  settle();
  counts("logical flat, destination 0x05 (vector 0x48)", 0x48, [1, 0, 1, 0]);
  // Lowest priority: exactly one of CPUs 1-3.
  k.ipi(0x4900 | 0x49, 0x0e);
  settle();
  k.check(
    "lowest priority to 0x0e: exactly one CPU takes it",
    () => {
      a.mov(eax, k.count(0x49, 1)).add(eax, k.count(0x49, 2)).add(eax, k.count(0x49, 3));
      a.add(eax, k.count(0x49, 0)).cmp(eax, 1);
    },
    "ne",
    eax,
  );
  // Logical destination, cluster model.
  a.mov(esi, 0).call(setCluster);
  onAll(setCluster);
  k.apicRead(0x0d);
  k.expectEq("cluster model: BSP LDR = 0x01000000 (cluster 0, bit 0)", eax, 0x01000000);
  k.ipi(0x4800 | 0x4a, 0x12);
  settle();
  counts("logical cluster 1 bit 1 (destination 0x12, vector 0x4a)", 0x4a, [0, 0, 0, 1]);
  k.ipi(0x4800 | 0x4b, 0x03);
  settle();
  counts("logical cluster 0 bits 0-1 (destination 0x03, vector 0x4b)", 0x4b, [1, 1, 0, 0]);
  // STARTUP to a running AP is ignored; INIT + STARTUP restarts it.
  k.ipi(0x4600 | 0x20, 1);
  k.delay(20_000);
  k.expectEq("STARTUP to a running AP is ignored", dword(SLOTS + 16 + SLOT.entries), 1);
  a.lock().btr(dword(KV.aliveMask), 3);
  k.ipi(0x4500, 3);
  k.delay(10_000);
  k.ipi(0x8500, 3);
  k.delay(10_000);
  k.ipi(0x4600 | 0x20, 3);
  k.spinUntil(() => a.cmp(dword(SLOTS + 3 * 16 + SLOT.entries), 2), "e", 1_000_000);
  k.spinUntil(() => a.test(dword(KV.aliveMask), 8), "nz", 1_000_000);
  k.expectEq(
    "INIT + STARTUP restarts AP 3 at the SIPI page",
    dword(SLOTS + 3 * 16 + SLOT.entries),
    2,
  );
  k.expectMask("AP 3 reports in again", dword(KV.aliveMask), 8, 8);
  // INIT reset the local APIC except its ID (SDM 11.4.7.3): the cluster-model LDR/DFR and the
  // enabled SVR it had are gone.
  const st3 = apState + 3 * 16;
  k.expectEq("after INIT, AP 3 starts with SVR = 0xff (APIC software-disabled)", dword(st3), 0xff);
  k.expectEq("after INIT, AP 3 starts with DFR = 0xffffffff", dword(st3 + 4), 0xffffffff);
  k.expectEq("after INIT, AP 3 starts with LDR = 0", dword(st3 + 8), 0);
  k.ipi(0x4000 | 0x4c, 3);
  k.spinUntil(() => a.cmp(k.count(0x4c, 3), 1), "e", 1_000_000);
  k.expectEq("the restarted AP 3 takes IPIs", k.count(0x4c, 3), 1);
  // x2APIC.
  a.call(toX2apic);
  onAll(toX2apic);
  a.mov(ecx, 0x80d).rdmsr();
  k.expectEq("x2APIC: BSP LDR = 0x00000001", eax, 1);
  k.ipi(0x4000 | 0x4d, 2);
  k.spinUntil(() => a.cmp(k.count(0x4d, 2), 1), "e", 1_000_000);
  counts("x2APIC physical to APIC ID 2 (vector 0x4d)", 0x4d, [0, 0, 1, 0]);
  k.ipi(0x4800 | 0x4e, 0x0000000c);
  settle();
  counts("x2APIC logical cluster 0 bits 2-3 (vector 0x4e)", 0x4e, [0, 0, 1, 1]);
  k.ipi(0x4000 | 0x4e, 0xffffffff);
  settle();
  counts("x2APIC broadcast 0xffffffff (vector 0x4e)", 0x4e, [1, 1, 2, 2]);
  a.jmp(end);
  a.bind(noSmp);
  k.skip("smp", `needs ${N} CPUs (boot with --vps ${N})`);
  a.bind(end);
  return k.build();
}
