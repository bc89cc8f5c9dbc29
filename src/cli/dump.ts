/** `dump TRACE`: the canonical JSON Lines form, one event per line (header first). */

import { dumpLines } from "../trace/dump.ts";
import { TraceReader } from "../trace/reader.ts";
import { parse } from "./args.ts";
import { UsageError } from "./errors.ts";

export async function dump(args: string[]): Promise<number> {
  const { positionals } = parse("dump", args, {});
  if (positionals.length !== 1) throw new UsageError("dump: give exactly one trace file");
  const reader = await TraceReader.open(positionals[0]!);
  const enc = new TextEncoder();
  let buf = "";
  for await (const line of dumpLines(reader)) {
    buf += line + "\n";
    if (buf.length > 1 << 16) {
      Deno.stdout.writeSync(enc.encode(buf));
      buf = "";
    }
  }
  Deno.stdout.writeSync(enc.encode(buf));
  return 0;
}
