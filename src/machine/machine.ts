/**
 * The machine: guest memory, the decode cache, the hypervisor partition, the platform devices,
 * the VPs, and the deterministic scheduler and clock that run them.
 *
 * Time is the global count of retired instructions (`icount`). Devices and timers have
 * deadlines in that unit; the scheduler runs the current VP exactly up to the next deadline or
 * the end of its quantum, processes everything due at that count in a fixed order (inputs,
 * timers, checkpoint), and moves on round-robin. When every VP is halted, time jumps to the
 * next deadline. Every observable effect is emitted as an event through one sink.
 */

import type { EventFields, EventKind, EventSink, TraceEvent } from "../core/events.ts";
import { type Vtl, Vtl0 } from "../core/vtl.ts";
import { toHex } from "../core/hex.ts";
import { CodeCache } from "../cpu/code_cache.ts";
import type { Block } from "../cpu/cpu.ts";
import { CpuContext, saveContext } from "../cpu/context.ts";
import { fullTagWord } from "../cpu/fp/f80.ts";
import { VEC_MC } from "../cpu/regs.ts";
import { hexNum } from "../cpu/u64.ts";
import { PortBus } from "../devices/bus.ts";
import { DebugConsole, DebugExit, IgnoredPorts } from "../devices/debug_ports.ts";
import { Uart16550 } from "../devices/uart16550.ts";
import { buildAcpiTables } from "../devices/acpi.ts";
import { FwCfg } from "../devices/fw_cfg.ts";
import { Ioapic, IOAPIC_BASE, IOAPIC_SIZE } from "../devices/ioapic.ts";
import { type Lapic, logicalMatch, lowestPriority, physicalMatch } from "../devices/lapic.ts";
import {
  type ApicMessage,
  DM_EXTINT,
  DM_FIXED,
  DM_LOWEST,
  DM_NMI,
  IsaIrqRouter,
} from "../devices/irq.ts";
import { PciHost } from "../devices/pci.ts";
import { Pic8259 } from "../devices/pic8259.ts";
import { Pit8254 } from "../devices/pit8254.ts";
import { Port92 } from "../devices/port92.ts";
import { Rtc } from "../devices/rtc.ts";
import { GuestMemory } from "../memory/guest_memory.ts";
import { APIC_MMIO_GPN, Partition } from "../hv/partition.ts";
import { checkPreemption } from "../hv/vsm.ts";
import { handleProtectionViolation } from "../hv/intercept.ts";
import { icountForReferenceTime, referenceTimeAt } from "../hv/reference_tsc.ts";
import "../hv/hypercalls/all.ts";
import type { MachineConfig } from "./config.ts";
import type { InputSource } from "./inputs.ts";
import { Hasher, MemoryHash } from "./state_hash.ts";
import { Vp } from "./vp.ts";

export interface ExitInfo {
  readonly reason:
    | "debug_exit"
    | "shutdown"
    | "triple_fault"
    | "all_halted"
    | "limit"
    | "interrupted"
    | "reset";
  readonly value: number;
  readonly status: number;
}

/** How a guest image sets up the machine before the first instruction. */
export interface GuestLoader {
  load(m: Machine): void;
}

const ACCESS_NAMES = ["r", "w", "x"];

/**
 * There is no BIOS, so the real-mode reset vector F000:FFF0 (physical 0xffff0, in the e820
 * reserved area) holds a stub that resets the machine through the PIIX3 reset control register:
 * `mov dx, 0xcf9; mov al, 6; out dx, al; hlt`. A guest that reboots by jumping there (Linux on a
 * hardware-reduced ACPI platform without EFI picks its "BIOS" reboot method) ends the run with
 * exit reason "reset" instead of executing zeros.
 */
const RESET_VECTOR = 0xffff0;
const RESET_STUB = Uint8Array.of(0xba, 0xf9, 0x0c, 0xb0, 0x06, 0xee, 0xf4);

/** Console bytes not yet recorded, and the position of the last one (the event's position). */
interface ConsoleBuf {
  bytes: number[];
  icount: number;
  vp: number;
  vtl: number;
  rip: number;
  bits: number;
  insn: string;
}

/**
 * The instruction bytes last peeked for a console byte: the VP was executing `block` (at its
 * first instruction) and the 15 bytes came from one host page, at `block.pa`.
 */
interface PeekedInsn {
  readonly vp: number;
  readonly vtl: number;
  readonly cpl: number;
  readonly bits: number;
  readonly block: Block;
  readonly bytes: Uint8Array;
  readonly hex: string;
}

const INSN_PEEK = 15;

export class Machine {
  readonly config: MachineConfig;
  readonly mem: GuestMemory;
  readonly code: CodeCache;
  readonly partition: Partition;
  readonly ports = new PortBus();
  readonly com1 = new Uart16550("com1", 0x3f8);
  readonly debugExit = new DebugExit();
  readonly debugcon = new DebugConsole();
  readonly vps: Vp[] = [];
  // The PC platform (ISA interrupts reach the 8259 pair and the IOAPIC).
  readonly pic = new Pic8259();
  readonly ioapic: Ioapic;
  readonly isa: IsaIrqRouter;
  readonly pit: Pit8254;
  readonly rtc: Rtc;
  readonly pci = new PciHost();
  readonly port92 = new Port92();
  readonly fwcfg: FwCfg;
  /** Guest physical address of the ACPI RSDP (tables at 0xe0000). */
  readonly acpiRsdp: number;
  readonly #sink: EventSink;
  readonly #input: InputSource;
  readonly #memHash: MemoryHash;

  /** Instructions retired by all VPs. */
  icount = 0;
  #seq = 0;
  exit: ExitInfo | null = null;
  /** Events emitted, by kind. */
  readonly counts = new Map<string, number>();
  /** Console bytes as they are written (for live display; not part of the core). */
  onConsole: (device: string, byte: number) => void = () => {};

  /** Ends the run with reason "interrupted" when icount reaches this (replay of a Ctrl-C). */
  stopAt = Infinity;
  #running: Vp | null = null;
  #sliceBase = 0;
  #sliceCpuBase = 0;
  #current = 0;
  #quantumLeft: number;
  #nextCheckpoint: number;
  #timersDirty = true;
  #nextTimer = Infinity;
  readonly #consoles = new Map<string, ConsoleBuf>();
  #peeked: PeekedInsn | null = null;

  constructor(config: MachineConfig, loader: GuestLoader, sink: EventSink, input: InputSource) {
    this.config = config;
    this.#sink = sink;
    this.#input = input;
    this.mem = new GuestMemory(
      config.memMiB * 1024 * 1024,
      64 + 8 * config.vps * (config.maxVtl + 1),
    );
    this.code = new CodeCache(this.mem);
    this.partition = new Partition(this.mem, {
      maxVtl: config.maxVtl,
      profile: config.hvProfile,
      tscHz: config.tscHz,
      apicHz: config.apicHz,
      connections: config.connections,
    }, this);
    for (let i = 0; i < config.vps; i++) {
      const vp = new Vp(this, i);
      this.vps.push(vp);
      this.partition.addVp(vp.hv);
    }
    // Platform devices.
    this.ioapic = new Ioapic({ id: config.vps, bus: { deliver: (m) => this.#ioapicDeliver(m) } });
    this.isa = new IsaIrqRouter(this.pic, this.ioapic);
    this.pit = new Pit8254({ tscHz: config.tscHz, now: () => this.now(), irq0: this.isa.line(0) });
    this.rtc = new Rtc({
      tscHz: config.tscHz,
      now: () => this.now(),
      startEpochSeconds: config.startEpochSeconds,
      memBelow4G: this.mem.ramBytes,
      cpus: config.vps,
      irq8: this.isa.line(8),
    });
    this.pit.onDeadlineChanged = () => this.timersChanged();
    this.rtc.onDeadlineChanged = () => this.timersChanged();
    this.com1.irq = this.isa.line(4);
    this.pic.connect((level) => {
      if (!level) return;
      this.#extIntChanged();
      // The 8259's INTR is wired to the boot processor's LINT0: an NMI if LINT0 says so.
      this.vps[0]?.hv.lapics.get(Vtl0).lint(0);
    });
    this.pci.onReset = () => this.#finish({ reason: "reset", value: 0, status: 0 });
    this.port92.onReset = () => this.#finish({ reason: "reset", value: 0, status: 0 });
    this.fwcfg = new FwCfg({
      ramSize: this.mem.ramBytes,
      cpus: config.vps,
      cmdline: config.cmdline,
      mem: {
        read: (addr, len) => this.#dmaRead(addr, len),
        write: (addr, bytes) => this.#dmaWrite(addr, bytes),
      },
    });
    const acpi = buildAcpiTables({ vps: config.vps, base: 0xe0000 });
    this.mem.writeBytes(0xe0000, acpi.bytes);
    this.acpiRsdp = acpi.rsdpAddress;
    this.mem.writeBytes(RESET_VECTOR, RESET_STUB);
    this.ports.claim(0x20, 2, this.pic);
    this.ports.claim(0xa0, 2, this.pic);
    this.ports.claim(0x4d0, 2, this.pic);
    this.ports.claim(0x40, 4, this.pit);
    this.ports.claim(0x61, 1, this.pit);
    this.ports.claim(0x70, 2, this.rtc);
    this.ports.claim(0xcf8, 8, this.pci);
    this.ports.claim(0x92, 1, this.port92);
    this.ports.claim(0x510, 2, this.fwcfg);
    if (this.fwcfg.dmaEnabled) this.ports.claim(0x514, 8, this.fwcfg);
    this.ports.onUnknown = (port, write) => {
      const vp = this.#running ?? this.vps[0]!;
      this.emit(vp.index, "io_unhandled", { port, access: write ? "out" : "in" });
    };
    this.ports.claim(0x3f8, 8, this.com1);
    this.ports.claim(0xf4, 1, this.debugExit);
    this.ports.claim(0xe9, 1, this.debugcon);
    this.ports.claim(0x8900, 1, new IgnoredPorts("bochs-shutdown"));
    this.ports.claim(0x80, 1, new IgnoredPorts("post-code"));
    this.com1.onTransmit = (b) => this.#consoleByte("com1", b);
    this.debugcon.onTransmit = (b) => this.#consoleByte("e9", b);
    this.debugExit.onExit = (v) =>
      this.#finish({ reason: "debug_exit", value: v, status: ((v << 1) | 1) >>> 0 });
    this.#quantumLeft = config.quantum;
    this.#nextCheckpoint = config.checkpointInterval > 0 ? config.checkpointInterval : Infinity;
    this.vps[0]!.hv.started = true;
    loader.load(this);
    this.#memHash = new MemoryHash(this.mem);
    for (const vp of this.vps) vp.cpu.updateMode();
    this.emit(0, "vp_start", { target_vp: 0, target_vtl: 0, how: "reset" });
  }

  // ---- time --------------------------------------------------------------------------------

  /** The global instruction count at the current point of execution. */
  now(): number {
    const r = this.#running;
    if (r === null) return this.icount;
    return this.#sliceBase + (r.cpu.exactIcount() - this.#sliceCpuBase);
  }

  timersChanged(): void {
    this.#timersDirty = true;
    const r = this.#running;
    if (r !== null) {
      r.cpu.brk = true;
      r.cpu.exitReq = true;
    }
  }

  #timerDeadline(): number {
    if (this.#timersDirty) {
      let t = Infinity;
      const hz = this.config.tscHz;
      for (const vp of this.vps) {
        for (const l of vp.hv.lapics.values()) if (l.timerDeadline < t) t = l.timerDeadline;
        for (const s of vp.hv.synics.values()) {
          const d = s.nextDeadline();
          if (d !== Infinity) t = Math.min(t, icountForReferenceTime(d, hz));
        }
      }
      this.#nextTimer = t;
      this.#timersDirty = false;
    }
    return this.#nextTimer;
  }

  /**
   * The next deadline: the earliest of `pending` (what #processDeadlines returned), the timers',
   * the instruction limit and `stopAt`.
   */
  #nextDeadline(pending: number): number {
    let t = Math.min(this.#timerDeadline(), pending);
    if (this.config.maxInstructions > 0) t = Math.min(t, this.config.maxInstructions);
    t = Math.min(t, this.stopAt);
    return Math.max(t, this.icount);
  }

  /**
   * Everything due at the current icount, in a fixed order: inputs, timers, checkpoint. Returns
   * the next deadline of the input source, the PIT (its next IRQ0 change), the RTC (its next
   * IRQF rise) and the checkpoints — a VP stops (or halted time jumps) exactly there, so ISA
   * timer interrupts are not late by a quantum or more. The local APIC and SynIC timers' is
   * #timerDeadline(), recomputed when they change.
   */
  #processDeadlines(): number {
    const t = this.icount;
    let inputAt = this.#input.nextDeadline(t);
    if (inputAt === t) {
      const data = this.#input.fetch(t, this.com1.rxSpace());
      if (data !== null && data.length > 0) {
        this.emit(0, "input", { device: "com1", data: toHex(data) });
        this.com1.receive(data);
      }
      inputAt = this.#input.nextDeadline(t);
    }
    if (this.#timerDeadline() <= t) {
      const hz = this.config.tscHz;
      for (const vp of this.vps) {
        for (const l of vp.hv.lapics.values()) if (l.timerDeadline <= t) l.fireTimer(t);
        for (const s of vp.hv.synics.values()) {
          const d = s.nextDeadline();
          if (d !== Infinity && icountForReferenceTime(d, hz) <= t) {
            s.fireTimers(referenceTimeAt(t, hz));
          }
        }
      }
    }
    let pitAt = this.pit.nextDeadline(t);
    if (pitAt <= t) {
      this.pit.update(t);
      pitAt = this.pit.nextDeadline(t);
    }
    let rtcAt = this.rtc.nextDeadline(t);
    if (rtcAt <= t) {
      this.rtc.update(t);
      rtcAt = this.rtc.nextDeadline(t);
    }
    if (t >= this.#nextCheckpoint) {
      this.emit(0, "checkpoint", { hash: this.stateHash() });
      this.#nextCheckpoint += this.config.checkpointInterval;
    }
    return Math.min(inputAt, pitAt, rtcAt, this.#nextCheckpoint);
  }

  // ---- scheduling ---------------------------------------------------------------------------

  /** Runs until `budget` more instructions have retired machine-wide, or the run ends. */
  run(budget: number): void {
    const stop = this.icount + budget;
    while (this.exit === null && this.icount < stop) {
      const pending = this.#processDeadlines();
      if (this.exit !== null) break;
      if (this.icount >= this.stopAt) {
        this.#finish({ reason: "interrupted", value: 0, status: 0 });
        break;
      }
      if (this.config.maxInstructions > 0 && this.icount >= this.config.maxInstructions) {
        this.#finish({ reason: "limit", value: 0, status: 0 });
        break;
      }
      const vp = this.#pick();
      if (vp === null) {
        const next = this.#nextDeadline(pending);
        if (next === Infinity) {
          this.#finish({ reason: "all_halted", value: 0, status: 0 });
          break;
        }
        // Everyone is halted: time jumps to the next deadline.
        this.icount = Math.min(next, stop);
        continue;
      }
      if (vp.hv.preemptCheck) checkPreemption(this.partition, vp.hv);
      const until = Math.min(this.#nextDeadline(pending), stop, this.icount + this.#quantumLeft);
      const budgetNow = Math.max(until - this.icount, 1);
      this.#running = vp;
      this.#sliceBase = this.icount;
      this.#sliceCpuBase = vp.cpu.icount;
      let n: number;
      try {
        n = vp.cpu.run(budgetNow);
      } finally {
        this.#running = null;
      }
      this.icount += n;
      this.#quantumLeft -= n;
      if (this.partition.resetRequested) {
        this.#finish({ reason: "reset", value: 0, status: 0 });
        break;
      }
      if (vp.cpu.halted || vp.cpu.shutdown || this.#quantumLeft <= 0) this.#rotate();
    }
    if (this.exit !== null) this.#flushConsoles();
  }

  #rotate(): void {
    this.#current = (this.#current + 1) % this.vps.length;
    this.#quantumLeft = this.config.quantum;
  }

  /** The current VP if runnable, else the next runnable one round-robin, else null. */
  #pick(): Vp | null {
    for (let k = 0; k < this.vps.length; k++) {
      const vp = this.vps[this.#current]!;
      if (vp.runnable) return vp;
      this.#rotate();
    }
    return null;
  }

  #finish(e: ExitInfo): void {
    if (this.exit !== null) return;
    this.exit = e;
    const vpIndex = this.#running?.index ?? 0;
    this.emit(vpIndex, "exit", { reason: e.reason, value: e.value, status: e.status });
    for (const vp of this.vps) vp.cpu.exitReq = true;
  }

  /** A VP shut down (a triple fault, or another shutdown condition): the run ends. */
  shutdown(reason: string): void {
    this.#finish({
      reason: reason === "triple_fault" ? "triple_fault" : "shutdown",
      value: 0,
      status: 0,
    });
  }

  // ---- devices -------------------------------------------------------------------------------

  mmioRead(vp: Vp, gpa: number, size: 1 | 2 | 4): number {
    if (gpa >= IOAPIC_BASE && gpa < IOAPIC_BASE + IOAPIC_SIZE) {
      return this.ioapic.mmioRead(gpa - IOAPIC_BASE, size) >>> 0;
    }
    const l = vp.hv.lapic;
    if (Math.floor(gpa / 4096) === APIC_MMIO_GPN && l.hwEnabled && !l.x2apic && size === 4) {
      const v = l.read((gpa & 0xfff) >>> 4);
      return v === -1 ? 0 : v >>> 0;
    }
    return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
  }

  mmioWrite(vp: Vp, gpa: number, size: 1 | 2 | 4, value: number): void {
    if (gpa >= IOAPIC_BASE && gpa < IOAPIC_BASE + IOAPIC_SIZE) {
      this.ioapic.mmioWrite(gpa - IOAPIC_BASE, size, value);
      return;
    }
    const l = vp.hv.lapic;
    if (Math.floor(gpa / 4096) === APIC_MMIO_GPN && l.hwEnabled && !l.x2apic && size === 4) {
      l.write((gpa & 0xfff) >>> 4, value);
    }
  }

  /**
   * An IPI from (vp, vtl)'s APIC. IPIs stay within the sender's VTL (TLFS §15.12; spec §8):
   * they reach the same VTL's APIC on the target VPs. Fixed, lowest priority, NMI, INIT, SIPI.
   */
  sendIpi(from: Vp, vtl: Vtl, lo: number, hi: number): void {
    const vector = lo & 0xff;
    const mode = (lo >>> 8) & 7;
    const shorthand = (lo >>> 18) & 3;
    const x2 = from.hv.lapics.get(vtl).x2apic;
    const dest = x2 ? hi >>> 0 : hi >>> 24;
    const logical = (lo & 0x800) !== 0;
    // Lowest priority: one target, chosen by lowestPriority among the matching APICs.
    const lowest: Lapic[] = [];
    for (const vp of this.vps) {
      const self = vp === from;
      const hit = shorthand === 1
        ? self
        : shorthand === 2
        ? true
        : shorthand === 3
        ? !self
        : logical
        ? logicalMatch(vp.hv.lapics.get(vtl), dest, x2)
        : physicalMatch(vp.hv.lapics.get(vtl), dest, x2);
      if (!hit || !vp.hv.isEnabled(vtl)) continue;
      switch (mode) {
        case 0: // fixed
          vp.hv.lapics.get(vtl).accept(vector, false, "ipi");
          break;
        case 1:
          lowest.push(vp.hv.lapics.get(vtl));
          break;
        case 4: // NMI (the vector is ignored)
          vp.hv.lapics.get(vtl).acceptNmi();
          break;
        case 5: // INIT (level de-assert is ignored)
          if (((lo >>> 14) & 1) === 0 && ((lo >>> 15) & 1) === 1) break;
          this.#init(vp);
          break;
        case 6: // SIPI
          this.#sipi(vp, vector);
          break;
      }
    }
    lowestPriority(lowest)?.accept(vector, false, "ipi");
  }

  /**
   * INIT: the VP resets and waits for a startup IPI. Once a VTL above 0 is enabled on the VP,
   * INIT and SIPI aimed at VTL0 are dropped (TLFS §15.12.3): start it with
   * HvCallStartVirtualProcessor instead.
   */
  #init(vp: Vp): void {
    if (vp.hv.enabledVtls !== 1 || vp === this.vps[0]) return;
    vp.cpu.reset();
    vp.hv.lapics.get(Vtl0).initReset(); // the local APIC resets too (SDM 11.4.7.3)
    vp.hv.started = false;
    vp.waitSipi = true;
  }

  #sipi(vp: Vp, vector: number): void {
    if (!vp.waitSipi || vp.hv.started || vp.hv.enabledVtls !== 1) return;
    vp.waitSipi = false;
    vp.cpu.reset();
    vp.cpu.loadSegReal(1, vector << 8);
    vp.cpu.rip = 0;
    vp.cpu.updateMode();
    vp.hv.started = true;
    this.emit(vp.index, "vp_start", { target_vp: vp.index, target_vtl: 0, how: "sipi" });
  }

  /**
   * An IOAPIC message: to the VTL0 local APICs it names (external interrupts go to VTL0 under
   * VSM, spec §4.6). Lowest priority goes to the lowest matching APIC ID (deterministic).
   */
  #ioapicDeliver(m: ApicMessage): void {
    const targets = this.vps.filter((vp) => {
      const l = vp.hv.lapics.get(Vtl0);
      if (m.destMode === 1) return logicalMatch(l, m.dest, l.x2apic);
      return physicalMatch(l, m.dest, false); // 8-bit destinations
    });
    if (m.deliveryMode === DM_EXTINT) {
      this.#extIntChanged();
      return;
    }
    if (m.deliveryMode === DM_NMI) {
      for (const vp of targets) vp.hv.lapics.get(Vtl0).acceptNmi(); // the vector is ignored
      return;
    }
    if (m.deliveryMode !== DM_FIXED && m.deliveryMode !== DM_LOWEST) return; // INIT/SMI
    const lapics = targets.map((vp) => vp.hv.lapics.get(Vtl0));
    if (m.deliveryMode === DM_LOWEST) {
      lowestPriority(lapics)?.accept(m.vector, m.trigger === "level", "ioapic");
      return;
    }
    for (const l of lapics) l.accept(m.vector, m.trigger === "level", "ioapic");
  }

  /** The 8259's INTR may now be pending for the boot processor's VTL0 (ExtINT / virtual wire). */
  #extIntChanged(): void {
    const bsp = this.vps[0]!;
    bsp.cpu.intrPending = true;
    bsp.cpu.brk = true;
  }

  /**
   * Whether `vp` (in VTL0) takes an interrupt from the 8259 now: it is the boot processor and
   * LINT0 is unmasked in ExtINT mode, or its local APIC is hardware-disabled (virtual wire).
   */
  extIntPending(vp: Vp): boolean {
    if (vp !== this.vps[0] || vp.hv.activeVtl !== Vtl0 || !this.pic.intr()) return false;
    const l = vp.hv.lapics.get(Vtl0);
    if (!l.hwEnabled) return true;
    const lint0 = l.lvt[4]!;
    return (lint0 & 0x10000) === 0 && ((lint0 >>> 8) & 7) === 7;
  }

  /** INTA to the 8259. */
  extIntAck(): number {
    return this.pic.ack();
  }

  /** A level-triggered vector was EOId in a VTL0 APIC: the IOAPIC may re-deliver. */
  levelEoi(vector: number): void {
    this.ioapic.eoi(vector);
  }

  #dmaRead(addr: number, len: number): Uint8Array {
    if (addr < 0 || addr + len > this.mem.ramBytes) throw new RangeError("fw_cfg DMA outside RAM");
    return this.mem.readBytes(addr, len);
  }

  #dmaWrite(addr: number, bytes: Uint8Array): void {
    if (addr < 0 || addr + bytes.length > this.mem.ramBytes) {
      throw new RangeError("fw_cfg DMA outside RAM");
    }
    this.mem.writeBytes(addr, bytes);
  }

  interruptSource(vp: Vp, vector: number): string {
    return vp.hv.lapic.sources[vector] ?? "ext";
  }

  protectionFault(vp: Vp, gpa: number, gva: number, access: number): void {
    // The `vtl_fault` event is recorded when the intercept message has been handed over and
    // before the VP leaves the faulting VTL, so it is positioned at the faulting instruction.
    const walk = (access & 0x10) !== 0; // ACCESS_WALK (cpu.ts): a paging-structure access
    const kind = access & 3;
    handleProtectionViolation(this.partition, vp.hv, gpa, gva, kind, (owner) => {
      this.emit(vp.index, "vtl_fault", {
        gpa: hexNum(gpa),
        gva: hexNum(gva),
        access: ACCESS_NAMES[kind] ?? "?",
        resolution: owner >= 0 ? `intercept_vtl${owner}` : "machine_check",
      });
      if (owner < 0) {
        // No higher VTL claims the page: OpenVMM injects #MC into the offending VTL, once the
        // abandoned instruction has been unwound.
        vp.cpu.afterAbort = () => vp.cpu.deliverException(VEC_MC, false, 0);
      }
    }, walk);
  }

  // ---- events --------------------------------------------------------------------------------

  #position(vpIndex: number, rip?: number): Omit<TraceEvent, "kind" | "seq"> {
    const vp = this.vps[vpIndex]!;
    const cpu = vp.cpu;
    const r = rip ?? cpu.rip;
    return {
      icount: this.now(),
      vp: vpIndex,
      vtl: vp.hv.activeVtl,
      rip: hexNum(r),
      bits: cpu.bits,
      insn: toHex(cpu.peekCode(15, r)),
    } as Omit<TraceEvent, "kind" | "seq">;
  }

  emit<K extends EventKind>(vpIndex: number, kind: K, fields: EventFields<K>, rip?: number): void {
    this.#flushConsoles();
    this.#send({ kind, ...this.#position(vpIndex, rip), ...fields } as unknown as TraceEvent);
  }

  #send(e: TraceEvent): void {
    e.seq = this.#seq++;
    // Key order: kind, position, fields (the trace codec relies on the schema, not key order).
    this.counts.set(e.kind, (this.counts.get(e.kind) ?? 0) + 1);
    this.#sink.event(e);
  }

  #consoleByte(device: string, byte: number): void {
    this.onConsole(device, byte);
    this.#input.onConsole?.(byte);
    let c = this.#consoles.get(device);
    if (c === undefined) {
      c = { bytes: [], icount: 0, vp: 0, vtl: 0, rip: 0, bits: 0, insn: "" };
      this.#consoles.set(device, c);
    }
    const vp = this.#running ?? this.vps[0]!;
    c.bytes.push(byte);
    // The event's position is the last byte's: what #position would give, field by field.
    c.icount = this.now();
    c.vp = vp.index;
    c.vtl = vp.hv.activeVtl;
    c.rip = vp.cpu.rip;
    c.bits = vp.cpu.bits;
    c.insn = this.#consoleInsn(vp);
    if (byte === 10 || c.bytes.length >= 256) this.#flushConsole(device, c);
  }

  /**
   * The instruction bytes at the RIP of `vp`, which is writing a console byte: peeked like every
   * event's, except that a guest printing a string in a loop would peek (15 page walks) for
   * every byte. The bytes peeked for the previous console byte are reused when they cannot have
   * changed: the VP is still executing the same decoded block at its first instruction (so it
   * still translates RIP to the same host page, the block is still valid, and the VP, VTL, CPL
   * and code size are the same), the 15 bytes lie in that page, and they still hold the same
   * values. Any other event drops them. (A fresh peek walks the page tables; it could differ
   * only if the guest remapped this code page without flushing its TLB in between, and then
   * the reused bytes are the ones the VP executes.)
   */
  #consoleInsn(vp: Vp): string {
    const cpu = vp.cpu, b = cpu.curBlock, r = cpu.rip;
    const fromBlock = this.#running === vp && b !== null && b.valid && b.rip === r &&
      b.pa % 4096 <= 4096 - INSN_PEEK;
    const p = this.#peeked;
    if (
      fromBlock && p !== null && p.block === b && p.vp === vp.index &&
      p.vtl === vp.hv.activeVtl && p.cpl === cpu.cpl && p.bits === cpu.bits &&
      this.#sameBytes(b.pa, p.bytes)
    ) {
      return p.hex;
    }
    const bytes = cpu.peekCode(INSN_PEEK, r);
    const hex = toHex(bytes);
    this.#peeked = fromBlock && bytes.length === INSN_PEEK && this.#sameBytes(b.pa, bytes)
      ? { vp: vp.index, vtl: vp.hv.activeVtl, cpl: cpu.cpl, bits: cpu.bits, block: b, bytes, hex }
      : null;
    return hex;
  }

  #sameBytes(pa: number, bytes: Uint8Array): boolean {
    const u8 = this.mem.u8;
    for (let i = 0; i < bytes.length; i++) if (u8[pa + i] !== bytes[i]) return false;
    return true;
  }

  #flushConsole(device: string, c: ConsoleBuf): void {
    if (c.bytes.length === 0) return;
    const text = String.fromCharCode(...c.bytes);
    c.bytes = [];
    this.#send({
      kind: "console",
      icount: c.icount,
      vp: c.vp,
      vtl: c.vtl,
      rip: hexNum(c.rip),
      bits: c.bits,
      insn: c.insn,
      device,
      text,
    } as unknown as TraceEvent);
  }

  #flushConsoles(): void {
    this.#peeked = null;
    for (const [d, c] of this.#consoles) this.#flushConsole(d, c);
  }

  /** Ends the run now, between instructions (Ctrl-C). Replay reproduces it with `stopAt`. */
  interrupt(): void {
    // Exactly what `run` does when it reaches `stopAt` (replay's way of ending here): first
    // whatever is due at this instant (a checkpoint, a timer), then the exit.
    this.stopAt = this.icount;
    this.#processDeadlines();
    this.#finish({ reason: "interrupted", value: 0, status: 0 });
    this.#flushConsoles();
  }

  // ---- state hash ------------------------------------------------------------------------------

  /** Hash of all guest-visible state (see state_hash.ts). */
  stateHash(): string {
    const h = new Hasher();
    const ctx = new CpuContext();
    for (const vp of this.vps) {
      const c = vp.cpu;
      h.words(c.lo);
      h.words(c.hi);
      h.words(c.xmm);
      const ftw = fullTagWord(c.ftwAbridged, c.fpr); // the architectural FTW, as FSTENV stores it
      h.words([c.mxcsr, c.fcw, c.fsw, ftw, c.cr2 | 0, Math.floor(c.cr2 / 4294967296) | 0]);
      // The last x87 instruction's opcode and pointers (FSTENV/FXSAVE store them).
      h.words([c.fop, c.fip | 0, Math.floor(c.fip / 4294967296) | 0]);
      h.words([c.fdp | 0, Math.floor(c.fdp / 4294967296) | 0]);
      h.words(c.fpr);
      saveContext(c, ctx);
      hashContext(h, ctx);
      h.word(vp.waitSipi ? 1 : 0);
      h.words(vp.hv.stateWords());
      for (const [vtl, saved] of vp.hv.contexts.entries()) {
        if (vtl !== vp.hv.activeVtl && vp.hv.isEnabled(vtl)) hashContext(h, saved);
      }
      for (const l of vp.hv.lapics.values()) h.value(l.snapshot());
      for (const sy of vp.hv.synics.values()) h.value(sy.snapshot());
    }
    const p = this.partition;
    h.words(p.stateWords());
    for (const owner of p.protections.owners()) {
      h.word(owner);
      const a = p.protections.maskArray(owner)!;
      h.words(new Int32Array(a.buffer, a.byteOffset, a.length >> 2));
    }
    h.value(this.com1.snapshot());
    for (
      const d of [
        this.isa,
        this.pic,
        this.ioapic,
        this.pit,
        this.rtc,
        this.pci,
        this.port92,
        this.fwcfg,
      ]
    ) {
      h.value(d.snapshot());
    }
    this.#memHash.update(h);
    for (const vp of this.vps) vp.cpu.flushWriteTlbs();
    return h.hex();
  }

  /** The first VP in VTL0 (for loaders). */
  get bsp(): Vp {
    return this.vps[0]!;
  }
}

function hashContext(h: Hasher, c: CpuContext): void {
  h.num(c.rip);
  h.words([c.rspLo, c.rspHi, c.rflags, c.cr0, c.efer, c.cr4]);
  h.num(c.cr3);
  h.words(c.segSel);
  for (const b of c.segBase) h.num(b);
  for (const l of c.segLimit) h.num(l);
  h.words(c.segAttr);
  h.num(c.gdtBase);
  h.word(c.gdtLimit);
  h.num(c.idtBase);
  h.word(c.idtLimit);
  h.words([c.star, c.starLo, c.patLo, c.patHi, c.sysenterCs, c.tscAux, c.halted ? 1 : 0]);
  // NMI and interrupt-shadow state only when there is some, so that hashes from before they
  // were hashed stay unchanged.
  if (c.nmiPending || c.nmiBlocked || c.shadow || c.shadowSs) {
    const bits = (c.nmiPending ? 1 : 0) | (c.nmiBlocked ? 2 : 0) | (c.shadow ? 4 : 0) |
      (c.shadowSs ? 8 : 0);
    h.word(0x4e4d4900 | bits);
  }
  for (
    const v of [
      c.lstar,
      c.cstar,
      c.sfmask,
      c.kernelGsBase,
      c.sysenterEsp,
      c.sysenterEip,
      c.tscOffset,
      c.dr7,
    ]
  ) {
    h.num(v);
  }
}
