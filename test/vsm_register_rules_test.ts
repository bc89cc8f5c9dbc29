/**
 * SetVpRegisters rules checked from a guest, beyond the vsm-registers scenario.
 *
 * 1. SetVpRegisters of a lower VTL's CR3 (TLFS §7.10.2; a higher VTL emulating an intercepted
 * MOV CR3) takes effect for that VTL's next memory access: no translation cached under the old
 * page tables survives the VTL return. VTL0 reads VA 512G through root A, VTL1 switches VTL0 to
 * root B (mapping the same VA elsewhere), and VTL0 must then read B's page.
 * 2. Controls vtlrr does not implement are refused with HV_STATUS_INVALID_REGISTER_VALUE rather
 *    than accepted and ignored: CrInterceptControl GdtrWrite..TrWrite (bits 15-18) and
 *    VsmPartitionConfig InterceptVpStartup (0x200); and the DefaultVtlProtectionMask must pass
 *    the same validity rule as ModifyVtlProtectionMask (R+KX without UX is invalid without MBEC).
 */
import assert from "node:assert/strict";
import { Kit, PAGES } from "../src/guests/kit.ts";
import { cr3, qword, rax } from "../src/guests/asm.ts";
import { REG, setReg, store64, Vtl1Server } from "../src/guests/scenarios/vsm_util.ts";
import { DEFAULT_CONFIG, validateConfig } from "../src/machine/config.ts";
import { longModeLoader } from "../src/machine/loader.ts";
import { Machine } from "../src/machine/machine.ts";
import { NoInput } from "../src/machine/inputs.ts";

Deno.test("SetVpRegisters (TLFS §7.10.2): a lower VTL's new CR3 takes effect; unimplemented controls are refused", () => {
  const k = new Kit("cr3");
  const a = k.a;
  const REQ = 0x7d0000;
  const srv = new Vtl1Server(k, REQ);
  const A = 0x730000, B = 0x733000; // PML4, PDPT, PD each
  k.hvInit(0);
  k.enableVtl1();
  for (const [base, phys] of [[A, 0x800000], [B, 0xa00000]] as const) {
    for (let i = 0; i < 3 * 512; i++) store64(k, base + i * 8, 0);
    a.mov(rax, qword(k.pml4)).mov(qword(base), rax);
    store64(k, base + 8, (base + 0x1000) | 7);
    store64(k, base + 0x1000, (base + 0x2000) | 7);
    store64(k, base + 0x2000, phys | 0x87);
  }
  store64(k, 0x800000, 0x1111);
  store64(k, 0xa00000, 0x2222);
  a.mov(rax, A).mov(cr3, rax);
  a.mov(rax, 0x8000000000n).mov(rax, qword(rax));
  srv.call(0);
  a.mov(rax, 0x8000000000n).mov(rax, qword(rax));
  k.expectEq("before: VA 512G reads PML4 A's page", rax, 0x1111);
  srv.init(() => {
    k.hvInit(1);
    k.wrmsr(0x40000073, PAGES.assist1 | 1);
  });
  srv.on(1, () => {
    setReg(k, 1, REG.CR3, B, { vtlSel: 0x10 });
    k.expectEq("SetVpRegisters(VTL0 CR3) succeeds", rax, 1n << 32n);
  });
  srv.on(2, () => {
    for (
      const [what, name, value] of [
        ["CrInterceptControl GdtrWrite", REG.CR_INTERCEPT_CONTROL, 1 << 15],
        ["CrInterceptControl TrWrite", REG.CR_INTERCEPT_CONTROL, 1 << 18],
        ["VsmPartitionConfig InterceptVpStartup", REG.VSM_PARTITION_CONFIG, 0x200],
        ["VsmPartitionConfig default mask R+KX", REG.VSM_PARTITION_CONFIG, 1 | (5 << 1)],
      ] as const
    ) {
      setReg(k, 1, name, value);
      k.expectEq(`${what} refused: HV_STATUS_INVALID_REGISTER_VALUE`, rax, 0x50);
    }
  });
  srv.call(2);
  srv.call(1);
  a.mov(rax, cr3);
  k.expectEq("VTL0 CR3 now B", rax, B);
  a.mov(rax, 0x8000000000n).mov(rax, qword(rax));
  k.expectEq("after: VA 512G reads PML4 B's page", rax, 0x2222);
  a.jmp(k.finish);
  srv.emit();
  const g = k.build();
  const config = validateConfig({ ...DEFAULT_CONFIG });
  let out = "";
  const m = new Machine(config, longModeLoader(g.name, g.bytes, g.load, g.entry), {
    event(e) {
      if (e.kind === "console") out += (e as unknown as { text: string }).text;
    },
  }, new NoInput());
  while (m.exit === null) m.run(1_000_000);
  assert.match(out, /SUMMARY pass=\S+ fail=0+\b/, out);
  assert.doesNotMatch(out, /FAIL/, out);
  assert.equal(out.match(/^PASS /gm)?.length, 10, out); // every check ran
});
