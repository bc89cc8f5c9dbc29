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

/**
 * A file sink that holds what is written until `open()` creates (or truncates) `path` and
 * writes it out: lets a command fail on bad input (a guest that does not load) before it has
 * touched an existing trace at that path.
 */
export function deferredFileSink(path: string): ByteSink & { open(): Promise<void> } {
  let file: ByteSink | null = null;
  const held: Uint8Array[] = [];
  return {
    async open() {
      file = await fileSink(path);
      for (const b of held.splice(0)) await file.write(b);
    },
    async write(bytes) {
      if (file === null) held.push(bytes.slice());
      else await file.write(bytes);
    },
    async close() {
      if (file === null) await this.open();
      await file!.close();
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
