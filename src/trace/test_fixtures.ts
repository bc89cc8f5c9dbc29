import { FORMAT_MAJOR, FORMAT_MINOR } from "./format.ts";
/** Shared test data for src/trace tests (not a test file itself). */
import { EVENT_KINDS, type EventKind, type TraceEvent } from "../core/events.ts";
import type { TraceHeader } from "./header.ts";
import { memorySink, TraceWriter, type TraceWriterOptions } from "./writer.ts";

export const MAX = Number.MAX_SAFE_INTEGER;

export const ALL_LATIN1 = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join("");
export const ALL_BYTES_HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))
  .join("");

export function sampleHeader(over: Partial<TraceHeader> = {}): TraceHeader {
  return {
    format: { major: FORMAT_MAJOR, minor: FORMAT_MINOR },
    emulator: { name: "vtlrr", version: "0.1.0", commit: null },
    guest: {
      name: "hello",
      source: "builtin",
      path: null,
      sha256: "ab".repeat(32),
      size: 4096,
    },
    config: { vps: 2, memory_mib: 64, vtl: { enabled: [0, 1] }, name: "défaut" },
    seed: "0x1234",
    flags: [],
    ...over,
  };
}

type Fields = Record<string, string | number | boolean>;

/** Kind-specific fields with edge values; at least two variants per kind. */
const VARIANTS: { [K in EventKind]: Fields[] } = {
  input: [{ device: "", data: "" }, { device: "com1", data: ALL_BYTES_HEX }],
  vtl_switch: [
    { from: 0, to: 1, reason: "call", rip_before: "0x0", rip_after: "0xffffffffffffffff" },
    { from: MAX, to: 0, reason: "", rip_before: "0xfffffffffffff", rip_after: "0x10000000000000" },
  ],
  hypercall: [
    {
      code: 0x11,
      name: "HvCallVtlCall",
      fast: true,
      rep_count: 0,
      rep_start: 0,
      var_hdr: 0,
      input: "",
      status: 0,
      status_name: "HV_STATUS_SUCCESS",
      reps_done: 0,
      output: "",
    },
    {
      code: MAX,
      name: "unknown \u{1f600} é \ufeff",
      fast: false,
      rep_count: 127,
      rep_start: 128,
      var_hdr: 16383,
      input: ALL_BYTES_HEX,
      status: 2 ** 32,
      status_name: "",
      reps_done: MAX,
      output: "00",
    },
  ],
  interrupt: [
    { vector: 0, source: "lapic_timer", target_vtl: 0, preempted: false },
    { vector: 255, source: "sint", target_vtl: 1, preempted: true },
  ],
  exception: [
    { vector: 14, has_error_code: true, error_code: 2, cr2: "0x7f" },
    { vector: 6, has_error_code: false, error_code: 0, cr2: "0x80" },
  ],
  vtl_fault: [
    { gpa: "0x1000", gva: "0x0", access: "w", resolution: "intercept_vtl1" },
    { gpa: "0xffffffffffff000", gva: "0x8000000000000000", access: "x", resolution: "" },
  ],
  msr: [
    { msr: 0x40000000, name: "HV_X64_MSR_GUEST_OS_ID", value: "0x1", result: "ok" },
    { msr: 0, name: "", value: "0x1fffffffffffff", result: "gp" },
  ],
  synic_message: [
    { target_vp: 0, target_vtl: 0, sint: 0, type: 0, outcome: "delivered" },
    { target_vp: MAX, target_vtl: 15, sint: 15, type: 0x80000000, outcome: "dropped" },
  ],
  protection_change: [
    { gpa_page: "0x0", pages: 1, target_vtl: 0, mask: 7 },
    { gpa_page: "0xfffffffff", pages: MAX, target_vtl: 1, mask: 0 },
  ],
  console: [
    { device: "com1", text: "" },
    { device: "e9", text: ALL_LATIN1 },
  ],
  checkpoint: [{ hash: "0123456789abcdef" }, { hash: "" }],
  halt: [{}, {}],
  exit: [
    { reason: "debug_exit", value: 0, status: 1 },
    { reason: "limit", value: MAX, status: 0 },
  ],
  vp_start: [
    { target_vp: 0, target_vtl: 0, how: "reset" },
    { target_vp: 3, target_vtl: 1, how: "enable_vp_vtl" },
  ],
  io_unhandled: [
    { port: 0x80, access: "out" },
    { port: 0xffff, access: "in" },
  ],
};

const INSNS = ["", "90", "0f01c1", "f4", "66".repeat(15)];
const RIPS = ["0x0", "0xfff0", "0xffffffff80001000", "0x7f", "0xffffffffffffffff"];

/** Builds an event with keys in canonical order. */
export function makeEvent(
  kind: EventKind,
  seq: number,
  icount: number,
  fields: Fields,
  pos: Partial<Record<"vp" | "vtl" | "rip" | "bits" | "insn", string | number>> = {},
): TraceEvent {
  const e: Record<string, unknown> = {
    kind,
    seq,
    icount,
    vp: pos.vp ?? seq % 3,
    vtl: pos.vtl ?? seq % 2,
    rip: pos.rip ?? RIPS[seq % RIPS.length],
    bits: pos.bits ?? [16, 32, 64][seq % 3],
    insn: pos.insn ?? INSNS[seq % INSNS.length],
  };
  for (const f of EVENT_KINDS[kind].fields) e[f.name] = fields[f.name];
  return e as unknown as TraceEvent;
}

/** Every kind with every variant, icounts from 0 up to 2^53 − 1. */
export function sampleEvents(): TraceEvent[] {
  const out: TraceEvent[] = [];
  let icount = 0;
  for (const kind of Object.keys(EVENT_KINDS) as EventKind[]) {
    for (const f of VARIANTS[kind]) {
      out.push(makeEvent(kind, out.length, icount, f));
      icount += out.length % 3 === 0 ? 0 : 1000 + out.length;
    }
  }
  out.push(makeEvent("halt", out.length, MAX - 1, {}, { vp: MAX, vtl: MAX, bits: MAX }));
  out.push(makeEvent("exit", out.length, MAX, { reason: "shutdown", value: 0, status: 0 }));
  return out;
}

/** A deterministic stream of `n` plausible events (LCG-driven, no host randomness). */
export function manyEvents(n: number, seed = 1): TraceEvent[] {
  let s = seed >>> 0;
  const rnd = (m: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % m;
  };
  const kinds = Object.keys(EVENT_KINDS) as EventKind[];
  const out: TraceEvent[] = [];
  let icount = 0;
  for (let seq = 0; seq < n; seq++) {
    icount += rnd(4) === 0 ? 0 : rnd(5000);
    const kind = kinds[rnd(kinds.length)];
    const variants = VARIANTS[kind];
    out.push(makeEvent(kind, seq, icount, variants[rnd(variants.length)], {
      rip: "0x" + (0xfffff80000000000n + BigInt(rnd(1 << 20))).toString(16),
    }));
  }
  return out;
}

/** Writes a complete trace to memory. */
export async function writeTrace(
  events: readonly TraceEvent[],
  opts?: TraceWriterOptions,
  header: TraceHeader = sampleHeader(),
): Promise<Uint8Array<ArrayBuffer>> {
  const sink = memorySink();
  const w = await TraceWriter.create(sink, header, opts);
  for (const e of events) {
    w.event(e);
    if (w.readyToFlush) await w.flush();
  }
  await w.close();
  return sink.bytes();
}

/** Collects an async iterable. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
