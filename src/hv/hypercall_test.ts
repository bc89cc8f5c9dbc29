/**
 * The fast hypercall register layout (TLFS `hypercall-interface.md` "XMM Fast Hypercall Input /
 * Output", spec/vsm.md §1.3): 7 register pairs for 64-bit callers, 1 for 32-bit callers, output
 * after the input, #UD for an XMM form that is not advertised.
 */

import assert from "node:assert/strict";
import { fastLayout } from "./hypercall.ts";
import {
  HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE,
  HV_X64_HYPERCALL_XMM_OUTPUT_AVAILABLE,
} from "./hvdef.ts";
import { hvFeaturesEdx } from "./cpuid.ts";
import type { Partition } from "./partition.ts";

const BOTH = HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE | HV_X64_HYPERCALL_XMM_OUTPUT_AVAILABLE;

Deno.test("§3.7 XMM fast: input in (RDX, R8) then XMM0-5, output from the next pair", () => {
  assert.deepEqual(fastLayout(8, 0, true, BOTH), { kind: "ok", inPairs: 1 });
  assert.deepEqual(fastLayout(16, 0, true, BOTH), { kind: "ok", inPairs: 1 });
  // GetVpRegisters, one name: 20 bytes in (RDX, R8, XMM0), 16 out in XMM1.
  assert.deepEqual(fastLayout(20, 16, true, BOTH), { kind: "ok", inPairs: 2 });
  // Four names: 32 in, 64 out in XMM1-XMM4.
  assert.deepEqual(fastLayout(32, 64, true, BOTH), { kind: "ok", inPairs: 2 });
  assert.deepEqual(fastLayout(112, 0, true, BOTH), { kind: "ok", inPairs: 7 });
  assert.deepEqual(fastLayout(16, 96, true, BOTH), { kind: "ok", inPairs: 1 });
  assert.deepEqual(fastLayout(0, 16, true, BOTH), { kind: "ok", inPairs: 0 });
  // Too big: INVALID_HYPERCALL_INPUT.
  assert.deepEqual(fastLayout(113, 0, true, BOTH), { kind: "invalid" });
  assert.deepEqual(fastLayout(36, 80, true, BOTH), { kind: "invalid" });
  assert.deepEqual(fastLayout(240, 0, true, BOTH), { kind: "invalid" });
});

Deno.test("§3.7 XMM fast while not advertised raises #UD; 32-bit callers have one pair", () => {
  assert.deepEqual(fastLayout(16, 0, true, 0), { kind: "ok", inPairs: 1 });
  assert.deepEqual(fastLayout(24, 0, true, 0), { kind: "ud" });
  assert.deepEqual(fastLayout(24, 0, true, HV_X64_HYPERCALL_XMM_OUTPUT_AVAILABLE), { kind: "ud" });
  assert.deepEqual(fastLayout(16, 16, true, HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE), {
    kind: "ud",
  });
  assert.deepEqual(fastLayout(24, 0, true, HV_X64_HYPERCALL_XMM_INPUT_AVAILABLE), {
    kind: "ok",
    inPairs: 2,
  });
  // 32-bit callers (OpenVMM: EBX:ECX, EDI:ESI only, no fast output).
  assert.deepEqual(fastLayout(16, 0, false, BOTH), { kind: "ok", inPairs: 1 });
  assert.deepEqual(fastLayout(20, 0, false, BOTH), { kind: "invalid" });
  assert.deepEqual(fastLayout(8, 16, false, BOTH), { kind: "invalid" });
  // Both are advertised in CPUID 0x40000003 EDX.
  assert.equal(hvFeaturesEdx({} as Partition) & BOTH, BOTH);
});
