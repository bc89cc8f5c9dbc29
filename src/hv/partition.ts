/**
 * The partition as the hypervisor sees it: enabled VTLs, per-VTL partition state (guest OS ID,
 * hypercall page, VSM partition config), memory protections, and one `HvVp` per virtual
 * processor holding its per-VTL state (private CPU context, VP assist page, local APIC).
 *
 * State scope follows TLFS §15.11 / spec/vsm.md §4.2: partition-wide per VTL (hypercall MSR and
 * page, guest OS ID), per VP per VTL (context, VP assist page, LAPIC), shared (GPRs, FPU/SSE,
 * CR2, VP index, reference time).
 */

import type { Emitter } from "../core/events.ts";
import { type Vtl, Vtl0, VtlArray } from "../core/vtl.ts";
import type { Cpu } from "../cpu/cpu.ts";
import { CpuContext } from "../cpu/context.ts";
import { hiOf, loOf } from "../cpu/u64.ts";
import {
  GPA_MMIO,
  GPA_UNMAPPED,
  RIGHT_GP_ON_VIOLATION,
  RIGHT_KX,
  RIGHT_R,
  RIGHT_UX,
  RIGHT_W,
} from "../cpu/host.ts";
import { IOAPIC_BASE } from "../devices/ioapic.ts";
import type { Lapic } from "../devices/lapic.ts";
import { PAGE_SIZE } from "../memory/guest_memory.ts";
import type { GuestMemory } from "../memory/guest_memory.ts";
import { PROT_KX, PROT_UX, VtlProtections } from "../memory/protection.ts";
import { buildHypercallPage } from "./hypercall_page.ts";
import { ReferenceTscPage } from "./reference_tsc.ts";
import type { SynIC } from "./synic.ts";

export type HvProfile = "hyperv" | "kvm-rfc";

export interface HvConfig {
  /** Highest VTL the partition may enable (MaximumVtl). */
  readonly maxVtl: number;
  readonly profile: HvProfile;
  /** TSC frequency in Hz (one retired instruction = one TSC tick). */
  readonly tscHz: number;
  readonly apicHz: number;
  /** SynIC connections for HvCallPostMessage / HvCallSignalEvent (machine config). */
  readonly connections: readonly HvConnection[];
}

/**
 * A connection and the port it is bound to (TLFS §11 "Ports and Connections"). There is no root
 * partition to create ports, so the machine config lists them; every VTL of the partition may
 * use them. The port's ID is the connection's ID.
 */
export interface HvConnection {
  /** HV_CONNECTION_ID (24 bits). */
  readonly id: number;
  readonly kind: "event" | "message";
  /** Target VP index, VTL and SINT of the port. */
  readonly vp: number;
  readonly vtl: number;
  readonly sint: number;
  /** Event ports: BaseFlagNumber and FlagCount (FlagNumber must be below FlagCount). */
  readonly flag?: number;
  readonly flagCount?: number;
}

/** The xAPIC MMIO page. */
export const APIC_MMIO_GPN = 0xfee00;
/** The IOAPIC's MMIO page (the platform's IOAPIC_BASE). */
const IOAPIC_MMIO_GPN = IOAPIC_BASE / PAGE_SIZE;

/** Per-(VP, VTL) overlay: host page and rights, encoded like CpuHost.resolveGpa results. */
export type OverlayMap = Map<number, number>;

export class HvVp {
  readonly index: number;
  readonly cpu: Cpu;
  readonly lapics: VtlArray<Lapic>;
  activeVtl: Vtl = Vtl0;
  /** VTLs enabled on this VP (bit n = VTL n). VTL0 always. */
  enabledVtls = 1;
  /** Saved private context of every inactive VTL (the active one lives in the CPU). */
  readonly contexts: VtlArray<CpuContext>;
  /**
   * HvRegisterVsmVpSecureConfigVtlN held by each VTL m for each lower VTL n: secureConfig[m][n]
   * holds bit 1, TlbLocked. Bit 0, MbecEnabled, is not stored here: it reads as VTL m's
   * partition-wide MBEC setting (Partition.mbecEnabled) and cannot be written otherwise
   * (OpenVMM; README, conflicts table).
   */
  readonly secureConfig: number[][];
  /** Register intercept controls owned by each higher VTL (TLFS §15.13.4). */
  readonly crInterceptControl: number[];
  readonly crInterceptCr0Mask: number[];
  readonly crInterceptCr4Mask: number[];
  readonly crInterceptMiscEnableMask: number[];
  /** HvRegisterPendingEvent0 per VTL (delivered when that VTL next runs), or null. */
  readonly pendingEvent: ({ vector: number; hasErr: boolean; err: number; param: number } | null)[];
  /** HV_X64_MSR_VP_ASSIST_PAGE per VTL: [lo, hi]. */
  readonly assistMsr: VtlArray<[number, number]>;
  /** Host page backing each VTL's VP assist page (allocated on first enable), or -1. */
  readonly assistPage: VtlArray<number>;
  /** HvRegisterVsmVina per VTL (low 32 bits are all that is defined). */
  readonly vina: VtlArray<number>;
  /** Overlay pages visible to each VTL on this VP (assist page, hypercall page …). */
  readonly overlays: VtlArray<OverlayMap>;
  /** The synthetic interrupt controller of each VTL (set up by the machine). */
  synics!: VtlArray<SynIC>;
  /** Host pages kept for SynIC overlays, by "<vtl>:<kind>", with the GPN they are mapped at. */
  readonly synicPages = new Map<string, { host: number; gpn: number | null }>();
  /** Set when a higher VTL may have become deliverable (checked by the machine). */
  preemptCheck = false;
  /**
   * The interrupt that made `checkPreemption` enter a higher VTL, until that VTL takes it or the
   * VP switches again: its `interrupt` event is marked `preempted` (trace schema; vsm.ts). Not
   * guest-visible.
   */
  preemptedBy: { readonly vtl: Vtl; readonly vector: number } | null = null;
  /** Whether the VP runs (the BSP from reset; others after INIT/SIPI or StartVirtualProcessor). */
  started = false;
  /** HvRegisterInterceptSuspend.TlbFlushInhibit (set by TranslateVirtualAddress, TLFS §9.1.4). */
  tlbFlushInhibit = false;
  /**
   * A flush hypercall by this VP's VTL `vtl` waits until none of its `targets` (VP indexes) has
   * its TLB locked for that VTL (flush.ts); null while not waiting.
   */
  waitTlb: { readonly vtl: Vtl; readonly targets: readonly number[] } | null = null;
  /**
   * Per VTL: the vector delivered with "No EOI required" set in the VP assist page whose EOI
   * the guest may perform by clearing that bit (TLFS "EOI Assist"), or -1 (eoi_assist.ts).
   */
  readonly eoiAssistVector: number[];

  constructor(index: number, cpu: Cpu, vtlCount: number, lapics: VtlArray<Lapic>) {
    this.index = index;
    this.cpu = cpu;
    this.lapics = lapics;
    this.contexts = new VtlArray(vtlCount, () => CpuContext.reset());
    this.assistMsr = new VtlArray(vtlCount, () => [0, 0] as [number, number]);
    this.assistPage = new VtlArray(vtlCount, () => -1);
    this.vina = new VtlArray(vtlCount, () => 0);
    this.overlays = new VtlArray(vtlCount, () => new Map());
    this.secureConfig = Array.from({ length: vtlCount }, () => new Array(vtlCount).fill(0));
    this.crInterceptControl = new Array(vtlCount).fill(0);
    this.crInterceptCr0Mask = new Array(vtlCount).fill(0);
    this.crInterceptCr4Mask = new Array(vtlCount).fill(0);
    this.crInterceptMiscEnableMask = new Array(vtlCount).fill(0);
    this.pendingEvent = new Array(vtlCount).fill(null);
    this.eoiAssistVector = new Array(vtlCount).fill(-1);
  }

  isEnabled(v: Vtl): boolean {
    return ((this.enabledVtls >>> v) & 1) !== 0;
  }

  get lapic(): Lapic {
    return this.lapics.get(this.activeVtl);
  }

  /** The next enabled VTL above the active one, or -1. */
  nextHigher(): number {
    for (let v = this.activeVtl + 1; v < this.contexts.count; v++) {
      if (this.isEnabled(v as Vtl)) return v;
    }
    return -1;
  }

  /** The next enabled VTL below the active one, or -1. */
  nextLower(): number {
    for (let v = this.activeVtl - 1; v >= 0; v--) if (this.isEnabled(v as Vtl)) return v;
    return -1;
  }

  /**
   * This VP's hypervisor state for the machine's state hash, as int32 words: every field a guest
   * can observe, directly or through how the VP runs. The machine hashes the saved contexts, local
   * APICs and SynICs from their own snapshots; the overlays and host pages follow from MSRs hashed
   * here and there; `preemptCheck` and `preemptedBy` are bookkeeping a guest cannot see.
   */
  stateWords(): number[] {
    const w = [this.activeVtl, this.enabledVtls, this.started ? 1 : 0];
    w.push(this.tlbFlushInhibit ? 1 : 0);
    for (const m of this.assistMsr.values()) w.push(m[0], m[1]);
    w.push(...this.vina.values());
    for (const row of this.secureConfig) w.push(...row);
    w.push(...this.crInterceptControl, ...this.crInterceptCr0Mask);
    w.push(...this.crInterceptCr4Mask, ...this.crInterceptMiscEnableMask);
    for (const e of this.pendingEvent) {
      if (e === null) w.push(0);
      else w.push(1, e.vector, e.hasErr ? 1 : 0, e.err, loOf(e.param), hiOf(e.param));
    }
    w.push(...this.eoiAssistVector);
    const t = this.waitTlb;
    if (t === null) w.push(-1);
    else w.push(t.vtl, t.targets.length, ...t.targets);
    return w;
  }
}

export class Partition {
  readonly mem: GuestMemory;
  readonly config: HvConfig;
  readonly vtlCount: number;
  /** HV_X64_MSR_RESET was written with bit 0 set: the machine resets (ends the run). */
  resetRequested = false;
  readonly emitter: Emitter;
  /** Bit n set: VTL n enabled for the partition (VsmPartitionStatus.EnabledVtlSet). */
  enabledVtls = 1;
  /**
   * Bit n set: VTL n was enabled with EnableMbec (VsmPartitionStatus.MbecEnabledVtlSet). MBEC is
   * partition-wide, as in OpenVMM: every VP's VsmVpSecureConfigVtlN.MbecEnabled held by VTL n
   * reads this bit (the TLFS has a second, per-VP switch; README, conflicts table).
   */
  mbecEnabledVtls = 0;
  /** HvRegisterVsmPartitionConfig per VTL (only VTL ≥ 1 meaningful); low 32 bits. */
  readonly vsmConfig: VtlArray<number>;
  readonly guestOsId: VtlArray<[number, number]>;
  readonly hypercallMsr: VtlArray<[number, number]>;
  /** Host page holding each VTL's hypercall page contents (allocated on first enable), or -1. */
  readonly hypercallPage: VtlArray<number>;
  readonly protections: VtlProtections;
  readonly vps: HvVp[] = [];
  /**
   * HV_X64_MSR_REFERENCE_TSC per VTL (private per VTL, spec §4.2), as written: bit 0 Enable,
   * 11:1 RsvdP (kept), 63:12 GPFN.
   */
  readonly referenceTscMsr: VtlArray<[number, number]>;
  /** Where each VTL's reference TSC page overlay is installed, or -1. */
  readonly referenceTscGpn: VtlArray<number>;
  /** The partition-wide reference TSC page (TLFS §12.7): one page seen by every VTL. */
  readonly referenceTsc: ReferenceTscPage;
  /** The configured SynIC connections by HV_CONNECTION_ID. */
  readonly connections: ReadonlyMap<number, HvConnection>;
  /**
   * I/O-port intercepts installed by each VTL with HvCallInstallIntercept (io_intercepts.ts):
   * port → HV_INTERCEPT_ACCESS_TYPE_MASK (read 1, write 2). Partition-wide, as in OpenVMM.
   */
  readonly ioIntercepts: Map<number, number>[];
  /** Entries in all of `ioIntercepts` (0: the I/O path does not look). */
  ioInterceptCount = 0;

  constructor(mem: GuestMemory, config: HvConfig, emitter: Emitter) {
    this.mem = mem;
    this.config = config;
    this.vtlCount = config.maxVtl + 1;
    this.emitter = emitter;
    this.vsmConfig = new VtlArray(this.vtlCount, () => 0);
    this.guestOsId = new VtlArray(this.vtlCount, () => [0, 0] as [number, number]);
    this.hypercallMsr = new VtlArray(this.vtlCount, () => [0, 0] as [number, number]);
    this.hypercallPage = new VtlArray(this.vtlCount, () => -1);
    this.protections = new VtlProtections(mem.ramPages);
    this.referenceTscMsr = new VtlArray(this.vtlCount, () => [0, 0] as [number, number]);
    this.referenceTscGpn = new VtlArray(this.vtlCount, () => -1);
    this.referenceTsc = new ReferenceTscPage(config.tscHz);
    this.connections = new Map(config.connections.map((c) => [c.id, c]));
    this.ioIntercepts = Array.from({ length: this.vtlCount }, () => new Map());
  }

  /** Sets (mask ≠ 0) or removes (0) VTL `vtl`'s I/O intercept on `port`. */
  setIoIntercept(vtl: Vtl, port: number, mask: number): void {
    const m = this.ioIntercepts[vtl]!;
    this.ioInterceptCount -= m.size;
    if (mask === 0) m.delete(port);
    else m.set(port, mask);
    this.ioInterceptCount += m.size;
  }

  get maxVtl(): number {
    return this.config.maxVtl;
  }

  /** Whether VTL `owner` was enabled with MBEC: its masks may give KX ≠ UX (TLFS §15.10). */
  mbecEnabled(owner: number): boolean {
    return ((this.mbecEnabledVtls >>> owner) & 1) !== 0;
  }

  /**
   * Whether MBEC applies to VTL `vtl`'s accesses (VsmVpStatus.ActiveMbecEnabled when it runs):
   * a higher VTL that protects it was enabled with MBEC. The same on every VP (mbecEnabledVtls).
   */
  mbecActive(vtl: number): boolean {
    return (this.mbecEnabledVtls >>> (vtl + 1)) !== 0;
  }

  isVtlEnabled(v: number): boolean {
    return v >= 0 && v < this.vtlCount && ((this.enabledVtls >>> v) & 1) !== 0;
  }

  addVp(vp: HvVp): void {
    this.vps.push(vp);
  }

  vp(index: number): HvVp | undefined {
    return this.vps[index];
  }

  /** Whether `gpn` is guest RAM. */
  isRam(gpn: number): boolean {
    return gpn >= 0 && gpn < this.mem.ramPages;
  }

  /**
   * Resolves guest page `gpn` for VP `vp` running in `vtl`: overlay pages first (they hide the
   * RAM below them and ignore its protections, TLFS §5.2.1), then RAM with the VTL's effective
   * rights, then the APIC page, else unmapped.
   */
  resolveGpa(vp: HvVp, vtl: Vtl, gpn: number): number {
    const o = vp.overlays.get(vtl).get(gpn);
    if (o !== undefined) return o;
    if (gpn >= 0 && gpn < this.mem.ramPages) {
      let r = this.protections.effective(vtl, gpn);
      // Without MBEC, user and kernel execute rights are the same bit (KX governs).
      if (!this.mbecActive(vtl)) {
        r = (r & PROT_KX) ? r | PROT_UX : r & ~PROT_UX;
      }
      return gpn * 32 + r;
    }
    if (gpn === APIC_MMIO_GPN || gpn === IOAPIC_MMIO_GPN) return GPA_MMIO;
    return GPA_UNMAPPED;
  }

  /** Flushes every VP's translations (after protection or overlay changes). */
  flushAllTlbs(): void {
    for (const vp of this.vps) {
      vp.cpu.flushTlbAll();
      vp.cpu.brk = true;
    }
  }

  // ---- overlays -----------------------------------------------------------------------------

  /** Installs or removes the hypercall page overlay of `vtl` on every VP (TLFS §3.13). */
  setHypercallPage(vtl: Vtl, gpn: number | null, previous: number | null): void {
    if (previous !== null) { for (const vp of this.vps) vp.overlays.get(vtl).delete(previous); }
    if (gpn !== null) {
      let host = this.hypercallPage.get(vtl);
      if (host < 0) {
        host = this.mem.allocPage();
        this.hypercallPage.set(vtl, host);
      }
      this.mem.writeBytes(host * PAGE_SIZE, buildHypercallPage(this.config.profile));
      // Read and execute; a write raises #GP (TLFS; OpenVMM maps it R+X).
      const enc = host * 32 + (RIGHT_R | RIGHT_KX | RIGHT_UX | RIGHT_GP_ON_VIOLATION);
      for (const vp of this.vps) vp.overlays.get(vtl).set(gpn, enc);
    }
    this.flushAllTlbs();
  }

  /** Installs or removes the VP assist page overlay of (vp, vtl). */
  setAssistPage(vp: HvVp, vtl: Vtl, gpn: number | null, previous: number | null): void {
    if (previous !== null) vp.overlays.get(vtl).delete(previous);
    if (gpn !== null) {
      let host = vp.assistPage.get(vtl);
      if (host < 0) {
        host = this.mem.allocPage();
        vp.assistPage.set(vtl, host);
      }
      vp.overlays.get(vtl).set(gpn, host * 32 + (RIGHT_R | RIGHT_W | RIGHT_KX | RIGHT_UX));
    }
    vp.cpu.flushTlbAll();
    vp.cpu.brk = true;
  }

  /**
   * Installs (gpn) or removes (null) a per-(VP, VTL) SynIC overlay page of `kind` (SIM or SIEF
   * page, TLFS §11); the host page is allocated once and kept. Returns its host offset.
   */
  setSynicOverlay(vp: HvVp, vtl: Vtl, kind: string, gpn: number | null): number {
    const key = `${vtl}:${kind}`;
    let e = vp.synicPages.get(key);
    if (e === undefined) {
      e = { host: this.mem.allocPage(), gpn: null };
      vp.synicPages.set(key, e);
    }
    if (e.gpn !== null) vp.overlays.get(vtl).delete(e.gpn);
    e.gpn = gpn;
    if (gpn !== null) {
      vp.overlays.get(vtl).set(gpn, e.host * 32 + (RIGHT_R | RIGHT_W | RIGHT_KX | RIGHT_UX));
    }
    vp.cpu.flushTlbAll();
    vp.cpu.brk = true;
    return e.host * PAGE_SIZE;
  }

  /**
   * Installs the reference TSC page overlay of `vtl` at `gpn` on every VP, or removes it (null)
   * (TLFS §12.7). The page is partition-wide (one host page for every VTL), read-only: a write
   * raises #GP, as for the hypercall page (the TLFS only says the guest reads it); not executable.
   * Like every overlay it hides the RAM below and ignores that RAM's VTL protections.
   */
  setReferenceTscOverlay(vtl: Vtl, gpn: number | null): void {
    const old = this.referenceTscGpn.get(vtl);
    if (old >= 0) { for (const vp of this.vps) vp.overlays.get(vtl).delete(old); }
    this.referenceTscGpn.set(vtl, gpn ?? -1);
    if (gpn !== null) {
      if (!this.referenceTsc.allocated) {
        this.referenceTsc.attach(this.mem, this.mem.allocPage() * PAGE_SIZE);
      }
      const host = this.referenceTsc.hostOffset / PAGE_SIZE;
      const enc = host * 32 + (RIGHT_R | RIGHT_GP_ON_VIOLATION);
      for (const vp of this.vps) vp.overlays.get(vtl).set(gpn, enc);
    }
    this.flushAllTlbs();
  }

  /**
   * Re-evaluates whether every VP's TSC in every VTL is the instruction count (offset 0): the
   * reference TSC page is valid only then (reference_tsc.ts). Called after IA32_TSC writes.
   */
  refreshReferenceTsc(): void {
    let zero = true;
    for (const vp of this.vps) {
      for (const [v, ctx] of vp.contexts.entries()) {
        const off = v === vp.activeVtl ? vp.cpu.tscOffset : ctx.tscOffset;
        if (off !== 0) zero = false;
      }
    }
    this.referenceTsc.tscOffsetsChanged(this.mem, zero);
  }

  /**
   * The partition's hypervisor state for the machine's state hash, as int32 words (per-VP state:
   * HvVp.stateWords; VTL protections are hashed by the machine from their mask arrays).
   */
  stateWords(): number[] {
    const w = [this.enabledVtls, this.mbecEnabledVtls, ...this.vsmConfig.values()];
    for (const a of [this.guestOsId, this.hypercallMsr, this.referenceTscMsr]) {
      for (const m of a.values()) w.push(m[0], m[1]);
    }
    w.push(this.referenceTsc.sequence);
    // Installed I/O intercepts (none in most runs: nothing is added then).
    if (this.ioInterceptCount > 0) {
      for (const [v, m] of this.ioIntercepts.entries()) {
        for (const port of [...m.keys()].sort((x, y) => x - y)) w.push(v, port, m.get(port)!);
      }
    }
    return w;
  }

  /** Host offset of byte `off` of (vp, vtl)'s VP assist page, or -1 if it is not enabled. */
  assistOffset(vp: HvVp, vtl: Vtl, off: number): number {
    if ((vp.assistMsr.get(vtl)[0] & 1) === 0) return -1;
    const host = vp.assistPage.get(vtl);
    return host < 0 ? -1 : host * PAGE_SIZE + off;
  }
}
