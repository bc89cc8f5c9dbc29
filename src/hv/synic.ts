/**
 * The synthetic interrupt controller (TLFS §11 `inter-partition-communication.md`; spec/vsm.md
 * §7.1-7.2): one per (VP, VTL), since under VSM every VTL has a private SynIC (TLFS §15.11; KVM
 * runs one per vCPU = per VTL, OpenVMM one per VTL). It owns the four synthetic timers of the
 * same (VP, VTL) (stimer.ts).
 *
 * Everything it touches is injected (`SynicEnv`): overlay installation, guest memory, this VTL's
 * local APIC, the event log and reference time. Nothing here reads host time.
 *
 * MSRs (all private per (VP, VTL)):
 * - HV_X64_MSR_SCONTROL: bit 0 Enable, 63:1 RsvdP. Stored and read back as written. Reset 0.
 * - HV_X64_MSR_SVERSION: read-only, 1. Writes raise #GP.
 * - HV_X64_MSR_SIEFP / HV_X64_MSR_SIMP: bit 0 Enable, 11:1 RsvdP (stored, no #GP), 63:12 GPFN.
 *   Enabling installs the overlay page through `env.setOverlay`; disabling removes it. The page
 *   is zeroed when it becomes enabled or moves to another GPFN (OpenVMM behaviour; KVM clears on
 *   every enabling write; TLFS: zeroed at VP creation and reset, which `reset()` also does).
 *   Rewriting the same enabled value keeps the contents, so an in-flight message survives it.
 *   When `env.isValidGpn` is given, enabling a GPFN it rejects raises #GP (KVM: #GP when it
 *   cannot clear the page).
 * - HV_X64_MSR_EOM: write-only trigger (any value); reads return 0. Rescans the queues.
 * - HV_X64_MSR_SIRBP (0x40000085): not implemented; reads and writes raise #GP (only the root
 *   partition uses it; not advertised).
 * - HV_X64_MSR_SINT0-15: 7:0 Vector, 16 Masked, 17 AutoEOI, 18 Polling, others RsvdP (stored;
 *   bit 20, OpenVMM's Proxy, is RsvdP too). Reset 0x10000. A vector below 16 raises #GP unless
 *   Masked is set (KVM tolerates masked writes such as the default 0x10000; TLFS: "Specifying an
 *   invalid vector number results in #GP").
 * - HV_X64_MSR_STIMER0-3_CONFIG/COUNT: SyntheticTimers.
 *
 * Messages (TLFS §11 "SynIC Messages", "Message Buffer Queues", "EOM Register"):
 * - post() with SCONTROL.Enable or SIMP.Enable clear → dropped ("Virtual processors whose SynIC
 *   or SIM page is disabled will not be considered as potential targets").
 * - Each SINT has a FIFO queue (bounded to SYNIC_QUEUE_LIMIT, overflow → dropped). A post first
 *   rescans that SINT (FIFO order is kept: a new message never overtakes queued ones). If the slot
 *   is empty (MessageType = HvMessageTypeNone) and nothing is queued, the 256 bytes are copied to
 *   SIM slot `sint` and the SINT interrupt is raised; otherwise the message is queued and
 *   MessagePending is set in the occupying slot.
 * - Queues are rescanned on EOM writes, on `apicEoi()` and on a new post to that SINT (the three
 *   TLFS triggers), and also when SCONTROL or SIMP becomes enabled (an extra, harmless trigger).
 *   A delivery from a queue sets MessagePending in the slot when more messages remain queued.
 * - Disabling SCONTROL or SIMP keeps queued messages ("the message remains queued"); they are
 *   delivered once the SIM is enabled again (the re-enabled page is zeroed, then rescanned).
 * - The SINT interrupt is raised on every delivery into the slot unless Masked or Polling (the
 *   message is still written: "If the APIC is software disabled or the SINTx is masked, the
 *   interrupt is lost"). AutoEOI is passed to `env.interrupt`.
 * - Timer messages: each timer has one message buffer ("four dedicated timer message buffers,
 *   one for each timer"). While a timer's message waits in a queue, further expiries of that
 *   timer are not posted (event outcome "dropped"). DeliveryTime is set when the message enters
 *   the slot.
 * - Every outcome is logged through `env.event(sint, type, outcome)`: "delivered" when a message
 *   reaches its slot (immediately, or later from the queue: then a second event for the same
 *   message), "pending" when it is queued, "dropped" when it is discarded.
 *
 * Event flags (TLFS §11 "SynIC Event Flags"): `signalEvent` sets flag `flag` of SINT `sint` in the
 * SIEF page (bit flag%8 of byte sint*256 + flag/8) and raises the SINT interrupt on a 0→1
 * transition only. With SCONTROL or SIEFP disabled, or the SINT masked (TLFS: HvSignalEvent then
 * fails with HV_STATUS_INVALID_SYNIC_STATE; OpenVMM sets nothing), nothing happens.
 */

import { hex64 } from "../cpu/u64.ts";
import { toHex } from "../core/hex.ts";
import {
  HV_X64_MSR_EOM,
  HV_X64_MSR_SCONTROL,
  HV_X64_MSR_SIEFP,
  HV_X64_MSR_SIMP,
  HV_X64_MSR_SINT0,
  HV_X64_MSR_SINT15,
  HV_X64_MSR_SVERSION,
} from "./hvdef.ts";
import {
  buildTimerMessage,
  HV_MESSAGE_FLAG_MESSAGE_PENDING,
  HV_MESSAGE_OFFSET_MESSAGE_FLAGS,
  HV_MESSAGE_SIZE,
  HvMessageTypeNone,
  HvMessageTypeTimerExpired,
  messageTypeOf,
  setTimerDeliveryTime,
} from "./messages.ts";
import { type StimerHost, SyntheticTimers } from "./stimer.ts";

export const HV_X64_MSR_SIRBP = 0x40000085;

/** HV_SYNIC_SINT_COUNT. */
export const HV_SYNIC_SINT_COUNT = 16;
/** SVERSION value (HV_SYNIC_VERSION_1). */
export const HV_SYNIC_VERSION_1 = 1;
export const HV_SYNIC_FIRST_VALID_VECTOR = 16;
/** Event flags per SINT (HV_EVENT_FLAGS_COUNT: 256 bytes × 8). */
export const HV_EVENT_FLAGS_COUNT = 2048;

/** SCONTROL / SIMP / SIEFP bit 0. */
export const HV_SYNIC_CONTROL_ENABLE = 1;
export const HV_SYNIC_SIMP_ENABLE = 1;
export const HV_SYNIC_SIEFP_ENABLE = 1;

/** SINTx fields. */
export const HV_SYNIC_SINT_VECTOR_MASK = 0xff;
export const HV_SYNIC_SINT_MASKED = 1 << 16;
export const HV_SYNIC_SINT_AUTO_EOI = 1 << 17;
export const HV_SYNIC_SINT_POLLING = 1 << 18;
/** SINTx value at VP creation and reset: masked, vector 0. */
export const HV_SYNIC_SINT_RESET = HV_SYNIC_SINT_MASKED;

/** Messages queued per SINT before further posts are dropped. */
export const SYNIC_QUEUE_LIMIT = 16;

export type SynicOutcome = "delivered" | "pending" | "dropped";
export type SynicOverlayKind = "simp" | "siefp";

/** What one (VP, VTL)'s SynIC needs from the partition and the machine. */
export interface SynicEnv {
  readonly vpIndex: number;
  readonly vtl: number;
  /**
   * Installs (gpn) or removes (null) the overlay page of `kind` for this (VP, VTL), replacing any
   * previous mapping of that kind. Returns the host byte offset of the page's storage (allocated
   * once per kind and kept across disable/enable; the return value is ignored for null).
   */
  setOverlay(kind: SynicOverlayKind, gpn: number | null): number;
  /** Guest memory (GuestMemory subset); every write is followed by touch(). */
  readonly mem: { u8: Uint8Array; dv: DataView; touch(off: number, len: number): void };
  /** Raises fixed interrupt `vector` in this VTL's local APIC; autoEoi: deliver without ISR. */
  interrupt(vector: number, autoEoi: boolean, source: string): void;
  /** Logs a `synic_message` event (target_vp/target_vtl are this env's vpIndex/vtl). */
  event(sint: number, type: number, outcome: SynicOutcome): void;
  /** Reference time now, in 100 ns units. */
  referenceTime(): number;
  /** Optional: whether `gpn` may hold a SIM/SIEF page; false → the enabling write raises #GP. */
  isValidGpn?(gpn: number): boolean;
  /** Optional: the timers' next deadline may have changed (re-read `nextDeadline()`). */
  deadlineChanged?(): void;
}

/** How an event could be signalled to a SINT (for HvCallSignalEvent's status). */
export type SynicEventTarget = "ready" | "disabled" | "masked";
/** How a message could be posted to a SINT (for HvCallPostMessage's status). */
export type SynicPostTarget = "ready" | "disabled" | "full";

interface QueuedMessage {
  readonly message: Uint8Array;
  /** Timer index for HvMessageTypeTimerExpired messages of this SynIC's timers, else -1. */
  readonly timer: number;
  /** The port (connection ID) of a guest message (HvCallPostMessage), else -1. */
  readonly port: number;
}

export interface SynicSnapshot {
  scontrol: string;
  simp: string;
  siefp: string;
  sint: string[];
  /**
   * Per SINT, the queued messages in order: 256-byte hex, the owning timer (or null) and, for
   * guest messages only, the port.
   */
  queues: { message: string; timer: number | null; port?: number }[][];
  timers: ReturnType<SyntheticTimers["snapshot"]>;
}

/** Whether `msr` belongs to the SynIC (SCONTROL…SIRBP, SINT0-15, STIMER0-3). */
export function isSynicMsr(msr: number): boolean {
  return (msr >= HV_X64_MSR_SCONTROL && msr <= HV_X64_MSR_SIRBP) ||
    (msr >= HV_X64_MSR_SINT0 && msr <= HV_X64_MSR_SINT15) ||
    SyntheticTimers.handles(msr);
}

/** GPFN (bits 63:12) of a page MSR value given as (lo, hi) int32 halves. */
export function gpnOf(lo: number, hi: number): number {
  return (hi >>> 0) * 1048576 + (lo >>> 12);
}

export class SynIC {
  readonly env: SynicEnv;
  readonly timers: SyntheticTimers;
  /** SCONTROL, SIMP, SIEFP as [lo, hi]. */
  readonly scontrol = new Int32Array(2);
  readonly simp = new Int32Array(2);
  readonly siefp = new Int32Array(2);
  /** SINTx as (lo, hi) pairs: [2n] lo, [2n+1] hi. */
  readonly sint = new Int32Array(2 * HV_SYNIC_SINT_COUNT);
  /** Host byte offset of the enabled SIM / SIEF page, or -1 while disabled. */
  #simpOff = -1;
  #siefpOff = -1;
  /** Last storage offsets seen (kept while disabled), for zeroing at reset; -1 if never. */
  #simpStore = -1;
  #siefpStore = -1;
  readonly #queues: QueuedMessage[][] = [];

  constructor(env: SynicEnv) {
    this.env = env;
    for (let i = 0; i < HV_SYNIC_SINT_COUNT; i++) this.#queues.push([]);
    this.sint.fill(0);
    for (let i = 0; i < HV_SYNIC_SINT_COUNT; i++) this.sint[2 * i] = HV_SYNIC_SINT_RESET;
    const host: StimerHost = {
      referenceTime: () => env.referenceTime(),
      postTimerMessage: (index, sint, expiration, delivery) =>
        this.#postTimer(index, sint, expiration, delivery),
      interrupt: (vector, autoEoi, source) => env.interrupt(vector, autoEoi, source),
      deadlineChanged: () => env.deadlineChanged?.(),
    };
    this.timers = new SyntheticTimers(host);
  }

  // ---- state queries ------------------------------------------------------------------------

  get enabled(): boolean {
    return (this.scontrol[0]! & HV_SYNIC_CONTROL_ENABLE) !== 0;
  }

  /** Host byte offset of the SIM page while SIMP is enabled, else -1. */
  get simpOffset(): number {
    return this.#simpOff;
  }

  /** Host byte offset of the SIEF page while SIEFP is enabled, else -1. */
  get siefpOffset(): number {
    return this.#siefpOff;
  }

  /** Number of messages waiting in SINT `sint`'s queue. */
  queued(sint: number): number {
    return this.#queues[sint]!.length;
  }

  // ---- MSRs ---------------------------------------------------------------------------------

  /** RDMSR of a SynIC MSR into out = [lo, hi]; false → #GP. */
  readMsr(msr: number, out: Int32Array): boolean {
    switch (msr) {
      case HV_X64_MSR_SCONTROL:
        out[0] = this.scontrol[0]!;
        out[1] = this.scontrol[1]!;
        return true;
      case HV_X64_MSR_SVERSION:
        out[0] = HV_SYNIC_VERSION_1;
        out[1] = 0;
        return true;
      case HV_X64_MSR_SIEFP:
        out[0] = this.siefp[0]!;
        out[1] = this.siefp[1]!;
        return true;
      case HV_X64_MSR_SIMP:
        out[0] = this.simp[0]!;
        out[1] = this.simp[1]!;
        return true;
      case HV_X64_MSR_EOM:
        out[0] = 0;
        out[1] = 0;
        return true;
    }
    if (msr >= HV_X64_MSR_SINT0 && msr <= HV_X64_MSR_SINT15) {
      const n = msr - HV_X64_MSR_SINT0;
      out[0] = this.sint[2 * n]!;
      out[1] = this.sint[2 * n + 1]!;
      return true;
    }
    return this.timers.readMsr(msr, out);
  }

  /** WRMSR of a SynIC MSR; false → #GP. */
  writeMsr(msr: number, lo: number, hi: number): boolean {
    switch (msr) {
      case HV_X64_MSR_SCONTROL: {
        const was = this.enabled;
        this.scontrol[0] = lo;
        this.scontrol[1] = hi;
        if (!was && this.enabled) this.#rescan();
        return true;
      }
      case HV_X64_MSR_SVERSION:
        return false;
      case HV_X64_MSR_SIEFP:
        return this.#writePageMsr("siefp", lo, hi);
      case HV_X64_MSR_SIMP:
        return this.#writePageMsr("simp", lo, hi);
      case HV_X64_MSR_EOM:
        this.#rescan();
        return true;
    }
    if (msr >= HV_X64_MSR_SINT0 && msr <= HV_X64_MSR_SINT15) {
      const n = msr - HV_X64_MSR_SINT0;
      if (
        (lo & HV_SYNIC_SINT_VECTOR_MASK) < HV_SYNIC_FIRST_VALID_VECTOR &&
        (lo & HV_SYNIC_SINT_MASKED) === 0
      ) return false;
      this.sint[2 * n] = lo;
      this.sint[2 * n + 1] = hi;
      return true;
    }
    return this.timers.writeMsr(msr, lo, hi);
  }

  #writePageMsr(kind: SynicOverlayKind, lo: number, hi: number): boolean {
    const reg = kind === "simp" ? this.simp : this.siefp;
    const oldOn = (reg[0]! & 1) !== 0, oldGpn = gpnOf(reg[0]!, reg[1]!);
    const on = (lo & 1) !== 0, gpn = gpnOf(lo, hi);
    if (on && this.env.isValidGpn && !this.env.isValidGpn(gpn)) return false;
    reg[0] = lo;
    reg[1] = hi;
    if (!on) {
      if (oldOn) this.env.setOverlay(kind, null);
      if (kind === "simp") this.#simpOff = -1;
      else this.#siefpOff = -1;
      return true;
    }
    if (oldOn && gpn === oldGpn) return true; // same page: keep its contents
    const off = this.env.setOverlay(kind, gpn);
    this.#zeroPage(off);
    if (kind === "simp") {
      this.#simpOff = this.#simpStore = off;
      this.#rescan();
    } else {
      this.#siefpOff = this.#siefpStore = off;
    }
    return true;
  }

  #zeroPage(off: number): void {
    this.env.mem.u8.fill(0, off, off + 4096);
    this.env.mem.touch(off, 4096);
  }

  // ---- messages -----------------------------------------------------------------------------

  /**
   * Posts a 256-byte HV_MESSAGE to SINT `sint` (TLFS §11 "Messages"). The caller's MessageFlags
   * are ignored (MessagePending is managed here). `port`: the connection ID of a guest message
   * (HvCallPostMessage), counted by `queuedFor` while it waits in the queue. Throws RangeError for
   * a bad SINT, a message that is not 256 bytes, or MessageType = HvMessageTypeNone.
   */
  post(sint: number, message: Uint8Array, port = -1): SynicOutcome {
    return this.#post(sint, message, -1, port);
  }

  /**
   * How many messages of `port` wait in SINT `sint`'s queue (not yet in the SIM slot): the
   * port's guest message buffers in use (TLFS §11 "Guest Message Buffers").
   */
  queuedFor(sint: number, port: number): number {
    let n = 0;
    for (const e of this.#queues[sint]!) if (e.port === port) n++;
    return n;
  }

  /**
   * The lead calls this after an EOI in this VTL's local APIC (APIC EOI register, x2APIC EOI MSR
   * or HV_X64_MSR_EOI): rescans the message queues (TLFS §11 "Messages").
   */
  apicEoi(): void {
    this.#rescan();
  }

  /**
   * What `post(sint, …)` would do now, without side effects: "disabled" (SCONTROL or SIMP off:
   * dropped), "full" (queue at SYNIC_QUEUE_LIMIT behind a busy slot: dropped), else "ready"
   * (delivered or pending). For choosing HvCallPostMessage's status before posting.
   */
  postTarget(sint: number): SynicPostTarget {
    if (!this.enabled || this.#simpOff < 0) return "disabled";
    if (this.#queues[sint]!.length >= SYNIC_QUEUE_LIMIT && !this.#slotEmpty(sint)) return "full";
    return "ready";
  }

  #post(sint: number, message: Uint8Array, timer: number, port = -1): SynicOutcome {
    if (!(sint >= 0 && sint < HV_SYNIC_SINT_COUNT)) throw new RangeError(`bad SINT ${sint}`);
    if (message.length !== HV_MESSAGE_SIZE) {
      throw new RangeError(`HV_MESSAGE must be 256 bytes, got ${message.length}`);
    }
    const type = messageTypeOf(message);
    if (type === HvMessageTypeNone) throw new RangeError("HvMessageTypeNone cannot be posted");
    if (!this.enabled || this.#simpOff < 0) {
      this.env.event(sint, type, "dropped");
      return "dropped";
    }
    const q = this.#queues[sint]!;
    if (q.length > 0) this.#drain(sint);
    if (q.length === 0 && this.#slotEmpty(sint)) {
      this.#write(sint, message, false);
      this.env.event(sint, type, "delivered");
      this.#raise(sint);
      return "delivered";
    }
    if (q.length >= SYNIC_QUEUE_LIMIT) {
      this.env.event(sint, type, "dropped");
      return "dropped";
    }
    q.push({ message: message.slice(), timer, port });
    this.#setPending(sint);
    this.env.event(sint, type, "pending");
    return "pending";
  }

  #postTimer(index: number, sint: number, expiration: number, delivery: number): void {
    // One message buffer per timer: while it waits in a queue, this expiry is not posted.
    for (const q of this.#queues) {
      for (const e of q) {
        if (e.timer === index) {
          this.env.event(sint, HvMessageTypeTimerExpired, "dropped");
          return;
        }
      }
    }
    this.#post(sint, buildTimerMessage(index, expiration, delivery), index);
  }

  #slotEmpty(sint: number): boolean {
    return this.env.mem.dv.getUint32(this.#simpOff + sint * HV_MESSAGE_SIZE, true) === 0;
  }

  #write(sint: number, message: Uint8Array, pending: boolean): void {
    const off = this.#simpOff + sint * HV_MESSAGE_SIZE;
    const u8 = this.env.mem.u8;
    u8.set(message, off);
    const f = off + HV_MESSAGE_OFFSET_MESSAGE_FLAGS;
    u8[f] = (u8[f]! & ~HV_MESSAGE_FLAG_MESSAGE_PENDING) | (pending ? 1 : 0);
    this.env.mem.touch(off, HV_MESSAGE_SIZE);
  }

  #setPending(sint: number): void {
    const f = this.#simpOff + sint * HV_MESSAGE_SIZE + HV_MESSAGE_OFFSET_MESSAGE_FLAGS;
    const u8 = this.env.mem.u8;
    if ((u8[f]! & HV_MESSAGE_FLAG_MESSAGE_PENDING) === 0) {
      u8[f] = u8[f]! | HV_MESSAGE_FLAG_MESSAGE_PENDING;
      this.env.mem.touch(f, 1);
    }
  }

  /** Moves the head of SINT `sint`'s queue into its slot if the SIM is enabled and it is empty. */
  #drain(sint: number): void {
    const q = this.#queues[sint]!;
    if (q.length === 0 || !this.enabled || this.#simpOff < 0 || !this.#slotEmpty(sint)) return;
    const e = q.shift()!;
    if (e.timer >= 0) setTimerDeliveryTime(e.message, this.env.referenceTime());
    this.#write(sint, e.message, q.length > 0);
    this.env.event(sint, messageTypeOf(e.message), "delivered");
    this.#raise(sint);
  }

  #rescan(): void {
    for (let s = 0; s < HV_SYNIC_SINT_COUNT; s++) this.#drain(s);
  }

  /** Edge interrupt for SINT `sint` unless masked or polling. */
  #raise(sint: number): void {
    const v = this.sint[2 * sint]!;
    if (v & (HV_SYNIC_SINT_MASKED | HV_SYNIC_SINT_POLLING)) return;
    this.env.interrupt(v & HV_SYNIC_SINT_VECTOR_MASK, (v & HV_SYNIC_SINT_AUTO_EOI) !== 0, "sint");
  }

  // ---- event flags --------------------------------------------------------------------------

  /** Whether an event flag can be signalled to SINT `sint` now. */
  eventTarget(sint: number): SynicEventTarget {
    if (!this.enabled || this.#siefpOff < 0) return "disabled";
    if (this.sint[2 * sint]! & HV_SYNIC_SINT_MASKED) return "masked";
    return "ready";
  }

  /**
   * Sets event flag `flag` (0..2047) of SINT `sint` in the SIEF page (TLFS §11 "Event Flag
   * Delivery"). Returns true when the flag was newly set (0→1), which also raises the SINT
   * interrupt (unless polling). False when already set, out of range, or `eventTarget` is not
   * "ready" (then nothing is written).
   */
  signalEvent(sint: number, flag: number): boolean {
    if (!(sint >= 0 && sint < HV_SYNIC_SINT_COUNT)) return false;
    if (!(flag >= 0 && flag < HV_EVENT_FLAGS_COUNT) || (flag | 0) !== flag) return false;
    if (this.eventTarget(sint) !== "ready") return false;
    const off = this.#siefpOff + sint * 256 + (flag >>> 3);
    const m = 1 << (flag & 7);
    const u8 = this.env.mem.u8;
    if (u8[off]! & m) return false;
    u8[off] = u8[off]! | m;
    this.env.mem.touch(off, 1);
    this.#raise(sint);
    return true;
  }

  // ---- timers -------------------------------------------------------------------------------

  /** Earliest synthetic timer expiry in reference time (100 ns), or Infinity. */
  nextDeadline(): number {
    return this.timers.nextDeadline();
  }

  /** Expires the timers due at reference time `refNow`; returns how many expired. */
  fireTimers(refNow: number): number {
    return this.timers.fire(refNow);
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /**
   * VP reset (TLFS §11 "SynIC MSRs", "Message Buffer Queues"; §12 timers): SCONTROL, SIMP, SIEFP
   * 0 (overlays removed), SINTx 0x10000, queues emptied (no events), timers reset, and the page
   * storage zeroed ("Upon virtual processor creation and reset, the SIM page is cleared to zero").
   */
  reset(): void {
    if (this.simp[0]! & 1) this.env.setOverlay("simp", null);
    if (this.siefp[0]! & 1) this.env.setOverlay("siefp", null);
    if (this.#simpStore >= 0) this.#zeroPage(this.#simpStore);
    if (this.#siefpStore >= 0) this.#zeroPage(this.#siefpStore);
    this.scontrol.fill(0);
    this.simp.fill(0);
    this.siefp.fill(0);
    this.#simpOff = this.#siefpOff = -1;
    for (let i = 0; i < HV_SYNIC_SINT_COUNT; i++) {
      this.sint[2 * i] = HV_SYNIC_SINT_RESET;
      this.sint[2 * i + 1] = 0;
    }
    for (const q of this.#queues) q.length = 0;
    this.timers.reset();
  }

  snapshot(): SynicSnapshot {
    const sint: string[] = [];
    for (let i = 0; i < HV_SYNIC_SINT_COUNT; i++) {
      sint.push(hex64(this.sint[2 * i]!, this.sint[2 * i + 1]!));
    }
    return {
      scontrol: hex64(this.scontrol[0]!, this.scontrol[1]!),
      simp: hex64(this.simp[0]!, this.simp[1]!),
      siefp: hex64(this.siefp[0]!, this.siefp[1]!),
      sint,
      queues: this.#queues.map((q) =>
        q.map((e) => ({
          message: toHex(e.message),
          timer: e.timer < 0 ? null : e.timer,
          ...(e.port >= 0 ? { port: e.port } : {}),
        }))
      ),
      timers: this.timers.snapshot(),
    };
  }
}
