/**
 * Test support for hypercall definitions: a machine whose VPs can be put in a VTL and made to
 * execute a memory-form simple hypercall (32-bit register mapping) directly.
 */

import { type Vtl } from "../../core/vtl.ts";
import { RAX, RBX, RCX, RDI, RDX, RSI } from "../../cpu/regs.ts";
import { DEFAULT_CONFIG, validateConfig } from "../../machine/config.ts";
import { NoInput } from "../../machine/inputs.ts";
import { realModeLoader } from "../../machine/loader.ts";
import { Machine } from "../../machine/machine.ts";
import { hypercall } from "../hypercall.ts";

const INPUT = 0x8000, VMCALL_END = 0x7c03;

/** A machine with `vps` VPs, VTL1 enabled on all of them, every VP started in VTL0. */
export function hvMachine(vps = 2): Machine {
  const m = new Machine(
    validateConfig({ ...DEFAULT_CONFIG, vps, maxVtl: 1 }),
    realModeLoader("t", Uint8Array.of(0xf4), 0x7c00, { rip: 0x7c00, rsp: 0x7000 }),
    { event() {} },
    new NoInput(),
  );
  m.partition.enabledVtls = 3;
  for (const vp of m.vps) {
    vp.hv.started = true;
    vp.hv.enabledVtls = 3;
  }
  return m;
}

/**
 * VP `vp` executes simple hypercall `code` (memory form) from VTL `vtl` with input `input`;
 * returns the HV_STATUS.
 */
export function call(m: Machine, vp: number, vtl: Vtl, code: number, input: Uint8Array): number {
  const v = m.vps[vp]!, cpu = v.cpu;
  v.hv.activeVtl = vtl;
  m.mem.writeBytes(INPUT, input);
  cpu.lo[RAX] = code;
  cpu.lo[RDX] = 0;
  cpu.lo[RBX] = 0;
  cpu.lo[RCX] = INPUT;
  cpu.lo[RDI] = 0;
  cpu.lo[RSI] = 0;
  cpu.rip = VMCALL_END;
  hypercall(m.partition, v.hv);
  return cpu.lo[RAX]! & 0xffff;
}
