/**
 * Secure memory intercepts (TLFS §15.9.2, §15.13; spec/vsm.md §5.2-5.4). When an access by VTL n
 * violates a protection set by a higher VTL m, the instruction is abandoned without side effects
 * (RIP stays on it), an HV_X64_MEMORY_INTERCEPT_MESSAGE is built, and the VP enters VTL m.
 *
 * Delivery (spec §5.3): to VTL m's SynIC, SINT0 (the VP then enters VTL m through the SINT0
 * interrupt, entry reason Interrupt = 2), or — when VTL m set VsmPartitionConfig.InterceptPage, or
 * its SynIC cannot take messages — into VTL m's VP assist page intercept-message area (offset
 * 0x70), entering VTL m with entry reason Intercept (3).
 */

import type { Vtl } from "../core/vtl.ts";
import { CR0_AM, CR0_PE, CR4_SMEP, CS, DS, EFER_LMA, SS } from "../cpu/regs.ts";
import { hiOf } from "../cpu/u64.ts";
import { PROT_KX, PROT_R, PROT_UX, PROT_W } from "../memory/protection.ts";
import {
  HvMessageTypeGpaIntercept,
  HvVtlEntryReasonIntercept,
  VP_ASSIST_ENTRY_REASON,
  VP_ASSIST_INTERCEPT_MESSAGE,
} from "./hvdef.ts";
import { buildMessage, HV_MESSAGE_OFFSET_PAYLOAD } from "./messages.ts";
import type { HvVp, Partition } from "./partition.ts";
import type { SynicOutcome } from "./synic.ts";
import { switchVtl } from "./vsm.ts";

const P = HV_MESSAGE_OFFSET_PAYLOAD;

/**
 * Where an intercept message went (deliverIntercept): into the owner's SIM slot 0 ("delivered"),
 * queued behind a busy slot 0 ("pending", MessagePending set in the slot), or into the owner's
 * VP assist page ("page").
 */
export type InterceptDelivery = Exclude<SynicOutcome, "dropped"> | "page";

/**
 * A 256-byte HV_MESSAGE of `type` with an HV_X64_INTERCEPT_MESSAGE_HEADER describing the VP's
 * current instruction (spec §5.4). Returns the message and a DataView on it.
 */
export function interceptMessage(
  vp: HvVp,
  type: number,
  payloadSize: number,
  access: number,
  insnLength: number,
): [Uint8Array, DataView] {
  const cpu = vp.cpu;
  const m = buildMessage(type, new Uint8Array(payloadSize));
  const dv = new DataView(m.buffer);
  dv.setUint32(P + 0, vp.index, true);
  m[P + 4] = (insnLength & 0xf) | ((vp.lapic.tpr >>> 4) << 4); // length 3:0, CR8 7:4
  m[P + 5] = access; // HV_INTERCEPT_ACCESS_TYPE: 0 read, 1 write, 2 execute
  const execState = (cpu.cpl & 3) | ((cpu.cr0 & CR0_PE) ? 4 : 0) | ((cpu.cr0 & CR0_AM) ? 8 : 0) |
    ((cpu.efer & EFER_LMA) ? 16 : 0) | ((vp.activeVtl & 0xf) << 7);
  dv.setUint16(P + 6, execState, true);
  writeSegment(dv, P + 8, cpu, CS);
  dv.setInt32(P + 24, cpu.rip | 0, true);
  dv.setInt32(P + 28, hiOf(cpu.rip), true);
  dv.setInt32(P + 32, cpu.getRflags(), true);
  return [m, dv];
}

/** Writes segment register `s` as an HV_X64_SEGMENT_REGISTER (16 bytes) at `off`. */
export function writeSegment(dv: DataView, off: number, cpu: HvVp["cpu"], s: number): void {
  dv.setInt32(off, cpu.segBase[s]! | 0, true);
  dv.setInt32(off + 4, hiOf(cpu.segBase[s]!), true);
  dv.setUint32(off + 8, cpu.segLimit[s]! >>> 0, true);
  dv.setUint16(off + 12, cpu.segSel[s]!, true);
  dv.setUint16(off + 14, cpu.segAttr[s]! & 0xffff, true);
}

/** Writes general-purpose register `r` (8 bytes) at `off`. */
export function writeGpr(dv: DataView, off: number, cpu: HvVp["cpu"], r: number): void {
  dv.setInt32(off, cpu.lo[r]!, true);
  dv.setInt32(off + 4, cpu.hi[r]!, true);
}

/** Builds the 256-byte HV_MESSAGE for a GPA intercept (spec §5.4). */
export function gpaInterceptMessage(
  p: Partition,
  vp: HvVp,
  gpa: number,
  gva: number,
  access: number,
): Uint8Array {
  const cpu = vp.cpu;
  const kvm = p.config.profile === "kvm-rfc";
  // Instruction length is not guaranteed for memory intercepts: 0.
  const [m, dv] = interceptMessage(vp, HvMessageTypeGpaIntercept, kvm ? 240 : 80, access, 0);
  const insn = cpu.peekCode(15);
  // HV_X64_MEMORY_INTERCEPT_MESSAGE body.
  dv.setUint32(P + 40, 6, true); // CacheType: WB
  m[P + 44] = insn.length;
  m[P + 45] = 0x3; // GvaValid | GvaGpaValid
  dv.setInt32(P + 48, gva | 0, true);
  dv.setInt32(P + 52, hiOf(gva), true);
  dv.setInt32(P + 56, gpa | 0, true);
  dv.setInt32(P + 60, hiOf(gpa), true);
  m.set(insn.subarray(0, 16), P + 64);
  if (kvm) {
    // The KVM RFC / QEMU PoC tail: DS, SS and the 16 GPRs (240-byte payload).
    writeSegment(dv, P + 80, cpu, DS);
    writeSegment(dv, P + 96, cpu, SS);
    for (let i = 0; i < 16; i++) writeGpr(dv, P + 112 + i * 8, cpu, i);
  }
  return m;
}

/** The protection right an access needs (kernel/user execute per CPL when MBEC applies). */
function needed(access: number, user: boolean): number {
  return access === 0 ? PROT_R : access === 1 ? PROT_W : user ? PROT_UX : PROT_KX;
}

/** Whether a fetch is checked against UX: user mode with CR4.SMEP set (TLFS §15.10, cpu.ts). */
function userExec(vp: HvVp): boolean {
  return vp.cpu.cpl === 3 && (vp.cpu.cr4 & CR4_SMEP) !== 0;
}

/**
 * The VTL that receives the intercept for an access by `vp`'s active VTL that violated a VTL
 * protection: the lowest higher VTL whose mask denies it (TLFS §15.13.2), if that VTL is enabled
 * on this VP; otherwise -1.
 */
export function protectionOwner(p: Partition, vp: HvVp, gpa: number, access: number): number {
  const gpn = Math.floor(gpa / 4096);
  const need = needed(access, userExec(vp));
  for (let m = vp.activeVtl + 1; m < p.vtlCount; m++) {
    if (!p.protections.isEnabled(m as Vtl)) continue;
    let mask = p.protections.get(m as Vtl, gpn);
    if (!p.mbecEnabled(m)) {
      mask = (mask & PROT_KX) ? mask | PROT_UX : mask & ~PROT_UX;
    }
    if ((mask & need) === 0) return vp.isEnabled(m as Vtl) ? m : -1;
  }
  return -1;
}

/**
 * Handles a protection violation on `vp` (called from the CPU's protection-fault path, in the
 * middle of the abandoned instruction): returns the VTL that gets the intercept, or -1 when no
 * higher VTL enabled on this VP set the protection. `onDelivered` runs once the message is with
 * the owner and before the VP switches to it (the machine records the `vtl_fault` there).
 * `walk`: the access was the page walk's (a paging-structure entry at `gpa`), so the GVA does not
 * translate to the GPA (MemoryAccessInfo.GvaGpaValid = 0).
 */
export function handleProtectionViolation(
  p: Partition,
  vp: HvVp,
  gpa: number,
  gva: number,
  access: number,
  onDelivered: (owner: number) => void = () => {},
  walk = false,
): number {
  const owner = protectionOwner(p, vp, gpa, access);
  if (owner < 0) {
    onDelivered(-1);
    return -1;
  }
  const msg = gpaInterceptMessage(p, vp, gpa, gva, access);
  if (walk) msg[P + 45] = 0x1; // GvaValid only
  deliverIntercept(p, vp, owner as Vtl, msg, () => onDelivered(owner), true);
  return owner;
}

/**
 * Hands an intercept message to VTL `owner` of `vp` and makes it run next: through its SynIC
 * SINT0 when that is set up (entry reason Interrupt), otherwise through the intercept-message
 * area of its VP assist page (entry reason Intercept), spec §5.3. The lower VTL's instruction
 * has not executed; it is retried when the owner returns.
 *
 * `deferred`: the caller is inside an instruction that will be unwound by an ABORT (a memory
 * protection fault). The VTL switch of the intercept-page route then waits until the CPU has
 * unwound the instruction (`cpu.afterAbort`): switching inside it would let the instruction's
 * rollback (e.g. POP's restore of RSP) land in the owner's context and leave the lower VTL's
 * saved context half-updated.
 *
 * Returns where the message went.
 */
export function deliverIntercept(
  p: Partition,
  vp: HvVp,
  owner: Vtl,
  msg: Uint8Array,
  onDelivered: () => void = () => {},
  deferred = false,
): InterceptDelivery {
  const posted = interceptViaSynic(p, vp, owner, msg);
  if (posted !== null) {
    onDelivered();
    vp.preemptCheck = true;
    vp.cpu.exitReq = true;
    vp.cpu.brk = true;
    if (vp.lapics.get(owner).deliverable() < 0) {
      // The message is queued behind a busy SIM slot (MessagePending) or its SINT cannot
      // interrupt the owner now: the owner is not entered. Retrying the instruction would only
      // fault and queue again without end (no instruction retires), so the faulting VTL stays
      // suspended on the instruction, as if halted, until something lets the owner run (an
      // interrupt for it preempts, spec §4.4) or the faulting VTL itself is interrupted; the
      // instruction is then retried.
      const suspend = () => void (vp.cpu.halted = true);
      if (deferred) vp.cpu.afterAbort = suspend;
      else suspend();
    }
    return posted;
  }
  const enter = () => {
    switchVtl(p, vp, owner, "intercept", vp.cpu.rip);
    const off = p.assistOffset(vp, owner, VP_ASSIST_INTERCEPT_MESSAGE);
    if (off >= 0) p.mem.writeBytes(off, msg);
    const er = p.assistOffset(vp, owner, VP_ASSIST_ENTRY_REASON);
    if (er >= 0) p.mem.write32(er, HvVtlEntryReasonIntercept);
  };
  onDelivered();
  if (deferred) {
    vp.cpu.afterAbort = enter;
    vp.cpu.exitReq = true;
    vp.cpu.brk = true;
  } else enter();
  return "page";
}

/**
 * Posts the intercept message to the owner's SINT0 and returns the post's outcome: "delivered"
 * (in SIM slot 0) or "pending" (queued behind a busy slot). Null, and nothing posted, when that
 * route is not available — VsmPartitionConfig.InterceptPage (bit 12) selects the VP assist page,
 * the owner's SynIC or SIM page is off, or its SINT0 queue is full (the message would be
 * dropped) — and the VP assist page route is taken instead.
 */
function interceptViaSynic(
  p: Partition,
  vp: HvVp,
  owner: Vtl,
  msg: Uint8Array,
): "delivered" | "pending" | null {
  if (p.vsmConfig.get(owner) & (1 << 12)) return null;
  const s = vp.synics.get(owner);
  if (s.postTarget(0) !== "ready") return null;
  const outcome = s.post(0, msg);
  return outcome === "dropped" ? null : outcome;
}
