/** Where a TraceWriter's bytes go. */

export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/**
 * Creates (or truncates) `path`. Every write goes straight to the file, so all bytes written
 * before a crash are in the file.
 */
export async function fileSink(path: string): Promise<ByteSink> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  return {
    async write(bytes) {
      let n = 0;
      while (n < bytes.length) n += await file.write(bytes.subarray(n));
    },
    close() {
      file.close();
      return Promise.resolve();
    },
  };
}

/** Collects the bytes in memory (tests, in-memory diffing). */
export function memorySink(): ByteSink & { bytes(): Uint8Array<ArrayBuffer> } {
  const parts: Uint8Array[] = [];
  let size = 0;
  return {
    write(bytes) {
      parts.push(bytes.slice());
      size += bytes.length;
      return Promise.resolve();
    },
    close() {
      return Promise.resolve();
    },
    bytes() {
      const out = new Uint8Array(size);
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    },
  };
}
