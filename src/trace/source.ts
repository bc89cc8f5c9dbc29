/**
 * Random-access byte sources a TraceReader reads from: an open file (read on demand, so a
 * multi-gigabyte trace is never loaded whole) or bytes already in memory.
 */
import { TraceFormatError } from "./errors.ts";

export interface ByteSource {
  /** Size in bytes, fixed when the source was opened. */
  readonly size: number;
  /** Exactly min(length, size − offset) bytes starting at `offset`. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): void;
}

export function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read(offset, length) {
      return Promise.resolve(bytes.subarray(offset, Math.min(bytes.length, offset + length)));
    },
    close() {},
  };
}

/** Opens `path`; failures become `Cannot open trace <name>: <reason>`. */
export async function fileSource(path: string, name: string): Promise<ByteSource> {
  let file: Deno.FsFile;
  let size: number;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw TraceFormatError.open(name, describeOpenError(e));
  }
  try {
    const info = await file.stat();
    if (info.isDirectory) throw TraceFormatError.open(name, "Is a directory");
    size = info.size;
  } catch (e) {
    file.close();
    if (e instanceof TraceFormatError) throw e;
    throw TraceFormatError.open(name, describeOpenError(e));
  }
  // Reads seek then read; serialize them so concurrent readers do not interleave.
  let queue: Promise<unknown> = Promise.resolve();
  const readAt = async (offset: number, length: number): Promise<Uint8Array> => {
    const n = Math.max(0, Math.min(length, size - offset));
    const out = new Uint8Array(n);
    try {
      await file.seek(offset, Deno.SeekMode.Start);
      let got = 0;
      while (got < n) {
        const r = await file.read(out.subarray(got));
        if (r === null) break;
        got += r;
      }
      if (got < n) {
        throw TraceFormatError.read(name, offset + got, "file shrank while reading");
      }
    } catch (e) {
      if (e instanceof TraceFormatError) throw e;
      throw TraceFormatError.read(name, offset, e instanceof Error ? e.message : String(e));
    }
    return out;
  };
  return {
    size,
    read(offset, length) {
      const p = queue.then(() => readAt(offset, length));
      queue = p.catch(() => {});
      return p;
    },
    close() {
      try {
        file.close();
      } catch {
        // already closed
      }
    },
  };
}

function describeOpenError(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "No such file";
  if (e instanceof Deno.errors.PermissionDenied) return "Permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "Is a directory";
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n")[0];
}
