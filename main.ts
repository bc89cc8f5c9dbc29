/**
 * vtlrr command line: parses the verb and dispatches to src/cli/<verb>.ts. Usage and input
 * errors print one line and exit with status 2; nothing else happens here.
 */

import { LoadError } from "./src/machine/loaders/errors.ts";
import { boot, BOOT_USAGE } from "./src/cli/boot.ts";
import { diff } from "./src/cli/diff.ts";
import { dump } from "./src/cli/dump.ts";
import { UsageError } from "./src/cli/errors.ts";
import { replay } from "./src/cli/replay.ts";
import { rerun } from "./src/cli/rerun.ts";
import { ConfigError } from "./src/machine/config.ts";
import { TraceFormatError } from "./src/trace/errors.ts";

const USAGE = `vtlrr: deterministic record/replay of x86-64 guests under Hyper-V with VSM

usage:
  deno task boot [GUEST] [options]       run a guest, record traces/<guest>.vtlrr
  deno task replay TRACE [--out T]       re-execute and verify every event
  deno task diff A B                     first divergence between two traces
  deno task dump TRACE                   canonical JSON Lines form
  deno task rerun TRACE [--out T]        re-run a trace's guest and inputs with this build, then diff

exit status: 0 ok/identical, 1 divergence/different, 2 bad input or usage

${BOOT_USAGE}`;

const verbs: Record<string, (args: string[]) => Promise<number>> = {
  boot,
  replay,
  diff,
  dump,
  rerun,
};

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === "help" || verb === "--help" || verb === "-h") {
    console.log(USAGE);
    return verb === undefined ? 2 : 0;
  }
  const run = verbs[verb];
  if (run === undefined) {
    throw new UsageError(`unknown command "${verb}" (commands: ${Object.keys(verbs).join(", ")})`);
  }
  return await run(rest);
}

try {
  Deno.exit(await main(Deno.args));
} catch (e) {
  if (
    e instanceof UsageError || e instanceof TraceFormatError || e instanceof ConfigError ||
    e instanceof LoadError
  ) {
    console.error(`vtlrr: ${e.message}`);
    Deno.exit(2);
  }
  throw e;
}
