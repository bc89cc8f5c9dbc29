/**
 * The index record and the footer, written by TraceWriter.close() after the last chunk.
 *
 * Index record:
 *   offset 0   4 bytes  magic "VIDX"
 *   offset 4   u32 LE   L, byte length of the JSON
 *   offset 8   L bytes  canonical JSON of the index (below)
 *   offset 8+L u32 LE   CRC-32 of bytes 0 .. 8+L
 *
 * Footer (fixed size, the last 24 bytes of a complete trace):
 *   offset 0   4 bytes  magic "VEND"
 *   offset 4   u64 LE   file offset of the index record
 *   offset 12  u32 LE   CRC-32 of bytes 0..12
 *   offset 16  8 bytes  trailing magic "VTLRREND"
 *
 * Index JSON:
 *   {"checkpoints":[[seq,icount,"hash"],…],
 *    "chunks":[[offset,firstSeq,events,firstIcount,lastIcount],…],
 *    "totals":{"byKind":{"kind":n,…},"byVtl":{"0":n,…},"events":n,"lastIcount":n}}
 */
import { ByteWriter, getU32, getU64Safe, hasMagic } from "./bytes.ts";
import { canonicalJson, parseJson } from "./canonical_json.ts";
import { crc32 } from "./crc32.ts";
import { TraceFormatError } from "./errors.ts";
import {
  CHUNK_HEADER_SIZE,
  FOOTER_MAGIC,
  FOOTER_SIZE,
  INDEX_MAGIC,
  INDEX_OVERHEAD,
  TRAILER_MAGIC,
} from "./format.ts";
import { isHexBytes } from "./values.ts";

export interface ChunkEntry {
  /** File offset of the chunk's magic. */
  offset: number;
  firstSeq: number;
  events: number;
  firstIcount: number;
  lastIcount: number;
}

export interface CheckpointEntry {
  seq: number;
  icount: number;
  hash: string;
}

export interface IndexTotals {
  events: number;
  lastIcount: number;
  /** Event count per kind name (kinds with no events are absent). */
  byKind: Record<string, number>;
  /** Event count per VTL (decimal string keys). */
  byVtl: Record<string, number>;
}

export interface TraceIndex {
  chunks: ChunkEntry[];
  checkpoints: CheckpointEntry[];
  totals: IndexTotals;
}

/** The bytes of an index record. */
export function encodeIndex(idx: TraceIndex): Uint8Array<ArrayBuffer> {
  const json = new TextEncoder().encode(canonicalJson({
    checkpoints: idx.checkpoints.map((c) => [c.seq, c.icount, c.hash]),
    chunks: idx.chunks.map((c) => [c.offset, c.firstSeq, c.events, c.firstIcount, c.lastIcount]),
    totals: idx.totals,
  }));
  if (json.length > 0xffff_ffff) {
    throw new RangeError("Cannot write trace index: larger than 4 GiB");
  }
  const w = new ByteWriter(json.length + INDEX_OVERHEAD);
  w.bytes(INDEX_MAGIC);
  w.u32(json.length);
  w.bytes(json);
  w.u32(crc32(w.view()));
  return w.copy();
}

/** The bytes of the footer pointing at the index record at `indexOffset`. */
export function encodeFooter(indexOffset: number): Uint8Array<ArrayBuffer> {
  const w = new ByteWriter(FOOTER_SIZE);
  w.bytes(FOOTER_MAGIC);
  w.u64(indexOffset);
  w.u32(crc32(w.view()));
  w.bytes(TRAILER_MAGIC);
  return w.copy();
}

/** True when the last 8 bytes of the file are the trailing magic: the file claims to be complete. */
export function hasTrailer(tail: Uint8Array): boolean {
  return tail.length >= TRAILER_MAGIC.length &&
    hasMagic(tail, tail.length - TRAILER_MAGIC.length, TRAILER_MAGIC);
}

/**
 * Parses the footer (`b` = the file's last 24 bytes, starting at file offset `at`) and returns the
 * index offset. The index must lie between `headerEnd` and the footer.
 */
export function parseFooter(b: Uint8Array, at: number, headerEnd: number, path: string): number {
  if (
    b.length !== FOOTER_SIZE || !hasMagic(b, 0, FOOTER_MAGIC) || !hasMagic(b, 16, TRAILER_MAGIC)
  ) {
    throw TraceFormatError.parse(path, at, "footer is corrupt (bad magic)");
  }
  if (crc32(b.subarray(0, 12)) !== getU32(b, 12)) {
    throw TraceFormatError.read(path, at, "footer is corrupt (CRC mismatch)");
  }
  const off = getU64Safe(b, 4);
  if (off < headerEnd || off + INDEX_OVERHEAD > at) {
    throw TraceFormatError.parse(
      path,
      at,
      `footer points to offset ${off}, outside the file's index area`,
    );
  }
  return off;
}

/**
 * Reads the index record `rec` (file offset `at`; it must end exactly at `footerAt`) and checks it
 * against itself: chunks contiguous in seq, ordered in the file, totals adding up.
 */
export function parseIndex(
  rec: Uint8Array,
  at: number,
  footerAt: number,
  headerEnd: number,
  path: string,
): TraceIndex {
  const bad = (why: string) => TraceFormatError.parse(path, at, `index is corrupt: ${why}`);
  if (!hasMagic(rec, 0, INDEX_MAGIC)) {
    throw TraceFormatError.parse(
      path,
      at,
      "footer points to something that is not an index record",
    );
  }
  const len = getU32(rec, 4);
  if (at + len + INDEX_OVERHEAD !== footerAt) {
    throw bad(`its length ${len} does not reach the footer`);
  }
  if (crc32(rec.subarray(0, 8 + len)) !== getU32(rec, 8 + len)) {
    throw TraceFormatError.read(path, at, "index is corrupt (CRC mismatch)");
  }
  let v: unknown;
  try {
    v = parseJson(new TextDecoder("utf-8", { fatal: true }).decode(rec.subarray(8, 8 + len)));
  } catch (e) {
    throw bad(e instanceof TypeError ? "not valid UTF-8" : (e as Error).message);
  }
  if (!isObject(v)) throw bad("not a JSON object");
  const chunks = tuples(v.chunks, 5, "chunks", bad).map((t): ChunkEntry => {
    if (!t.every(isCount)) throw bad("chunks entries must be 5 integers");
    const [offset, firstSeq, events, firstIcount, lastIcount] = t as number[];
    return { offset, firstSeq, events, firstIcount, lastIcount };
  });
  const checkpoints = tuples(v.checkpoints, 3, "checkpoints", bad).map((t): CheckpointEntry => {
    const [seq, icount, hash] = t;
    if (!isCount(seq) || !isCount(icount) || typeof hash !== "string" || !isHexBytes(hash)) {
      throw bad("checkpoints entries must be [seq, icount, hex hash]");
    }
    return { seq, icount, hash };
  });
  const t = v.totals;
  if (!isObject(t) || !isCount(t.events) || !isCount(t.lastIcount)) {
    throw bad("totals must hold events and lastIcount");
  }
  const byKind = counts(t.byKind, "totals.byKind", bad);
  const byVtl = counts(t.byVtl, "totals.byVtl", bad);

  let seq = 0;
  let icount = 0;
  let minOffset = headerEnd;
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i];
    if (i === 0 ? c.offset !== headerEnd : c.offset < minOffset) {
      throw bad(`chunk ${i} offset ${c.offset} is out of order`);
    }
    if (c.firstSeq !== seq || c.events === 0) {
      throw bad(`chunk ${i} does not continue at seq ${seq}`);
    }
    if (c.firstIcount < icount || c.lastIcount < c.firstIcount) {
      throw bad(`chunk ${i} icount range goes backwards`);
    }
    seq += c.events;
    icount = c.lastIcount;
    minOffset = c.offset + CHUNK_HEADER_SIZE + 1;
  }
  if (chunks.length > 0 ? minOffset > at : at !== headerEnd) {
    throw bad("chunks do not end before the index");
  }
  if (t.events !== seq || t.lastIcount !== icount) throw bad("totals do not match the chunks");
  if (sum(byKind) !== seq || sum(byVtl) !== seq) {
    throw bad("per-kind or per-VTL counts do not add up");
  }
  let prevSeq = -1;
  for (const c of checkpoints) {
    if (c.seq <= prevSeq || c.seq >= seq) throw bad("checkpoints are out of order or out of range");
    prevSeq = c.seq;
  }
  return {
    chunks,
    checkpoints,
    totals: { events: t.events, lastIcount: t.lastIcount, byKind, byVtl },
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function tuples(
  v: unknown,
  n: number,
  name: string,
  bad: (why: string) => TraceFormatError,
): unknown[][] {
  if (!Array.isArray(v) || !v.every((t) => Array.isArray(t) && t.length === n)) {
    throw bad(`${name} must be an array of ${n}-element arrays`);
  }
  return v;
}

function counts(
  v: unknown,
  name: string,
  bad: (why: string) => TraceFormatError,
): Record<string, number> {
  if (!isObject(v) || !Object.values(v).every(isCount)) {
    throw bad(`${name} must map names to counts`);
  }
  return { ...v } as Record<string, number>;
}

function sum(r: Record<string, number>): number {
  let s = 0;
  for (const k in r) s += r[k];
  return s;
}
