/** Raw DEFLATE (RFC 1951) through the Web Streams CompressionStream/DecompressionStream. */

/** Compresses `data`. Deterministic for a given build (same input → same bytes). */
export async function deflateRaw(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  const cs = new CompressionStream("deflate-raw");
  const writer = cs.writable.getWriter();
  const writing = writer.write(data).then(() => writer.close());
  const out = await new Response(cs.readable).bytes();
  await writing;
  return out;
}

/**
 * Decompresses `data`, which must inflate to exactly `expected` bytes. Never produces more than
 * `expected` bytes of output (a corrupt or hostile stream cannot exhaust memory). Throws an Error
 * with a one-line reason on any problem.
 */
export async function inflateRaw(
  data: Uint8Array<ArrayBuffer>,
  expected: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const ds = new DecompressionStream("deflate-raw");
  const writer = ds.writable.getWriter();
  const writing = writer.write(data).then(() => writer.close()).catch(() => {});
  const reader = ds.readable.getReader();
  const out = new Uint8Array(expected);
  let n = 0;
  let problem: string | null = null;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.length > expected - n) {
        problem = `compressed data inflates to more than the ${expected} bytes declared`;
        break;
      }
      out.set(value, n);
      n += value.length;
    }
  } catch {
    problem = "compressed data is not valid deflate data";
  }
  if (problem !== null) await reader.cancel().catch(() => {});
  await writing;
  if (problem !== null) throw new Error(problem);
  if (n !== expected) {
    throw new Error(`compressed data inflates to ${n} bytes, the chunk header says ${expected}`);
  }
  return out;
}
