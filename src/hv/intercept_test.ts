/**
 * Secure intercept delivery (TLFS §15.13, spec/vsm.md §5.3-5.4): the HV_MESSAGE header, and
 * where the message goes — SINT0's slot, its queue behind a busy slot, or the VP assist page.
 */

import assert from "node:assert/strict";
import { Vtl1 } from "../core/vtl.ts";
import { DEFAULT_CONFIG, validateConfig } from "../machine/config.ts";
import { NoInput } from "../machine/inputs.ts";
import { realModeLoader } from "../machine/loader.ts";
import { Machine } from "../machine/machine.ts";
import {
  HV_X64_MSR_SCONTROL,
  HV_X64_MSR_SIMP,
  HV_X64_MSR_SINT0,
  HvMessageTypeRegisterIntercept,
} from "./hvdef.ts";
import { deliverIntercept, interceptMessage } from "./intercept.ts";
import { parseMessageHeader } from "./messages.ts";

const SIMP = 0x9000;

function setup() {
  const m = new Machine(
    validateConfig({ ...DEFAULT_CONFIG, maxVtl: 1 }),
    realModeLoader("t", Uint8Array.of(0xf4), 0x7c00, { rip: 0x7c00, rsp: 0x7000 }),
    { event() {} },
    new NoInput(),
  );
  const p = m.partition, hv = m.vps[0]!.hv;
  p.enabledVtls = 3;
  hv.enabledVtls = 3;
  const s = hv.synics.get(Vtl1);
  assert.ok(s.writeMsr(HV_X64_MSR_SCONTROL, 1, 0));
  assert.ok(s.writeMsr(HV_X64_MSR_SIMP, SIMP | 1, 0));
  assert.ok(s.writeMsr(HV_X64_MSR_SINT0, 0x30, 0));
  const msg = () => interceptMessage(hv, HvMessageTypeRegisterIntercept, 64, 1, 3)[0];
  return { m, p, hv, s, msg };
}

Deno.test("intercept message: an HV_MESSAGE header with the type and payload size, no flags", () => {
  const t = setup();
  const h = parseMessageHeader(t.msg());
  assert.equal(h.messageType, HvMessageTypeRegisterIntercept >>> 0);
  assert.equal(h.payloadSize, 64);
  assert.equal(h.messageFlags, 0);
  assert.deepEqual(h.originationId, [0, 0]);
});

Deno.test("intercept delivery: slot 0, then queued behind the busy slot, or the assist page", () => {
  const t = setup();
  assert.equal(deliverIntercept(t.p, t.hv, Vtl1, t.msg()), "delivered");
  assert.equal(deliverIntercept(t.p, t.hv, Vtl1, t.msg()), "pending");
  assert.equal(t.m.mem.read8(t.s.simpOffset + 5) & 1, 1, "MessagePending set in the busy slot");
  // VsmPartitionConfig.InterceptPage: the VP assist page route, entering VTL1.
  t.p.vsmConfig.set(Vtl1, 1 << 12);
  assert.equal(deliverIntercept(t.p, t.hv, Vtl1, t.msg()), "page");
  assert.equal(t.hv.activeVtl, Vtl1);
});
