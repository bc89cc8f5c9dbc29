/** The `msr` events of synthetic MSR writes. */

import assert from "node:assert/strict";
import type { TraceEvent } from "../core/events.ts";
import { DEFAULT_CONFIG, validateConfig } from "../machine/config.ts";
import { NoInput } from "../machine/inputs.ts";
import { realModeLoader } from "../machine/loader.ts";
import { Machine } from "../machine/machine.ts";
import { HV_X64_MSR_GUEST_OS_ID } from "./hvdef.ts";
import { writeSynthMsr } from "./msrs.ts";

Deno.test("msr event: the written value is exact above 2^53", () => {
  const events: TraceEvent[] = [];
  const m = new Machine(
    validateConfig({ ...DEFAULT_CONFIG }),
    realModeLoader("t", Uint8Array.of(0xf4), 0x7c00, { rip: 0x7c00, rsp: 0x7000 }),
    { event: (e) => void events.push(e) },
    new NoInput(),
  );
  assert.ok(writeSynthMsr(m.partition, m.vps[0]!.hv, HV_X64_MSR_GUEST_OS_ID, 0x1234567, -1));
  const e = events.find((e) => e.kind === "msr");
  assert.equal(e?.kind === "msr" ? e.value : undefined, "0xffffffff01234567");
});
