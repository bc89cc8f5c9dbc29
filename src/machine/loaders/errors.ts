/**
 * The one error type of the guest image loaders. Every problem with an image or with the load
 * options is reported as a `LoadError` whose message is a single line naming the file and what is
 * wrong, e.g.
 *
 *     Cannot load guest kernel.elf: program header 3 extends past the end of the file
 *     (offset 0x1200 + 0x800 > 0x1600)
 *
 * (one line; wrapped here). Loaders never throw anything else on any input bytes.
 */

/** Control characters (including newlines) are shown escaped so the message stays one line. */
function oneLine(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    out += c < 0x20 || (c >= 0x7f && c < 0xa0) || c === 0x2028 || c === 0x2029
      ? `\\u{${c.toString(16)}}`
      : ch;
  }
  return out;
}

export class LoadError extends Error {
  override name = "LoadError";
  /** The file that could not be loaded (the guest image or its initrd's owner). */
  readonly file: string;
  /** What is wrong, without the "Cannot load guest <file>: " prefix. */
  readonly problem: string;

  constructor(file: string, problem: string) {
    const f = oneLine(String(file));
    const p = oneLine(String(problem));
    super(`Cannot load guest ${f}: ${p}`);
    this.file = f;
    this.problem = p;
  }
}
