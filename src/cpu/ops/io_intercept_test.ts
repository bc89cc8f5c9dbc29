/**
 * The CPU side of I/O intercepts (CpuHost.interceptIo, hv/io_intercepts.ts; spec/vsm.md §6): an
 * intercepted IN/OUT/INS/OUTS is abandoned before any port or memory access (RIP on it, nothing
 * retired); the host sees port, size, direction, string and REP; the I/O permission check comes
 * first; a zero-count REP is not reported.
 */

import assert from "node:assert/strict";
import { CR0_PE, CS, DS, ES, FS, GS, RAX, RCX, RDX, RSI, SS } from "../regs.ts";
import { makeCpu, type TestMachine } from "../testing.ts";

type Seen = [number, number, boolean, boolean, boolean];

/** 32-bit protected mode at CPL 0, flat segments; the host intercepts port 0x80 only. */
function setup(): TestMachine & { seen: Seen[] } {
  const t = makeCpu(1 << 20);
  const { cpu, host } = t;
  cpu.cr0 = CR0_PE | 0x10;
  cpu.setSegment(CS, 0x08, 0, 0xffffffff, 0xc09b);
  for (const s of [DS, ES, SS, FS, GS]) cpu.setSegment(s, 0x10, 0, 0xffffffff, 0xc093);
  cpu.updateMode();
  cpu.flushTlbAll();
  const seen: Seen[] = [];
  Object.assign(host, {
    interceptIo: (port: number, size: number, write: boolean, str: boolean, rep: boolean) => {
      seen.push([port, size, write, str, rep]);
      return port === 0x80;
    },
  });
  return { ...t, seen };
}

let nextAt = 0x8000;

/**
 * Runs one instruction with the given registers, each call at a fresh address (decoded blocks
 * are cached by address); returns RIP relative to the instruction and the instructions retired.
 */
function step(t: TestMachine, code: number[], regs: Record<number, number>) {
  const { cpu, mem } = t;
  const at = nextAt;
  nextAt += 0x100;
  mem.u8.set([...code, 0xf4], at);
  cpu.rip = at;
  cpu.halted = false;
  for (const [r, v] of Object.entries(regs)) cpu.setReg(Number(r), v);
  const before = cpu.icount;
  cpu.run(1);
  return { rip: cpu.rip - at, retired: cpu.icount - before };
}

Deno.test("I/O intercept: IN, OUT, INS, REP OUTSB to an intercepted port are abandoned", () => {
  const t = setup();
  // in al, dx / out dx, ax / insd / rep outsb, all to port 0x80.
  for (
    const [code, want] of [
      [[0xec], [0x80, 1, false, false, false]],
      [[0x66, 0xef], [0x80, 2, true, false, false]],
      [[0x6d], [0x80, 4, false, true, false]],
      [[0xf3, 0x6e], [0x80, 1, true, true, true]],
    ] as [number[], Seen][]
  ) {
    t.seen.length = 0;
    t.host.out.length = 0;
    const r = step(t, code, { [RDX]: 0x80, [RAX]: 0x1234, [RCX]: 3, [RSI]: 0x2000 });
    assert.deepEqual(t.seen, [want]);
    assert.equal(r.rip, 0, `RIP stays on ${code}`);
    assert.equal(r.retired, 0);
    assert.deepEqual(t.host.out, []);
    assert.equal(t.cpu.reg(RCX), 3);
    assert.equal(t.cpu.reg(RSI), 0x2000);
  }
  // out 0x80, al (immediate port form).
  t.seen.length = 0;
  assert.equal(step(t, [0xe6, 0x80], {}).rip, 0);
  assert.deepEqual(t.seen, [[0x80, 1, true, false, false]]);
});

Deno.test("I/O intercept: other ports run; a zero-count REP OUTSB is not reported", () => {
  const t = setup();
  const r = step(t, [0xee], { [RDX]: 0x81, [RAX]: 0x5a });
  assert.equal(r.rip, 1);
  assert.deepEqual(t.host.out, [{ port: 0x81, size: 1, value: 0x5a }]);
  t.seen.length = 0;
  const z = step(t, [0xf3, 0x6e], { [RDX]: 0x80, [RCX]: 0 });
  assert.deepEqual(t.seen, []);
  assert.equal(z.rip, 2);
});

Deno.test("I/O intercept: the IOPL/TSS permission check (#GP) comes before the intercept", () => {
  const t = setup();
  // CPL 3 with IOPL 0 and no usable TSS: #GP(0) before the host is asked.
  t.cpu.setSegment(CS, 0x1b, 0, 0xffffffff, 0xc0fb);
  t.cpu.setSegment(SS, 0x23, 0, 0xffffffff, 0xc0f3);
  t.cpu.updateMode();
  t.cpu.segLimit[7] = 0; // TR too short for an I/O bitmap
  const ex: number[] = [];
  t.host.onException = (v) => void ex.push(v);
  try {
    step(t, [0xec], { [RDX]: 0x80 });
  } catch { /* the #GP has no IDT to go to */ }
  assert.equal(ex[0], 13);
  assert.deepEqual(t.seen, []);
});
