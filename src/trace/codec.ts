/**
 * Event ⇄ bytes. Inside a chunk, events follow one another as
 *
 *   varint kindCode, varint payloadLength, payload
 *
 * where the payload holds the event's fields in `fieldsOf(kind)` order, except that `seq` is not
 * stored (the chunk header has the first seq; events are consecutive) and `icount` is stored as the
 * unsigned delta from the previous event's icount (the first event of a chunk: from the chunk's
 * firstIcount, so its delta is 0). Field encodings:
 *
 *   u       unsigned LEB128 varint, value ≤ 2^53 − 1
 *   u64     unsigned LEB128 varint of the 64-bit value
 *   bool    one byte, 0 or 1
 *   str     varint byte length, UTF-8 bytes
 *   hex     varint byte length, the bytes
 *   latin1  varint byte length, the bytes (one per character)
 *
 * Varints are minimal (no trailing 0x80…00 padding). Encoding is canonical: an event has exactly
 * one encoding, and (at the reader's own minor version) every accepted byte sequence re-encodes to
 * itself.
 */
import {
  EVENT_KINDS,
  type EventKind,
  type FieldSpec,
  type FieldType,
  kindByCode,
  POSITION_FIELDS,
  type TraceEvent,
} from "../core/events.ts";
import { toHex } from "../core/hex.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";
import { DecodeError } from "./errors.ts";
import { bytesToLatin1, checkValue } from "./values.ts";

interface KindPlan {
  readonly kind: EventKind;
  readonly code: number;
  /** Kind-specific fields, in order. */
  readonly fields: readonly FieldSpec[];
  /** Own property count of a valid event object (kind + position + fields). */
  readonly keyCount: number;
}

const PLANS = new Map<string, KindPlan>();
for (const [kind, spec] of Object.entries(EVENT_KINDS)) {
  PLANS.set(kind, {
    kind: kind as EventKind,
    code: spec.code,
    fields: spec.fields,
    keyCount: 1 + POSITION_FIELDS.length + spec.fields.length,
  });
}

/** Position fields stored in the payload after the icount delta (seq and icount are special). */
const STORED_POSITION = POSITION_FIELDS.filter((f) => f.name !== "seq" && f.name !== "icount");

const utf8 = new TextEncoder();
const utf8Fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Encodes validated events. One instance per writer; it keeps a scratch buffer so that a failing
 * event leaves the output untouched.
 */
export class EventEncoder {
  readonly #scratch = new ByteWriter(512);

  /**
   * Appends the encoding of `e` to `out`, its icount as a delta from `prevIcount`. Throws
   * TypeError/RangeError (host bugs) for an unknown kind, missing/extra/invalid fields or an icount
   * below `prevIcount`; `out` is unchanged then. The caller checks `seq`.
   */
  encode(e: TraceEvent, prevIcount: number, out: ByteWriter): void {
    const plan = typeof e === "object" && e !== null ? PLANS.get(e.kind) : undefined;
    if (plan === undefined) {
      throw new TypeError(`Cannot encode event: unknown kind ${JSON.stringify(e?.kind)}`);
    }
    const rec = e as unknown as Record<string, unknown>;
    const fail = (msg: string): never => {
      throw new RangeError(`Cannot encode event seq ${String(rec.seq)} (${plan.kind}): ${msg}`);
    };
    let keys = 0;
    for (const _ in rec) keys++;
    if (keys !== plan.keyCount) fail(describeKeys(rec, plan));
    const seqProblem = checkValue("u", rec.seq);
    if (seqProblem !== null) fail(`field seq ${seqProblem}`);
    const icount = rec.icount;
    const icountProblem = checkValue("u", icount);
    if (icountProblem !== null) fail(`field icount ${icountProblem}`);
    if ((icount as number) < prevIcount) {
      fail(`icount ${icount} is below the previous event's ${prevIcount} (icount never decreases)`);
    }
    const w = this.#scratch;
    w.reset();
    w.varint((icount as number) - prevIcount);
    for (const f of STORED_POSITION) writeField(w, f, rec[f.name], fail);
    for (const f of plan.fields) writeField(w, f, rec[f.name], fail);
    out.varint(plan.code);
    out.varint(w.length);
    out.bytes(w.view());
  }
}

function describeKeys(rec: Record<string, unknown>, plan: KindPlan): string {
  const expected = new Set([
    "kind",
    ...POSITION_FIELDS.map((f) => f.name),
    ...plan.fields.map((f) => f.name),
  ]);
  for (const k in rec) if (!expected.has(k)) return `unexpected field ${JSON.stringify(k)}`;
  for (const k of expected) if (!Object.hasOwn(rec, k)) return `missing field ${k}`;
  return "field set does not match the schema";
}

function writeField(
  w: ByteWriter,
  f: FieldSpec,
  v: unknown,
  fail: (msg: string) => never,
): void {
  const problem = checkValue(f.type, v);
  if (problem !== null) fail(`field ${f.name} ${problem}`);
  writeValue(w, f.type, v as string | number | boolean);
}

/** Writes an already validated value. */
export function writeValue(w: ByteWriter, type: FieldType, v: string | number | boolean): void {
  switch (type) {
    case "u":
      w.varint(v as number);
      return;
    case "u64": {
      const s = v as string;
      // Up to 13 hex digits (52 bits) fit a double exactly; above, split into two 32-bit halves.
      if (s.length <= 15) w.varint(parseInt(s.slice(2), 16));
      else w.varint64(parseInt(s.slice(2, s.length - 8), 16), parseInt(s.slice(s.length - 8), 16));
      return;
    }
    case "bool":
      w.byte(v ? 1 : 0);
      return;
    case "str": {
      const s = v as string;
      if (isAscii(s)) {
        w.varint(s.length);
        w.latin1(s);
      } else {
        const b = utf8.encode(s);
        w.varint(b.length);
        w.bytes(b);
      }
      return;
    }
    case "hex": {
      const s = v as string;
      w.varint(s.length / 2);
      w.hexBytes(s);
      return;
    }
    case "latin1": {
      const s = v as string;
      w.varint(s.length);
      w.latin1(s);
      return;
    }
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false;
  return true;
}

/** An event of a kind this build does not know (written by a newer minor version), skipped. */
export interface SkippedEvent {
  code: number;
  seq: number;
  icount: number;
  vtl: number;
}

export interface DecodedEvents {
  events: TraceEvent[];
  skipped: SkippedEvent[];
  /** icount of the last event (known or skipped). */
  lastIcount: number;
  /** Bytes consumed. */
  end: number;
}

/**
 * Decodes `count` events from `raw` (a chunk's event data). With `newerMinor` (the file's minor
 * version is above this build's), payload bytes after the known fields are ignored and events of
 * unknown kinds are skipped (their position fields are still decoded: every kind starts with
 * them); otherwise both are errors. Throws DecodeError whose `at` is the offending event's offset
 * in `raw`.
 */
export function decodeEvents(
  raw: Uint8Array,
  count: number,
  firstSeq: number,
  firstIcount: number,
  newerMinor: boolean,
): DecodedEvents {
  const r = new ByteReader(raw);
  const events: TraceEvent[] = [];
  const skipped: SkippedEvent[] = [];
  let icount = firstIcount;
  for (let i = 0; i < count; i++) {
    const seq = firstSeq + i;
    const start = r.pos;
    try {
      const code = r.varint("event kind");
      const len = r.varint("payload length");
      if (len > r.remaining) {
        throw new DecodeError(`payload (${len} bytes) runs past the end of the chunk`, start);
      }
      const payloadEnd = r.pos + len;
      const p = new ByteReader(raw, r.pos, payloadEnd);
      const kind = kindByCode(code);
      if (kind === undefined && !newerMinor) {
        throw new DecodeError(`unknown event kind 0x${code.toString(16)}`, start);
      }
      const delta = p.varint("field icount");
      if (i === 0 && delta !== 0) {
        throw new DecodeError(
          `icount delta of a chunk's first event must be 0, got ${delta}`,
          start,
        );
      }
      icount += delta;
      if (icount > Number.MAX_SAFE_INTEGER) throw new DecodeError("icount exceeds 2^53-1", start);
      const e: Record<string, unknown> = { kind, seq, icount };
      for (const f of STORED_POSITION) e[f.name] = readValue(p, f);
      if (kind === undefined) {
        skipped.push({ code, seq, icount, vtl: e.vtl as number });
      } else {
        for (const f of EVENT_KINDS[kind].fields) e[f.name] = readValue(p, f);
        if (p.pos !== payloadEnd && !newerMinor) {
          throw new DecodeError(
            `payload has ${payloadEnd - p.pos} unexpected trailing bytes`,
            start,
          );
        }
        events.push(e as unknown as TraceEvent);
      }
      r.pos = payloadEnd;
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      throw new DecodeError(
        `event seq ${seq} (byte ${start} of the chunk's event data): ${err.message}`,
        start,
      );
    }
  }
  return { events, skipped, lastIcount: icount, end: r.pos };
}

function readValue(r: ByteReader, f: FieldSpec): string | number | boolean {
  const what = `field ${f.name}`;
  switch (f.type) {
    case "u":
      return r.varint(what);
    case "u64":
      return r.varintU64(what);
    case "bool": {
      const at = r.pos;
      const b = r.byte(what);
      if (b > 1) throw new DecodeError(`${what}: bool byte is ${b} (must be 0 or 1)`, at);
      return b === 1;
    }
    case "str": {
      const b = r.bytes(r.varint(`${what} length`), what);
      try {
        return utf8Fatal.decode(b);
      } catch {
        throw new DecodeError(`${what} is not valid UTF-8`, r.pos - b.length);
      }
    }
    case "hex":
      return toHex(r.bytes(r.varint(`${what} length`), what));
    case "latin1":
      return bytesToLatin1(r.bytes(r.varint(`${what} length`), what));
  }
}
