/**
 * The hypercall ABI (TLFS §3.7-§3.12, spec/vsm.md §1.2-1.3): decodes the hypercall input value,
 * validates it, fetches the input block (memory GPA or registers), dispatches to the call's
 * definition, writes output and the result value, and records a `hypercall` event. The VTL
 * switch calls (HvCallVtlCall/HvCallVtlReturn) use their own register ABI and go to vsm.ts.
 *
 * Fast (register) calls (TLFS `hypercall-interface.md` "XMM Fast Hypercall Input/Output"; spec
 * §1.3 and OpenVMM's model of 7 register pairs): a 64-bit caller's register block is pair 0 =
 * (RDX, R8) and pairs 1-6 = XMM0-XMM5, 112 bytes. The input occupies the first
 * ceil(input/16) pairs; output, if the call has any, starts at the next pair and must fit in the
 * rest. Input beyond 16 bytes is "XMM fast input" (CPUID 0x40000003 EDX bit 4), any output is
 * "XMM fast output" (EDX bit 15); using either while it is not advertised raises #UD (TLFS).
 * Both are advertised (cpuid.ts). A block that does not fit → HV_STATUS_INVALID_HYPERCALL_INPUT
 * (OpenVMM). A 32-bit caller has only pair 0 (EBX:ECX, EDI:ESI) and no fast output (OpenVMM;
 * the TLFS offers XMM output to x64 only). Input registers are left unmodified; output
 * registers get the completed output bytes only (all of it for a successful simple call,
 * completed elements for a rep call, nothing for a failed simple call), other bytes unchanged.
 *
 * Hypercall definitions live one per module in ./hypercalls/ and register here.
 */

import { vtlCall, vtlReturn } from "./vsm.ts";
import { hexNum, toUnum } from "../cpu/u64.ts";
import type { Vtl } from "../core/vtl.ts";
import { PAGE_SIZE } from "../memory/guest_memory.ts";
import { RIGHT_R, RIGHT_W } from "../cpu/host.ts";
import { CS, R8, RAX, RBX, RCX, RDI, RDX, RSI, SEG_ATTR_L, VEC_UD } from "../cpu/regs.ts";
import {
  HV_STATUS_ACCESS_DENIED,
  HV_STATUS_INVALID_ALIGNMENT,
  HV_STATUS_INVALID_HYPERCALL_CODE,
  HV_STATUS_INVALID_HYPERCALL_INPUT,
  HV_STATUS_NAMES,
  HV_STATUS_SUCCESS,
  HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE,
  HV_X64_HYPERCALL_XMM_OUTPUT_AVAILABLE,
  HvCallVtlCall,
  HvCallVtlReturn,
  HYPERCALL_NAMES,
} from "./hvdef.ts";
import type { HvVp, Partition } from "./partition.ts";
import { toHex } from "../core/hex.ts";
import { hvFeaturesEdx } from "./cpuid.ts";

/** What a hypercall handler sees. */
export interface HypercallContext {
  readonly partition: Partition;
  readonly vp: HvVp;
  readonly callerVtl: Vtl;
  readonly fast: boolean;
  readonly repCount: number;
  readonly repStart: number;
  readonly varHeaderQwords: number;
  /** The whole input block: fixed header, variable header, rep elements. */
  readonly input: DataView;
  readonly inputBytes: Uint8Array;
  /** Output buffer (header for simple calls; all elements for rep calls). */
  readonly output: DataView;
  readonly outputBytes: Uint8Array;
  /** Rep calls: set to the absolute index of the first element not completed. */
  repsDone: number;
}

export interface HypercallDef {
  readonly code: number;
  readonly name: string;
  readonly rep: boolean;
  readonly varHeader: boolean;
  /** Fixed input header size in bytes. */
  readonly inputHeader: number;
  /** Input bytes per rep element (rep calls). */
  readonly inputElement: number;
  /** Output bytes (simple calls) or per rep element (rep calls). */
  readonly output: number;
  /** Returns an HV_STATUS. */
  readonly handler: (h: HypercallContext) => number;
}

const defs = new Map<number, HypercallDef>();

export function defineHypercall(d: HypercallDef): void {
  if (defs.has(d.code)) throw new Error(`hypercall 0x${d.code.toString(16)} defined twice`);
  defs.set(d.code, d);
}

/**
 * A handler's "suspend and retry later" result (never a real HV_STATUS); the handler records what
 * the VP waits for (HvVp.waitTlb).
 */
export const HYPERCALL_WAIT = -1;
const HV_STATUS_TIMEOUT = 0x78;

/** Largest input block read (a page) and the largest output (a page). */
const MAX_BLOCK = PAGE_SIZE;

/** Fast register pairs: (RDX, R8) and XMM0-XMM5 for 64-bit callers. */
export const FAST_PAIRS_X64 = 7;

/**
 * Where a fast call's input and output live in the register block, or why it cannot run: the
 * input fills the first `inPairs` pairs and the output starts at the next one, pair `inPairs`.
 */
export type FastLayout =
  | { readonly kind: "ok"; readonly inPairs: number }
  | { readonly kind: "ud" }
  | { readonly kind: "invalid" };

/**
 * The register layout of a fast call with `inLen` input and `outLen` output bytes (module
 * comment): "ud" when it needs XMM input/output that `featuresEdx` (CPUID 0x40000003 EDX) does
 * not advertise, "invalid" when it does not fit.
 */
export function fastLayout(
  inLen: number,
  outLen: number,
  x64: boolean,
  featuresEdx: number,
): FastLayout {
  const inPairs = Math.ceil(inLen / 16), outPairs = Math.ceil(outLen / 16);
  if (!x64) return inPairs <= 1 && outPairs === 0 ? ok(inPairs) : { kind: "invalid" };
  if (inPairs > 1 && (featuresEdx & HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE) === 0) {
    return { kind: "ud" };
  }
  if (outPairs > 0 && (featuresEdx & HV_X64_HYPERCALL_XMM_OUTPUT_AVAILABLE) === 0) {
    return { kind: "ud" };
  }
  if (inPairs + outPairs > FAST_PAIRS_X64) return { kind: "invalid" };
  return ok(inPairs);
}

function ok(inPairs: number): FastLayout {
  return { kind: "ok", inPairs };
}

/** The 112-byte fast register block of a 64-bit caller (or the 16 bytes of a 32-bit one). */
function readFastBlock(cpu: HvVp["cpu"], x64: boolean): Uint8Array {
  const b = new Uint8Array(FAST_PAIRS_X64 * 16);
  const dv = new DataView(b.buffer);
  dv.setInt32(0, x64 ? cpu.lo[RDX]! : cpu.lo[RCX]!, true);
  dv.setInt32(4, x64 ? cpu.hi[RDX]! : cpu.lo[RBX]!, true);
  dv.setInt32(8, x64 ? cpu.lo[R8]! : cpu.lo[RSI]!, true);
  dv.setInt32(12, x64 ? cpu.hi[R8]! : cpu.lo[RDI]!, true);
  if (x64) { for (let i = 0; i < 24; i++) dv.setInt32(16 + 4 * i, cpu.xmm[i]!, true); }
  return b;
}

/**
 * Writes `bytes` into a 64-bit caller's register block at byte `at` (pair 0 = RDX, R8; pairs
 * 1-6 = XMM0-5); the registers' other bytes keep their values.
 */
function writeFastBlock(cpu: HvVp["cpu"], at: number, bytes: Uint8Array): void {
  const b = readFastBlock(cpu, true);
  b.set(bytes, at);
  const dv = new DataView(b.buffer);
  const first = Math.floor(at / 4), end = Math.ceil((at + bytes.length) / 4);
  for (let w = first; w < end; w++) {
    const v = dv.getInt32(w * 4, true);
    if (w < 4) {
      const r = w < 2 ? RDX : R8;
      if (w & 1) cpu.hi[r] = v;
      else cpu.lo[r] = v;
    } else cpu.xmm[w - 4] = v;
  }
}

/**
 * Reads `len` bytes of guest physical memory as VTL `vtl` of `vp` would, honouring overlays and
 * the VTL's protections. Returns null if any byte is not readable (isolation: a hypercall cannot
 * be used to read memory the caller cannot read).
 */
export function guestRead(
  p: Partition,
  vp: HvVp,
  vtl: Vtl,
  gpa: number,
  len: number,
): Uint8Array | null {
  const out = new Uint8Array(len);
  for (let done = 0; done < len;) {
    const a = gpa + done;
    const gpn = Math.floor(a / PAGE_SIZE);
    const r = p.resolveGpa(vp, vtl, gpn);
    if (r < 0 || (r & RIGHT_R) === 0) return null;
    const off = a % PAGE_SIZE;
    const n = Math.min(len - done, PAGE_SIZE - off);
    const base = (r >>> 5) * PAGE_SIZE + off;
    out.set(p.mem.u8.subarray(base, base + n), done);
    done += n;
  }
  return out;
}

/** Writes guest physical memory as VTL `vtl` of `vp`; false (nothing written) if denied. */
export function guestWrite(
  p: Partition,
  vp: HvVp,
  vtl: Vtl,
  gpa: number,
  bytes: Uint8Array,
): boolean {
  // Check every page first so a denied write changes nothing.
  const hosts: number[] = [];
  for (let done = 0; done < bytes.length;) {
    const a = gpa + done;
    const r = p.resolveGpa(vp, vtl, Math.floor(a / PAGE_SIZE));
    if (r < 0 || (r & RIGHT_W) === 0) return false;
    const off = a % PAGE_SIZE;
    const n = Math.min(bytes.length - done, PAGE_SIZE - off);
    hosts.push((r >>> 5) * PAGE_SIZE + off, n);
    done += n;
  }
  let done = 0;
  for (let i = 0; i < hosts.length; i += 2) {
    p.mem.writeBytes(hosts[i]!, bytes.subarray(done, done + hosts[i + 1]!));
    done += hosts[i + 1]!;
  }
  return true;
}

/** Entry point from the VP when the guest executes VMCALL (RIP already past it). */
export function hypercall(p: Partition, vp: HvVp): void {
  const cpu = vp.cpu;
  const rip = cpu.rip - 3; // the VMCALL (its op checked CPL 0 and protected mode, TLFS §3.5)
  const x64 = cpu.longMode && (cpu.segAttr[CS]! & SEG_ATTR_L) !== 0;
  // Hypercall input value (control word).
  const ctlLo = x64 ? cpu.lo[RCX]! : cpu.lo[RAX]!;
  const ctlHi = x64 ? cpu.hi[RCX]! : cpu.lo[RDX]!;
  const code = ctlLo & 0xffff;
  if (code === HvCallVtlCall || code === HvCallVtlReturn) {
    // TLFS §15.6/§15.7: VTL switches take the control word in RAX (ECX for 32-bit callers)
    // and write no result.
    if (code === HvCallVtlCall) vtlCall(p, vp, rip);
    else vtlReturn(p, vp, rip);
    return;
  }
  const fast = (ctlLo & 0x10000) !== 0;
  const varHdr = (ctlLo >>> 17) & 0x3ff;
  const repCount = ctlHi & 0xfff;
  const repStart = (ctlHi >>> 16) & 0xfff;
  const reservedBits = (ctlLo & 0x78000000) !== 0 || (ctlHi & 0xf000f000) !== 0;
  const inGpa = x64 ? cpu.reg(RDX) : toUnum(cpu.lo[RCX]!, cpu.lo[RBX]!);
  const outGpa = x64 ? cpu.reg(R8) : toUnum(cpu.lo[RSI]!, cpu.lo[RDI]!);
  const def = defs.get(code);
  const callerVtl = vp.activeVtl;
  let status: number;
  let repsDone = 0;
  let inputBytes: Uint8Array = new Uint8Array(0);
  let outputBytes: Uint8Array = new Uint8Array(0);
  let inputHex = "";
  let outputHex = "";
  /** Fast calls: byte offset of the output in the register block (-1: memory form). */
  let fastOut = -1;
  run: {
    if (def === undefined) {
      status = HV_STATUS_INVALID_HYPERCALL_CODE;
      break run;
    }
    if (
      reservedBits || (def.rep ? repCount === 0 : repCount !== 0) ||
      (def.rep && repStart >= repCount) || (!def.rep && repStart !== 0) ||
      (!def.varHeader && varHdr !== 0)
    ) {
      status = HV_STATUS_INVALID_HYPERCALL_INPUT;
      break run;
    }
    const inLen = def.inputHeader + varHdr * 8 + (def.rep ? def.inputElement * repCount : 0);
    const outLen = def.rep ? def.output * repCount : def.output;
    if (fast) {
      const layout = fastLayout(inLen, outLen, x64, hvFeaturesEdx(p));
      if (layout.kind === "ud") {
        // XMM fast input/output while not advertised (TLFS §3.7): #UD at the VMCALL.
        cpu.rip = rip;
        cpu.raise(VEC_UD);
      }
      if (layout.kind !== "ok") {
        status = HV_STATUS_INVALID_HYPERCALL_INPUT;
        break run;
      }
      fastOut = layout.inPairs * 16; // output starts at the pair after the input
      inputBytes = readFastBlock(cpu, x64).slice(0, inLen);
    } else {
      if ((inLen > 0 && inGpa % 8 !== 0) || (outLen > 0 && outGpa % 8 !== 0)) {
        status = HV_STATUS_INVALID_ALIGNMENT;
        break run;
      }
      // A block crossing a page boundary: TLFS says INVALID_ALIGNMENT, OpenVMM returns
      // INVALID_HYPERCALL_INPUT; we follow OpenVMM (README, conflicts table).
      if (
        (inLen > 0 && (inGpa % PAGE_SIZE) + inLen > PAGE_SIZE) ||
        (outLen > 0 && (outGpa % PAGE_SIZE) + outLen > PAGE_SIZE) || inLen > MAX_BLOCK ||
        outLen > MAX_BLOCK
      ) {
        status = HV_STATUS_INVALID_HYPERCALL_INPUT;
        break run;
      }
      if (inLen > 0) {
        const b = guestRead(p, vp, callerVtl, inGpa, inLen);
        if (b === null) {
          p.emitter.emit(vp.index, "vtl_fault", {
            gpa: hexNum(inGpa),
            gva: "0x0",
            access: "r",
            resolution: "hypercall_input_denied",
          }, rip);
          status = HV_STATUS_ACCESS_DENIED;
          break run;
        }
        inputBytes = b;
      }
    }
    inputHex = toHex(inputBytes.subarray(0, 256));
    outputBytes = new Uint8Array(outLen);
    const h: HypercallContext = {
      partition: p,
      vp,
      callerVtl,
      fast,
      repCount,
      repStart,
      varHeaderQwords: varHdr,
      input: new DataView(inputBytes.buffer, inputBytes.byteOffset, inputBytes.byteLength),
      inputBytes,
      output: new DataView(outputBytes.buffer),
      outputBytes,
      repsDone: repStart,
    };
    status = def.handler(h);
    if (status === HYPERCALL_WAIT) {
      // The call must wait (a TLB lock): RIP back on the VMCALL, re-executed when released.
      cpu.rip = rip;
      p.emitter.emit(vp.index, "hypercall", {
        code,
        name: HYPERCALL_NAMES[code] ?? "unknown",
        fast,
        rep_count: repCount,
        rep_start: repStart,
        var_hdr: varHdr,
        input: toHex(inputBytes.subarray(0, 256)),
        status: HV_STATUS_TIMEOUT,
        status_name: "HV_STATUS_TIMEOUT",
        reps_done: repStart,
        output: "",
      }, rip);
      return;
    }
    repsDone = def.rep ? h.repsDone : 0;
    // Output: rep calls write the completed elements; simple calls only on success.
    let written: Uint8Array = new Uint8Array(0);
    if (def.rep) written = outputBytes.subarray(repStart * def.output, repsDone * def.output);
    else if (status === HV_STATUS_SUCCESS) written = outputBytes;
    if (written.length > 0 && fastOut >= 0) {
      writeFastBlock(cpu, fastOut + (def.rep ? repStart * def.output : 0), written);
      outputHex = toHex(written.subarray(0, 256));
    } else if (written.length > 0) {
      const at = outGpa + (def.rep ? repStart * def.output : 0);
      if (!guestWrite(p, vp, callerVtl, at, written)) {
        p.emitter.emit(vp.index, "vtl_fault", {
          gpa: hexNum(at),
          gva: "0x0",
          access: "w",
          resolution: "hypercall_output_denied",
        }, rip);
        status = HV_STATUS_ACCESS_DENIED;
        // Nothing was written: no element counts as completed.
        repsDone = def.rep ? repStart : 0;
      } else outputHex = toHex(written.subarray(0, 256));
    }
  }
  // Result value: status in 15:0, reps completed in 43:32.
  if (x64) {
    cpu.lo[RAX] = status;
    cpu.hi[RAX] = repsDone & 0xfff;
  } else {
    cpu.lo[RAX] = status;
    cpu.lo[RDX] = repsDone & 0xfff;
  }
  p.emitter.emit(vp.index, "hypercall", {
    code,
    name: HYPERCALL_NAMES[code] ?? "unknown",
    fast,
    rep_count: repCount,
    rep_start: repStart,
    var_hdr: varHdr,
    input: inputHex,
    status,
    status_name: HV_STATUS_NAMES[status] ?? `0x${status.toString(16)}`,
    reps_done: repsDone,
    output: outputHex,
  }, rip);
}
