/**
 * `cpubench`: a CPU-bound built-in guest for `deno task bench` and for checking that compiled
 * blocks behave exactly like the interpreter. Two workloads, each printing a checksum:
 * - compute: table-driven CRC-32 over 64 KiB, a sieve of Eratosthenes, a 64-bit mixing pass
 *   (the same kind of work as the shared benchmark guest);
 * - memory/branch: insertion sort of pseudo-random dwords, binary searches into the sorted
 *   array, and a pointer chase through a random cyclic permutation (cache- and branch-hostile).
 */

import { Asm, byte, dword, type Label, mem, qword } from "./asm.ts";
import {
  al,
  eax,
  ebx,
  ecx,
  edi,
  edx,
  esi,
  r10,
  r11,
  r12,
  r13,
  r14,
  r15,
  r8,
  r8d,
  r9,
  r9d,
  rax,
  rbx,
  rcx,
  rdi,
  rdx,
  rsi,
  rsp,
} from "./asm/operands.ts";
import type { BuiltinGuest } from "./demo.ts";
import { gdt, pageTables4 } from "./x86_structs.ts";

const BASE = 0x100000;
const BUF = 0x200000; // 64 KiB data buffer
const SIEVE = 0x210000; // 64 KiB sieve
const TABLE = 0x220000; // CRC table (1 KiB)
const SORT = 0x230000; // sort array (dwords)
const PERM = 0x240000; // permutation (dwords)
const SORT_N = 1024;
const PERM_N = 16384;

export function buildCpuBench(reps = 4): BuiltinGuest {
  const a = new Asm({ base: BASE, bits: 64 });
  const entry = a.label("entry"), puts = a.label("puts"), puthex = a.label("puthex");
  const msgs: [Label, string][] = [];
  const msg = (t: string) => {
    const l = a.label();
    msgs.push([l, t]);
    return l;
  };
  const mStart = msg("cpubench: start\n"),
    mCompute = msg("compute checksum="),
    mMem = msg(
      "memory checksum=",
    );
  const mNl = msg("\n"), mDone = msg("cpubench: done\n");
  const g = gdt(a, [{ type: "null" }, { type: "code64" }, { type: "data" }]);

  a.bind(entry);
  a.mov(rsp, 0x1ff000);
  a.mov(rsi, mStart).call(puts);
  // CRC-32 table.
  a.xor(ecx, ecx);
  const t1 = a.here(), t2 = a.label(), t3 = a.label();
  a.mov(eax, ecx).mov(edx, 8);
  a.bind(t2).shr(eax, 1).jnc(t3).xor(eax, 0xedb88320);
  a.bind(t3).dec(edx).jnz(t2);
  a.mov(dword(null, rcx, 4, TABLE), eax).i("inc", ecx).cmp(ecx, 256).jne(t1);
  // Buffer: 64-bit LCG.
  a.mov(rax, 0x0123456789abcdefn).mov(rbx, 6364136223846793005n).mov(rsi, 1442695040888963407n);
  a.mov(edi, BUF).mov(ecx, 8192);
  const f1 = a.here();
  a.imul(rax, rbx).add(rax, rsi).mov(qword(rdi), rax).add(rdi, 8).dec(ecx).jnz(f1);

  // ---- compute workload ----
  a.xor(r13, r13).mov(r12, reps);
  const rep = a.here("rep");
  // CRC over the buffer.
  a.mov(esi, BUF).mov(edx, -1).mov(ecx, 65536);
  const c1 = a.here();
  a.movzx(eax, byte(rsi)).xor(eax, edx).and(eax, 0xff).shr(edx, 8).xor(
    edx,
    dword(null, rax, 4, TABLE),
  );
  a.i("inc", rsi).dec(ecx).jnz(c1);
  a.not(edx).mov(r14d(), edx);
  // Sieve.
  a.mov(edi, SIEVE).xor(eax, eax).mov(ecx, 65536 / 8).rep().stosq();
  a.mov(ebx, 2);
  const s1 = a.here(), s2 = a.label(), s3 = a.label(), sDone = a.label();
  a.cmp(byte(null, rbx, 1, SIEVE), 0).jne(s3);
  a.mov(eax, ebx).imul(eax, ebx).cmp(eax, 65536).jae(sDone);
  a.bind(s2).mov(byte(null, rax, 1, SIEVE), 1).add(eax, ebx).cmp(eax, 65536).jb(s2);
  a.bind(s3).i("inc", ebx).jmp(s1);
  a.bind(sDone);
  a.xor(eax, eax).mov(ecx, 2);
  const s4 = a.here();
  a.movzx(edx, byte(null, rcx, 1, SIEVE)).add(eax, edx).i("inc", ecx).cmp(ecx, 65536).jb(s4);
  a.mov(r15d(), eax);
  // Mix.
  a.mov(rax, r14).shl(rax, 32).or(rax, r14).mov(esi, BUF).mov(ecx, 8192);
  const m1 = a.here();
  a.mov(rdx, qword(rsi)).xor(rdx, rax).i("rol", rdx, 13).add(rax, rdx).mov(qword(rsi), rdx);
  a.add(rsi, 8).dec(ecx).jnz(m1);
  a.i("rol", r13, 5).xor(r13, r14).add(r13, r15).add(r13, rax);
  a.dec(r12).jnz(rep);
  a.mov(rsi, mCompute).call(puts).mov(rax, r13).call(puthex).mov(rsi, mNl).call(puts);

  // ---- memory/branch workload ----
  // Fill the sort array from the buffer, insertion-sort it.
  a.mov(esi, BUF).mov(edi, SORT).mov(ecx, SORT_N).rep().movsd();
  a.mov(r8d, 1);
  const is1 = a.here(), is2 = a.label(), is3 = a.label(), isDone = a.label();
  a.cmp(r8d, SORT_N).jae(isDone);
  a.mov(eax, dword(null, r8, 4, SORT)).mov(r9d, r8d);
  a.bind(is2).test(r9d, r9d).jz(is3);
  a.mov(edx, dword(null, r9, 4, SORT - 4)).cmp(edx, eax).jbe(is3);
  a.mov(dword(null, r9, 4, SORT), edx).dec(r9d).jmp(is2);
  a.bind(is3).mov(dword(null, r9, 4, SORT), eax).i("inc", r8d).jmp(is1);
  a.bind(isDone);
  // Binary-search every buffer dword's value in the sorted array; count hits and probes.
  a.xor(r10, r10).mov(esi, BUF).mov(ecx, 4096);
  const bs0 = a.here(), bsLoop = a.label(), bsLeft = a.label(), bsNext = a.label();
  a.mov(eax, dword(rsi)).xor(r8d, r8d).mov(r9d, SORT_N);
  a.bind(bsLoop).cmp(r8d, r9d).jae(bsNext);
  a.lea(edx, mem(r8, r9, 1, 0)).shr(edx, 1).i("inc", r10);
  a.cmp(dword(null, rdx, 4, SORT), eax).jae(bsLeft);
  a.lea(r8d, mem(rdx, 1)).jmp(bsLoop);
  a.bind(bsLeft).mov(r9d, edx).jmp(bsLoop);
  a.bind(bsNext).add(r10, r8).add(rsi, 4).dec(ecx).jnz(bs0);
  // Random cyclic permutation (Sattolo's shuffle with an LCG), then chase it.
  a.xor(ecx, ecx);
  const p0 = a.here();
  a.mov(dword(null, rcx, 4, PERM), ecx).i("inc", ecx).cmp(ecx, PERM_N).jb(p0);
  a.mov(ecx, PERM_N - 1).mov(ebx, 12345);
  const p1 = a.here();
  a.imul(ebx, ebx, 1103515245).add(ebx, 12345).mov(eax, ebx).xor(edx, edx).div(ecx); // j = rnd % i
  a.mov(r8d, dword(null, rcx, 4, PERM)).mov(r9d, dword(null, rdx, 4, PERM));
  a.mov(dword(null, rcx, 4, PERM), r9d).mov(dword(null, rdx, 4, PERM), r8d);
  a.dec(ecx).jnz(p1);
  a.xor(eax, eax).mov(ecx, PERM_N * 8).xor(r11, r11);
  const pc = a.here();
  a.mov(eax, dword(null, rax, 4, PERM)).add(r11, rax).dec(ecx).jnz(pc);
  a.mov(rax, r10).shl(rax, 32).xor(rax, r11);
  a.mov(rsi, mMem).call(puts).call(puthex).mov(rsi, mNl).call(puts);
  a.mov(rsi, mDone).call(puts);
  a.xor(eax, eax).out(0xf4, al);
  const spin = a.here();
  a.cli().hlt().jmp(spin);

  // puts / puthex over COM1 (THR polled).
  a.bind(puts).push(rax).push(rdx);
  const pl = a.here(), pd = a.label(), pw = a.label();
  a.mov(al, mem(rsi)).test(al, al).jz(pd);
  a.mov(edx, 0x3fd);
  a.bind(pw).push(rax).i("in", al, reg16dx()).test(al, 0x20).pop(rax).jz(pw);
  a.mov(edx, 0x3f8).i("out", reg16dx(), al).i("inc", rsi).jmp(pl);
  a.bind(pd).pop(rdx).pop(rax).ret();
  a.bind(puthex).push(rax).push(rbx).push(rcx).push(rsi).mov(rbx, rax).mov(ecx, 16);
  const hl = a.here(), hd = a.label(), hb = a.label();
  a.i("rol", rbx, 4).mov(eax, ebx).and(eax, 0xf).cmp(eax, 10).jb(hd).add(eax, 0x27);
  a.bind(hd).add(eax, 0x30).mov(qword(hb), rax).mov(rsi, hb).call(puts).dec(ecx).jnz(hl);
  a.pop(rsi).pop(rcx).pop(rbx).pop(rax).ret();
  a.align(8).bind(hb).dq(0n);
  for (const [l, t] of msgs) a.bind(l).asciz(t);
  const pml4 = pageTables4(a, { identityBytes: 1 << 30, pageSize: "2M" });
  const img = a.assemble();
  return {
    name: "cpubench",
    bytes: img.bytes,
    load: BASE,
    entry: {
      rip: img.addressOf(entry),
      rsp: 0x1ff000,
      cr3: img.addressOf(pml4),
      gdtBase: img.addressOf(g.table),
      gdtLimit: g.limit,
    },
  };
}

import { reg } from "./asm/operands.ts";
function r14d() {
  return reg("r14d");
}
function r15d() {
  return reg("r15d");
}
function reg16dx() {
  return reg("dx");
}
