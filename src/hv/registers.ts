/**
 * Virtual processor registers as HvCallGetVpRegisters / HvCallSetVpRegisters see them (TLFS
 * §7.10, hv_register_name; spec/vsm.md §3). Values are 128-bit, passed as four int32 words (low
 * first). Private registers of a VTL come from the live CPU when that VTL is active, otherwise
 * from its saved context; shared registers always from the CPU.
 */

import type { Vtl } from "../core/vtl.ts";
import { CpuContext, loadContext, saveContext } from "../cpu/context.ts";
import { RSP } from "../cpu/regs.ts";
import { hiOf, toNum } from "../cpu/u64.ts";
import {
  HV_STATUS_ACCESS_DENIED,
  HV_STATUS_INVALID_PARAMETER,
  HV_STATUS_INVALID_REGISTER_VALUE,
  HV_STATUS_SUCCESS,
} from "./hvdef.ts";
import { codePageOffsets } from "./hypercall_page.ts";
import type { HvVp, Partition } from "./partition.ts";
import { validMask } from "../memory/protection.ts";

/** A 128-bit register value as int32 words, low first. */
export type RegValue = [number, number, number, number];

interface RegAccess {
  /** Reads into `v`; returns an HV_STATUS. */
  get(p: Partition, vp: HvVp, vtl: Vtl, ctx: CpuContext, v: RegValue): number;
  /** Writes from `v`; returns an HV_STATUS. `ctx` is written back by the caller. */
  set?(p: Partition, vp: HvVp, vtl: Vtl, ctx: CpuContext, v: RegValue, caller: Vtl): number;
}

const table = new Map<number, RegAccess>();

/** A read-only register holding a synthetic MSR's 64-bit value (a [lo, hi] pair). */
function msrPair(pick: (p: Partition, vp: HvVp, vtl: Vtl) => ArrayLike<number>): RegAccess {
  return {
    get: (p, vp, vtl, _ctx, v) => {
      const m = pick(p, vp, vtl);
      v[0] = m[0]!;
      v[1] = m[1]!;
      v[2] = v[3] = 0;
      return HV_STATUS_SUCCESS;
    },
  };
}

function put64(v: RegValue, n: number): void {
  v[0] = n | 0;
  v[1] = hiOf(n);
  v[2] = 0;
  v[3] = 0;
}

function u64(v: RegValue): number {
  return toNum(v[0], v[1]);
}

function ctxReg(
  name: number,
  get: (c: CpuContext) => number,
  set?: (c: CpuContext, n: number) => void,
): void {
  table.set(name, {
    get: (_p, _vp, _vtl, ctx, v) => {
      put64(v, get(ctx));
      return HV_STATUS_SUCCESS;
    },
    set: set === undefined ? undefined : (_p, _vp, _vtl, ctx, v) => {
      set(ctx, u64(v));
      return HV_STATUS_SUCCESS;
    },
  });
}

// General-purpose registers: shared by all VTLs, except RSP (private, TLFS §15.11).
for (let i = 0; i < 16; i++) {
  if (i === RSP) continue;
  table.set(0x00020000 + i, {
    get: (_p, vp, _vtl, _ctx, v) => {
      v[0] = vp.cpu.lo[i]!;
      v[1] = vp.cpu.hi[i]!;
      v[2] = v[3] = 0;
      return HV_STATUS_SUCCESS;
    },
    set: (_p, vp, _vtl, _ctx, v) => {
      vp.cpu.lo[i] = v[0];
      vp.cpu.hi[i] = v[1];
      return HV_STATUS_SUCCESS;
    },
  });
}
ctxReg(0x00020004, (c) => toNum(c.rspLo, c.rspHi), (c, n) => {
  c.rspLo = n | 0;
  c.rspHi = hiOf(n);
});
ctxReg(0x00020010, (c) => c.rip, (c, n) => void (c.rip = n));
ctxReg(0x00020011, (c) => c.rflags, (c, n) => void (c.rflags = (n & 0x3f7fd7) | 2));
// Control registers and EFER: a higher VTL may set a lower VTL's values (emulating an
// intercepted write). No checks beyond the reserved bits and no side effects (TLFS §7.10.1).
ctxReg(0x00040000, (c) => c.cr0 >>> 0, (c, n) => void (c.cr0 = n | 0));
ctxReg(0x00040002, (c) => c.cr3, (c, n) => void (c.cr3 = n));
ctxReg(0x00040003, (c) => c.cr4, (c, n) => void (c.cr4 = n | 0));
// The remaining private registers are writable too: "This call cannot be used to modify the
// value of a read-only register" is the only restriction (TLFS §7.10.2), and a higher VTL emulating
// a lower VTL's instruction needs them (OpenVMM allows them all).
ctxReg(0x00050005, (c) => c.dr7, (c, n) => void (c.dr7 = n));
ctxReg(0x00080001, (c) => c.efer, (c, n) => void (c.efer = n | 0));
ctxReg(0x00080002 + 0, (c) => c.kernelGsBase, (c, n) => void (c.kernelGsBase = n));
ctxReg(0x00080004, (c) => toNum(c.patLo, c.patHi), (c, n) => {
  c.patLo = n | 0;
  c.patHi = hiOf(n);
});
ctxReg(0x00080005, (c) => c.sysenterCs, (c, n) => void (c.sysenterCs = n & 0xffff));
ctxReg(0x00080006, (c) => c.sysenterEip, (c, n) => void (c.sysenterEip = n));
ctxReg(0x00080007, (c) => c.sysenterEsp, (c, n) => void (c.sysenterEsp = n));
ctxReg(0x00080008, (c) => toNum(c.starLo, c.star), (c, n) => {
  c.starLo = n | 0;
  c.star = hiOf(n);
});
ctxReg(0x00080009, (c) => c.lstar, (c, n) => void (c.lstar = n));
ctxReg(0x0008000a, (c) => c.cstar, (c, n) => void (c.cstar = n));
ctxReg(0x0008000b, (c) => c.sfmask, (c, n) => void (c.sfmask = n));
ctxReg(0x0008007b, (c) => c.tscAux, (c, n) => void (c.tscAux = n >>> 0));
// CR2 is shared.
table.set(0x00040001, {
  get: (_p, vp, _vtl, _ctx, v) => {
    put64(v, vp.cpu.cr2);
    return HV_STATUS_SUCCESS;
  },
  set: (_p, vp, _vtl, _ctx, v) => {
    vp.cpu.cr2 = u64(v);
    return HV_STATUS_SUCCESS;
  },
});
// Segment registers ES CS SS DS FS GS LDTR TR: base @0, limit @8, selector @12, attributes @14.
for (let s = 0; s < 8; s++) {
  table.set(0x00060000 + s, {
    get: (_p, _vp, _vtl, ctx, v) => {
      const base = ctx.segBase[s]!;
      v[0] = base | 0;
      v[1] = hiOf(base);
      v[2] = ctx.segLimit[s]! | 0;
      v[3] = (ctx.segSel[s]! & 0xffff) | ((ctx.segAttr[s]! & 0xffff) << 16);
      return HV_STATUS_SUCCESS;
    },
    // HV_X64_SEGMENT_REGISTER; attribute bits 11:8 are reserved (TLFS §7.10.2: reserved bits
    // must be zero).
    set: (_p, _vp, _vtl, ctx, v) => {
      if ((v[3] >>> 16) & 0x0f00) return HV_STATUS_INVALID_PARAMETER;
      ctx.segBase[s] = u64(v);
      ctx.segLimit[s] = v[2] >>> 0;
      ctx.segSel[s] = v[3] & 0xffff;
      ctx.segAttr[s] = v[3] >>> 16;
      return HV_STATUS_SUCCESS;
    },
  });
}
// IDTR / GDTR: pad[3], limit @6, base @8.
table.set(0x00070000, {
  get: (_p, _vp, _vtl, ctx, v) => {
    v[0] = 0;
    v[1] = (ctx.idtLimit & 0xffff) << 16;
    v[2] = ctx.idtBase | 0;
    v[3] = hiOf(ctx.idtBase);
    return HV_STATUS_SUCCESS;
  },
  set: (_p, _vp, _vtl, ctx, v) => {
    ctx.idtLimit = v[1] >>> 16;
    ctx.idtBase = toNum(v[2], v[3]);
    return HV_STATUS_SUCCESS;
  },
});
table.set(0x00070001, {
  get: (_p, _vp, _vtl, ctx, v) => {
    v[0] = 0;
    v[1] = (ctx.gdtLimit & 0xffff) << 16;
    v[2] = ctx.gdtBase | 0;
    v[3] = hiOf(ctx.gdtBase);
    return HV_STATUS_SUCCESS;
  },
  set: (_p, _vp, _vtl, ctx, v) => {
    ctx.gdtLimit = v[1] >>> 16;
    ctx.gdtBase = toNum(v[2], v[3]);
    return HV_STATUS_SUCCESS;
  },
});
// Hyper-V registers.
table.set(0x00090001, msrPair((p, _vp, vtl) => p.hypercallMsr.get(vtl)));
table.set(0x00090002, msrPair((p, _vp, vtl) => p.guestOsId.get(vtl)));
table.set(0x00090003, {
  get: (_p, vp, _vtl, _ctx, v) => {
    put64(v, vp.index);
    return HV_STATUS_SUCCESS;
  },
});
// HvRegisterReferenceTsc (0x00090017): the VTL's HV_X64_MSR_REFERENCE_TSC (TLFS §12.7), read-only
// here (the guest writes it through the MSR, which maps the page).
table.set(0x00090017, msrPair((p, _vp, vtl) => p.referenceTscMsr.get(vtl)));
table.set(0x00090013, msrPair((_p, vp, vtl) => vp.assistMsr.get(vtl)));

// ---- VSM registers (spec §3) ---------------------------------------------------------------

// HvRegisterVsmCodePageOffsets: 11:0 call offset, 23:12 return offset (for the VTL's bitness).
table.set(0x000d0002, {
  get: (p, _vp, _vtl, ctx, v) => {
    const o = codePageOffsets(p.config.profile);
    const is64 = (ctx.efer & 0x400) !== 0;
    put64(v, is64 ? o.call64 | (o.return64 << 12) : o.call32 | (o.return32 << 12));
    return HV_STATUS_SUCCESS;
  },
});
// HvRegisterVsmVpStatus: 3:0 ActiveVtl, 4 ActiveMbecEnabled, 31:16 EnabledVtlSet.
table.set(0x000d0003, {
  get: (p, vp, _vtl, _ctx, v) => {
    const mbec = p.mbecActive(vp.activeVtl) ? 1 : 0;
    put64(v, vp.activeVtl | (mbec << 4) | ((vp.enabledVtls & 0xffff) << 16));
    return HV_STATUS_SUCCESS;
  },
});
// HvRegisterVsmPartitionStatus: 15:0 EnabledVtlSet, 19:16 MaximumVtl, 35:20 MbecEnabledVtlSet.
table.set(0x000d0004, {
  get: (p, _vp, _vtl, _ctx, v) => {
    const lo = (p.enabledVtls & 0xffff) | ((p.maxVtl & 0xf) << 16) |
      ((p.mbecEnabledVtls & 0xfff) << 20);
    v[0] = lo | 0;
    v[1] = (p.mbecEnabledVtls >>> 12) & 0xf;
    v[2] = v[3] = 0;
    return HV_STATUS_SUCCESS;
  },
});
// HvRegisterVsmVina: 7:0 vector, 8 enabled, 9 auto-reset, 10 auto-EOI (VTL > 0).
table.set(0x000d0005, {
  get: (_p, vp, vtl, _ctx, v) => {
    put64(v, vp.vina.get(vtl));
    return HV_STATUS_SUCCESS;
  },
  set: (_p, vp, vtl, _ctx, v) => {
    if (vtl === 0) return HV_STATUS_INVALID_PARAMETER;
    vp.vina.set(vtl, v[0] & 0x7ff);
    return HV_STATUS_SUCCESS;
  },
});
// HvRegisterVsmCapabilities (OpenVMM bit order, spec §10.1): MbecVtlMask (16:1) lists every VTL
// (bit 1 + n for VTL n) — both readings of which bit means what are satisfied —,
// DenyLowerVtlStartup (17: VsmPartitionConfig bit 6 is honoured by HvCallStartVirtualProcessor)
// and InterceptPageAvailable (27).
table.set(0x000d0006, {
  get: (p, _vp, _vtl, _ctx, v) => {
    const mbecMask = ((1 << p.vtlCount) - 1) << 1;
    put64(v, mbecMask | (1 << 17) | (1 << 27));
    return HV_STATUS_SUCCESS;
  },
});
// HvRegisterVsmVpSecureConfigVtl0..14 (0x000D0010 + n): held by the addressed VTL m for lower VTL
// n; writable only by a VTL strictly above n (spec §3). Bit 0 MbecEnabled: m's partition-wide
// MBEC setting, which a write must repeat (OpenVMM); bit 1 TlbLocked, per VP.
for (let n = 0; n < 15; n++) {
  table.set(0x000d0010 + n, {
    get: (p, vp, vtl, _ctx, v) => {
      if (n >= vtl) return HV_STATUS_INVALID_PARAMETER;
      put64(v, vp.secureConfig[vtl]![n]! | (p.mbecEnabled(vtl) ? 1 : 0));
      return HV_STATUS_SUCCESS;
    },
    set: (p, vp, vtl, _ctx, v, caller) => {
      if (n >= vtl || n >= caller) return HV_STATUS_ACCESS_DENIED;
      const val = v[0];
      if (v[1] !== 0 || v[2] !== 0 || v[3] !== 0 || (val & ~3)) {
        return HV_STATUS_INVALID_REGISTER_VALUE;
      }
      if (((val & 1) !== 0) !== p.mbecEnabled(vtl)) return HV_STATUS_INVALID_REGISTER_VALUE;
      vp.secureConfig[vtl]![n] = val & 2;
      return HV_STATUS_SUCCESS;
    },
  });
}
// Register intercept controls (TLFS §15.13.4), owned by the VTL addressed (must be above 0).
// Write intercepts only (OpenVMM). Not implemented, so rejected rather than silently ignored:
// XCr0Write (2) and the descriptor-table writes GdtrWrite..TrWrite (15-18).
const CR_INTERCEPT_SUPPORTED = 0x00fffffb & ~(1 << 3) & ~(1 << 5) & ~(1 << 7) & ~(1 << 9) &
  ~(1 << 11) & ~(1 << 13) & ~(0xf << 15);
const crRegs: [number, (vp: HvVp) => number[]][] = [
  [0x000e0000, (vp) => vp.crInterceptControl],
  [0x000e0001, (vp) => vp.crInterceptCr0Mask],
  [0x000e0002, (vp) => vp.crInterceptCr4Mask],
  [0x000e0003, (vp) => vp.crInterceptMiscEnableMask],
];
for (const [name, arr] of crRegs) {
  table.set(name, {
    get: (_p, vp, vtl, _ctx, v) => {
      put64(v, arr(vp)[vtl]!);
      return HV_STATUS_SUCCESS;
    },
    set: (_p, vp, vtl, _ctx, v) => {
      if (vtl === 0) return HV_STATUS_INVALID_PARAMETER;
      if (v[1] !== 0 || v[2] !== 0 || v[3] !== 0) return HV_STATUS_INVALID_REGISTER_VALUE;
      if (name === 0x000e0000 && (v[0] & ~CR_INTERCEPT_SUPPORTED)) {
        return HV_STATUS_INVALID_REGISTER_VALUE;
      }
      arr(vp)[vtl] = v[0] >>> 0;
      return HV_STATUS_SUCCESS;
    },
  });
}
// HvRegisterInterceptSuspend (0x00000001): bit 1 TlbFlushInhibit (layout UNCONFIRMED, see
// README); writing 0 releases the inhibition set by TranslateVirtualAddress.
table.set(0x00000001, {
  get: (_p, vp, _vtl, _ctx, v) => {
    put64(v, vp.tlbFlushInhibit ? 2 : 0);
    return HV_STATUS_SUCCESS;
  },
  set: (_p, vp, _vtl, _ctx, v) => {
    if ((v[0] & ~2) || v[1] || v[2] || v[3]) return HV_STATUS_INVALID_REGISTER_VALUE;
    vp.tlbFlushInhibit = (v[0] & 2) !== 0;
    return HV_STATUS_SUCCESS;
  },
});
// HvRegisterPendingEvent0 (spec §3): a higher VTL injects an exception into a lower VTL; it is
// delivered when that VTL next runs. Bit 0 EventPending, 3:1 EventType (0 = exception),
// 8 DeliverErrorCode, 31:16 Vector, 63:32 ErrorCode, 127:64 ExceptionParameter (CR2 for #PF).
table.set(0x00010004, {
  get: (_p, vp, vtl, _ctx, v) => {
    const e = vp.pendingEvent[vtl];
    if (e === null || e === undefined) {
      v[0] =
        v[1] =
        v[2] =
        v[3] =
          0;
    } else {
      v[0] = 1 | (e.hasErr ? 0x100 : 0) | (e.vector << 16);
      v[1] = e.err;
      v[2] = e.param | 0;
      v[3] = hiOf(e.param);
    }
    return HV_STATUS_SUCCESS;
  },
  set: (_p, vp, vtl, _ctx, v, caller) => {
    if (vtl >= caller) return HV_STATUS_ACCESS_DENIED;
    if (!(v[0] & 1)) {
      vp.pendingEvent[vtl] = null;
      return HV_STATUS_SUCCESS;
    }
    const type = (v[0] >>> 1) & 7, vector = (v[0] >>> 16) & 0xffff;
    if (type !== 0 || vector > 31 || (v[0] & 0xfef0)) return HV_STATUS_INVALID_REGISTER_VALUE;
    vp.pendingEvent[vtl] = {
      vector,
      hasErr: (v[0] & 0x100) !== 0,
      err: v[1],
      param: toNum(v[2], v[3]),
    };
    return HV_STATUS_SUCCESS;
  },
});
// HvRegisterVsmPartitionConfig, per VTL ≥ 1 (spec §3 "VsmPartitionConfig"). InterceptVpStartup
// (0x200) is not implemented, so it is rejected.
const VSM_CONFIG_SUPPORTED = 0x1 | 0x1e | 0x20 | 0x40 | 0x1000;
table.set(0x000d0007, {
  get: (p, _vp, vtl, _ctx, v) => {
    put64(v, p.vsmConfig.get(vtl));
    return HV_STATUS_SUCCESS;
  },
  set: (p, _vp, vtl, _ctx, v) => {
    if (vtl === 0) return HV_STATUS_INVALID_PARAMETER;
    const n = v[0];
    if (v[1] !== 0 || v[2] !== 0 || v[3] !== 0 || (n & ~VSM_CONFIG_SUPPORTED)) {
      return HV_STATUS_INVALID_REGISTER_VALUE;
    }
    const old = p.vsmConfig.get(vtl);
    let next = n;
    if (old & 1) {
      // EnableVtlProtection is write-once; it and DefaultVtlProtectionMask stay as set.
      next = (n & ~0x1f) | (old & 0x1f);
    } else if (n & 1) {
      const mask = (n >>> 1) & 0xf;
      // The default mask must be a valid protection, by the same rule as
      // ModifyVtlProtectionMask (OpenVMM validates both with validate_vtl_gpa_flags).
      if (!validMask(mask, p.mbecEnabled(vtl))) {
        return HV_STATUS_INVALID_REGISTER_VALUE;
      }
      p.protections.enable(vtl, mask);
      p.flushAllTlbs();
    }
    p.vsmConfig.set(vtl, next);
    return HV_STATUS_SUCCESS;
  },
});

/**
 * Reads register `name` of (vp, vtl) into `v`. The caller checked the VTL privilege rule.
 */
export function getRegister(p: Partition, vp: HvVp, vtl: Vtl, name: number, v: RegValue): number {
  const r = table.get(name);
  if (r === undefined) return HV_STATUS_INVALID_PARAMETER;
  return r.get(p, vp, vtl, contextOf(vp, vtl), v);
}

/** Writes register `name` of (vp, vtl); `caller` is the calling VTL. */
export function setRegister(
  p: Partition,
  vp: HvVp,
  vtl: Vtl,
  name: number,
  v: RegValue,
  caller: Vtl,
): number {
  const r = table.get(name);
  if (r === undefined) return HV_STATUS_INVALID_PARAMETER;
  if (r.set === undefined) return HV_STATUS_ACCESS_DENIED;
  const live = vtl === vp.activeVtl;
  const ctx = contextOf(vp, vtl);
  const st = r.set(p, vp, vtl, ctx, v, caller);
  if (st !== HV_STATUS_SUCCESS) return st;
  if (live) loadContext(vp.cpu, ctx, vtl);
  // A new CR0/CR3/CR4/EFER/PAT changes that VTL's address space, as the same write by the
  // guest itself would: drop its cached translations, whether or not it is running.
  if (PAGING_REGS.has(name)) vp.cpu.flushTlbContext(vtl);
  return st;
}

/** HvX64RegisterCr0, Cr3, Cr4, Efer, Pat. */
const PAGING_REGS = new Set([0x00040000, 0x00040002, 0x00040003, 0x00080001, 0x00080004]);

const scratch = new CpuContext();

/** The private context of (vp, vtl): a fresh copy of the live CPU when that VTL is active. */
export function contextOf(vp: HvVp, vtl: Vtl): CpuContext {
  if (vtl !== vp.activeVtl) return vp.contexts.get(vtl);
  saveContext(vp.cpu, scratch);
  return scratch;
}
