/**
 * TraceReader: opens a trace (file path or bytes), checks the header, and finds the chunks —
 * through the index when the file ends with a valid footer, otherwise by scanning chunk headers
 * (a trace whose run never called close(), e.g. after a crash). Events are decoded one chunk at a
 * time, so memory stays bounded by one chunk whatever the trace's size.
 *
 * Every problem with the file is a TraceFormatError with a one-line message.
 */
import { isEventKind, type TraceEvent } from "../core/events.ts";
import { getU32, hasMagic } from "./bytes.ts";
import { decodeChunk, parseChunkHeader } from "./chunk.ts";
import type { DecodedEvents } from "./codec.ts";
import { crc32 } from "./crc32.ts";
import { TraceFormatError } from "./errors.ts";
import {
  CHUNK_HEADER_SIZE,
  CHUNK_MAGIC,
  FOOTER_SIZE,
  FORMAT_MINOR,
  INDEX_MAGIC,
  INDEX_OVERHEAD,
} from "./format.ts";
import { readHeader, type TraceHeader } from "./header.ts";
import {
  type CheckpointEntry,
  type ChunkEntry,
  encodeFooter,
  hasTrailer,
  parseFooter,
  parseIndex,
  type TraceIndex,
} from "./index_record.ts";
import { type ByteSource, fileSource, memorySource } from "./source.ts";

/** A chunk's place in the file. */
export interface ChunkInfo extends ChunkEntry {
  /** Chunk number, from 0. */
  index: number;
  /** Bytes the chunk occupies in the file (header and payload). */
  size: number;
}

export interface TraceSummary {
  /** Events in the readable part of the trace (including events of unknown kinds). */
  events: number;
  /** icount of the last event (0 when there are none). */
  lastIcount: number;
  /** Events per kind this build knows. */
  byKind: Record<string, number>;
  /** Events per VTL ("0", "1", …). */
  byVtl: Record<string, number>;
  /** Events of kinds this build does not know (written by a newer minor version). */
  unknown: number;
  truncated: boolean;
}

export interface TraceReaderStats {
  /** Chunks decompressed and decoded so far. */
  chunksDecoded: number;
  /** Events of unknown kinds skipped so far (only in traces of a newer minor version). */
  unknown: number;
}

export class TraceReader {
  /** The display name used in messages. */
  readonly path: string;
  readonly header: TraceHeader;
  /** The file ends with a valid footer and index (it was closed properly). */
  readonly indexed: boolean;
  /** Every complete chunk, in file order. */
  readonly chunks: readonly ChunkInfo[];
  /** Every checkpoint event (from the index), or null for a trace without index. */
  readonly checkpoints: readonly CheckpointEntry[] | null;
  readonly stats: TraceReaderStats = { chunksDecoded: 0, unknown: 0 };
  readonly #src: ByteSource;
  readonly #index: TraceIndex | null;
  readonly #truncated: { message: string } | null;
  readonly #newerMinor: boolean;

  private constructor(
    path: string,
    src: ByteSource,
    header: TraceHeader,
    chunks: ChunkInfo[],
    index: TraceIndex | null,
    truncated: { message: string } | null,
  ) {
    this.path = path;
    this.#src = src;
    this.header = header;
    this.chunks = chunks;
    this.#index = index;
    this.indexed = index !== null;
    this.checkpoints = index?.checkpoints ?? null;
    this.#truncated = truncated;
    this.#newerMinor = header.format.minor > FORMAT_MINOR;
  }

  /**
   * Opens a trace file, or trace bytes already in memory. `displayName` names it in messages
   * (default: the path, or "<memory>"). Throws TraceFormatError for a missing, unreadable or
   * malformed file; a file that was merely cut short opens fine and reports `truncated`.
   */
  static async open(pathOrBytes: string | Uint8Array, displayName?: string): Promise<TraceReader> {
    const name = displayName ?? (typeof pathOrBytes === "string" ? pathOrBytes : "<memory>");
    const src = typeof pathOrBytes === "string"
      ? await fileSource(pathOrBytes, name)
      : memorySource(pathOrBytes);
    try {
      const { header, end } = await readHeader(src, name);
      const tail = await src.read(Math.max(end, src.size - FOOTER_SIZE), FOOTER_SIZE);
      if (hasTrailer(tail)) {
        const { chunks, index } = await readIndex(src, name, end);
        return new TraceReader(name, src, header, chunks, index, null);
      }
      const { chunks, truncated } = await scanChunks(src, name, end);
      return new TraceReader(name, src, header, chunks, null, truncated);
    } catch (e) {
      src.close();
      throw e;
    }
  }

  /**
   * Null for a complete trace. For a trace that was cut short (no footer: the writer never
   * finished), a message saying how much is readable. Known as soon as open() returns.
   */
  get truncated(): { message: string } | null {
    return this.#truncated;
  }

  /** The chunk holding event `seq`, or null when the trace has no such event. */
  chunkFor(seq: number): ChunkInfo | null {
    const cs = this.chunks;
    let lo = 0;
    let hi = cs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = cs[mid];
      if (seq < c.firstSeq) hi = mid - 1;
      else if (seq >= c.firstSeq + c.events) lo = mid + 1;
      else return c;
    }
    return null;
  }

  /** The decoded events of chunk `k` (events of unknown kinds are left out). */
  async readChunk(k: number): Promise<TraceEvent[]> {
    return (await this.#decode(k)).events;
  }

  async #decode(k: number): Promise<DecodedEvents> {
    const info = this.chunks[k];
    if (info === undefined) throw new RangeError(`TraceReader: no chunk ${k}`);
    const loc = { path: this.path, index: k, offset: info.offset };
    const frame = await this.#src.read(info.offset, info.size);
    if (frame.length < CHUNK_HEADER_SIZE) {
      throw TraceFormatError.parse(
        this.path,
        info.offset,
        `chunk ${k} runs past the end of the file`,
      );
    }
    const h = parseChunkHeader(frame, 0, loc);
    if (
      CHUNK_HEADER_SIZE + h.compLen !== info.size || h.firstSeq !== info.firstSeq ||
      h.count !== info.events || h.firstIcount !== info.firstIcount ||
      h.lastIcount !== info.lastIcount
    ) {
      throw TraceFormatError.parse(this.path, info.offset, `chunk ${k} does not match the index`);
    }
    const d = await decodeChunk(frame, h, loc, this.#newerMinor);
    this.stats.chunksDecoded++;
    this.stats.unknown += d.skipped.length;
    return d;
  }

  /**
   * Events in order, starting at the first event with seq ≥ `fromSeq`; with an index (or the
   * chunk table built when opening) it starts decoding at the chunk holding `fromSeq`.
   */
  async *events(fromSeq = 0): AsyncIterableIterator<TraceEvent> {
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 0) {
      throw new RangeError(
        `TraceReader.events: fromSeq must be a non-negative integer, got ${fromSeq}`,
      );
    }
    const first = this.chunkFor(fromSeq);
    if (first === null) return;
    for (let k = first.index; k < this.chunks.length; k++) {
      const events = await this.readChunk(k);
      for (const e of events) if (e.seq >= fromSeq) yield e;
    }
  }

  /** Totals: from the index when there is one, otherwise by decoding every chunk. */
  async summary(): Promise<TraceSummary> {
    const byKind: Record<string, number> = {};
    let unknown = 0;
    if (this.#index !== null) {
      const t = this.#index.totals;
      for (const [k, n] of Object.entries(t.byKind)) {
        if (isEventKind(k)) byKind[k] = n;
        else unknown += n;
      }
      return {
        events: t.events,
        lastIcount: t.lastIcount,
        byKind,
        byVtl: { ...t.byVtl },
        unknown,
        truncated: false,
      };
    }
    const byVtl: Record<string, number> = {};
    let events = 0;
    let lastIcount = 0;
    for (let k = 0; k < this.chunks.length; k++) {
      const d = await this.#decode(k);
      for (const e of d.events) {
        byKind[e.kind] = (byKind[e.kind] ?? 0) + 1;
        byVtl[e.vtl] = (byVtl[e.vtl] ?? 0) + 1;
      }
      for (const s of d.skipped) byVtl[s.vtl] = (byVtl[s.vtl] ?? 0) + 1;
      unknown += d.skipped.length;
      events += d.events.length + d.skipped.length;
      lastIcount = d.lastIcount;
    }
    return { events, lastIcount, byKind, byVtl, unknown, truncated: this.#truncated !== null };
  }

  /** Releases the file. */
  close(): void {
    this.#src.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Reads footer and index; the file claims to be complete, so every inconsistency is an error. */
async function readIndex(
  src: ByteSource,
  path: string,
  headerEnd: number,
): Promise<{ chunks: ChunkInfo[]; index: TraceIndex }> {
  const footerAt = src.size - FOOTER_SIZE;
  if (footerAt < headerEnd + INDEX_OVERHEAD) {
    throw TraceFormatError.parse(
      path,
      Math.max(headerEnd, footerAt),
      "footer is corrupt (no room for an index)",
    );
  }
  const footer = await src.read(footerAt, FOOTER_SIZE);
  const indexAt = parseFooter(footer, footerAt, headerEnd, path);
  const rec = await src.read(indexAt, footerAt - indexAt);
  const index = parseIndex(rec, indexAt, footerAt, headerEnd, path);
  const chunks = index.chunks.map((c, i): ChunkInfo => {
    const next = i + 1 < index.chunks.length ? index.chunks[i + 1].offset : indexAt;
    return { ...c, index: i, size: next - c.offset };
  });
  return { chunks, index };
}

/**
 * Walks chunk headers from `start` for a file without footer. Complete chunks (header CRC valid,
 * payload fully present) are listed; the first incomplete piece ends the scan and makes the trace
 * truncated. Bytes that cannot be the start of a chunk or of the index are an error.
 */
async function scanChunks(
  src: ByteSource,
  path: string,
  start: number,
): Promise<{ chunks: ChunkInfo[]; truncated: { message: string } }> {
  const chunks: ChunkInfo[] = [];
  let off = start;
  let seq = 0;
  let icount = 0;
  for (;;) {
    const rest = src.size - off;
    if (rest === 0) break;
    const head = await src.read(off, Math.min(rest, CHUNK_HEADER_SIZE));
    const k = chunks.length;
    if (hasMagic(head, 0, CHUNK_MAGIC)) {
      if (rest < CHUNK_HEADER_SIZE) break;
      const h = parseChunkHeader(head, 0, { path, index: k, offset: off });
      if (h.firstSeq !== seq || h.firstIcount < icount) {
        throw TraceFormatError.parse(
          path,
          off,
          `chunk ${k} does not continue the previous one (seq ${h.firstSeq}, expected ${seq})`,
        );
      }
      const size = CHUNK_HEADER_SIZE + h.compLen;
      if (size > rest) break;
      chunks.push({
        index: k,
        offset: off,
        size,
        firstSeq: h.firstSeq,
        events: h.count,
        firstIcount: h.firstIcount,
        lastIcount: h.lastIcount,
      });
      off += size;
      seq += h.count;
      icount = h.lastIcount;
    } else if (hasMagic(head, 0, INDEX_MAGIC)) {
      await checkIndexTail(src, path, off);
      break;
    } else if (rest < 4 && (isPrefix(head, CHUNK_MAGIC) || isPrefix(head, INDEX_MAGIC))) {
      break;
    } else {
      throw TraceFormatError.parse(
        path,
        off,
        `expected a chunk after chunk ${k - 1}, found garbage`,
      );
    }
  }
  const rest = src.size - off;
  const upTo = chunks.length === 0
    ? "no complete chunk (0 events)"
    : `readable up to chunk ${chunks.length - 1} (events 0..${seq - 1}, icount ${icount})`;
  const tail = rest > 0
    ? `the rest (${rest} bytes) is incomplete`
    : "the index and footer are missing";
  return { chunks, truncated: { message: `trace ${path} was cut short: ${upTo}; ${tail}` } };
}

/**
 * In a file without a valid footer, the index record at `at` must be incomplete, or complete and
 * followed by an incomplete footer. Anything else (a damaged index, a damaged full-size footer) is
 * corruption, not truncation.
 */
async function checkIndexTail(src: ByteSource, path: string, at: number): Promise<void> {
  const rest = src.size - at;
  if (rest < 8) return;
  const len = getU32(await src.read(at + 4, 4), 0);
  const recLen = len + INDEX_OVERHEAD;
  if (recLen > rest) return;
  const rec = await src.read(at, recLen);
  if (crc32(rec.subarray(0, recLen - 4)) !== getU32(rec, recLen - 4)) {
    throw TraceFormatError.read(path, at, "index is corrupt (CRC mismatch)");
  }
  const after = await src.read(at + recLen, rest - recLen);
  const footer = encodeFooter(at);
  if (after.length >= FOOTER_SIZE || !isPrefix(after, footer)) {
    throw TraceFormatError.parse(path, at + recLen, "footer is corrupt (bad magic)");
  }
}

function isPrefix(b: Uint8Array, of: Uint8Array): boolean {
  return b.length <= of.length && b.every((x, i) => x === of[i]);
}
