/**
 * The event vocabulary of vtlrr: every kind, its fields and their types. This table is the single
 * source of truth: the machine emits these events, the trace codec encodes them in this field
 * order, `dump` renders them, replay compares them field by field, and traces/README.md documents
 * them (a test keeps the README in step with this table).
 *
 * Kind codes and field order are on-disk format: append new kinds and new fields at the end and
 * bump the trace format's minor version; never renumber or reorder.
 */

/**
 * Field types:
 * - `u`      non-negative integer below 2^53
 * - `u64`    a 64-bit value written as a lowercase hex string "0x…" without leading zeros
 * - `str`    UTF-8 text
 * - `bool`   true/false
 * - `hex`    a byte string written as lowercase hex, two digits per byte ("" when empty)
 * - `latin1` a byte string written as text with one character per byte (U+0000..U+00FF)
 */
export type FieldType = "u" | "u64" | "str" | "bool" | "hex" | "latin1";

export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
  readonly doc: string;
}

export interface KindSpec {
  readonly code: number;
  readonly doc: string;
  /**
   * `input` events are causes (replay injects them); every other kind is an observation (replay
   * re-derives it and compares).
   */
  readonly input: boolean;
  readonly fields: readonly FieldSpec[];
}

/** Fields every event carries, in this order, before its kind-specific fields. */
export const POSITION_FIELDS: readonly FieldSpec[] = [
  { name: "seq", type: "u", doc: "event number, 0-based, dense" },
  { name: "icount", type: "u", doc: "instructions retired by all VPs before the event" },
  { name: "vp", type: "u", doc: "virtual processor index" },
  { name: "vtl", type: "u", doc: "the VP's active VTL when the event happened" },
  { name: "rip", type: "u64", doc: "the VP's RIP when the event happened" },
  { name: "bits", type: "u", doc: "code size at RIP: 16, 32 or 64" },
  { name: "insn", type: "hex", doc: "up to 15 instruction bytes at RIP (empty if unreadable)" },
];

function f<N extends string, T extends FieldType>(
  name: N,
  type: T,
  doc: string,
): { readonly name: N; readonly type: T; readonly doc: string } {
  return { name, type, doc };
}

export const EVENT_KINDS = {
  input: {
    code: 1,
    input: true,
    doc: "bytes arriving at a device from outside the guest; replay injects them here",
    fields: [
      f("device", "str", "receiving device (com1)"),
      f("data", "hex", "the bytes"),
    ],
  },
  vtl_switch: {
    code: 2,
    input: false,
    doc: "the VP's active VTL changed",
    fields: [
      f("from", "u", "VTL left"),
      f("to", "u", "VTL entered"),
      f("reason", "str", "call | return | fast_return | interrupt | intercept"),
      f("rip_before", "u64", "RIP in the VTL left, after the switch (where it resumes)"),
      f("rip_after", "u64", "RIP in the VTL entered"),
    ],
  },
  hypercall: {
    code: 3,
    input: false,
    doc: "a hypercall completed (TLFS §3.7-3.8)",
    fields: [
      f("code", "u", "call code (control word bits 15:0)"),
      f("name", "str", "TLFS name, or unknown"),
      f("fast", "bool", "register (fast) calling convention"),
      f("rep_count", "u", "rep count from the control word"),
      f("rep_start", "u", "rep start index"),
      f("var_hdr", "u", "variable header size in QWORDs"),
      f("input", "hex", "input block bytes as the hypervisor read them (truncated to 256)"),
      f("status", "u", "HV_STATUS result"),
      f("status_name", "str", "TLFS name of the status"),
      f("reps_done", "u", "reps completed (absolute)"),
      f("output", "hex", "output bytes written (truncated to 256)"),
    ],
  },
  interrupt: {
    code: 4,
    input: false,
    doc: "an interrupt or NMI was delivered to the guest through its IDT",
    fields: [
      f("vector", "u", "vector (an NMI: 2, with source nmi)"),
      f(
        "source",
        "str",
        "lapic_timer | ipi | ioapic | sint | stimer | vina | ext (the 8259) | assert_virtual_interrupt | nmi",
      ),
      f("target_vtl", "u", "VTL whose interrupt controller delivered it"),
      f("preempted", "bool", "true when it forced a switch to a higher VTL"),
    ],
  },
  exception: {
    code: 5,
    input: false,
    doc: "an architectural exception was raised in the guest",
    fields: [
      f("vector", "u", "exception vector"),
      f("has_error_code", "bool", "whether an error code was pushed"),
      f("error_code", "u", "error code (0 when none)"),
      f("cr2", "u64", "faulting linear address for #PF, else 0x0"),
    ],
  },
  vtl_fault: {
    code: 6,
    input: false,
    doc: "an access violated a higher VTL's protection (TLFS §15.9.2)",
    fields: [
      f("gpa", "u64", "guest physical address"),
      f("gva", "u64", "guest virtual address (0x0 when unknown)"),
      f("access", "str", "r | w | x"),
      f("resolution", "str", "how it was handled, e.g. intercept_vtl1"),
    ],
  },
  msr: {
    code: 7,
    input: false,
    doc: "a synthetic (Hyper-V) MSR was written",
    fields: [
      f("msr", "u", "MSR index"),
      f("name", "str", "TLFS name"),
      f("value", "u64", "value written"),
      f("result", "str", "ok | gp (the write raised #GP)"),
    ],
  },
  synic_message: {
    code: 8,
    input: false,
    doc: "a message was posted to a SynIC message slot",
    fields: [
      f("target_vp", "u", "receiving VP"),
      f("target_vtl", "u", "receiving VTL"),
      f("sint", "u", "SINT index"),
      f("type", "u", "HV_MESSAGE_TYPE"),
      f("outcome", "str", "delivered | pending | dropped"),
    ],
  },
  protection_change: {
    code: 9,
    input: false,
    doc: "a VTL changed the protections lower VTLs have on guest pages (TLFS §15.9)",
    fields: [
      f("gpa_page", "u64", "first guest physical page number"),
      f("pages", "u", "number of pages (consecutive in the request)"),
      f("target_vtl", "u", "VTL whose protection mask changed"),
      f("mask", "u", "HV_MAP_GPA_FLAGS protection bits"),
    ],
  },
  console: {
    code: 10,
    input: false,
    doc: "text the guest wrote to a console device (one line or up to 256 bytes)",
    fields: [
      f("device", "str", "com1 | e9"),
      f("text", "latin1", "the bytes"),
    ],
  },
  checkpoint: {
    code: 11,
    input: false,
    doc: "a hash of all guest-visible state, emitted every checkpoint_interval instructions",
    fields: [f("hash", "hex", "64-bit state hash")],
  },
  halt: {
    code: 12,
    input: false,
    doc: "a VP executed HLT with no interrupt pending",
    fields: [],
  },
  exit: {
    code: 13,
    input: false,
    doc: "the run ended",
    fields: [
      f(
        "reason",
        "str",
        "debug_exit | shutdown | triple_fault | all_halted | limit | interrupted | reset",
      ),
      f("value", "u", "value written to the debug-exit port (0 otherwise)"),
      f("status", "u", "QEMU-style status: (value << 1) | 1 for debug_exit, else 0"),
    ],
  },
  vp_start: {
    code: 14,
    input: false,
    doc: "a VP (or a VTL on a VP) started running with a fresh context",
    fields: [
      f("target_vp", "u", "the VP started"),
      f("target_vtl", "u", "the VTL started"),
      f("how", "str", "reset | enable_vp_vtl | start_virtual_processor | sipi"),
    ],
  },
  io_unhandled: {
    code: 15,
    input: false,
    doc: "the guest touched an I/O port no device claims (recorded once per port)",
    fields: [
      f("port", "u", "I/O port"),
      f("access", "str", "in | out (of the first access)"),
    ],
  },
} as const satisfies Record<string, KindSpec>;

export type EventKind = keyof typeof EVENT_KINDS;

type FieldValue<T extends FieldType> = T extends "u" ? number
  : T extends "bool" ? boolean
  : string;

type FieldsOf<K extends EventKind> = {
  -readonly [F in (typeof EVENT_KINDS)[K]["fields"][number] as F["name"]]: FieldValue<F["type"]>;
};

/** Where an event happened. */
export interface Position {
  seq: number;
  icount: number;
  vp: number;
  vtl: number;
  rip: string;
  bits: number;
  insn: string;
}

/** The kind-specific payload of an event, as emitted by the machine. */
export type EventFields<K extends EventKind> = FieldsOf<K>;

/** A complete event: position, kind, payload. */
export type TraceEventOf<K extends EventKind> = Position & { kind: K } & FieldsOf<K>;
export type TraceEvent = { [K in EventKind]: TraceEventOf<K> }[EventKind];

const byCode = new Map<number, EventKind>();
for (const [k, spec] of Object.entries(EVENT_KINDS)) byCode.set(spec.code, k as EventKind);

export function kindByCode(code: number): EventKind | undefined {
  return byCode.get(code);
}

export function isEventKind(s: string): s is EventKind {
  return Object.hasOwn(EVENT_KINDS, s);
}

/** All fields of an event kind in on-disk order: position fields first. */
export function fieldsOf(kind: EventKind): readonly FieldSpec[] {
  return [...POSITION_FIELDS, ...EVENT_KINDS[kind].fields];
}

/**
 * How layers below the machine report events: they give the kind-specific fields; the machine
 * fills in the position (seq, icount, and the VP's VTL/RIP/instruction unless `rip` overrides
 * the RIP, e.g. to point at a VMCALL after RIP has moved past it).
 */
export interface Emitter {
  emit<K extends EventKind>(vp: number, kind: K, fields: EventFields<K>, rip?: number): void;
}

/**
 * Where the machine sends events. The machine fills in the position; emitters below the machine
 * (hv, devices) call `emit` with the kind-specific fields only.
 */
export interface EventSink {
  event(e: TraceEvent): void;
}
