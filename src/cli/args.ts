/** Argument parsing helpers: node:util parseArgs with one-line errors. */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./errors.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parse<O extends Options>(verb: string, args: string[], options: O) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0]!.replace(/\. To specify .*$/, "");
    throw new UsageError(`${verb}: ${msg}`);
  }
}

/** An integer in decimal or 0x-hex. */
export function parseNumber(what: string, s: string): number {
  const t = s.trim().replaceAll("_", "");
  const n = /^0x[0-9a-f]+$/i.test(t)
    ? parseInt(t.slice(2), 16)
    : /^[0-9]+$/.test(t)
    ? Number(t)
    : NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what}: not a number: "${s}"`);
  return n;
}

/** A memory size in MiB: "64M", "1G", "512" (MiB). */
export function parseMiB(what: string, s: string): number {
  const m = /^([0-9]+)\s*([mMgG])?i?[bB]?$/.exec(s.trim());
  if (!m) throw new UsageError(`${what}: not a size: "${s}" (use e.g. 64M or 1G)`);
  const n = Number(m[1]);
  return m[2] && m[2].toLowerCase() === "g" ? n * 1024 : n;
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}
