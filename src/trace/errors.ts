/**
 * The one error type of the trace layer for bad input: a trace file that is missing, damaged, cut
 * short in an unreadable place, or written by an incompatible build. Its message is a single line
 * meant for the user (the CLI prints it and exits 2); `path` and `offset` say where.
 *
 * Programming errors of the host (an event out of sequence, a malformed field value handed to the
 * writer) are RangeError/TypeError instead: they are bugs, not bad files.
 */
export class TraceFormatError extends Error {
  override name = "TraceFormatError";
  /** The trace's display name (a path, or a name given for in-memory bytes). */
  readonly path: string;
  /** Absolute byte offset in the file where the problem is, or null when there is none. */
  readonly offset: number | null;

  constructor(message: string, path: string, offset: number | null) {
    super(message);
    this.path = path;
    this.offset = offset;
  }

  /** `Cannot parse trace P at offset O: detail` — the bytes are there but do not make sense. */
  static parse(path: string, offset: number, detail: string): TraceFormatError {
    return new TraceFormatError(
      `Cannot parse trace ${path} at offset ${offset}: ${detail}`,
      path,
      offset,
    );
  }

  /** `Cannot read trace P at offset O: detail` — integrity failures (CRC) and I/O problems. */
  static read(path: string, offset: number, detail: string): TraceFormatError {
    return new TraceFormatError(
      `Cannot read trace ${path} at offset ${offset}: ${detail}`,
      path,
      offset,
    );
  }

  /** `Cannot open trace P: detail` — the file itself cannot be opened. */
  static open(path: string, detail: string): TraceFormatError {
    return new TraceFormatError(`Cannot open trace ${path}: ${detail}`, path, null);
  }
}

/**
 * Internal: a decoding problem at a position relative to some buffer. The layer that knows where
 * the buffer sits in the file turns it into a TraceFormatError.
 */
export class DecodeError extends Error {
  override name = "DecodeError";
  /** Offset of the problem relative to the start of the buffer being decoded. */
  readonly at: number;

  constructor(detail: string, at: number) {
    super(detail);
    this.at = at;
  }
}
