import assert from "node:assert/strict";
import { Decoder, DecoderOptions, Formatter, FormatterSyntax } from "iced-x86";
import { buildHypercallPage, codePageOffsets } from "./hypercall_page.ts";

/** Disassembles from `off` until a ret or a jump back to offset 0 (the stub's end). */
function stub(page: Uint8Array, off: number, bits: 32 | 64): string[] {
  const d = new Decoder(bits, page.subarray(off, off + 32), DecoderOptions.None);
  d.ip = BigInt(off);
  const f = new Formatter(FormatterSyntax.Intel);
  const out: string[] = [];
  for (let i = 0; i < 6; i++) {
    const ins = d.decode();
    const text = f.format(ins);
    ins.free();
    out.push(text);
    if (text === "ret" || text.startsWith("jmp")) break;
  }
  d.free();
  return out;
}

for (const profile of ["hyperv", "kvm-rfc"] as const) {
  Deno.test(`hypercall page (${profile}): VsmCodePageOffsets point at VTL call/return stubs of the right bitness (TLFS §15.6)`, () => {
    const page = buildHypercallPage(profile), o = codePageOffsets(profile);
    const tail = (s: string[]) => s.at(-1)!;
    for (
      const [off, code, bits] of [
        [o.call64, "11h", 64],
        [o.return64, "12h", 64],
        [o.call32, "11h", 32],
        [o.return32, "12h", 32],
      ] as const
    ) {
      const s = stub(page, off, bits);
      assert.equal(s[0], bits === 64 ? "mov rax,rcx" : "mov ecx,eax", `${off}: ${s}`);
      assert.equal(s[1], bits === 64 ? `mov ecx,${code}` : `mov eax,${code}`, `${off}: ${s}`);
      // Either the stub makes the call itself or it jumps to the plain vmcall; ret at 0.
      assert.ok(tail(s) === "ret" || /^jmp short 0+h?$/.test(tail(s)), `${off}: ${s}`);
    }
    assert.deepEqual(stub(page, 0, 64), ["vmcall", "ret"]);
  });
}
