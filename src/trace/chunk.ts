/**
 * Chunk framing. A chunk holds a run of consecutive events, deflate-compressed:
 *
 *   offset 0   4 bytes  magic "VCHK"
 *   offset 4   u32 LE   compressed payload length C
 *   offset 8   u32 LE   raw (uncompressed) event data length R
 *   offset 12  u32 LE   event count n (≥ 1)
 *   offset 16  u64 LE   firstSeq
 *   offset 24  u64 LE   firstIcount (icount of the first event)
 *   offset 32  u64 LE   lastIcount (icount of the last event)
 *   offset 40  u32 LE   CRC-32 of the compressed payload
 *   offset 44  u32 LE   CRC-32 of bytes 0..44 of this chunk header
 *   offset 48  C bytes  payload: raw DEFLATE of the R bytes of encoded events
 *
 * The header has its own CRC so that a reader scanning a file without footer can trust C before
 * the payload is there: a chunk whose header is intact but whose payload runs past the end of the
 * file was cut short (truncation), while any damaged byte is a CRC mismatch (corruption).
 */
import { ByteWriter, getU32, getU64Safe, hasMagic } from "./bytes.ts";
import { type DecodedEvents, decodeEvents } from "./codec.ts";
import { crc32 } from "./crc32.ts";
import { deflateRaw, inflateRaw } from "./deflate.ts";
import { DecodeError, TraceFormatError } from "./errors.ts";
import { CHUNK_HEADER_SIZE, CHUNK_MAGIC, MAX_CHUNK_RAW } from "./format.ts";

export interface ChunkHeader {
  /** Compressed payload length C. */
  compLen: number;
  /** Raw event data length R. */
  rawLen: number;
  count: number;
  firstSeq: number;
  firstIcount: number;
  lastIcount: number;
  payloadCrc: number;
}

/** Where a chunk sits, for error messages. Chunks are numbered from 0. */
export interface ChunkLocation {
  path: string;
  index: number;
  offset: number;
}

/** Events of one chunk, already encoded (see codec.ts), before compression. */
export interface RawChunk {
  raw: Uint8Array<ArrayBuffer>;
  count: number;
  firstSeq: number;
  firstIcount: number;
  lastIcount: number;
}

/** Compresses and frames a chunk: the exact bytes that go into the file. */
export async function encodeChunk(c: RawChunk): Promise<Uint8Array<ArrayBuffer>> {
  if (c.raw.length > MAX_CHUNK_RAW) {
    throw new RangeError(
      `Cannot write chunk: ${c.raw.length} bytes of events exceed ${MAX_CHUNK_RAW}`,
    );
  }
  const payload = await deflateRaw(c.raw);
  const w = new ByteWriter(CHUNK_HEADER_SIZE + payload.length);
  w.bytes(CHUNK_MAGIC);
  w.u32(payload.length);
  w.u32(c.raw.length);
  w.u32(c.count);
  w.u64(c.firstSeq);
  w.u64(c.firstIcount);
  w.u64(c.lastIcount);
  w.u32(crc32(payload));
  w.u32(crc32(w.view()));
  w.bytes(payload);
  return w.copy();
}

/**
 * Parses and checks a chunk header (`b` holds at least its 48 bytes at `at`). Throws
 * TraceFormatError on a bad magic, a header CRC mismatch or impossible values.
 */
export function parseChunkHeader(b: Uint8Array, at: number, loc: ChunkLocation): ChunkHeader {
  if (!hasMagic(b, at, CHUNK_MAGIC)) {
    throw TraceFormatError.parse(
      loc.path,
      loc.offset,
      `chunk ${loc.index} has a bad magic (expected VCHK)`,
    );
  }
  if (crc32(b.subarray(at, at + 44)) !== getU32(b, at + 44)) {
    throw TraceFormatError.read(
      loc.path,
      loc.offset,
      `chunk ${loc.index} is corrupt (header CRC mismatch)`,
    );
  }
  const h: ChunkHeader = {
    compLen: getU32(b, at + 4),
    rawLen: getU32(b, at + 8),
    count: getU32(b, at + 12),
    firstSeq: getU64Safe(b, at + 16),
    firstIcount: getU64Safe(b, at + 24),
    lastIcount: getU64Safe(b, at + 32),
    payloadCrc: getU32(b, at + 40),
  };
  const bad = (why: string) =>
    TraceFormatError.parse(loc.path, loc.offset, `chunk ${loc.index} ${why}`);
  if (h.count === 0) throw bad("has no events");
  if (h.rawLen > MAX_CHUNK_RAW) {
    throw bad(`raw length ${h.rawLen} exceeds the ${MAX_CHUNK_RAW} limit`);
  }
  if (h.rawLen < h.count) throw bad(`raw length ${h.rawLen} is too small for ${h.count} events`);
  if (h.firstSeq < 0 || h.firstSeq + h.count > Number.MAX_SAFE_INTEGER) {
    throw bad("firstSeq exceeds 2^53-1");
  }
  if (h.firstIcount < 0 || h.lastIcount < 0) throw bad("icount exceeds 2^53-1");
  if (h.lastIcount < h.firstIcount) throw bad("lastIcount is below firstIcount");
  return h;
}

/**
 * Checks the payload CRC, inflates and decodes a chunk. `frame` is the whole chunk (header and
 * payload). With `newerMinor`, unknown kinds are skipped and payload tails ignored (codec.ts).
 */
export async function decodeChunk(
  frame: Uint8Array,
  h: ChunkHeader,
  loc: ChunkLocation,
  newerMinor: boolean,
): Promise<DecodedEvents> {
  const payload = frame.slice(CHUNK_HEADER_SIZE, CHUNK_HEADER_SIZE + h.compLen);
  if (payload.length !== h.compLen || crc32(payload) !== h.payloadCrc) {
    throw TraceFormatError.read(
      loc.path,
      loc.offset,
      `chunk ${loc.index} is corrupt (CRC mismatch)`,
    );
  }
  const bad = (why: string) =>
    TraceFormatError.parse(loc.path, loc.offset, `chunk ${loc.index}: ${why}`);
  let raw: Uint8Array;
  try {
    raw = await inflateRaw(payload, h.rawLen);
  } catch (e) {
    throw bad((e as Error).message);
  }
  let d: DecodedEvents;
  try {
    d = decodeEvents(raw, h.count, h.firstSeq, h.firstIcount, newerMinor);
  } catch (e) {
    if (e instanceof DecodeError) throw bad(e.message);
    throw e;
  }
  if (d.end !== raw.length) {
    throw bad(`${raw.length - d.end} bytes of event data follow its last event`);
  }
  if (d.lastIcount !== h.lastIcount) {
    throw bad(`last event has icount ${d.lastIcount}, the chunk header says ${h.lastIcount}`);
  }
  return d;
}
