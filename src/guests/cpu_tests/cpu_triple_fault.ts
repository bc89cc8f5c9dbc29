/**
 * CPU test kernel `cpu-triple-fault` (SDM Vol. 3A §6.15, interrupt 8): with an IDT limit of 0,
 * UD2 raises #UD, whose delivery raises #GP (vector beyond the limit, EXT=1), whose delivery
 * raises #GP again → #DF, whose delivery fails → triple fault: the machine shuts down. The run
 * must end with an `exit` event of reason `triple_fault` (test/cpu_tests_test.ts checks the
 * trace; the guest cannot report it).
 */

import { mem } from "../asm.ts";
import type { BuiltinGuest } from "../demo.ts";
import { Kit } from "../kit.ts";

export function buildCpuTripleFault(): BuiltinGuest {
  const k = new Kit("cpu-triple-fault");
  const a = k.a;
  const start = a.label(), idt0 = a.label();
  a.jmp(start);
  a.align(16).bind(idt0).dw(0).dq(0n); // IDT: base 0, limit 0
  a.bind(start);
  k.pass("cpu-triple-fault: loading an IDT with limit 0, then UD2");
  a.lidt(mem(idt0));
  a.i("ud2");
  k.say("FAIL the CPU went on after a triple fault\n");
  a.jmp(k.finish);
  return k.build();
}
