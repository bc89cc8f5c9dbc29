/**
 * Synthetic MSRs (TLFS Appendix C, spec/vsm.md §7.1). Which are per VTL follows spec §4.2:
 * GUEST_OS_ID, HYPERCALL, REFERENCE_TSC, VP_ASSIST_PAGE and the APIC MSRs are private per VTL;
 * VP_INDEX, TIME_REF_COUNT and the frequencies are shared. Writes are `msr` events. Anything else
 * is not implemented (and not advertised in CPUID): #GP.
 */

import type { Vtl } from "../core/vtl.ts";
import { hex64, hiOf } from "../cpu/u64.ts";
import {
  HV_X64_MSR_APIC_FREQUENCY,
  HV_X64_MSR_EOI,
  HV_X64_MSR_GUEST_OS_ID,
  HV_X64_MSR_HYPERCALL,
  HV_X64_MSR_ICR,
  HV_X64_MSR_REFERENCE_TSC,
  HV_X64_MSR_RESET,
  HV_X64_MSR_TIME_REF_COUNT,
  HV_X64_MSR_TPR,
  HV_X64_MSR_TSC_FREQUENCY,
  HV_X64_MSR_VP_ASSIST_PAGE,
  HV_X64_MSR_VP_INDEX,
  HV_X64_MSR_VP_RUNTIME,
  synthMsrName,
} from "./hvdef.ts";
import type { HvVp, Partition } from "./partition.ts";
import { gpnOf, isSynicMsr } from "./synic.ts";
import { referenceTimeAt } from "./reference_tsc.ts";
import { eoiAssistDetach } from "./eoi_assist.ts";

/**
 * Reference time (100 ns units) from the global instruction count: floor(now × 10^7 / tscHz),
 * exactly what the reference TSC page computes from the TSC (reference_tsc.ts).
 */
export function referenceTime(p: Partition, now: number): number {
  return referenceTimeAt(now, p.config.tscHz);
}

function put(out: Int32Array, n: number): void {
  out[0] = n | 0;
  out[1] = hiOf(n);
}

export function isSynthMsr(msr: number): boolean {
  return msr >= 0x40000000 && msr < 0x40001000;
}

/** RDMSR of a synthetic MSR; false → #GP. */
export function readSynthMsr(
  p: Partition,
  vp: HvVp,
  msr: number,
  now: number,
  out: Int32Array,
): boolean {
  const vtl = vp.activeVtl;
  // SynIC and synthetic timer MSRs are private per (VP, VTL) (TLFS §15.11).
  if (isSynicMsr(msr)) return vp.synics.get(vtl).readMsr(msr, out);
  switch (msr) {
    case HV_X64_MSR_GUEST_OS_ID: {
      const v = p.guestOsId.get(vtl);
      out[0] = v[0];
      out[1] = v[1];
      return true;
    }
    case HV_X64_MSR_HYPERCALL: {
      const v = p.hypercallMsr.get(vtl);
      out[0] = v[0];
      out[1] = v[1];
      return true;
    }
    case HV_X64_MSR_REFERENCE_TSC: {
      const v = p.referenceTscMsr.get(vtl);
      out[0] = v[0];
      out[1] = v[1];
      return true;
    }
    case HV_X64_MSR_VP_INDEX:
      put(out, vp.index);
      return true;
    case HV_X64_MSR_RESET: // reads as 0 (TLFS: writing bit 0 = 1 resets the partition)
      put(out, 0);
      return true;
    case HV_X64_MSR_VP_RUNTIME:
      put(out, referenceTime(p, vp.cpu.icount));
      return true;
    case HV_X64_MSR_TIME_REF_COUNT:
      put(out, referenceTime(p, now));
      return true;
    case HV_X64_MSR_TSC_FREQUENCY:
      put(out, p.config.tscHz);
      return true;
    case HV_X64_MSR_APIC_FREQUENCY:
      put(out, p.config.apicHz);
      return true;
    case HV_X64_MSR_VP_ASSIST_PAGE: {
      const v = vp.assistMsr.get(vtl);
      out[0] = v[0];
      out[1] = v[1];
      return true;
    }
    case HV_X64_MSR_TPR:
      put(out, vp.lapic.tpr);
      return true;
    case HV_X64_MSR_ICR:
      out[0] = vp.lapic.icrLo;
      out[1] = vp.lapic.icrHi;
      return true;
  }
  return false;
}

/** WRMSR of a synthetic MSR; false → #GP. Records an `msr` event either way. */
export function writeSynthMsr(
  p: Partition,
  vp: HvVp,
  msr: number,
  lo: number,
  hi: number,
): boolean {
  const ok = write(p, vp, vp.activeVtl, msr, lo, hi);
  p.emitter.emit(vp.index, "msr", {
    msr,
    name: synthMsrName(msr),
    value: hex64(lo, hi),
    result: ok ? "ok" : "gp",
  });
  return ok;
}

function gpfnOk(p: Partition, gpfnLo: number, hi: number): boolean {
  // GPFN in bits 63:12 must lie within the guest physical address space (RAM here).
  const gpn = gpnOf(gpfnLo, hi);
  return gpn < p.mem.ramPages;
}

function write(p: Partition, vp: HvVp, vtl: Vtl, msr: number, lo: number, hi: number): boolean {
  if (isSynicMsr(msr)) return vp.synics.get(vtl).writeMsr(msr, lo, hi);
  switch (msr) {
    case HV_X64_MSR_RESET:
      // Bit 0 = 1 resets the partition (bits 63:1 reserved; like KVM, no #GP for them). The
      // machine ends the run with exit reason "reset" after this instruction.
      if ((lo & 1) !== 0) p.resetRequested = true;
      return true;
    case HV_X64_MSR_GUEST_OS_ID: {
      p.guestOsId.set(vtl, [lo, hi]);
      if (lo === 0 && hi === 0) {
        // Writing 0 disables the hypercall page (TLFS §3.13).
        const h = p.hypercallMsr.get(vtl);
        if (h[0] & 1) {
          p.setHypercallPage(vtl, null, gpnOf(h[0], h[1]));
          p.hypercallMsr.set(vtl, [h[0] & ~1, h[1]]);
        }
      }
      return true;
    }
    case HV_X64_MSR_HYPERCALL: {
      const old = p.hypercallMsr.get(vtl);
      if (old[0] & 2) return true; // locked: immutable until reset
      if (lo & 0xffc) return false; // RsvdP bits 11:2 (OpenVMM: #GP)
      if ((lo & 1) && !gpfnOk(p, lo, hi)) return false;
      const os = p.guestOsId.get(vtl);
      // While the guest OS ID is 0 the enable bit has no effect and reads back 0.
      const enable = (lo & 1) !== 0 && (os[0] !== 0 || os[1] !== 0);
      const v: [number, number] = [(lo & ~1) | (enable ? 1 : 0), hi];
      const oldGpn = (old[0] & 1) ? gpnOf(old[0], old[1]) : null;
      const newGpn = enable ? gpnOf(lo, hi) : null;
      p.hypercallMsr.set(vtl, v);
      if (oldGpn !== newGpn || enable) p.setHypercallPage(vtl, newGpn, oldGpn);
      return true;
    }
    case HV_X64_MSR_REFERENCE_TSC: {
      // TLFS §12.7: bit 0 Enable, 11:1 RsvdP (stored as written), 63:12 GPFN. "If the
      // specified base address is beyond the end of the partition's GPA space, the reference TSC
      // page will not be accessible to the guest": no #GP, no overlay.
      p.referenceTscMsr.set(vtl, [lo, hi]);
      const on = (lo & 1) !== 0 && gpfnOk(p, lo, hi);
      p.setReferenceTscOverlay(vtl, on ? gpnOf(lo, hi) : null);
      return true;
    }
    case HV_X64_MSR_VP_ASSIST_PAGE: {
      if (lo & 0xffe) return false; // RsvdP bits 11:1 (OpenVMM: #GP)
      if ((lo & 1) && !gpfnOk(p, lo, hi)) return false;
      // An EOI the guest made through the EOI assist bit is taken before the page goes away.
      eoiAssistDetach(p, vp, vtl);
      const old = vp.assistMsr.get(vtl);
      const oldGpn = (old[0] & 1) ? gpnOf(old[0], old[1]) : null;
      const newGpn = (lo & 1) ? gpnOf(lo, hi) : null;
      vp.assistMsr.set(vtl, [lo, hi]);
      p.setAssistPage(vp, vtl, newGpn, oldGpn);
      return true;
    }
    case HV_X64_MSR_EOI:
      vp.lapic.eoi();
      return true;
    case HV_X64_MSR_ICR:
      vp.lapic.icrHi = hi;
      vp.lapic.icrLo = lo & ~0x1000;
      vp.lapic.env.sendIpi(vp.lapic.icrLo, hi);
      return true;
    case HV_X64_MSR_TPR:
      if (hi !== 0 || (lo & ~0xff)) return false;
      vp.lapic.write(0x08, lo);
      return true;
  }
  return false;
}
