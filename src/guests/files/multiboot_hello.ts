/**
 * A minimal multiboot (v1) kernel, as an ELF32 file: it checks the boot loader magic, prints its
 * command line and its first module's contents on COM1, and exits through the debug-exit port
 * with the module count (0x2BADB002 mismatch: value 0x7f). Used to test the file-guest path end
 * to end (image detection, loader, --append, --initrd, replay by SHA-256).
 */

import { Asm, byte, dword, mem } from "../asm.ts";
import { al, dx, eax, ebx, ecx, edi, esi } from "../asm/operands.ts";
import { buildElf, multibootHeader } from "../../machine/loaders/testing.ts";

const BASE = 0x100000;
const COM1 = 0x3f8;
const DEBUG_EXIT = 0xf4;

export function buildMultibootHello(): Uint8Array {
  const a = new Asm({ base: BASE, bits: 32 });
  a.bytes(multibootHeader(0));
  const putc = a.label("putc");
  const puts = a.label("puts");
  const bad = a.label("bad");
  const done = a.label("done");
  const entry = a.here("entry");
  a.cmp(eax, 0x2badb002);
  a.jne(bad);
  a.mov(esi, dword(mem(ebx, 16))); // cmdline
  a.call(puts);
  a.mov(al, 0x0a);
  a.call(putc);
  a.mov(ecx, dword(mem(ebx, 20))); // mods_count
  a.test(ecx, ecx);
  a.jz(done);
  a.mov(edi, dword(mem(ebx, 24))); // mods_addr
  a.mov(esi, dword(mem(edi, 0))); // mod_start
  a.mov(ecx, dword(mem(edi, 4))); // mod_end
  a.sub(ecx, esi);
  const loop = a.here("loop");
  a.test(ecx, ecx);
  a.jz(done);
  a.i("lodsb");
  a.call(putc);
  a.dec(ecx);
  a.jmp(loop);
  a.bind(done);
  a.mov(eax, dword(mem(ebx, 20)));
  a.out(DEBUG_EXIT, al);
  a.hlt();
  a.bind(bad);
  a.mov(al, 0x7f);
  a.out(DEBUG_EXIT, al);
  a.hlt();
  // puts: ESI -> NUL-terminated string.
  a.bind(puts);
  const pend = a.label("pend");
  const ploop = a.here("ploop");
  a.mov(al, byte(mem(esi, 0)));
  a.test(al, al);
  a.jz(pend);
  a.call(putc);
  a.i("inc", esi);
  a.jmp(ploop);
  a.bind(pend);
  a.ret();
  // putc: AL -> COM1 (the transmitter is always ready).
  a.bind(putc);
  a.mov(dx, COM1);
  a.out(dx, al);
  a.ret();
  const img = a.assemble();
  return buildElf({
    cls: 32,
    entry: img.addressOf(entry),
    segments: [{ paddr: BASE, data: img.bytes }],
  });
}
