import { strict as assert } from "node:assert";
import { Code, Decoder, DecoderOptions, Formatter, FormatterSyntax } from "iced-x86";
import {
  abs,
  al,
  Asm,
  type AsmImage,
  ax,
  bl,
  bp,
  bx,
  byte,
  cl,
  cr0,
  cr3,
  cr4,
  cs,
  cx,
  di,
  dl,
  dr7,
  ds,
  dword,
  dx,
  eax,
  ebx,
  ecx,
  edi,
  edx,
  es,
  esi,
  esp,
  far,
  fs,
  fword,
  gs,
  mem,
  qword,
  r10,
  r10d,
  r11b,
  r12,
  r13,
  r15w,
  r8,
  r8b,
  r8d,
  r9,
  rax,
  rbp,
  rbx,
  rcx,
  rdi,
  rdx,
  reg,
  rip_rel,
  rsi,
  rsp,
  si,
  sil,
  sp,
  spl,
  ss,
  st0,
  st1,
  tbyte,
  word,
  xmm0,
  xmm1,
  xmm15,
  xmmword,
  ymm1,
  ymm2,
  ymm3,
} from "./asm.ts";

// ---------------------------------------------------------------------------------------------
// Helpers: decode the output with iced's own decoder/formatter

const fmt = new Formatter(FormatterSyntax.Intel);
fmt.hexPrefix = "0x";
fmt.hexSuffix = "";
fmt.uppercaseHex = false;
fmt.spaceAfterOperandSeparator = true;
fmt.branchLeadingZeros = false;
fmt.leadingZeros = false;
fmt.showBranchSize = false;

interface Decoded {
  ip: number;
  len: number;
  text: string;
  ipRel?: number;
}

function decode(bytes: Uint8Array, ip: number, bits: 16 | 32 | 64): Decoded[] {
  const d = new Decoder(bits, bytes, DecoderOptions.None);
  d.ip = BigInt(ip);
  const out: Decoded[] = [];
  while (d.canDecode) {
    const i = d.decode();
    const r: Decoded = { ip: Number(i.ip), len: i.length, text: fmt.format(i) };
    if (i.isIpRelMemoryOperand) r.ipRel = Number(i.ipRelMemoryAddress);
    out.push(r);
    i.free();
  }
  d.free();
  return out;
}

/** Disassembly of the image (or of [from, to) of it). */
function dis(img: AsmImage, bits: 16 | 32 | 64 = 64, from = img.base, to = img.end): string[] {
  return decode(img.bytes.subarray(from - img.base, to - img.base), from, bits).map((d) => d.text);
}

function hexBytes(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
}

/** Assembles a single-piece program and returns its bytes as hex. */
function bytesOf(build: (a: Asm) => void, bits: 16 | 32 | 64 = 64, base = 0x100000): string {
  const a = new Asm({ base, bits });
  build(a);
  return hexBytes(a.assemble().bytes);
}

/** Assembles and disassembles. */
function roundTrip(build: (a: Asm) => void, bits: 16 | 32 | 64 = 64, base = 0x100000): string[] {
  const a = new Asm({ base, bits });
  build(a);
  return dis(a.assemble(), bits);
}

// ---------------------------------------------------------------------------------------------
// Known encodings

Deno.test("byte-exact encodings of well-known instructions", () => {
  const cases: Array<[string, (a: Asm) => void]> = [
    ["0f 01 c1", (a) => a.vmcall()],
    ["e6 f4", (a) => a.out(0xf4, al)],
    ["b8 01 00 00 00", (a) => a.mov(eax, 1)],
    ["f4", (a) => a.hlt()],
    ["fa", (a) => a.cli()],
    ["fb", (a) => a.sti()],
    ["c3", (a) => a.ret()],
    ["ee", (a) => a.out(dx, al)],
    ["ec", (a) => a.in_(al, dx)],
    ["0f 30", (a) => a.wrmsr()],
    ["0f 32", (a) => a.rdmsr()],
    ["0f a2", (a) => a.cpuid()],
    ["0f 31", (a) => a.rdtsc()],
    ["48 cf", (a) => a.iretq()],
    ["0f 22 d8", (a) => a.mov(cr3, rax)],
    ["0f 20 c0", (a) => a.mov(rax, cr0)],
    ["50", (a) => a.push(rax)],
    ["41 54", (a) => a.push(r12)],
    ["5b", (a) => a.pop(rbx)],
    ["f3 48 ab", (a) => a.rep().stosq()],
    ["f3 48 ab", (a) => a.rep_stosq()],
    ["f3 48 ab", (a) => a.i("rep stosq")],
    ["48 c7 c0 34 12 00 00", (a) => a.mov(rax, 0x1234)],
    ["48 b8 00 00 00 00 01 00 00 00", (a) => a.mov(rax, 0x1_0000_0000)],
    ["48 b8 ef cd ab 89 67 45 23 01", (a) => a.mov(rax, 0x0123_4567_89ab_cdefn)],
    ["48 c7 c0 ff ff ff ff", (a) => a.mov(rax, -1)],
    ["48 83 c0 01", (a) => a.add(rax, 1)],
    ["48 05 00 10 00 00", (a) => a.add(rax, 0x1000)],
    ["48 81 c3 00 10 00 00", (a) => a.add(rbx, 0x1000)],
    ["83 c0 ff", (a) => a.add(eax, 0xffffffff)],
    ["48 d1 e0", (a) => a.shl(rax, 1)],
    ["48 c1 e0 03", (a) => a.shl(rax, 3)],
    ["48 d3 e0", (a) => a.shl(rax, cl)],
    ["a8 01", (a) => a.test(al, 1)],
    ["6a 05", (a) => a.push(5)],
    ["68 34 12 00 00", (a) => a.push(0x1234)],
    ["90", (a) => a.nop()],
    ["cc", (a) => a.int3()],
    ["cd 80", (a) => a.int(0x80)],
    ["0f 01 f8", (a) => a.swapgs()],
    ["48 0f 07", (a) => a.sysretq()],
    ["0f 05", (a) => a.syscall()],
    ["0f 01 d1", (a) => a.xsetbv()],
    ["cb", (a) => a.retf()],
    ["48 cb", (a) => a.i("retfq")],
    ["41 b0 01", (a) => a.mov(r8b, 1)],
    ["40 88 f0", (a) => a.mov(al, sil)],
    ["f0 48 0f c1 06", (a) => a.lock().xadd(qword(rsi), rax)],
  ];
  for (const [want, build] of cases) {
    assert.equal(bytesOf(build), want, `${build}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Instruction selection: ALU, mov, push/pop

Deno.test("ALU in all operand sizes", () => {
  for (const op of ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"] as const) {
    const got = roundTrip((a) => {
      a.i(op, al, cl).i(op, ax, cx).i(op, eax, ecx).i(op, rax, rcx);
      a.i(op, r8b, r11b).i(op, r15w, 7).i(op, r10d, -2).i(op, r9, 0x7fffffff);
      a.i(op, byte(rbx), 0x80).i(op, word(rbx, 2), 0x1234).i(op, dword(rbx, 4), 0x12345678);
      a.i(op, qword(rbx, rcx, 8, 0x10), -0x80);
      a.i(op, qword(rbx), rdx).i(op, rdx, qword(rbx)).i(op, bl, byte(rsp, 1));
      a.i(op, eax, 0x12345678).i(op, al, 0x7f);
    });
    assert.deepEqual(got, [
      `${op} al, cl`,
      `${op} ax, cx`,
      `${op} eax, ecx`,
      `${op} rax, rcx`,
      `${op} r8b, r11b`,
      `${op} r15w, 7`,
      `${op} r10d, 0xfffffffe`,
      `${op} r9, 0x7fffffff`,
      `${op} byte ptr [rbx], 0x80`,
      `${op} word ptr [rbx+2], 0x1234`,
      `${op} dword ptr [rbx+4], 0x12345678`,
      `${op} qword ptr [rbx+rcx*8+0x10], 0xffffffffffffff80`,
      `${op} [rbx], rdx`,
      `${op} rdx, [rbx]`,
      `${op} bl, [rsp+1]`,
      `${op} eax, 0x12345678`,
      `${op} al, 0x7f`,
    ], op);
  }
});

Deno.test("unary, shifts, multiply/divide, bit ops", () => {
  const got = roundTrip((a) => {
    a.inc(eax).dec(rcx).neg(qword(rbx)).not(byte(rdi)).inc(word(rsi, 2));
    a.mul(rcx).imul(rdx).imul(rax, rbx).imul(rax, rbx, 10).imul(eax, dword(rsi), 1000);
    a.div(ecx).idiv(qword(rsp, 8));
    a.shr(eax, cl).sar(rdx, 63).rol(bl, 1).ror(word(rax), 4).rcl(r8, 1).rcr(ecx, 2);
    a.shld(rax, rbx, 4).shrd(eax, edx, cl);
    a.bt(rax, 5).bts(dword(rbx), 31).btr(rax, rcx).btc(eax, 1).bsf(rax, rbx).bsr(ecx, edx);
    a.i("setz", al).i("setnc", byte(rbx)).i("cmovnz", rax, rbx).setcc("ge", dl).cmovcc(
      "b",
      ecx,
      edx,
    );
    a.cdq().cqo().cdqe().cwde().bswap(r10);
  });
  assert.deepEqual(got, [
    "inc eax",
    "dec rcx",
    "neg qword ptr [rbx]",
    "not byte ptr [rdi]",
    "inc word ptr [rsi+2]",
    "mul rcx",
    "imul rdx",
    "imul rax, rbx",
    "imul rax, rbx, 0xa",
    "imul eax, [rsi], 0x3e8",
    "div ecx",
    "idiv qword ptr [rsp+8]",
    "shr eax, cl",
    "sar rdx, 0x3f",
    "rol bl, 1",
    "ror word ptr [rax], 4",
    "rcl r8, 1",
    "rcr ecx, 2",
    "shld rax, rbx, 4",
    "shrd eax, edx, cl",
    "bt rax, 5",
    "bts dword ptr [rbx], 0x1f",
    "btr rax, rcx",
    "btc eax, 1",
    "bsf rax, rbx",
    "bsr ecx, edx",
    "sete al",
    "setae [rbx]",
    "cmovne rax, rbx",
    "setge dl",
    "cmovb ecx, edx",
    "cdq",
    "cqo",
    "cdqe",
    "cwde",
    "bswap r10",
  ]);
});

Deno.test("mov forms keep the written operand size and pick the shortest encoding", () => {
  const a = new Asm({ base: 0x100000 });
  a.mov(rax, rbx).mov(eax, ebx).mov(ax, bx).mov(al, bl).mov(spl, 1);
  a.mov(rax, 0x1234).mov(rax, 0x1234_5678_9abcn).mov(rax, -2).mov(eax, 0xffffffff);
  a.mov(r8d, 0x12345678).mov(r15w, 0xffff).mov(qword(rsp, 8), -1);
  a.mov(dword(rbp), 7).mov(byte(r13, 0x100), 0x41).mov(word(rax), 0xbeef);
  a.mov(rax, qword(rsp)).mov(qword(r12, -8), r8).mov(rax, qword(0x28, { seg: gs }));
  a.mov(ds, ax).mov(es, eax).mov(eax, ss).mov(word(rbx), fs).mov(fs, word(rbx));
  a.mov(cr4, rax).mov(rdx, cr3).mov(dr7, rax).mov(rax, reg("dr6"));
  a.movzx(eax, byte(rsi)).movzx(ecx, dx).movsx(rax, word(rdi)).movsxd(rax, dword(rbx));
  a.movzx(eax, al).movsx(rdx, r8b);
  a.lea(rsi, mem(rax, rbx, 2, 0x10)).lea(eax, mem(rsi, 1)).xchg(rbx, rax).xchg(rax, rbx);
  const img = a.assemble();
  assert.deepEqual(dis(img), [
    "mov rax, rbx",
    "mov eax, ebx",
    "mov ax, bx",
    "mov al, bl",
    "mov spl, 1",
    "mov rax, 0x1234",
    "mov rax, 0x123456789abc",
    "mov rax, 0xfffffffffffffffe",
    "mov eax, 0xffffffff",
    "mov r8d, 0x12345678",
    "mov r15w, 0xffff",
    "mov qword ptr [rsp+8], 0xffffffffffffffff",
    "mov dword ptr [rbp], 7",
    "mov byte ptr [r13+0x100], 0x41",
    "mov word ptr [rax], 0xbeef",
    "mov rax, [rsp]",
    "mov [r12-8], r8",
    "mov rax, gs:[0x28]",
    "mov ds, ax",
    "mov es, ax", // 8e c0: the decoder prints the 16-bit form
    "mov eax, ss",
    "mov [rbx], fs",
    "mov fs, [rbx]",
    "mov cr4, rax",
    "mov rdx, cr3",
    "mov dr7, rax",
    "mov rax, dr6",
    "movzx eax, byte ptr [rsi]",
    "movzx ecx, dx",
    "movsx rax, word ptr [rdi]",
    "movsxd rax, [rbx]",
    "movzx eax, al",
    "movsx rdx, r8b",
    "lea rsi, [rax+rbx*2+0x10]",
    "lea eax, [rsi+1]",
    "xchg rbx, rax",
    "xchg rax, rbx",
  ]);
  // sizes: mov rax, imm that fits imm32 uses the 7-byte C7 form; imm64 needs the 10-byte B8 form
  const lens = decode(img.bytes, img.base, 64).map((d) => d.len);
  assert.deepEqual(lens.slice(5, 9), [7, 10, 7, 5]);
});

Deno.test("push/pop, flags, stack frames", () => {
  assert.deepEqual(
    roundTrip((a) => {
      a.push(rax).push(r12).push(qword(rbx)).push(5).push(-1).push(0x12345678).push(fs).push(gs);
      a.pop(rbx).pop(r8).pop(qword(rsp, 8)).pop(fs);
      a.pushfq().popfq().i("enter", 0x20, 0).leave().ret(8);
    }),
    [
      "push rax",
      "push r12",
      "push qword ptr [rbx]",
      "push 5",
      "push 0xffffffffffffffff",
      "push 0x12345678",
      "push fs",
      "push gs",
      "pop rbx",
      "pop r8",
      "pop qword ptr [rsp+8]",
      "pop fs",
      "pushfq",
      "popfq",
      "enter 0x20, 0",
      "leave",
      "ret 8",
    ],
  );
});

Deno.test("SSE/AVX/x87 through the generic i()", () => {
  assert.deepEqual(
    roundTrip((a) => {
      a.i("movdqu", xmm0, xmmword(rsi)).i("pxor", xmm15, xmm1).i("movq", rax, xmm0);
      a.i("movd", xmm1, eax).movsd(xmm0, qword(rdi)).i("addsd", xmm0, xmm1);
      a.i("vpaddd", ymm1, ymm2, ymm3).i("vmovdqu", ymm1, mem(rax));
      a.i("fld", st1).i("fld", tbyte(rbx)).i("faddp", st1, st0).i("fstp", qword(rax));
      a.i("fadd", st0, st1).fninit();
      a.fxsave(mem(rsp)).i("ldmxcsr", dword(rsp));
    }),
    [
      "movdqu xmm0, [rsi]",
      "pxor xmm15, xmm1",
      "movq rax, xmm0",
      "movd xmm1, eax",
      "movsd xmm0, [rdi]",
      "addsd xmm0, xmm1",
      "vpaddd ymm1, ymm2, ymm3",
      "vmovdqu ymm1, [rax]",
      "fld st, st(1)",
      "fld st, tbyte ptr [rbx]",
      "faddp",
      "fstp qword ptr [rax], st",
      "fadd st, st(1)",
      "fninit",
      "fxsave [rsp]",
      "ldmxcsr [rsp]",
    ],
  );
});

// ---------------------------------------------------------------------------------------------
// Branches and relaxation

Deno.test("jcc/jmp/call/loop to forward and backward labels", () => {
  const a = new Asm({ base: 0x1000 });
  const top = a.here("top");
  const fwd = a.label("fwd");
  a.jz(fwd).jnz(top).jmp(fwd).call(fwd).call(top).loop(top).jrcxz(fwd).jecxz(fwd);
  a.ja(fwd).jae(fwd).jb(fwd).jbe(fwd).jg(fwd).jge(fwd).jl(fwd).jle(fwd);
  a.jo(fwd).jno(fwd).js(fwd).jns(fwd).jp(fwd).jnp(fwd).jc(fwd).jnc(fwd).jpe(fwd).jpo(fwd);
  a.i("jnae", fwd).jcc("nle", fwd).jmp(rax).call(qword(rbx, 8)).jmp(qword(rip_rel(top)));
  a.bind(fwd).ret();
  const img = a.assemble();
  const f = img.addressOf(fwd).toString(16);
  assert.equal(img.addressOf(top), 0x1000);
  assert.deepEqual(dis(img), [
    `je 0x${f}`,
    "jne 0x1000",
    `jmp 0x${f}`,
    `call 0x${f}`,
    "call 0x1000",
    "loop 0x1000",
    `jrcxz 0x${f}`,
    `jecxz 0x${f}`,
    `ja 0x${f}`,
    `jae 0x${f}`,
    `jb 0x${f}`,
    `jbe 0x${f}`,
    `jg 0x${f}`,
    `jge 0x${f}`,
    `jl 0x${f}`,
    `jle 0x${f}`,
    `jo 0x${f}`,
    `jno 0x${f}`,
    `js 0x${f}`,
    `jns 0x${f}`,
    `jp 0x${f}`,
    `jnp 0x${f}`,
    `jb 0x${f}`,
    `jae 0x${f}`,
    `jp 0x${f}`,
    `jnp 0x${f}`,
    `jb 0x${f}`,
    `jg 0x${f}`,
    "jmp rax",
    "call qword ptr [rbx+8]",
    "jmp qword ptr [0x1000]",
    "ret",
  ]);
  // everything short: the whole block is small
  const lens = decode(img.bytes, img.base, 64).map((d) => d.len);
  assert.equal(lens[0], 2);
  assert.equal(lens[1], 2);
  assert.equal(lens[2], 2);
  assert.equal(lens[3], 5);
});

Deno.test("branch relaxation across the rel8 boundary (forward and backward)", () => {
  // forward: rel8 reaches 127 bytes past the end of the branch
  for (const [n, want] of [[126, 2], [127, 2], [128, 6], [129, 6]] as const) {
    const a = new Asm({ base: 0x2000 });
    const l = a.label();
    a.jne(l).space(n, 0x90).bind(l).ret();
    const img = a.assemble();
    const d = decode(img.bytes, img.base, 64);
    assert.equal(d[0].len, want, `jne over ${n}`);
    assert.equal(d[0].text, `jne 0x${img.addressOf(l).toString(16)}`);
    assert.equal(img.addressOf(l), 0x2000 + want + n);
  }
  for (const [n, want] of [[127, 2], [128, 5]] as const) {
    const a = new Asm({ base: 0x2000 });
    const l = a.label();
    a.jmp(l).space(n, 0x90).bind(l).ret();
    const d = decode(a.assemble().bytes, 0x2000, 64);
    assert.equal(d[0].len, want, `jmp over ${n}`);
  }
  // backward: rel8 reaches -128 from the end of the branch
  for (const [n, want] of [[125, 2], [126, 2], [127, 6], [128, 6]] as const) {
    const a = new Asm({ base: 0x2000 });
    const l = a.here();
    a.space(n, 0x90).jne(l);
    const img = a.assemble();
    const d = decode(img.bytes.subarray(n), 0x2000 + n, 64);
    assert.equal(d[0].len, want, `backward jne over ${n}`);
    assert.equal(d[0].text, "jne 0x2000");
  }
});

Deno.test("relaxation cascades: growing one branch pushes another out of range", () => {
  const a = new Asm({ base: 0x3000 });
  const l1 = a.label("l1");
  const l2 = a.label("l2");
  a.jmp(l1); // 2 + (jne: 2 or 6) + 123 -> 125 fits, 129 does not
  a.jne(l2); // l2 is far away -> must be rel32
  a.space(123, 0xcc);
  a.bind(l1).nop();
  a.space(300, 0xcc);
  a.bind(l2).ret();
  const img = a.assemble();
  const d = decode(img.bytes.subarray(0, 11), img.base, 64);
  assert.equal(d[0].len, 5);
  assert.equal(d[0].text, `jmp 0x${img.addressOf(l1).toString(16)}`);
  assert.equal(d[1].len, 6);
  assert.equal(d[1].text, `jne 0x${img.addressOf(l2).toString(16)}`);
  assert.equal(img.addressOf(l1), 0x3000 + 5 + 6 + 123);
});

Deno.test("alignment between branch and target is re-evaluated during relaxation", () => {
  const a = new Asm({ base: 0x4000 });
  const l = a.label();
  a.jmp(l).space(100).align(64, 0xcc).space(60).bind(l).hlt();
  const img = a.assemble();
  const d = decode(img.bytes.subarray(0, 5), img.base, 64);
  // 2-byte jmp: 102 -> align 128 -> +60 = 188: rel = 186 > 127 -> near: 105 -> 128 -> 188
  assert.equal(d[0].len, 5);
  assert.equal(img.addressOf(l), 0x4000 + 128 + 60);
  assert.equal(d[0].text, `jmp 0x${(0x4000 + 188).toString(16)}`);
});

Deno.test("branches to absolute addresses", () => {
  const a = new Asm({ base: 0x5000 });
  a.jmp(0x5000).call(0x9000).jz(0x5010);
  assert.deepEqual(dis(a.assemble()), ["jmp 0x5000", "call 0x9000", "je 0x5010"]);
});

// ---------------------------------------------------------------------------------------------
// String instructions, I/O, system instructions

Deno.test("string instructions with rep prefixes", () => {
  assert.deepEqual(
    roundTrip((a) => {
      a.movsb().movsw().movsd().movsq().stosb().stosd().lodsb().lodsq().scasb().cmpsb();
      a.rep().movsb().rep_movsq().rep().stosb().repe().cmpsb().repne().scasb().repz().scasq();
      a.insb().rep().insw().outsb().rep_outsd().i("xlat");
    }),
    [
      "movsb [rdi], [rsi]",
      "movsw [rdi], [rsi]",
      "movsd [rdi], [rsi]",
      "movsq [rdi], [rsi]",
      "stosb [rdi]",
      "stosd [rdi]",
      "lodsb [rsi]",
      "lodsq [rsi]",
      "scasb [rdi]",
      "cmpsb [rsi], [rdi]",
      "rep movsb [rdi], [rsi]",
      "rep movsq [rdi], [rsi]",
      "rep stosb [rdi]",
      "repe cmpsb [rsi], [rdi]",
      "repne scasb [rdi]",
      "repe scasq [rdi]",
      "insb [rdi], dx",
      "rep insw [rdi], dx",
      "outsb dx, [rsi]",
      "rep outsd dx, [rsi]",
      "xlat [rbx]",
    ],
  );
  // 32-bit code uses 32-bit addressing for the implicit operands
  assert.equal(bytesOf((a) => a.rep_stosd(), 32), "f3 ab");
  assert.equal(bytesOf((a) => a.rep_movsb(), 16), "f3 a4");
});

Deno.test("in/out in all forms", () => {
  assert.deepEqual(
    roundTrip((a) => {
      a.in_(al, 0x60).in_(ax, dx).in_(eax, 0x71).in_(al, dx);
      a.out(0x80, al).out(dx, ax).out(0xe9, eax).out(dx, eax);
    }),
    [
      "in al, 0x60",
      "in ax, dx",
      "in eax, 0x71",
      "in al, dx",
      "out 0x80, al",
      "out dx, ax",
      "out 0xe9, eax",
      "out dx, eax",
    ],
  );
});

Deno.test("system instructions", () => {
  const a = new Asm({ base: 0x100000 });
  const gdtp = a.label("gdtp");
  a.lgdt(mem(gdtp)).lidt(mem(rax)).sgdt(mem(rbx)).sidt(mem(rcx)).ltr(ax).lldt(word(rbx));
  a.str(ax).invlpg(mem(rdi)).wbinvd().invd().clts().hlt().pause().ud2();
  a.rdmsr().wrmsr().rdtscp().rdpmc().xgetbv().swapgs().sysret().sysretq().iretq().iretd();
  a.vmcall().vmmcall().i("vmlaunch").i("vmresume").i("vmxoff").i("vmptrld", qword(rax));
  a.mfence().lfence().sfence().clflush(byte(rax)).cld().std().clc().stc().cmc().lahf().sahf();
  a.i("int1").int3().mov(cr0, rax).mov(reg("cr8"), rax).rdtsc();
  a.bind(gdtp).dw(0x17).dq(0x1000n);
  const img = a.assemble();
  const g = img.addressOf(gdtp).toString(16);
  assert.deepEqual(dis(img, 64, img.base, img.addressOf(gdtp)), [
    `lgdt [0x${g}]`,
    "lidt [rax]",
    "sgdt [rbx]",
    "sidt [rcx]",
    "ltr ax",
    "lldt [rbx]",
    "str ax",
    "invlpg [rdi]",
    "wbinvd",
    "invd",
    "clts",
    "hlt",
    "pause",
    "ud2",
    "rdmsr",
    "wrmsr",
    "rdtscp",
    "rdpmc",
    "xgetbv",
    "swapgs",
    "sysret",
    "sysretq",
    "iretq",
    "iretd",
    "vmcall",
    "vmmcall",
    "vmlaunch",
    "vmresume",
    "vmxoff",
    "vmptrld [rax]",
    "mfence",
    "lfence",
    "sfence",
    "clflush [rax]",
    "cld",
    "std",
    "clc",
    "stc",
    "cmc",
    "lahf",
    "sahf",
    "int1",
    "int3",
    "mov cr0, rax",
    "mov cr8, rax",
    "rdtsc",
  ]);
});

// ---------------------------------------------------------------------------------------------
// Memory references to labels

Deno.test("RIP-relative data references in 64-bit code", () => {
  const a = new Asm({ base: 0x100000 });
  const msg = a.label("msg");
  const val = a.label("val");
  a.lea(rsi, mem(msg));
  a.mov(dword(rip_rel(val)), 5);
  a.mov(dword(val), 6);
  a.mov(rax, qword(val, 8));
  a.add(qword(rip_rel(val), -8), r8);
  a.cmp(byte(msg, 3), 0x6c);
  a.mov(eax, dword(() => a.addressOf(val) + 4));
  a.hlt();
  a.bind(msg).asciz("hello");
  a.align(8).bind(val).dq(1n, 2n);
  const img = a.assemble();
  const m = img.addressOf(msg);
  const v = img.addressOf(val);
  const d = decode(img.bytes.subarray(0, m - img.base), img.base, 64);
  assert.deepEqual(d.map((x) => x.ipRel), [m, v, v, v + 8, v - 8, m + 3, v + 4, undefined]);
  assert.deepEqual(d.map((x) => x.text), [
    `lea rsi, [0x${m.toString(16)}]`,
    `mov dword ptr [0x${v.toString(16)}], 5`,
    `mov dword ptr [0x${v.toString(16)}], 6`,
    `mov rax, [0x${(v + 8).toString(16)}]`,
    `add [0x${(v - 8).toString(16)}], r8`,
    `cmp byte ptr [0x${(m + 3).toString(16)}], 0x6c`,
    `mov eax, [0x${(v + 4).toString(16)}]`,
    "hlt",
  ]);
  assert.equal(
    new TextDecoder().decode(img.bytes.subarray(m - img.base, m - img.base + 5)),
    "hello",
  );
});

Deno.test("absolute label references: abs(), base+label, index+label, 32-bit code", () => {
  const a = new Asm({ base: 0x200000 });
  const table = a.label("table");
  a.mov(eax, dword(abs(table))).mov(rax, qword(null, rcx, 8, table)).mov(
    rdx,
    qword(rbx, table, {}),
  );
  a.bits(32);
  a.mov(eax, dword(table)).mov(ebx, dword(table, 4)).mov(dword(table), 7).lea(esi, mem(table));
  a.mov(ecx, dword(null, edx, 4, table)).inc(dword(ebx, table));
  a.align(8).bind(table).dd(1, 2, 3);
  const img = a.assemble();
  const t = img.addressOf(table);
  const th = (x: number) => `0x${x.toString(16)}`;
  const code64 = decode(img.bytes.subarray(0, 24), img.base, 64);
  assert.deepEqual(code64.slice(0, 3).map((x) => x.text), [
    `mov eax, [${th(t)}]`,
    `mov rax, [rcx*8+${th(t)}]`,
    `mov rdx, [rbx+${th(t)}]`,
  ]);
  const start32 = img.base + code64.slice(0, 3).reduce((s, x) => s + x.len, 0);
  assert.deepEqual(dis(img, 32, start32, t).filter((x) => x !== "add [eax], al"), [
    `mov eax, [${th(t)}]`,
    `mov ebx, [${th(t + 4)}]`,
    `mov dword ptr [${th(t)}], 7`,
    `lea esi, [${th(t)}]`,
    `mov ecx, [edx*4+${th(t)}]`,
    `inc dword ptr [ebx+${th(t)}]`,
  ]);
});

// ---------------------------------------------------------------------------------------------
// Mode switches, far jumps, 16-bit code

Deno.test("mixed 16/32/64-bit code in one image with far jumps", () => {
  const a = new Asm({ base: 0x7000, bits: 16 });
  const pm = a.label("pm");
  const lm = a.label("lm");
  const gdtp = a.label("gdtp");
  a.cli().xor(ax, ax).mov(ds, ax).mov(sp, 0x7000).lgdt(mem(gdtp));
  a.mov(eax, cr0).or(eax, 1).mov(cr0, eax).jmpFar(0x08, pm, 32);
  a.bits(32).bind(pm).mov(eax, 0x10).mov(ds, eax).mov(esp, 0x90000);
  a.mov(eax, cr4).or(eax, 1 << 5).mov(cr4, eax).jmpFar(0x18, lm);
  a.bits(64).bind(lm).mov(rax, 0x1122334455667788n).hlt();
  a.align(8).bind(gdtp).dw(0x1f).dd(0x8000);
  const img = a.assemble();
  const p = img.addressOf(pm);
  const l = img.addressOf(lm);
  assert.deepEqual(dis(img, 16, img.base, p), [
    "cli",
    "xor ax, ax",
    "mov ds, ax",
    "mov sp, 0x7000",
    `lgdt [0x${img.addressOf(gdtp).toString(16)}]`,
    "mov eax, cr0",
    "or eax, 1",
    "mov cr0, eax",
    `data32 jmp far 0x${p.toString(16)}, 8`, // iced's rendering of 66 ea (ptr16:32 in 16-bit code)
  ]);
  const far16 = p - 8 - img.base;
  assert.equal(hexBytes(img.bytes.subarray(far16, far16 + 8)), `66 ea ${le32(p)} 08 00`);
  assert.deepEqual(dis(img, 32, p, l), [
    "mov eax, 0x10",
    "mov ds, ax",
    "mov esp, 0x90000",
    "mov eax, cr4",
    "or eax, 0x20",
    "mov cr4, eax",
    `jmp far 0x${l.toString(16)}, 0x18`, // iced's Intel rendering of ptr16:32
  ]);
  assert.deepEqual(dis(img, 64, l, l + 11), ["mov rax, 0x1122334455667788", "hlt"]);
  // ptr16:32 in 32-bit code: ea <offset32> <selector16>
  const farAt = l - 7 - img.base;
  assert.equal(hexBytes(img.bytes.subarray(farAt, farAt + 7)), `ea ${le32(l)} 18 00`);
});

function le32(v: number): string {
  return [0, 8, 16, 24].map((s) => ((v >>> s) & 0xff).toString(16).padStart(2, "0")).join(" ");
}

Deno.test("far pointers: ptr16:16 in 16-bit code, generic far(), callFar", () => {
  assert.equal(bytesOf((a) => a.jmpFar(0x08, 0x1234), 16, 0x7c00), "ea 34 12 08 00");
  assert.equal(bytesOf((a) => a.jmpFar(0x08, 0x123456), 32), "ea 56 34 12 00 08 00");
  assert.equal(bytesOf((a) => a.i("jmp", far(0x10, 0x8000)), 32), "ea 00 80 00 00 10 00");
  assert.equal(bytesOf((a) => a.callFar(0x10, 0x8000), 32), "9a 00 80 00 00 10 00");
  assert.throws(
    () => new Asm({ base: 0 }).jmpFar(8, 0x1000),
    /no encoding for jmp far 0x8:0x1000 in 64-bit mode/,
  );
  assert.throws(() => bytesOf((a) => a.jmpFar(0x08, 0x12345), 16, 0x7c00), /does not fit 16 bits/);
  // indirect far jump through memory
  assert.deepEqual(roundTrip((a) => a.jmp(tbyte(rax)).jmp(fword(rbx))), [
    "jmp far tbyte ptr [rax]",
    "jmp far fword ptr [rbx]",
  ]);
});

Deno.test("16-bit addressing and 32-bit operands in 16-bit code", () => {
  assert.deepEqual(
    roundTrip(
      (a) => {
        a.mov(ax, word(bx, si, 1, 4)).mov(word(bp), 1).mov(al, byte(di, -1)).mov(eax, dword(esi));
        a.push(ax).push(0x1234).pop(es).push(cs).int(0x10).ret();
      },
      16,
      0x7c00,
    ),
    [
      "mov ax, [bx+si+4]",
      "mov word ptr [bp], 1",
      "mov al, [di-1]",
      "mov eax, [esi]",
      "push ax",
      "push 0x1234",
      "pop es",
      "push cs",
      "int 0x10",
      "ret",
    ],
  );
});

// ---------------------------------------------------------------------------------------------
// Data directives, alignment, org, thunks

Deno.test("data directives, alignment, space and org", () => {
  const a = new Asm({ base: 0x1000 });
  const here = a.label("here");
  a.db(1, 2, 0xff, -1).dw(0x1234, -2).dd(0xdeadbeef, -1).dq(0x0102030405060708n, -1n).db(7);
  a.align(16, 0xcc).bind(here).ascii("ab").asciz("c").db(new Uint8Array([9, 8]));
  a.space(3, 0x90).org(0x1040, 0xee).dq(here).dd(here).dw(() => 0xabcd).align(4);
  const img = a.assemble();
  assert.equal(img.base, 0x1000);
  assert.equal(img.end, 0x1040 + 8 + 4 + 2 + 2);
  assert.equal(img.addressOf(here), 0x1030);
  assert.equal(img.addressOf("here"), 0x1030);
  assert.deepEqual([...img.labels], [["here", 0x1030]]);
  assert.equal(
    hexBytes(img.bytes),
    [
      "01 02 ff ff",
      "34 12 fe ff",
      "ef be ad de ff ff ff ff",
      "08 07 06 05 04 03 02 01 ff ff ff ff ff ff ff ff",
      "07 cc cc cc cc cc cc cc cc cc cc cc cc cc cc cc",
      "61 62 63 00 09 08 90 90 90",
      "ee ee ee ee ee ee ee",
      "30 10 00 00 00 00 00 00",
      "30 10 00 00",
      "cd ab",
      "00 00",
    ].join(" "),
  );
});

Deno.test("thunks compute constants from label addresses after layout", () => {
  const a = new Asm({ base: 0x100000 });
  const start = a.label("start");
  const end = a.label("end");
  const size = () => a.addressOf(end) - a.addressOf(start);
  a.mov(ecx, size).mov(rax, () => BigInt(a.addressOf(end)) << 16n).push(size).add(edx, size);
  a.mov(rbx, end).mov(eax, end).cmp(rax, size);
  a.bind(start).space(0x50).bind(end).dd(size).dq(() => BigInt(a.addressOf(start)) | (1n << 63n));
  const img = a.assemble();
  const s = img.addressOf(start);
  const e = img.addressOf(end);
  assert.equal(e - s, 0x50);
  assert.deepEqual(dis(img, 64, img.base, s), [
    "mov ecx, 0x50",
    `mov rax, 0x${(BigInt(e) << 16n).toString(16)}`,
    "push 0x50",
    "add edx, 0x50",
    `mov rbx, 0x${e.toString(16)}`,
    `mov eax, 0x${e.toString(16)}`,
    "cmp rax, 0x50",
  ]);
  // layout-dependent immediates use the widest form of the operand size
  const lens = decode(img.bytes.subarray(0, s - img.base), img.base, 64).map((d) => d.len);
  assert.deepEqual(lens, [5, 10, 5, 6, 10, 5, 6]);
  const tail = new DataView(img.bytes.buffer, e - img.base);
  assert.equal(tail.getUint32(0, true), 0x50);
  assert.equal(tail.getBigUint64(4, true), BigInt(s) | (1n << 63n));
});

Deno.test("emitCode forces a specific iced Code", () => {
  assert.equal(bytesOf((a) => a.emitCode(Code.Add_rm64_imm32, rax, 1)), "48 81 c0 01 00 00 00");
  assert.equal(bytesOf((a) => a.emitCode(Code.Nopq)), "48 90");
  assert.throws(() => bytesOf((a) => a.emitCode(Code.Add_rm64_imm8, rax, 0x1000)), /do not fit/);
  const a = new Asm({ base: 0 });
  const l = a.label();
  a.emitCode(Code.Jmp_rel32_64, l).bind(l);
  assert.equal(hexBytes(a.assemble().bytes), "e9 00 00 00 00");
});

// ---------------------------------------------------------------------------------------------
// Determinism, performance, listing

function bigProgram(): Asm {
  const a = new Asm({ base: 0x100000 });
  const labels = Array.from({ length: 100 }, (_, i) => a.label(`l${i}`));
  for (let i = 0; i < 5000; i++) {
    if (i % 50 === 0) a.bind(labels[i / 50]);
    switch (i % 10) {
      case 0:
        a.mov(rax, i * 977);
        break;
      case 1:
        a.add(rbx, qword(rsi, i * 8));
        break;
      case 2:
        a.jnz(labels[(i * 7) % 100]);
        break;
      case 3:
        a.mov(dword(labels[(i * 3) % 100]), i);
        break;
      case 4:
        a.lea(rdi, mem(labels[i % 100]));
        break;
      case 5:
        a.cmp(r8, i & 0xff);
        break;
      case 6:
        a.call(labels[(i * 13) % 100]);
        break;
      case 7:
        a.push(r9);
        break;
      case 8:
        a.mov(byte(rdi, rcx, 1, 3), al);
        break;
      case 9:
        a.dec(ecx);
        break;
    }
  }
  return a;
}

Deno.test("assembly is deterministic and fast for thousands of instructions", () => {
  const t0 = performance.now();
  const a = bigProgram();
  const img1 = a.assemble();
  const elapsed = performance.now() - t0;
  const img2 = bigProgram().assemble();
  const img3 = a.assemble();
  assert.deepEqual(img1.bytes, img2.bytes);
  assert.deepEqual(img1.bytes, img3.bytes);
  assert.deepEqual([...img1.labels], [...img2.labels]);
  // a decode of the whole image yields exactly the 5000 instructions
  assert.equal(decode(img1.bytes, img1.base, 64).length, 5000);
  // generous bound (typically ~150 ms including the one-time table scan)
  assert.ok(elapsed < 5000, `assembling 5000 instructions took ${elapsed} ms`);
});

Deno.test("listing shows addresses, bytes and source text", () => {
  const a = new Asm({ base: 0x1000 });
  a.here("entry");
  a.mov(eax, 1).rep().stosb().hlt();
  const text = a.assemble().listing();
  assert.match(text, /^entry:$/m);
  assert.match(text, /00001000 {2}b8 01 00 00 00 +mov eax, 1/);
  assert.match(text, /f3 aa +rep stosb/);
});

// ---------------------------------------------------------------------------------------------
// Errors

Deno.test("error: unknown operand combination names mnemonic, operands, mode and position", () => {
  const a = new Asm({ base: 0x100000 });
  a.here("main");
  a.nop().nop();
  assert.throws(() => a.add(rax, xmm0), {
    message: "asm: no encoding for add rax, xmm0 in 64-bit mode at main+0x2",
  });
  assert.throws(() => a.mov(eax, 0x1_0000_0000), /no encoding for mov eax, 0x100000000 in 64-bit/);
  assert.throws(() => a.add(rax, 0x8000_0000), /no encoding for add rax, 0x80000000/);
  assert.throws(() => a.i("frobnicate", rax), /unknown mnemonic "frobnicate"/);
  assert.throws(() => a.push(eax), /no encoding for push eax in 64-bit mode/);
  assert.throws(() => new Asm({ base: 0x1000 }).add(rax, rbx).i("inc", r8, 1), /no encoding/);
  assert.throws(() => a.mov(ah(), sil), /cannot encode mov ah, sil.*REX/);
});

function ah() {
  return reg("ah");
}

Deno.test("error: ambiguous memory operand size", () => {
  const a = new Asm({ base: 0 });
  assert.throws(() => a.add(mem(rbx), 1), /ambiguous operand size in add \[rbx\], 1/);
  assert.throws(() => a.inc(mem(rax)), /ambiguous operand size/);
  assert.throws(() => a.push(mem(rax)), /ambiguous operand size/);
  assert.throws(() => a.movzx(eax, mem(rsi)), /ambiguous operand size/);
  assert.throws(() => a.jmp(mem(rax)), /ambiguous operand size/);
  // sizes that are implied by the register are fine
  a.add(mem(rbx), rax).mov(al, mem(rsi)).lgdt(mem(rax)).lea(rax, mem(rbx));
  // a size that contradicts the register is not
  assert.throws(() => a.add(dword(rbx), rax), /no encoding for add dword \[rbx\], rax/);
});

Deno.test("error: unbound, doubly-bound and foreign labels", () => {
  const a = new Asm({ base: 0 });
  const l = a.label("nowhere");
  a.jmp(l);
  assert.throws(() => a.assemble(), { message: 'asm: label "nowhere" is used but never bound' });
  const b = new Asm({ base: 0 });
  const m = b.label("twice");
  b.bind(m);
  assert.throws(() => b.bind(m), /label "twice" is bound twice/);
  assert.throws(() => b.label("twice"), /duplicate label name "twice"/);
  assert.throws(() => b.jmp(a.label()), /belongs to another assembler/);
  const c = new Asm({ base: 0 });
  const x = c.label("x");
  c.mov(eax, () => c.addressOf(x)).bind(c.label("y"));
  assert.throws(() => c.assemble(), /label "x" is used but never bound/);
  assert.throws(() => c.addressOf("y"), /only available/);
  const anon = new Asm({ base: 0 });
  anon.dq(anon.label());
  assert.throws(() => anon.assemble(), /label "\.L0" is used but never bound/);
});

Deno.test("error: org backwards, out-of-range values, rel8-only branches, prefixes", () => {
  const a = new Asm({ base: 0x1000 });
  a.space(0x20).org(0x1010);
  assert.throws(() => a.assemble(), /org\(0x1010\) .*moves backwards: already at 0x1020/);
  assert.throws(() => new Asm({ base: 0x1000 }).org(0x800), /below the image base/);

  const b = new Asm({ base: 0 });
  b.mov(dword(rbx), () => 0x1_0000_0000);
  assert.throws(() => b.assemble(), /value 0x100000000 of <thunk> does not fit imm32/);
  const c = new Asm({ base: 0 });
  c.add(rax, () => 0x8000_0000);
  assert.throws(() => c.assemble(), /does not fit imm32 \(sign-extended to 64 bits\)/);
  assert.throws(() => new Asm({ base: 0 }).db(256), /does not fit in 1 byte/);
  assert.throws(() => new Asm({ base: 0 }).dw(-32769), /does not fit in 2 byte/);
  assert.throws(() => new Asm({ base: 0 }).dd(1.5), /must be an integer/);
  const d = new Asm({ base: 0 });
  d.dd(() => 2 ** 40);
  assert.throws(() => d.assemble(), /does not fit in 4 byte/);

  const e = new Asm({ base: 0 });
  const far = e.label("far");
  e.jrcxz(far).space(200).bind(far);
  assert.throws(() => e.assemble(), /jrcxz far .*out of rel8 range/);

  assert.throws(() => new Asm({ base: 0 }).rep().add(rax, rbx), /cannot take a rep prefix/);
  assert.throws(() => new Asm({ base: 0 }).lock().add(rax, rbx), /cannot take a lock prefix/);
  assert.throws(
    () => new Asm({ base: 0 }).rep().db(1),
    /prefix must be followed by an instruction/,
  );
  const f = new Asm({ base: 0 });
  f.rep();
  assert.throws(() => f.assemble(), /prefix at the end/);
  assert.throws(
    () => new Asm({ base: 0, bits: 32 }).mov(eax, dword(rip_rel(0x10))),
    /RIP-relative addressing needs 64-bit/,
  );
  assert.throws(() => new Asm({ base: 0 }).mov(rbx, qword(0x8000_0000)), /cannot encode .*i32/);
  // (rax can use the moffs64 form instead)
  assert.equal(bytesOf((a) => a.mov(rax, qword(0x8000_0000))), "48 a1 00 00 00 80 00 00 00 00");
  assert.throws(() => mem(rax, rbx, 3), /scale must be 1, 2, 4 or 8/);
  assert.throws(
    () => new Asm({ base: 0 }).mov(eax, mem(rax, ebx)),
    /mixed base\/index register sizes/,
  );
});

Deno.test("operand formatting in messages", () => {
  assert.equal(String(qword(rbx, rcx, 8, -0x10, { seg: fs })), "qword fs:[rbx+rcx*8-0x10]");
  assert.equal(String(dword(rip_rel(0x1000))), "dword rel [0x1000]");
  assert.equal(String(mem(rsp)), "[rsp]");
  assert.equal(String(byte(0xb8000)), "byte [0xb8000]");
  assert.equal(String(far(8, 0x1000)), "far 0x8:0x1000");
  assert.equal(String(edi), "edi");
  assert.equal(String(xmmword(esi)), "xmmword [esi]");
  assert.equal(String(esp), "esp");
});

Deno.test("a rejected instruction leaves no label reference behind", () => {
  const a = new Asm({ base: 0 });
  const l = a.label("never");
  assert.throws(() => a.add(mem(l), 1), /ambiguous/);
  assert.throws(() => a.i("bogus", l), /unknown mnemonic/);
  a.nop();
  assert.equal(hexBytes(a.assemble().bytes), "90");
});

Deno.test("label helpers, mem(Mem, disp) and prefixes in the mnemonic string", () => {
  const a = new Asm({ base: 0x400000 });
  const entry = a.here("entry");
  assert.equal(a.labelNamed("entry"), entry);
  assert.throws(() => a.labelNamed("nope"), /no label named "nope"/);
  const data = a.label("data");
  a.i("lock xadd", qword(rip_rel(data), 8), rax).i("LOCK INC", dword(rbx)).i("repne scasb");
  a.mov(eax, dword(mem(data), 4)).ret();
  a.bind(data).dq(0n, 0n);
  const img = a.assemble();
  const d = img.addressOf(data);
  assert.deepEqual(dis(img, 64, img.base, d), [
    `lock xadd [0x${(d + 8).toString(16)}], rax`,
    "lock inc dword ptr [rbx]",
    "repne scasb [rdi]",
    `mov eax, [0x${(d + 4).toString(16)}]`,
    "ret",
  ]);
  assert.equal(a.addressOf(data), d);
  assert.equal(a.assembled, true);
  a.nop();
  assert.equal(a.assembled, false);
  assert.throws(() => a.addressOf(data), /only available/);
});
