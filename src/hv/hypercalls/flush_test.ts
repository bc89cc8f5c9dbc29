/**
 * The flush hypercalls and TLB locks (TLFS §9.4.2, §15.5.2 TlbLocked; spec/vsm.md §2.9): a flush
 * waits for the locks of the VPs it targets, and only for those.
 */

import assert from "node:assert/strict";
import { Vtl1 } from "../../core/vtl.ts";
import { RAX, RBX, RCX, RDI, RDX, RSI } from "../../cpu/regs.ts";
import { enterLongMode } from "../../cpu/testing.ts";
import { DEFAULT_CONFIG, validateConfig } from "../../machine/config.ts";
import { NoInput } from "../../machine/inputs.ts";
import { realModeLoader } from "../../machine/loader.ts";
import { Machine } from "../../machine/machine.ts";
import { hypercall } from "../hypercall.ts";

const INPUT = 0x8000, VMCALL_END = 0x7c03;

function setup() {
  const m = new Machine(
    validateConfig({ ...DEFAULT_CONFIG, vps: 3, maxVtl: 1 }),
    realModeLoader("t", Uint8Array.of(0xf4), 0x7c00, { rip: 0x7c00, rsp: 0x7000 }),
    { event() {} },
    new NoInput(),
  );
  /** VTL1 of VP `i` runs and holds VP i's TLB locked for VTL0 (VsmVpSecureConfigVtl0.TlbLocked). */
  const lock = (i: number, on: boolean) => {
    const hv = m.vps[i]!.hv;
    hv.started = true;
    hv.enabledVtls = 3;
    hv.activeVtl = Vtl1;
    hv.secureConfig[1]![0] = on ? 2 : 0;
  };
  /**
   * VP0 (VTL0) executes HvCallFlushVirtualAddressSpace (memory form, 32-bit register mapping)
   * with ProcessorMask `mask`; returns the result status, or -1 when the VP waits (RIP back on
   * the VMCALL).
   */
  const flush = (mask: number) => {
    const vp = m.vps[0]!, cpu = vp.cpu;
    m.mem.writeBytes(INPUT, new Uint8Array(24));
    m.mem.write32(INPUT + 16, mask);
    cpu.lo[RAX] = 0x0002; // HvCallFlushVirtualAddressSpace, memory form
    cpu.lo[RDX] = 0;
    cpu.lo[RBX] = 0;
    cpu.lo[RCX] = INPUT;
    cpu.lo[RDI] = 0;
    cpu.lo[RSI] = 0;
    cpu.rip = VMCALL_END;
    hypercall(m.partition, vp.hv);
    return cpu.rip === VMCALL_END ? cpu.lo[RAX]! & 0xffff : -1;
  };
  return { m, vp0: m.vps[0]!, lock, flush };
}

Deno.test("flush: a lock on a VP the flush does not target does not hold it up", () => {
  const t = setup();
  t.lock(2, true);
  assert.equal(t.flush(0b010), 0);
  assert.equal(t.vp0.hv.waitTlb, null);
  assert.ok(t.vp0.runnable);
});

Deno.test("flush: the caller waits for its targets' locks only, then re-executes the call", () => {
  const t = setup();
  t.lock(1, true);
  t.lock(2, true);
  assert.equal(t.flush(0b010), -1, "VP1 is a target and locked: the caller waits");
  assert.ok(!t.vp0.runnable);
  // VP1 releases its lock; VP2, which the flush does not target, keeps its own.
  t.lock(1, false);
  assert.ok(t.vp0.runnable, "waiting only for VP1");
  assert.equal(t.vp0.hv.waitTlb, null);
  assert.equal(t.flush(0b010), 0);
});

Deno.test("flush: TlbFlushInhibit on a target holds the caller until it is cleared", () => {
  const t = setup();
  const hv1 = t.m.vps[1]!.hv;
  hv1.started = true;
  hv1.tlbFlushInhibit = true;
  assert.equal(t.flush(0b110), -1);
  assert.ok(!t.vp0.runnable);
  hv1.tlbFlushInhibit = false;
  assert.ok(t.vp0.runnable);
  assert.equal(t.flush(0b110), 0);
});

for (const how of ["TlbFlushInhibit", "TlbLocked"] as const) {
  Deno.test(`flush: while ${how} holds it, the target keeps its stale translation`, () => {
    const t = setup();
    const cpu1 = t.m.vps[1]!.cpu, mem = t.m.mem;
    // VP1 in long mode, identity-mapped with 2 MiB pages; GVA 0x200000 is read through its TLB.
    enterLongMode(cpu1, 0x10000);
    const pde1 = 0x12000 + 8; // the PD entry mapping 0x200000
    mem.write32(0x200000, 0x1111);
    mem.write32(0x400000, 0x2222);
    assert.equal(cpu1.read32(0x200000), 0x1111);
    // The guest remaps the page (without a flush): the cached translation stays, as on hardware.
    mem.write32(pde1, 0x400000 | 0x83);
    assert.equal(cpu1.read32(0x200000), 0x1111);
    if (how === "TlbLocked") t.lock(1, true);
    else {
      t.m.vps[1]!.hv.started = true;
      t.m.vps[1]!.hv.tlbFlushInhibit = true;
    }
    assert.equal(t.flush(0b010), -1, "VP0's flush of VP1 waits");
    assert.equal(cpu1.read32(0x200000), 0x1111, "VP1 still uses the old translation");
    if (how === "TlbLocked") t.lock(1, false);
    else t.m.vps[1]!.hv.tlbFlushInhibit = false;
    assert.ok(t.vp0.runnable);
    assert.equal(t.flush(0b010), 0, "the re-executed flush completes");
    assert.equal(cpu1.read32(0x200000), 0x2222, "VP1 translates afresh");
  });
}
