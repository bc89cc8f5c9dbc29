/**
 * A virtual processor: one Cpu, one local APIC per VTL, and the hypervisor's per-VP state. It
 * implements CpuHost, routing the CPU's requests to the hypervisor (hypercalls, synthetic MSRs,
 * CPUID leaves, page resolution with VTL rights and overlays) and to the platform (ports, MMIO,
 * APIC), and turning CPU notifications into events.
 */

import { hexNum } from "../cpu/u64.ts";
import { type Vtl, VtlArray } from "../core/vtl.ts";
import { Cpu } from "../cpu/cpu.ts";
import { type CpuHost } from "../cpu/host.ts";
import { Lapic, type LapicEnv } from "../devices/lapic.ts";
import { HvVp } from "../hv/partition.ts";
import { hypercall } from "../hv/hypercall.ts";
import { hvCpuid } from "../hv/cpuid.ts";
import { isSynthMsr, readSynthMsr, referenceTime, writeSynthMsr } from "../hv/msrs.ts";
import { SynIC, type SynicEnv } from "../hv/synic.ts";
import { crWriteIntercepted, msrWriteIntercepted } from "../hv/register_intercepts.ts";
import { ioIntercepted } from "../hv/io_intercepts.ts";
import { tlbWaitOver } from "../hv/hypercalls/flush.ts";
import { checkVina, takePreempted } from "../hv/vsm.ts";
import { eoiAssistAck, eoiAssistSync } from "../hv/eoi_assist.ts";
import { assertNmi, NMI_SOURCE, nmiDeliverable } from "../hv/nmi.ts";
import { VEC_NMI } from "../cpu/regs.ts";
import type { Machine } from "./machine.ts";

export class Vp implements CpuHost {
  readonly index: number;
  readonly machine: Machine;
  readonly cpu: Cpu;
  readonly hv: HvVp;
  /** Waiting for a startup IPI (application processors after reset or INIT). */
  waitSipi: boolean;

  constructor(machine: Machine, index: number) {
    this.index = index;
    this.machine = machine;
    const vtlCount = machine.partition.vtlCount;
    this.cpu = new Cpu(this, machine.mem, machine.code, vtlCount);
    const lapics = new VtlArray<Lapic>(
      vtlCount,
      (vtl) => new Lapic(this.#lapicEnv(vtl), index, index === 0),
    );
    this.hv = new HvVp(index, this.cpu, vtlCount, lapics);
    this.hv.synics = new VtlArray<SynIC>(vtlCount, (vtl) => new SynIC(this.#synicEnv(vtl)));
    this.waitSipi = index !== 0;
  }

  #lapicEnv(vtl: Vtl): LapicEnv {
    const m = this.machine;
    return {
      now: () => m.now(),
      tscOffset: () => this.cpu.tscOffset,
      instrPerTick: m.config.tscHz / m.config.apicHz,
      changed: () => this.#lapicChanged(vtl),
      timerChanged: () => m.timersChanged(),
      sendIpi: (lo, hi) => m.sendIpi(this, vtl, lo, hi),
      nmi: () => assertNmi(this.hv, vtl),
      onEoi: (vector, level) => {
        this.hv.synics?.get(vtl).apicEoi();
        if (level && vtl === 0) this.machine.levelEoi(vector);
      },
    };
  }

  #synicEnv(vtl: Vtl): SynicEnv {
    const m = this.machine;
    return {
      vpIndex: this.index,
      vtl,
      setOverlay: (kind, gpn) => m.partition.setSynicOverlay(this.hv, vtl, kind, gpn),
      mem: m.mem,
      interrupt: (vector, autoEoi, source) =>
        this.hv.lapics.get(vtl).accept(vector, false, source, autoEoi),
      event: (sint, type, outcome) =>
        m.emit(this.index, "synic_message", {
          target_vp: this.index,
          target_vtl: vtl,
          sint,
          type: type >>> 0,
          outcome,
        }),
      referenceTime: () => referenceTime(m.partition, m.now()),
      isValidGpn: (gpn) => gpn >= 0 && gpn < m.mem.ramPages,
      deadlineChanged: () => m.timersChanged(),
    };
  }

  #lapicChanged(vtl: Vtl): void {
    eoiAssistSync(this.machine.partition, this.hv, vtl);
    const active = this.hv.activeVtl;
    if (vtl === active) {
      this.cpu.intrPending = true;
      this.cpu.brk = true;
    } else if (vtl > active) {
      // A higher VTL may preempt: let the machine look at it after this instruction.
      this.hv.preemptCheck = true;
      this.cpu.brk = true;
      this.cpu.exitReq = true;
    } else {
      checkVina(this.machine.partition, this.hv, vtl);
    }
  }

  /** Whether the VP can make progress (not halted, or an interrupt would wake it). */
  get runnable(): boolean {
    const c = this.cpu;
    if (c.shutdown || !this.hv.started) return false;
    if (!tlbWaitOver(this.machine.partition, this.hv)) return false;
    if (!c.halted) return true;
    if (this.hv.preemptCheck || nmiDeliverable(this.hv, this.hv.activeVtl)) return true;
    for (let v = this.hv.activeVtl + 1; v < this.hv.contexts.count; v++) {
      if (
        this.hv.isEnabled(v as Vtl) &&
        (this.hv.lapics.get(v as Vtl).deliverable() >= 0 || nmiDeliverable(this.hv, v as Vtl))
      ) {
        return true;
      }
    }
    return (c.eflags & 0x200) !== 0 &&
      (this.hv.lapic.deliverable() >= 0 || this.machine.extIntPending(this));
  }

  // ---- CpuHost ----------------------------------------------------------------------------

  resolveGpa(gpn: number): number {
    return this.machine.partition.resolveGpa(this.hv, this.hv.activeVtl, gpn);
  }

  mmioRead(gpa: number, size: 1 | 2 | 4): number {
    this.#apicAccess(gpa >= 0xfee00000 && gpa < 0xfee01000);
    return this.machine.mmioRead(this, gpa, size);
  }

  mmioWrite(gpa: number, size: 1 | 2 | 4, value: number): void {
    this.#apicAccess(gpa >= 0xfee00000 && gpa < 0xfee01000);
    this.machine.mmioWrite(this, gpa, size, value);
  }

  /** Before the active VTL's APIC is read or written: settle a lazy EOI (hv/eoi_assist.ts). */
  #apicAccess(isApic: boolean): void {
    if (isApic) eoiAssistSync(this.machine.partition, this.hv, this.hv.activeVtl);
  }

  ioIn(port: number, size: 1 | 2 | 4): number {
    return this.machine.ports.read(port, size);
  }

  ioOut(port: number, size: 1 | 2 | 4, value: number): void {
    this.machine.ports.write(port, size, value);
  }

  rdmsr(index: number, out: Int32Array): boolean {
    this.#apicAccess(isApicMsr(index));
    if (isSynthMsr(index)) {
      return readSynthMsr(this.machine.partition, this.hv, index, this.machine.now(), out);
    }
    return this.hv.lapic.readMsr(index, out);
  }

  wrmsr(index: number, lo: number, hi: number): boolean {
    this.#apicAccess(isApicMsr(index));
    if (isSynthMsr(index)) return writeSynthMsr(this.machine.partition, this.hv, index, lo, hi);
    return this.hv.lapic.writeMsr(index, lo, hi);
  }

  cpuid(leaf: number, subleaf: number, out: Int32Array): void {
    hvCpuid(this.machine.partition, leaf, subleaf, out);
  }

  now(): number {
    return this.machine.now();
  }

  readCr8(): number {
    return this.hv.lapic.tpr >>> 4;
  }

  writeCr8(v: number): void {
    this.hv.lapic.write(0x08, (v & 0xf) << 4);
  }

  apicId(): number {
    return this.index;
  }

  hypercall(): void {
    hypercall(this.machine.partition, this.hv);
  }

  protectionFault(gpa: number, gva: number, access: number): void {
    this.machine.protectionFault(this, gpa, gva, access);
  }

  interruptAck(): number {
    const p = this.machine.partition, vtl = this.hv.activeVtl;
    eoiAssistSync(p, this.hv, vtl);
    const v = this.hv.lapic.ack();
    if (v >= 0) {
      eoiAssistAck(p, this.hv, vtl, v);
      return v;
    }
    return this.machine.extIntPending(this) ? this.machine.extIntAck() : -1;
  }

  onException(vector: number, hasErrorCode: boolean, errorCode: number, cr2: number): void {
    this.machine.emit(this.index, "exception", {
      vector,
      has_error_code: hasErrorCode,
      error_code: errorCode >>> 0,
      cr2: hexNum(cr2),
    });
  }

  onInterrupt(vector: number): void {
    this.machine.emit(this.index, "interrupt", {
      vector,
      source: this.machine.interruptSource(this, vector),
      target_vtl: this.hv.activeVtl,
      preempted: takePreempted(this.hv, this.hv.activeVtl, vector),
    });
  }

  onNmi(): void {
    this.machine.emit(this.index, "interrupt", {
      vector: VEC_NMI,
      source: NMI_SOURCE,
      target_vtl: this.hv.activeVtl,
      preempted: takePreempted(this.hv, this.hv.activeVtl, VEC_NMI),
    });
  }

  onHalt(): void {
    this.machine.emit(this.index, "halt", {});
  }

  interceptCrWrite(cr: number, lo: number, hi: number): boolean {
    return crWriteIntercepted(this.machine.partition, this.hv, cr, lo, hi);
  }

  interceptMsrWrite(index: number, lo: number, _hi: number): boolean {
    return msrWriteIntercepted(this.machine.partition, this.hv, index, lo);
  }

  interceptIo(port: number, size: number, write: boolean, string: boolean, rep: boolean): boolean {
    return ioIntercepted(this.machine.partition, this.hv, port, size, write, string, rep);
  }

  onShutdown(reason: string): void {
    this.machine.shutdown(reason);
  }

  tscWritten(): void {
    // The partition-wide reference TSC page is valid only while no TSC is offset (TLFS §12.7).
    this.machine.partition.refreshReferenceTsc();
  }
}

/** x2APIC registers and the Hyper-V APIC MSRs (HV_X64_MSR_EOI, _ICR, _TPR). */
function isApicMsr(index: number): boolean {
  return (index >= 0x800 && index <= 0x8ff) || (index >= 0x40000070 && index <= 0x40000072);
}
