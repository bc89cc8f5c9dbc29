/**
 * TraceWriter: events in, trace file bytes out. `event()` is synchronous and only encodes into
 * the current chunk buffer; compressing and writing happens in `flush()`, which the emulator
 * awaits between run slices, and `close()`, which also writes the index and the footer. A run that
 * never reaches close() leaves a readable file of header + complete chunks.
 *
 * Output is byte-deterministic: the same header and events give identical bytes.
 */
import type { TraceEvent } from "../core/events.ts";
import { ByteWriter } from "./bytes.ts";
import { encodeChunk, type RawChunk } from "./chunk.ts";
import { EventEncoder } from "./codec.ts";
import {
  DEFAULT_CHUNK_BYTES,
  DEFAULT_CHUNK_EVENTS,
  FORMAT_MAJOR,
  FORMAT_MINOR,
  MAX_CHUNK_RAW,
} from "./format.ts";
import { encodeHeader, type TraceHeader } from "./header.ts";
import {
  type CheckpointEntry,
  type ChunkEntry,
  encodeFooter,
  encodeIndex,
} from "./index_record.ts";
import type { ByteSink } from "./sink.ts";

export type { ByteSink } from "./sink.ts";
export { fileSink, memorySink } from "./sink.ts";

export interface TraceWriterOptions {
  /** Events per chunk at most (default 4096). */
  chunkEvents?: number;
  /** A chunk is closed once its raw event bytes reach this (default 64 KiB). */
  chunkBytes?: number;
}

export interface TraceWriterStats {
  /** Events accepted by event(). */
  events: number;
  /** Chunks written to the sink. */
  chunks: number;
  /** Bytes written to the sink. */
  bytesWritten: number;
  /** Events accepted per kind. */
  byKind: Record<string, number>;
}

export class TraceWriter {
  readonly #sink: ByteSink;
  readonly #chunkEvents: number;
  readonly #chunkBytes: number;
  readonly #encoder = new EventEncoder();
  #buf: ByteWriter;
  #count = 0;
  #firstSeq = 0;
  #firstIcount = 0;
  #nextSeq = 0;
  #lastIcount = 0;
  readonly #pending: RawChunk[] = [];
  readonly #chunks: ChunkEntry[] = [];
  readonly #checkpoints: CheckpointEntry[] = [];
  readonly #byKind: Record<string, number> = {};
  readonly #byVtl: Record<string, number> = {};
  #bytesWritten = 0;
  /** Serializes flush/close; rejected forever once a write failed. */
  #queue: Promise<void> = Promise.resolve();
  #failure: unknown = null;
  #closed = false;

  private constructor(sink: ByteSink, chunkEvents: number, chunkBytes: number) {
    this.#sink = sink;
    this.#chunkEvents = chunkEvents;
    this.#chunkBytes = chunkBytes;
    this.#buf = new ByteWriter(Math.min(chunkBytes, DEFAULT_CHUNK_BYTES) + 1024);
  }

  /**
   * Writes the header to `sink` and returns a writer. The header must be valid and name this
   * build's format version (TypeError/RangeError otherwise).
   */
  static async create(
    sink: ByteSink,
    header: TraceHeader,
    opts: TraceWriterOptions = {},
  ): Promise<TraceWriter> {
    const chunkEvents = opts.chunkEvents ?? DEFAULT_CHUNK_EVENTS;
    const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    if (!Number.isInteger(chunkEvents) || chunkEvents < 1 || chunkEvents > 0xffff_ffff) {
      throw new RangeError(
        `TraceWriter: chunkEvents must be an integer in 1..2^32-1, got ${chunkEvents}`,
      );
    }
    if (!Number.isInteger(chunkBytes) || chunkBytes < 1 || chunkBytes > MAX_CHUNK_RAW / 2) {
      throw new RangeError(
        `TraceWriter: chunkBytes must be an integer in 1..${MAX_CHUNK_RAW / 2}, got ${chunkBytes}`,
      );
    }
    if (header?.format?.major !== FORMAT_MAJOR || header.format.minor !== FORMAT_MINOR) {
      throw new RangeError(
        `TraceWriter: this build writes format ${FORMAT_MAJOR}.${FORMAT_MINOR}, header says ${header?.format?.major}.${header?.format?.minor}`,
      );
    }
    const bytes = encodeHeader(header);
    const w = new TraceWriter(sink, chunkEvents, chunkBytes);
    await sink.write(bytes);
    w.#bytesWritten = bytes.length;
    return w;
  }

  /**
   * Appends an event. Throws RangeError (a host bug) if `seq` is not exactly the previous seq + 1
   * (the first is 0), if icount decreases, or if a field is invalid; the trace is unchanged then.
   */
  event(e: TraceEvent): void {
    if (this.#closed) throw new Error("TraceWriter: event() after close()");
    if (this.#failure !== null) throw this.#failure;
    if (e?.seq !== this.#nextSeq) {
      throw new RangeError(
        `TraceWriter: event seq ${e?.seq} out of order, expected ${this.#nextSeq}`,
      );
    }
    const before = this.#buf.length;
    if (this.#count === 0) {
      // The chunk's first event: its icount delta is taken from itself (0).
      const icount = e.icount;
      if (typeof icount === "number" && icount < this.#lastIcount) {
        throw new RangeError(
          `TraceWriter: event seq ${e.seq} icount ${icount} is below the previous event's ${this.#lastIcount}`,
        );
      }
      this.#encoder.encode(e, icount, this.#buf);
      this.#firstSeq = e.seq;
      this.#firstIcount = icount;
    } else {
      this.#encoder.encode(e, this.#lastIcount, this.#buf);
    }
    if (this.#buf.length > MAX_CHUNK_RAW) {
      this.#buf.truncate(before);
      throw new RangeError(
        `TraceWriter: event seq ${e.seq} makes a chunk exceed ${MAX_CHUNK_RAW} bytes`,
      );
    }
    this.#count++;
    this.#nextSeq++;
    this.#lastIcount = e.icount;
    this.#byKind[e.kind] = (this.#byKind[e.kind] ?? 0) + 1;
    this.#byVtl[e.vtl] = (this.#byVtl[e.vtl] ?? 0) + 1;
    if (e.kind === "checkpoint") {
      this.#checkpoints.push({ seq: e.seq, icount: e.icount, hash: e.hash });
    }
    if (this.#count >= this.#chunkEvents || this.#buf.length >= this.#chunkBytes) this.#seal();
  }

  /** Moves the current chunk, if it has events, to the pending list. */
  #seal(): void {
    if (this.#count === 0) return;
    this.#pending.push({
      raw: this.#buf.copy(),
      count: this.#count,
      firstSeq: this.#firstSeq,
      firstIcount: this.#firstIcount,
      lastIcount: this.#lastIcount,
    });
    this.#buf.reset();
    this.#count = 0;
  }

  /** A full chunk is waiting to be compressed and written. */
  get readyToFlush(): boolean {
    return this.#pending.length > 0;
  }

  /** Compresses and writes every completed chunk (not the partial one). */
  flush(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("TraceWriter: flush() after close()"));
    return this.#enqueue(() => this.#writePending());
  }

  /** Writes the partial chunk, the index and the footer, and closes the sink. */
  close(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("TraceWriter: close() called twice"));
    this.#closed = true;
    this.#seal();
    return this.#enqueue(async () => {
      await this.#writePending();
      const indexOffset = this.#bytesWritten;
      const index = encodeIndex({
        chunks: this.#chunks,
        checkpoints: this.#checkpoints,
        totals: {
          events: this.#nextSeq,
          lastIcount: this.#lastIcount,
          byKind: this.#byKind,
          byVtl: this.#byVtl,
        },
      });
      const footer = encodeFooter(indexOffset);
      const tail = new Uint8Array(index.length + footer.length);
      tail.set(index);
      tail.set(footer, index.length);
      await this.#write(tail);
      await this.#sink.close();
    });
  }

  get stats(): TraceWriterStats {
    return {
      events: this.#nextSeq,
      chunks: this.#chunks.length,
      bytesWritten: this.#bytesWritten,
      byKind: { ...this.#byKind },
    };
  }

  #enqueue(job: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(() => {
      if (this.#failure !== null) throw this.#failure;
      return job();
    }).catch((e) => {
      this.#failure ??= e;
      throw e;
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async #writePending(): Promise<void> {
    while (this.#pending.length > 0) {
      const c = this.#pending[0];
      const frame = await encodeChunk(c);
      const offset = this.#bytesWritten;
      await this.#write(frame);
      this.#pending.shift();
      this.#chunks.push({
        offset,
        firstSeq: c.firstSeq,
        events: c.count,
        firstIcount: c.firstIcount,
        lastIcount: c.lastIcount,
      });
    }
  }

  async #write(bytes: Uint8Array): Promise<void> {
    await this.#sink.write(bytes);
    this.#bytesWritten += bytes.length;
  }
}
