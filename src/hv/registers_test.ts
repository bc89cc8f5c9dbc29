/** HvCallSetVpRegisters of HvX64RegisterRflags: VM where the VP's mode gives it no meaning. */

import assert from "node:assert/strict";
import { Vtl0 } from "../core/vtl.ts";
import { FLAG_IF, FLAG_VM } from "../cpu/regs.ts";
import { DEFAULT_CONFIG, validateConfig } from "../machine/config.ts";
import { NoInput } from "../machine/inputs.ts";
import { realModeLoader } from "../machine/loader.ts";
import { Machine } from "../machine/machine.ts";
import { HV_STATUS_SUCCESS, HvX64RegisterRflags } from "./hvdef.ts";
import { setRegister } from "./registers.ts";

Deno.test("SetVpRegisters: RFLAGS.VM written to a real-mode VP is dropped, not a V86 hybrid", () => {
  const m = new Machine(
    validateConfig({ ...DEFAULT_CONFIG }),
    realModeLoader("t", Uint8Array.of(0xf4), 0x7c00, { rip: 0x7c00, rsp: 0x7000 }),
    { event: () => {} },
    new NoInput(),
  );
  const vp = m.vps[0]!.hv;
  const st = setRegister(m.partition, vp, Vtl0, HvX64RegisterRflags, [
    FLAG_VM | FLAG_IF | 2,
    0,
    0,
    0,
  ], Vtl0);
  assert.equal(st, HV_STATUS_SUCCESS);
  assert.equal(vp.cpu.getRflags(), FLAG_IF | 2);
  assert.equal(vp.cpu.cpl, 0);
});
