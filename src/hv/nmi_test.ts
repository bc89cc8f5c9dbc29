/** NMIs per VTL and cross-VTL preemption by an NMI (nmi.ts, vsm.ts checkPreemption). */

import assert from "node:assert/strict";
import { Vtl0, Vtl1 } from "../core/vtl.ts";
import { hvMachine } from "./hypercalls/testing.ts";
import { checkPreemption } from "./vsm.ts";

Deno.test("nmi: an NMI for a higher VTL preempts the lower one, as vector 2", () => {
  const m = hvMachine(2);
  const vp = m.vps[0]!.hv;
  assert.equal(vp.activeVtl, Vtl0);
  // VP1's VTL1 APIC sends an NMI IPI to VP0's VTL1 while VP0 runs VTL0.
  m.sendIpi(m.vps[1]!, Vtl1, 0x400, 0);
  assert.ok(vp.contexts.get(Vtl1).nmiPending && vp.preemptCheck);
  assert.ok(checkPreemption(m.partition, vp));
  assert.equal(vp.activeVtl, Vtl1);
  assert.ok(vp.cpu.nmiPending);
  assert.deepEqual(vp.preemptedBy, { vtl: Vtl1, vector: 2 });
});
