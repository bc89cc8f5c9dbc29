/** SSE/SSE2 fixture families: integer (sse_int) and floating point (sse_fp). */
import {
  code,
  DATA_END,
  dataAddr,
  type Family,
  ins,
  type Instruction,
  M64 as M64q,
  mask,
  mem,
  memAt,
  memAtF,
  MM,
  pickRegs,
  R64,
  regInfo,
  Register,
  regsOfWidth as regsOfW,
  type Rng,
  St,
  val,
  XMM,
} from "./core.ts";
import { f32Bits, f64Bits, SSE_F32_EDGES, SSE_F64_EDGES } from "./fp_values.ts";

function xmmPair(r: Rng): [number, number] {
  const a = r.int(16);
  let b = r.int(16);
  if (b === a && r.bool(0.8)) b = (a + 1 + r.int(15)) % 16;
  return [a, b];
}

/** 128-bit value built from lanes of `w` bits, each an edge or random value. */
function vec(r: Rng, w: number): bigint {
  let v = 0n;
  for (let i = 0; i < 128 / w; i++) v |= val(r, w) << BigInt(i * w);
  return v;
}

function sseCase(
  r: Rng,
  form: string,
  mk: (st: St, a: number, b: number) => Instruction[],
  lanes = 8,
): { form: string; st: St; instrs: Instruction[] } {
  const st = new St(r);
  const sse = st.useSse(r);
  const [a, b] = xmmPair(r);
  sse.xmm[a] = vec(r, lanes);
  sse.xmm[b] = vec(r, lanes);
  return { form, st, instrs: mk(st, a, b) };
}

const PACKED_INT = [
  ["Paddb", 8],
  ["Paddw", 16],
  ["Paddd", 32],
  ["Paddq", 64],
  ["Psubb", 8],
  ["Psubw", 16],
  ["Psubd", 32],
  ["Psubq", 64],
  ["Paddsb", 8],
  ["Paddsw", 16],
  ["Paddusb", 8],
  ["Paddusw", 16],
  ["Psubsb", 8],
  ["Psubsw", 16],
  ["Psubusb", 8],
  ["Psubusw", 16],
  ["Pand", 64],
  ["Por", 64],
  ["Pxor", 64],
  ["Pandn", 64],
  ["Pcmpeqb", 8],
  ["Pcmpeqw", 16],
  ["Pcmpeqd", 32],
  ["Pcmpgtb", 8],
  ["Pcmpgtw", 16],
  ["Pcmpgtd", 32],
  ["Punpcklbw", 8],
  ["Punpcklwd", 16],
  ["Punpckldq", 32],
  ["Punpcklqdq", 64],
  ["Punpckhbw", 8],
  ["Punpckhwd", 16],
  ["Punpckhdq", 32],
  ["Punpckhqdq", 64],
  ["Pmullw", 16],
  ["Pmulhw", 16],
  ["Pmulhuw", 16],
  ["Pmuludq", 32],
  ["Pmaddwd", 16],
] as const;

export function sseInt(f: Family): void {
  for (const [op, w] of PACKED_INT) {
    f.gen(14, (r) =>
      sseCase(r, `${op.toLowerCase()}.x.x`, (st, a, b) => {
        if (op.startsWith("Pcmpeq") && r.bool(0.4)) {
          // make some lanes equal
          const s = st.sse!;
          const m = vec(r, w) & vec(r, w);
          s.xmm[b] = (s.xmm[b]! & ~m) | (s.xmm[a]! & m);
        }
        return [ins.createRegReg(code(`${op}_xmm_xmmm128`), XMM[a]!, XMM[b]!)];
      }, w));
    f.gen(3, (r) =>
      sseCase(r, `${op.toLowerCase()}.x.m`, (st, a) => {
        const m = memAt(r, st, dataAddr(r, 16, 16));
        return [ins.createRegMem(code(`${op}_xmm_xmmm128`), XMM[a]!, m)];
      }, w));
  }
  // shifts by immediate and by xmm count
  for (
    const [op, w] of [
      ["Psllw", 16],
      ["Pslld", 32],
      ["Psllq", 64],
      ["Psrlw", 16],
      ["Psrld", 32],
      [
        "Psrlq",
        64,
      ],
      ["Psraw", 16],
      ["Psrad", 32],
    ] as const
  ) {
    f.gen(12, (r) =>
      sseCase(r, `${op.toLowerCase()}.x.imm`, (_st, a) => {
        const c = r.pick([0, 1, w - 1, w, w + 1, 255, r.int(w), r.int(256)]);
        return [ins.createRegI32(code(`${op}_xmm_imm8`), XMM[a]!, c)];
      }, w));
    f.gen(12, (r) =>
      sseCase(r, `${op.toLowerCase()}.x.x`, (st, a, b) => {
        const c = r.pick([0n, 1n, BigInt(w - 1), BigInt(w), 255n, 0x100000000n, r.u64()]);
        st.sse!.xmm[b] = (r.u64() << 64n) | c;
        return [ins.createRegReg(code(`${op}_xmm_xmmm128`), XMM[a]!, XMM[b]!)];
      }, w));
  }
  for (const op of ["Pslldq", "Psrldq"]) {
    f.gen(12, (r) =>
      sseCase(r, `${op.toLowerCase()}.x.imm`, (_st, a) => [
        ins.createRegI32(
          code(`${op}_xmm_imm8`),
          XMM[a]!,
          r.pick([0, 1, 7, 8, 15, 16, 17, r.int(256)]),
        ),
      ]));
  }
  f.gen(24, (r) =>
    sseCase(r, "pshufd.x.x.imm", (_st, a, b) => [
      ins.createRegRegI32(code("Pshufd_xmm_xmmm128_imm8"), XMM[a]!, XMM[b]!, r.int(256)),
    ], 32));
  for (const w of [32, 64]) {
    f.gen(10, (r) =>
      sseCase(r, `pmovmskb.r${w}.x`, (_st, _a, b) => {
        const [d] = pickRegs(r, w, 1);
        return [ins.createRegReg(code(`Pmovmskb_r${w}_xmm`), d!, XMM[b]!)];
      }));
  }
  // moves between GPRs, memory and XMM
  for (const w of [32, 64]) {
    const nm = w === 32 ? "Movd" : "Movq";
    f.gen(10, (r) =>
      sseCase(r, `${nm.toLowerCase()}.x.r${w}`, (st, a) => {
        const [g] = pickRegs(r, w, 1);
        st.set(g!, val(r, w));
        return [ins.createRegReg(code(`${nm}_xmm_rm${w}`), XMM[a]!, g!)];
      }));
    f.gen(10, (r) =>
      sseCase(r, `${nm.toLowerCase()}.r${w}.x`, (_st, a) => {
        const [g] = pickRegs(r, w, 1);
        return [ins.createRegReg(code(`${nm}_rm${w}_xmm`), g!, XMM[a]!)];
      }));
    f.gen(4, (r) =>
      sseCase(r, `${nm.toLowerCase()}.x.m${w}`, (st, a) => [
        ins.createRegMem(code(`${nm}_xmm_rm${w}`), XMM[a]!, memAt(r, st, dataAddr(r, w / 8))),
      ]));
    f.gen(4, (r) =>
      sseCase(r, `${nm.toLowerCase()}.m${w}.x`, (st, a) => [
        ins.createMemReg(code(`${nm}_rm${w}_xmm`), memAt(r, st, dataAddr(r, w / 8)), XMM[a]!),
      ]));
  }
  f.gen(
    8,
    (r) =>
      sseCase(
        r,
        "movq.x.x",
        (_st, a, b) => [ins.createRegReg(code("Movq_xmm_xmmm64"), XMM[a]!, XMM[b]!)],
      ),
  );
  f.gen(4, (r) =>
    sseCase(r, "movq.x.m64", (st, a) => [
      ins.createRegMem(code("Movq_xmm_xmmm64"), XMM[a]!, memAt(r, st, dataAddr(r, 8))),
    ]));
  f.gen(4, (r) =>
    sseCase(r, "movq.m64.x", (st, a) => [
      ins.createMemReg(code("Movq_xmmm64_xmm"), memAt(r, st, dataAddr(r, 8)), XMM[a]!),
    ]));
  for (const nm of ["Movdqa", "Movdqu", "Movaps", "Movups", "Movapd", "Movupd"]) {
    const aligned = nm.includes("a");
    f.gen(6, (r) =>
      sseCase(r, `${nm.toLowerCase()}.x.x`, (_st, a, b) => [
        ins.createRegReg(code(`${nm}_xmm_xmmm128`), XMM[a]!, XMM[b]!),
      ]));
    f.gen(6, (r) =>
      sseCase(r, `${nm.toLowerCase()}.x.m`, (st, a) => [
        ins.createRegMem(
          code(`${nm}_xmm_xmmm128`),
          XMM[a]!,
          memAt(r, st, dataAddr(r, 16, aligned ? 16 : 1)),
        ),
      ]));
    f.gen(6, (r) =>
      sseCase(r, `${nm.toLowerCase()}.m.x`, (st, a) => [
        ins.createMemReg(
          code(`${nm}_xmmm128_xmm`),
          memAt(r, st, dataAddr(r, 16, aligned ? 16 : 1)),
          XMM[a]!,
        ),
      ]));
  }
  // misaligned 128-bit operands of aligned-only instructions -> #GP
  for (
    const nm of [
      "Movdqa_xmm_xmmm128",
      "Movaps_xmmm128_xmm",
      "Paddd_xmm_xmmm128",
      "Pxor_xmm_xmmm128",
    ]
  ) {
    f.gen(2, (r) =>
      sseCase(r, `${nm.split("_")[0]!.toLowerCase()}.misaligned`, (st, a) => {
        const m = memAt(r, st, dataAddr(r, 16, 16) + BigInt(r.range(1, 15)));
        return [
          nm.includes("xmmm128_xmm")
            ? ins.createMemReg(code(nm), m, XMM[a]!)
            : ins.createRegMem(code(nm), XMM[a]!, m),
        ];
      }));
  }
}

// ---------------------------------------------------------------------------------------------
// Floating point

/** A float/double bit pattern: an edge value, a "nice" value, or random bits. */
function fpVal(r: Rng, w: 32 | 64): bigint {
  const k = r.int(8);
  if (k < 3) return r.pick(w === 64 ? SSE_F64_EDGES : SSE_F32_EDGES);
  if (k < 6) {
    // a moderate random number (exponent near 0)
    const x = (r.u32() / 0x100000000 - 0.5) * 2 ** r.range(-20, 40);
    return w === 64 ? f64Bits(x) : f32Bits(x);
  }
  return r.bits(w);
}

function fpVec(r: Rng, w: 32 | 64): bigint {
  let v = 0n;
  for (let i = 0; i < 128 / w; i++) v |= fpVal(r, w) << BigInt(i * w);
  return v;
}

/** MXCSR: default most of the time, otherwise other rounding modes, FTZ/DAZ, sticky flags. */
function mxcsr(r: Rng, allowUnmasked: boolean): number {
  const k = r.int(10);
  if (k < 5 && !allowUnmasked) return 0x1f80;
  let m = 0x1f80 | (r.int(4) << 13); // RC
  if (r.bool(0.3)) m |= 0x8000; // FTZ
  if (r.bool(0.3)) m |= 0x0040; // DAZ
  if (r.bool(0.3)) m |= r.u32() & 0x3f; // sticky exception flags
  if (allowUnmasked) m &= ~(r.pick([0x0080, 0x0200, 0x0400, 0x0800, 0x1000, 0x0100]));
  return m;
}

const SCALAR_OPS = ["Add", "Sub", "Mul", "Div", "Min", "Max", "Sqrt"];

/** A case on two XMM registers holding floats of width w, with a random MXCSR. */
function fpCase(
  r: Rng,
  form: string,
  w: 32 | 64,
  mk: (st: St, a: number, b: number) => Instruction[],
  unmasked = false,
): { form: string; st: St; instrs: Instruction[] } {
  const st = new St(r);
  const sse = st.useSse(r);
  const [a, b] = xmmPair(r);
  sse.xmm[a] = fpVec(r, w);
  sse.xmm[b] = fpVec(r, w);
  sse.mxcsr = mxcsr(r, unmasked);
  return { form, st, instrs: mk(st, a, b) };
}

export function sseFp(f: Family): void {
  for (const op of SCALAR_OPS) {
    for (const [sfx, w] of [["sd", 64], ["ss", 32], ["pd", 64], ["ps", 32]] as const) {
      const mw = sfx[0] === "s" ? w : 128;
      const cname = `${op}${sfx}_xmm_xmmm${mw}`;
      const n = sfx === "sd" ? 40 : 16;
      f.gen(n, (r) =>
        fpCase(r, `${op.toLowerCase()}${sfx}.x.x`, w, (_st, a, b) => [
          ins.createRegReg(code(cname), XMM[a]!, XMM[b]!),
        ]));
      f.gen(Math.ceil(n / 8), (r) =>
        fpCase(r, `${op.toLowerCase()}${sfx}.x.m`, w, (st, a) => [
          ins.createRegMem(
            code(cname),
            XMM[a]!,
            memAt(r, st, dataAddr(r, mw / 8, mw === 128 ? 16 : 1)),
          ),
        ]));
    }
  }
  // unmasked exceptions -> #XM (vector 19) or plain sticky flags when nothing raises
  for (const op of ["Add", "Div", "Mul", "Sqrt"]) {
    f.gen(16, (r) =>
      fpCase(r, `${op.toLowerCase()}sd.x.x.unmasked`, 64, (_st, a, b) => [
        ins.createRegReg(code(`${op}sd_xmm_xmmm64`), XMM[a]!, XMM[b]!),
      ], true));
  }
  // comparisons setting RFLAGS
  for (const op of ["Ucomisd", "Comisd", "Ucomiss", "Comiss"]) {
    const w = op.endsWith("d") ? 64 : 32;
    f.gen(30, (r) =>
      fpCase(r, `${op.toLowerCase()}.x.x`, w, (st, a, b) => {
        if (r.bool(0.2)) st.sse!.xmm[b] = st.sse!.xmm[a]!;
        return [ins.createRegReg(code(`${op}_xmm_xmmm${w}`), XMM[a]!, XMM[b]!)];
      }));
  }
  // conversions
  for (const [sfx, w] of [["sd", 64], ["ss", 32]] as const) {
    for (const gw of [32, 64]) {
      f.gen(20, (r) =>
        fpCase(r, `cvtsi2${sfx}.x.r${gw}`, w, (st, a) => {
          const [g] = pickRegs(r, gw, 1);
          st.set(g!, val(r, gw));
          return [ins.createRegReg(code(`Cvtsi2${sfx}_xmm_rm${gw}`), XMM[a]!, g!)];
        }));
      for (const t of ["Cvtt", "Cvt"]) {
        f.gen(20, (r) =>
          fpCase(r, `${t.toLowerCase()}${sfx}2si.r${gw}.x`, w, (_st, a) => {
            const [g] = pickRegs(r, gw, 1);
            return [ins.createRegReg(code(`${t}${sfx}2si_r${gw}_xmmm${w}`), g!, XMM[a]!)];
          }));
      }
    }
  }
  for (
    const nm of [
      "Cvtss2sd_xmm_xmmm32",
      "Cvtsd2ss_xmm_xmmm64",
      "Cvtdq2pd_xmm_xmmm64",
      "Cvttpd2dq_xmm_xmmm128",
      "Cvtdq2ps_xmm_xmmm128",
      "Cvttps2dq_xmm_xmmm128",
    ]
  ) {
    const w = nm.startsWith("Cvtss") || nm.includes("ps") ? 32 : 64;
    f.gen(16, (r) =>
      fpCase(r, nm.split("_")[0]!.toLowerCase(), w, (st, a, b) => {
        if (nm.startsWith("Cvtdq")) st.sse!.xmm[b] = vec(r, 32);
        return [ins.createRegReg(code(nm), XMM[a]!, XMM[b]!)];
      }));
  }
  // register numbering check: xmm8-15 with GPR r8-r15 in one sequence
  f.gen(6, (r) => {
    const st = new St(r);
    st.useSse(r);
    const g = R64[r.pick([8, 9, 12, 13, 15])]!;
    const x = XMM[8 + r.int(8)]!;
    st.set(g, fpVal(r, 64));
    return {
      form: "movq.xhi.rhi.addsd",
      st,
      instrs: [
        ins.createRegReg(code("Movq_xmm_rm64"), x, g),
        ins.createRegReg(code("Addsd_xmm_xmmm64"), x, x),
        ins.createRegReg(code("Movq_rm64_xmm"), g, x),
      ],
    };
  });
}

// ---------------------------------------------------------------------------------------------
// More SSE/SSE2: data movement, the remaining integer and floating-point forms, MXCSR and FXSAVE

/** Address of a `size`-byte access that crosses the end of the data area into unmapped memory. */
function pastEnd(r: Rng, size: number): bigint {
  return DATA_END - BigInt(r.range(1, size - 1));
}

export function sseMov(f: Family): void {
  const rx = (r: Rng, form: string, mk: (st: St, a: number, b: number) => Instruction[]) =>
    sseCase(r, form, mk);
  for (const [nm, w] of [["Movss", 32], ["Movsd", 64]] as const) {
    f.gen(10, (r) =>
      rx(r, `${nm.toLowerCase()}.x.x`, (_st, a, b) => [
        ins.createRegReg(code(`${nm}_xmm_xmmm${w}`), XMM[a]!, XMM[b]!),
      ]));
    f.gen(8, (r) =>
      rx(r, `${nm.toLowerCase()}.x.m`, (st, a) => [
        ins.createRegMem(code(`${nm}_xmm_xmmm${w}`), XMM[a]!, memAt(r, st, dataAddr(r, w / 8))),
      ]));
    f.gen(8, (r) =>
      rx(r, `${nm.toLowerCase()}.m.x`, (st, a) => [
        ins.createMemReg(code(`${nm}_xmmm${w}_xmm`), memAt(r, st, dataAddr(r, w / 8)), XMM[a]!),
      ]));
  }
  for (const nm of ["Movlps", "Movhps", "Movlpd", "Movhpd"]) {
    f.gen(8, (r) =>
      rx(r, `${nm.toLowerCase()}.x.m`, (st, a) => [
        ins.createRegMem(code(`${nm}_xmm_m64`), XMM[a]!, memAt(r, st, dataAddr(r, 8))),
      ]));
    f.gen(8, (r) =>
      rx(r, `${nm.toLowerCase()}.m.x`, (st, a) => [
        ins.createMemReg(code(`${nm}_m64_xmm`), memAt(r, st, dataAddr(r, 8)), XMM[a]!),
      ]));
  }
  for (const nm of ["Movhlps", "Movlhps"]) {
    f.gen(10, (r) =>
      rx(r, `${nm.toLowerCase()}.x.x`, (_st, a, b) => [
        ins.createRegReg(code(`${nm}_xmm_xmm`), XMM[a]!, XMM[b]!),
      ]));
  }
  for (const nm of ["Movmskps", "Movmskpd"]) {
    for (const w of [32, 64]) {
      f.gen(8, (r) =>
        rx(r, `${nm.toLowerCase()}.r${w}.x`, (_st, _a, b) => {
          const [g] = pickRegs(r, w, 1);
          return [ins.createRegReg(code(`${nm}_r${w}_xmm`), g!, XMM[b]!)];
        }));
    }
  }
  for (const w of [32, 64]) {
    f.gen(8, (r) =>
      rx(r, `movnti.m${w}.r${w}`, (st) => {
        const [g] = pickRegs(r, w, 1);
        st.set(g!, val(r, w));
        const m = memAt(r, st, dataAddr(r, w / 8, w / 8), [regInfo(g!).idx]);
        return [ins.createMemReg(code(`Movnti_m${w}_r${w}`), m, g!)];
      }));
  }
  for (const nm of ["Movntdq", "Movntps", "Movntpd"]) {
    f.gen(5, (r) =>
      rx(r, `${nm.toLowerCase()}.m.x`, (st, a) => [
        ins.createMemReg(code(`${nm}_m128_xmm`), memAt(r, st, dataAddr(r, 16, 16)), XMM[a]!),
      ]));
    f.gen(2, (r) =>
      rx(r, `${nm.toLowerCase()}.misaligned`, (st, a) => [
        ins.createMemReg(
          code(`${nm}_m128_xmm`),
          memAt(r, st, dataAddr(r, 16, 16) + BigInt(r.range(1, 15))),
          XMM[a]!,
        ),
      ]));
  }
  f.gen(16, (r) =>
    rx(r, "maskmovdqu", (st, a, b) => {
      // mask bytes: sign bits random per byte
      st.sse!.xmm[b] = r.u64() << 64n | r.u64();
      st.setIdx(7, dataAddr(r, 16));
      return [ins.createMaskmovdqu(64, XMM[a]!, XMM[b]!, Register.None)];
    }));
  // 16-byte loads and stores crossing into the unmapped page: #PF, nothing written
  for (const nm of ["Movdqu", "Movups"]) {
    f.gen(4, (r) =>
      rx(r, `${nm.toLowerCase()}.m.x.pagefault`, (st, a) => [
        ins.createMemReg(code(`${nm}_xmmm128_xmm`), memAt(r, st, pastEnd(r, 16)), XMM[a]!),
      ]));
    f.gen(3, (r) =>
      rx(r, `${nm.toLowerCase()}.x.m.pagefault`, (st, a) => [
        ins.createRegMem(code(`${nm}_xmm_xmmm128`), XMM[a]!, memAt(r, st, pastEnd(r, 16))),
      ]));
  }
  f.gen(3, (r) =>
    rx(r, "movq.m64.x.pagefault", (st, a) => [
      ins.createMemReg(code("Movq_xmmm64_xmm"), memAt(r, st, pastEnd(r, 8)), XMM[a]!),
    ]));
  f.gen(3, (r) =>
    rx(r, "movsd.m64.x.pagefault", (st, a) => [
      ins.createMemReg(code("Movsd_xmmm64_xmm"), memAt(r, st, pastEnd(r, 8)), XMM[a]!),
    ]));
  // pinsrw / pextrw / pshufhw / pshuflw
  f.gen(12, (r) =>
    rx(r, "pinsrw.x.r32.imm", (st, a) => {
      const [g] = pickRegs(r, 32, 1);
      st.set(g!, val(r, 32));
      return [ins.createRegRegI32(code("Pinsrw_xmm_r32m16_imm8"), XMM[a]!, g!, r.int(256))];
    }));
  f.gen(6, (r) =>
    rx(r, "pinsrw.x.m16.imm", (st, a) => [
      ins.createRegMemI32(
        code("Pinsrw_xmm_r32m16_imm8"),
        XMM[a]!,
        memAt(r, st, dataAddr(r, 2)),
        r.int(256),
      ),
    ]));
  for (const w of [32, 64]) {
    f.gen(10, (r) =>
      rx(r, `pextrw.r${w}.x.imm`, (_st, _a, b) => {
        const [g] = pickRegs(r, w, 1);
        return [ins.createRegRegI32(code(`Pextrw_r${w}_xmm_imm8`), g!, XMM[b]!, r.int(256))];
      }));
  }
  for (const nm of ["Pshufhw", "Pshuflw"]) {
    f.gen(12, (r) =>
      rx(r, `${nm.toLowerCase()}.x.x.imm`, (_st, a, b) => [
        ins.createRegRegI32(code(`${nm}_xmm_xmmm128_imm8`), XMM[a]!, XMM[b]!, r.int(256)),
      ]));
    f.gen(3, (r) =>
      rx(r, `${nm.toLowerCase()}.x.m.imm`, (st, a) => [
        ins.createRegMemI32(
          code(`${nm}_xmm_xmmm128_imm8`),
          XMM[a]!,
          memAt(r, st, dataAddr(r, 16, 16)),
          r.int(256),
        ),
      ]));
  }
}

const PACKED_INT2 = [
  ["Pminub", 8],
  ["Pmaxub", 8],
  ["Pminsw", 16],
  ["Pmaxsw", 16],
  ["Pavgb", 8],
  ["Pavgw", 16],
  ["Psadbw", 8],
  ["Packsswb", 16],
  ["Packssdw", 32],
  ["Packuswb", 16],
] as const;

export function sseInt2(f: Family): void {
  for (const [op, w] of PACKED_INT2) {
    f.gen(16, (r) =>
      sseCase(r, `${op.toLowerCase()}.x.x`, (_st, a, b) => [
        ins.createRegReg(code(`${op}_xmm_xmmm128`), XMM[a]!, XMM[b]!),
      ], w));
    f.gen(4, (r) =>
      sseCase(r, `${op.toLowerCase()}.x.m`, (st, a) => [
        ins.createRegMem(code(`${op}_xmm_xmmm128`), XMM[a]!, memAt(r, st, dataAddr(r, 16, 16))),
      ], w));
  }
  f.gen(2, (r) =>
    sseCase(r, "pavgb.misaligned", (st, a) => [
      ins.createRegMem(
        code("Pavgb_xmm_xmmm128"),
        XMM[a]!,
        memAt(r, st, dataAddr(r, 16, 16) + BigInt(r.range(1, 15))),
      ),
    ]));
}

export function sseFp2(f: Family): void {
  // compares with every predicate (imm 0..7; a few larger immediates)
  for (
    const [nm, w, packed] of [["Cmpps", 32, 1], ["Cmppd", 64, 1], ["Cmpss", 32, 0], [
      "Cmpsd",
      64,
      0,
    ]] as const
  ) {
    const mw = packed ? 128 : w;
    for (let p = 0; p < 8; p++) {
      f.gen(6, (r) =>
        fpCase(r, `${nm.toLowerCase()}.x.x.${p}`, w, (st, a, b) => {
          if (r.bool(0.3)) st.sse!.xmm[b] = st.sse!.xmm[a]!;
          return [ins.createRegRegI32(code(`${nm}_xmm_xmmm${mw}_imm8`), XMM[a]!, XMM[b]!, p)];
        }));
    }
    f.gen(4, (r) =>
      fpCase(r, `${nm.toLowerCase()}.x.m`, w, (st, a) => [
        ins.createRegMemI32(
          code(`${nm}_xmm_xmmm${mw}_imm8`),
          XMM[a]!,
          memAt(r, st, dataAddr(r, mw / 8, mw === 128 ? 16 : 1)),
          r.int(8),
        ),
      ]));
    f.gen(3, (r) =>
      fpCase(r, `${nm.toLowerCase()}.x.x.unmasked`, w, (_st, a, b) => [
        ins.createRegRegI32(code(`${nm}_xmm_xmmm${mw}_imm8`), XMM[a]!, XMM[b]!, r.int(8)),
      ], true));
    // legacy encodings use only imm8[2:0]
    f.gen(3, (r) =>
      fpCase(r, `${nm.toLowerCase()}.x.x.imm8`, w, (_st, a, b) => [
        ins.createRegRegI32(
          code(`${nm}_xmm_xmmm${mw}_imm8`),
          XMM[a]!,
          XMM[b]!,
          r.range(8, 255),
        ),
      ]));
  }
  // bitwise, shuffles, unpacks
  for (
    const nm of [
      "Andps",
      "Andnps",
      "Orps",
      "Xorps",
      "Andpd",
      "Andnpd",
      "Orpd",
      "Xorpd",
      "Unpcklps",
      "Unpckhps",
      "Unpcklpd",
      "Unpckhpd",
    ]
  ) {
    f.gen(6, (r) =>
      sseCase(r, `${nm.toLowerCase()}.x.x`, (_st, a, b) => [
        ins.createRegReg(code(`${nm}_xmm_xmmm128`), XMM[a]!, XMM[b]!),
      ]));
    f.gen(2, (r) =>
      sseCase(r, `${nm.toLowerCase()}.x.m`, (st, a) => [
        ins.createRegMem(code(`${nm}_xmm_xmmm128`), XMM[a]!, memAt(r, st, dataAddr(r, 16, 16))),
      ]));
  }
  for (const nm of ["Shufps", "Shufpd"]) {
    f.gen(12, (r) =>
      sseCase(r, `${nm.toLowerCase()}.x.x.imm`, (_st, a, b) => [
        ins.createRegRegI32(code(`${nm}_xmm_xmmm128_imm8`), XMM[a]!, XMM[b]!, r.int(256)),
      ]));
    f.gen(3, (r) =>
      sseCase(r, `${nm.toLowerCase()}.x.m.imm`, (st, a) => [
        ins.createRegMemI32(
          code(`${nm}_xmm_xmmm128_imm8`),
          XMM[a]!,
          memAt(r, st, dataAddr(r, 16, 16)),
          r.int(256),
        ),
      ]));
  }
  // approximations
  for (const nm of ["Rcpps", "Rsqrtps", "Rcpss", "Rsqrtss"]) {
    const mw = nm.endsWith("ps") ? 128 : 32;
    f.gen(12, (r) =>
      fpCase(r, `${nm.toLowerCase()}.x.x`, 32, (_st, a, b) => [
        ins.createRegReg(code(`${nm}_xmm_xmmm${mw}`), XMM[a]!, XMM[b]!),
      ], r.bool(0.3)));
  }
  // more conversions
  for (
    const [nm, w] of [
      ["Cvtps2pd_xmm_xmmm64", 32],
      ["Cvtpd2ps_xmm_xmmm128", 64],
      ["Cvtps2dq_xmm_xmmm128", 32],
      ["Cvtpd2dq_xmm_xmmm128", 64],
      ["Cvttps2dq_xmm_xmmm128", 32],
      ["Cvttpd2dq_xmm_xmmm128", 64],
      ["Cvtdq2ps_xmm_xmmm128", 32],
      ["Cvtdq2pd_xmm_xmmm64", 32],
    ] as const
  ) {
    const name = nm.split("_")[0]!.toLowerCase();
    f.gen(16, (r) =>
      fpCase(r, `${name}.x.x`, w, (st, a, b) => {
        if (nm.startsWith("Cvtdq")) st.sse!.xmm[b] = vec(r, 32);
        return [ins.createRegReg(code(nm), XMM[a]!, XMM[b]!)];
      }));
    f.gen(3, (r) =>
      fpCase(r, `${name}.x.m`, w, (st, a) => {
        const size = nm.endsWith("128") ? 16 : 8;
        return [ins.createRegMem(code(nm), XMM[a]!, memAt(r, st, dataAddr(r, size, size)))];
      }));
    f.gen(3, (r) =>
      fpCase(r, `${name}.x.x.unmasked`, w, (_st, a, b) => [
        ins.createRegReg(code(nm), XMM[a]!, XMM[b]!),
      ], true));
  }
  for (const [sfx, w] of [["sd", 64], ["ss", 32]] as const) {
    for (const gw of [32, 64]) {
      f.gen(4, (r) =>
        fpCase(r, `cvtsi2${sfx}.x.m${gw}`, w, (st, a) => [
          ins.createRegMem(
            code(`Cvtsi2${sfx}_xmm_rm${gw}`),
            XMM[a]!,
            memAt(r, st, dataAddr(r, gw / 8)),
          ),
        ]));
      f.gen(4, (r) =>
        fpCase(r, `cvt${sfx}2si.r${gw}.m`, w, (st) => {
          const [g] = pickRegs(r, gw, 1);
          const m = memAt(r, st, dataAddr(r, w / 8), [regInfo(g!).idx]);
          return [ins.createRegMem(code(`Cvt${sfx}2si_r${gw}_xmmm${w}`), g!, m)];
        }));
      f.gen(4, (r) =>
        fpCase(r, `cvt${sfx}2si.r${gw}.x.unmasked`, w, (_st, a) => {
          const [g] = pickRegs(r, gw, 1);
          return [ins.createRegReg(code(`Cvt${sfx}2si_r${gw}_xmmm${w}`), g!, XMM[a]!)];
        }, true));
    }
  }
  // packed arithmetic with unmasked exceptions: lanes interact (no lane is written)
  for (const op of ["Addps", "Mulps", "Divps", "Sqrtps", "Addpd", "Mulpd", "Divpd", "Maxps"]) {
    const w = op.endsWith("ps") ? 32 : 64;
    f.gen(10, (r) =>
      fpCase(r, `${op.toLowerCase()}.x.x.unmasked`, w, (_st, a, b) => [
        ins.createRegReg(code(`${op}_xmm_xmmm128`), XMM[a]!, XMM[b]!),
      ], true));
  }
  // overflow and underflow with OM / UM unmasked (and masked), exact and inexact tiny results
  const cases: [number, number][] = [
    [2 ** 600, 2 ** 600],
    [-(2 ** 1000), 2 ** 30],
    [2 ** -600, 2 ** -600],
    [2 ** -515, 2 ** -515], // exact denormal 2^-1030
    [3 * 2 ** -540, 2 ** -500], // exact denormal
    [1.5 * 2 ** -1022, 0.75], // inexact, tiny before rounding, rounds to min normal?
    [(2 - 2 ** -52) * 2 ** -512, 2 ** -511], // just below 2^-1022
    [1 + 2 ** -52, 2 ** -1023], // tiny, inexact
    [(1 + 2 ** -52) * 2 ** 600, (1 + 2 ** -51) * 2 ** 600], // overflow, inexact significand
  ];
  for (const [x, y] of cases) {
    for (const mask of [0x1f80, 0x1f80 & ~0x0400, 0x1f80 & ~0x0800, 0x1f80 & ~0x1000, 0x9f80]) {
      for (let rc = 0; rc < 4; rc += 3) {
        f.gen(1, (r) => {
          const st = new St(r);
          const sse = st.useSse(r);
          const [a, b] = xmmPair(r);
          sse.xmm[a] = (r.u64() << 64n) | f64Bits(x);
          sse.xmm[b] = (r.u64() << 64n) | f64Bits(y);
          sse.mxcsr = mask | (rc << 13);
          return {
            form: "mulsd.x.x.ovfunf",
            st,
            instrs: [ins.createRegReg(code("Mulsd_xmm_xmmm64"), XMM[a]!, XMM[b]!)],
          };
        });
      }
    }
  }
  // single-precision versions via mulss
  const cases32: [number, number][] = [
    [2 ** 100, 2 ** 100],
    [2 ** -80, 2 ** -80],
    [2 ** -70, 2 ** -70], // exact denormal 2^-140
    [(2 - 2 ** -23) * 2 ** -63, 2 ** -63],
  ];
  for (const [x, y] of cases32) {
    for (const mask of [0x1f80, 0x1f80 & ~0x0400, 0x1f80 & ~0x0800, 0x1f80 & ~0x1000, 0x9f80]) {
      f.gen(1, (r) => {
        const st = new St(r);
        const sse = st.useSse(r);
        const [a, b] = xmmPair(r);
        sse.xmm[a] = (r.u64() << 64n) | (r.bits(32) << 32n) | f32Bits(x);
        sse.xmm[b] = (r.u64() << 64n) | (r.bits(32) << 32n) | f32Bits(y);
        sse.mxcsr = mask;
        return {
          form: "mulss.x.x.ovfunf",
          st,
          instrs: [ins.createRegReg(code("Mulss_xmm_xmmm32"), XMM[a]!, XMM[b]!)],
        };
      });
    }
  }
  // exception priorities: denormal together with NaN, zero divisor, invalid operations
  const pri: [string, bigint, bigint][] = [
    ["Addsd", 0x0000000000000001n, 0x7ff8000000000000n],
    ["Addsd", 0x7ff0000000000001n, 0x000fffffffffffffn],
    ["Addsd", 0x0000000000000001n, 0x7ff0000000000001n],
    ["Divsd", 0x0000000000000001n, 0x0000000000000000n],
    ["Divsd", 0x0000000000000000n, 0x0000000000000001n],
    ["Divsd", 0x0000000000000001n, 0x0000000000000001n],
    ["Mulsd", 0x0000000000000001n, 0x7ff0000000000000n],
    ["Sqrtsd", 0x0000000000000000n, 0x800000000000abcdn],
    ["Minsd", 0x0000000000000001n, 0x7ff8000000000000n],
    ["Maxsd", 0x7ff8000000000000n, 0x0000000000000001n],
    ["Ucomisd", 0x0000000000000001n, 0x7ff8000000000000n],
    ["Comisd", 0x0000000000000001n, 0x7ff8000000000000n],
    ["Cvtsd2ss", 0n, 0x0000000000000001n],
    ["Cvtsd2ss", 0n, 0x7ff0000000000001n],
  ];
  for (const [op, x, y] of pri) {
    for (const mx of [0x1f80, 0x1f80 & ~0x0100, 0x1f80 & ~0x0080, 0x1fc0, 0x1f80 & ~0x0200]) {
      f.gen(1, (r) => {
        const st = new St(r);
        const sse = st.useSse(r);
        const [a, b] = xmmPair(r);
        sse.xmm[a] = (r.u64() << 64n) | x;
        sse.xmm[b] = (r.u64() << 64n) | y;
        sse.mxcsr = mx;
        const nm = `${op}_xmm_xmmm64`;
        return {
          form: `${op.toLowerCase()}.priority`,
          st,
          instrs: [ins.createRegReg(code(nm), XMM[a]!, XMM[b]!)],
        };
      });
    }
  }
}

/**
 * Instructions that make the FXSAVE-format area at [b] loadable and its reload comparable: FCW
 * with every x87 exception masked, FSW without a pending exception (ES, B clear), MXCSR = `mx`,
 * and FOP, FIP/FCS, FDP/FDS zero (AMD saves them only with an exception pending; Intel always).
 */
function sanitizeLegacy(b: Register, mx: number): Instruction[] {
  return [
    ins.createMemU32(code("Or_rm16_imm16"), mem(b, 0), 0x3f),
    ins.createMemU32(code("And_rm16_imm16"), mem(b, 2), 0x7f7f),
    ins.createMemU32(code("Mov_rm32_imm32"), mem(b, 24), mx),
    ins.createMemU32(code("Mov_rm16_imm16"), mem(b, 6), 0),
    ins.createMemI32(code("Mov_rm64_imm32"), mem(b, 8), 0),
    ins.createMemI32(code("Mov_rm64_imm32"), mem(b, 16), 0),
  ];
}

export function sseState(f: Family): void {
  // stmxcsr / ldmxcsr (reserved bits -> #GP)
  f.gen(10, (r) => {
    const st = new St(r);
    st.useSse(r).mxcsr = mxcsr(r, r.bool(0.3));
    return {
      form: "stmxcsr.m32",
      st,
      instrs: [ins.createMem(code("Stmxcsr_m32"), memAt(r, st, dataAddr(r, 4)))],
    };
  });
  f.gen(24, (r) => {
    const st = new St(r);
    st.useSse(r);
    const addr = dataAddr(r, 4);
    const mf = memAtF(r, st, addr);
    const k = r.int(6);
    const v = k === 0 ? r.u32() : k === 1 ? (1 << r.range(16, 31)) | 0x1f80 : mxcsr(r, true);
    return {
      form: "ldmxcsr.m32",
      st,
      instrs: [
        ins.createMemU32(code("Mov_rm32_imm32"), mf(), v >>> 0),
        ins.createMem(code("Ldmxcsr_m32"), mf()),
        // something that depends on the new MXCSR
        ins.createRegReg(code("Addsd_xmm_xmmm64"), XMM[r.int(16)]!, XMM[r.int(16)]!),
      ],
    };
  });
  // fxrstor a sanitized image, then fxsave / fxsave64 it back elsewhere
  for (const w64 of [false, true]) {
    f.gen(16, (r) => {
      const st = new St(r);
      st.useSse(r);
      const src = dataAddr(r, 512, 16, 0x100, 0x1000);
      const dst = dataAddr(r, 512, 16, 0x1000, 0x1e00);
      const [bs, bd] = pickRegs(r, 64, 2);
      st.set(bs!, src);
      st.set(bd!, dst);
      const m = (b: Register, d: number) => mem(b, d);
      const sfx = w64 ? "64" : "";
      return {
        form: `fxrstor${sfx}.fxsave${sfx}`,
        st,
        instrs: [
          ...sanitizeLegacy(bs!, mxcsr(r, false)),
          ins.createMem(code(`Fxrstor${sfx}_m512byte`), m(bs!, 0)),
          ins.createMem(code(`Fxsave${sfx}_m512byte`), m(bd!, 0)),
          // MXCSR_MASK is implementation-specific: overwrite it
          ins.createMemU32(code("Mov_rm32_imm32"), m(bd!, 28), 0),
        ],
      };
    });
  }
  f.gen(2, (r) => {
    const st = new St(r);
    st.useSse(r);
    return {
      form: "fxsave.misaligned",
      st,
      instrs: [
        ins.createMem(
          code("Fxsave_m512byte"),
          memAt(r, st, dataAddr(r, 512, 16, 0x100, 0x1c00) + BigInt(r.range(1, 15))),
        ),
      ],
    };
  });
  f.gen(4, (r) => {
    const st = new St(r);
    st.useSse(r);
    const src = dataAddr(r, 512, 16, 0x100, 0x1c00);
    const mf = memAtF(r, st, src);
    return {
      form: "fxrstor.badmxcsr",
      st,
      instrs: [
        ins.createMemU32(code("Or_rm16_imm16"), mf(), 0x3f),
        ins.createMem(code("Fxrstor_m512byte"), mf()),
      ],
    };
  });
}

// ---------------------------------------------------------------------------------------------
// SSE3, SSSE3, SSE4.1, SSE4.2

/** `op xmm, xmm` and `op xmm, m128` cases (plus a misaligned one when `aligned`). */
function xxm(
  f: Family,
  nm: string,
  n: number,
  opts: { w?: number; fp?: 32 | 64; mem?: number; aligned?: boolean; imm?: () => number } = {},
): void {
  const mw = opts.mem ?? 128;
  const suffix = mw === 128 ? "xmmm128" : `xmmm${mw}`;
  const cname = opts.imm ? `${nm}_xmm_${suffix}_imm8` : `${nm}_xmm_${suffix}`;
  const mk = (r: Rng, form: string, body: (st: St, a: number, b: number) => Instruction[]) =>
    opts.fp ? fpCase(r, form, opts.fp, body, r.bool(0.2)) : sseCase(r, form, body, opts.w ?? 8);
  const create = (r: Rng, a: number, src: Register | MemoryOperandLike) => {
    const imm = opts.imm?.();
    if (typeof src === "number") {
      return imm === undefined
        ? ins.createRegReg(code(cname), XMM[a]!, src)
        : ins.createRegRegI32(code(cname), XMM[a]!, src, imm);
    }
    void r;
    return imm === undefined
      ? ins.createRegMem(code(cname), XMM[a]!, src)
      : ins.createRegMemI32(code(cname), XMM[a]!, src, imm);
  };
  f.gen(n, (r) => mk(r, `${nm.toLowerCase()}.x.x`, (_st, a, b) => [create(r, a, XMM[b]!)]));
  f.gen(Math.max(2, Math.round(n / 4)), (r) =>
    mk(r, `${nm.toLowerCase()}.x.m`, (st, a) => [
      create(r, a, memAt(r, st, dataAddr(r, mw / 8, mw === 128 ? 16 : 1))),
    ]));
  if (mw === 128 && opts.aligned !== false) {
    f.gen(1, (r) =>
      mk(r, `${nm.toLowerCase()}.misaligned`, (st, a) => [
        create(r, a, memAt(r, st, dataAddr(r, 16, 16) + BigInt(r.range(1, 15)))),
      ]));
  }
}

type MemoryOperandLike = ReturnType<typeof mem>;

export function sse3(f: Family): void {
  for (const nm of ["Addsubps", "Haddps", "Hsubps"]) xxm(f, nm, 24, { fp: 32 });
  for (const nm of ["Addsubpd", "Haddpd", "Hsubpd"]) xxm(f, nm, 24, { fp: 64 });
  xxm(f, "Movddup", 8, { mem: 64 });
  xxm(f, "Movshdup", 8);
  xxm(f, "Movsldup", 8);
  f.gen(8, (r) =>
    sseCase(r, "lddqu.x.m", (st, a) => [
      ins.createRegMem(code("Lddqu_xmm_m128"), XMM[a]!, memAt(r, st, dataAddr(r, 16))),
    ]));
}

/** The SSSE3 two-operand instructions (XMM and MMX forms) with their element width. */
const SSSE3_OPS = [
  ["Pshufb", 8],
  ["Phaddw", 16],
  ["Phaddd", 32],
  ["Phaddsw", 16],
  ["Phsubw", 16],
  ["Phsubd", 32],
  ["Phsubsw", 16],
  ["Pmaddubsw", 8],
  ["Pmulhrsw", 16],
  ["Pabsb", 8],
  ["Pabsw", 16],
  ["Pabsd", 32],
  ["Psignb", 8],
  ["Psignw", 16],
  ["Psignd", 32],
] as const;

export function ssse3(f: Family): void {
  for (const [nm, w] of SSSE3_OPS) xxm(f, nm, 14, { w });
  xxm(f, "Palignr", 30, {
    imm: (() => {
      const r = f.r;
      return () => r.pick([0, 1, 4, 8, 15, 16, 17, 24, 31, 32, 33, 255, r.int(256)]);
    })(),
  });
}

export function sse41(f: Family): void {
  for (
    const [nm, mw] of [
      ["Pmovsxbw", 64],
      ["Pmovsxbd", 32],
      ["Pmovsxbq", 16],
      ["Pmovsxwd", 64],
      ["Pmovsxwq", 32],
      ["Pmovsxdq", 64],
      ["Pmovzxbw", 64],
      ["Pmovzxbd", 32],
      ["Pmovzxbq", 16],
      ["Pmovzxwd", 64],
      ["Pmovzxwq", 32],
      ["Pmovzxdq", 64],
    ] as const
  ) xxm(f, nm, 8, { mem: mw });
  for (
    const [nm, w] of [
      ["Pminsb", 8],
      ["Pmaxsb", 8],
      ["Pminuw", 16],
      ["Pmaxuw", 16],
      ["Pminsd", 32],
      ["Pmaxsd", 32],
      ["Pminud", 32],
      ["Pmaxud", 32],
      ["Pmuldq", 32],
      ["Pmulld", 32],
      ["Packusdw", 32],
      ["Pcmpeqq", 64],
      ["Phminposuw", 16],
    ] as const
  ) xxm(f, nm, 12, { w });
  const r8 = () => f.r.int(256);
  xxm(f, "Blendps", 10, { imm: r8 });
  xxm(f, "Blendpd", 10, { imm: r8 });
  xxm(f, "Pblendw", 10, { imm: r8 });
  xxm(f, "Mpsadbw", 16, { imm: r8 });
  xxm(f, "Dpps", 24, { fp: 32, imm: r8 });
  xxm(f, "Dppd", 24, { fp: 64, imm: r8 });
  xxm(f, "Roundps", 16, { fp: 32, imm: () => f.r.int(16) });
  xxm(f, "Roundpd", 16, { fp: 64, imm: () => f.r.int(16) });
  xxm(f, "Roundss", 16, { fp: 32, mem: 32, imm: () => f.r.int(16) });
  xxm(f, "Roundsd", 16, { fp: 64, mem: 64, imm: () => f.r.int(16) });
  xxm(f, "Insertps", 16, { mem: 32, imm: r8 });
  for (const nm of ["Blendvps", "Blendvpd", "Pblendvb"]) {
    f.gen(10, (r) =>
      sseCase(r, `${nm.toLowerCase()}.x.x`, (st, a, b) => {
        st.sse!.xmm[0] = vec(r, nm === "Pblendvb" ? 8 : 32);
        return [ins.createRegReg(code(`${nm}_xmm_xmmm128`), XMM[a]!, XMM[b]!)];
      }));
    f.gen(3, (r) =>
      sseCase(r, `${nm.toLowerCase()}.x.m`, (st, a) => {
        st.sse!.xmm[0] = vec(r, 32);
        return [
          ins.createRegMem(code(`${nm}_xmm_xmmm128`), XMM[a]!, memAt(r, st, dataAddr(r, 16, 16))),
        ];
      }));
  }
  f.gen(12, (r) =>
    sseCase(r, "ptest.x.x", (st, a, b) => {
      const s = st.sse!;
      const k = r.int(4);
      if (k === 0) s.xmm[b] = s.xmm[a]! & vec(r, 64); // CF or ZF patterns
      if (k === 1) s.xmm[b] = ~s.xmm[a]! & ((1n << 128n) - 1n) & vec(r, 64);
      return [ins.createRegReg(code("Ptest_xmm_xmmm128"), XMM[a]!, XMM[b]!)];
    }));
  f.gen(3, (r) =>
    sseCase(r, "ptest.x.m", (st, a) => [
      ins.createRegMem(code("Ptest_xmm_xmmm128"), XMM[a]!, memAt(r, st, dataAddr(r, 16, 16))),
    ]));
  // inserts and extracts
  for (const [nm, w] of [["Pinsrb", 8], ["Pinsrd", 32], ["Pinsrq", 64]] as const) {
    const rm = nm === "Pinsrb" ? "r32m8" : `rm${w}`;
    const gw = nm === "Pinsrq" ? 64 : 32;
    f.gen(8, (r) =>
      sseCase(r, `${nm.toLowerCase()}.x.r.imm`, (st, a) => {
        const [g] = pickRegs(r, gw, 1);
        st.set(g!, val(r, gw));
        return [ins.createRegRegI32(code(`${nm}_xmm_${rm}_imm8`), XMM[a]!, g!, r.int(256))];
      }));
    f.gen(4, (r) =>
      sseCase(r, `${nm.toLowerCase()}.x.m.imm`, (st, a) => [
        ins.createRegMemI32(
          code(`${nm}_xmm_${rm}_imm8`),
          XMM[a]!,
          memAt(r, st, dataAddr(r, w / 8)),
          r.int(256),
        ),
      ]));
  }
  for (
    const [nm, rm, w] of [
      ["Pextrb", "r32m8", 8],
      ["Pextrb", "r64m8", 8],
      ["Pextrw", "r32m16", 16],
      ["Pextrw", "r64m16", 16],
      ["Pextrd", "rm32", 32],
      ["Pextrq", "rm64", 64],
      ["Extractps", "rm32", 32],
      ["Extractps", "r64m32", 32],
    ] as const
  ) {
    const gw = rm.startsWith("r64") || rm === "rm64" ? 64 : 32;
    f.gen(6, (r) =>
      sseCase(r, `${nm.toLowerCase()}.${rm}.r.imm`, (_st, _a, b) => {
        const [g] = pickRegs(r, gw, 1);
        return [ins.createRegRegI32(code(`${nm}_${rm}_xmm_imm8`), g!, XMM[b]!, r.int(256))];
      }));
    if (!rm.startsWith("r64") || rm === "rm64") {
      f.gen(3, (r) =>
        sseCase(r, `${nm.toLowerCase()}.${rm}.m.imm`, (st, _a, b) => [
          ins.createMemRegI32(
            code(`${nm}_${rm}_xmm_imm8`),
            memAt(r, st, dataAddr(r, w / 8)),
            XMM[b]!,
            r.int(256),
          ),
        ]));
    }
  }
  f.gen(6, (r) =>
    sseCase(r, "movntdqa.x.m", (st, a) => [
      ins.createRegMem(code("Movntdqa_xmm_m128"), XMM[a]!, memAt(r, st, dataAddr(r, 16, 16))),
    ]));
}

export function sse42(f: Family): void {
  xxm(f, "Pcmpgtq", 24, { w: 64 });
  for (
    const [dw, sw] of [[32, 8], [32, 16], [32, 32], [64, 8], [64, 64]] as const
  ) {
    f.gen(12, (r) => {
      const st = new St(r);
      const [d, s] = pickRegs(r, 64, 2);
      st.set(d!, r.u64());
      st.set(s!, r.u64());
      const rd = regsOfW(dw)[regInfo(d!).idx]!, rs = regsOfW(sw)[regInfo(s!).idx]!;
      return {
        form: `crc32.r${dw}.r${sw}`,
        st,
        instrs: [ins.createRegReg(code(`Crc32_r${dw}_rm${sw}`), rd, rs)],
      };
    });
    f.gen(4, (r) => {
      const st = new St(r);
      const [d] = pickRegs(r, dw, 1);
      st.set(d!, val(r, dw));
      const m = memAt(r, st, dataAddr(r, sw / 8), [regInfo(d!).idx]);
      return {
        form: `crc32.r${dw}.m${sw}`,
        st,
        instrs: [ins.createRegMem(code(`Crc32_r${dw}_rm${sw}`), d!, m)],
      };
    });
  }
}

/** A string register value: random, text-like, with nulls, or sharing elements with `other`. */
function strVec(r: Rng, words: boolean, other?: bigint): bigint {
  const n = words ? 8 : 16, w = words ? 16 : 8;
  const alpha = r.pick([4, 8, 26, 256]);
  let v = 0n;
  for (let i = 0; i < n; i++) {
    let e: bigint;
    const k = r.int(10);
    if (k === 0) e = 0n;
    else if (k < 3 && other !== undefined) e = (other >> BigInt(w * r.int(n))) & mask(w);
    else if (k < 7) e = BigInt(0x41 + r.int(alpha)) & mask(w);
    else e = r.bits(w);
    v |= e << BigInt(i * w);
  }
  return v;
}

export function sse42str(f: Family): void {
  for (const nm of ["Pcmpestri", "Pcmpestrm", "Pcmpistri", "Pcmpistrm", "Pcmpestri64"]) {
    const explicit = nm.includes("estr");
    for (let agg = 0; agg < 4; agg++) {
      f.gen(40, (r) => {
        const st = new St(r);
        const sse = st.useSse(r);
        const [a, b] = xmmPair(r);
        const imm = (r.int(256) & ~0x0c) | (agg << 2);
        const words = (imm & 1) !== 0;
        sse.xmm[a] = strVec(r, words);
        sse.xmm[b] = strVec(r, words, sse.xmm[a]);
        if (explicit) {
          const len = () =>
            r.pick([0n, 1n, 2n, 5n, 8n, 15n, 16n, 17n, BigInt(r.int(20)), r.u64(), -3n & M64q]);
          st.setIdx(0, len());
          st.setIdx(2, len());
          if (r.bool(0.3)) st.setIdx(0, (r.u64() & ~0xffffffffn) | BigInt(r.int(20)));
        }
        const useMem = r.bool(0.2);
        const src = useMem ? memAt(r, st, dataAddr(r, 16), [0, 2]) : null;
        const cname = `${nm}_xmm_xmmm128_imm8`;
        return {
          form: `${nm.toLowerCase()}.${["any", "ranges", "each", "ordered"][agg]}${
            useMem ? ".m" : ""
          }`,
          st,
          instrs: [
            src
              ? ins.createRegMemI32(code(cname), XMM[a]!, src, imm)
              : ins.createRegRegI32(code(cname), XMM[a]!, XMM[b]!, imm),
          ],
        };
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// MMX (results are moved to general registers: the fixtures do not record MM0-7)

const MMX_OPS = [
  ...PACKED_INT.filter(([op]) => !op.endsWith("qdq")),
  ...PACKED_INT2,
  ...SSSE3_OPS,
] as const;

export function mmx(f: Family): void {
  /** movq mmA, ra; movq mmB, rb; <op>; movq ra, mmA; emms */
  const mmCase = (
    r: Rng,
    form: string,
    w: number,
    op: (a: Register, b: Register, st: St) => Instruction,
  ) => {
    const st = new St(r);
    st.useSse(r);
    const [ra, rb] = pickRegs(r, 64, 2);
    st.set(ra!, val(r, w) | (val(r, w) << BigInt(w)) | (r.u64() << BigInt(2 * w)));
    st.set(rb!, r.bool(0.3) ? st.get(ra!) ^ (1n << BigInt(r.int(64))) : r.u64());
    const a = r.int(8);
    let b = r.int(8);
    if (b === a && r.bool(0.8)) b = (a + 1) % 8;
    return {
      form,
      st,
      instrs: [
        ins.createRegReg(code("Movq_mm_rm64"), MM[a]!, ra!),
        ins.createRegReg(code("Movq_mm_rm64"), MM[b]!, rb!),
        op(MM[a]!, MM[b]!, st),
        ins.createRegReg(code("Movq_rm64_mm"), ra!, MM[a]!),
        ins.create(code("Emms")),
      ],
    };
  };
  for (const [op, w] of MMX_OPS) {
    const mw = op.startsWith("Punpckl") ? 32 : 64;
    f.gen(
      8,
      (r) =>
        mmCase(
          r,
          `${op.toLowerCase()}.mm.mm`,
          w,
          (a, b) => ins.createRegReg(code(`${op}_mm_mmm${mw}`), a, b),
        ),
    );
    f.gen(
      2,
      (r) =>
        mmCase(
          r,
          `${op.toLowerCase()}.mm.m${mw}`,
          w,
          (a, _b, st) =>
            ins.createRegMem(code(`${op}_mm_mmm${mw}`), a, memAt(r, st, dataAddr(r, mw / 8), [4])),
        ),
    );
  }
  for (
    const [op, w] of [
      ["Psllw", 16],
      ["Pslld", 32],
      ["Psllq", 64],
      ["Psrlw", 16],
      ["Psrld", 32],
      ["Psrlq", 64],
      ["Psraw", 16],
      ["Psrad", 32],
    ] as const
  ) {
    f.gen(
      6,
      (r) =>
        mmCase(
          r,
          `${op.toLowerCase()}.mm.imm`,
          w,
          (a) =>
            ins.createRegI32(code(`${op}_mm_imm8`), a, r.pick([0, 1, w - 1, w, 255, r.int(w)])),
        ),
    );
    f.gen(6, (r) =>
      mmCase(r, `${op.toLowerCase()}.mm.mm`, w, (a, b, st) => {
        void st;
        return ins.createRegReg(code(`${op}_mm_mmm64`), a, b);
      }));
  }
  f.gen(12, (r) =>
    mmCase(r, "palignr.mm.mm", 8, (a, b) =>
      ins.createRegRegI32(
        code("Palignr_mm_mmm64_imm8"),
        a,
        b,
        r.pick([0, 1, 3, 7, 8, 9, 15, 16, 17, r.int(256)]),
      )));
  f.gen(
    12,
    (r) =>
      mmCase(
        r,
        "pshufw.mm.mm",
        16,
        (a, b) => ins.createRegRegI32(code("Pshufw_mm_mmm64_imm8"), a, b, r.int(256)),
      ),
  );
  f.gen(8, (r) =>
    mmCase(r, "pinsrw.mm.r32", 16, (a, _b, st) => {
      const [g] = pickRegs(r, 32, 1);
      st.set(g!, val(r, 32));
      return ins.createRegRegI32(code("Pinsrw_mm_r32m16_imm8"), a, g!, r.int(256));
    }));
  f.gen(8, (r) =>
    mmCase(r, "pextrw.r32.mm", 16, (a, _b, st) => {
      void st;
      return ins.createRegRegI32(code("Pextrw_r32_mm_imm8"), Register.EDI, a, r.int(256));
    }));
  f.gen(
    8,
    (r) =>
      mmCase(
        r,
        "pmovmskb.r32.mm",
        8,
        (a) => ins.createRegReg(code("Pmovmskb_r32_mm"), Register.ESI, a),
      ),
  );
  f.gen(
    6,
    (r) =>
      mmCase(r, "movd.r32.mm", 32, (a) => ins.createRegReg(code("Movd_rm32_mm"), Register.EBP, a)),
  );
  f.gen(6, (r) =>
    mmCase(r, "movd.mm.r32", 32, (a, _b, st) => {
      st.set(Register.EBP, val(r, 32));
      return ins.createRegReg(code("Movd_mm_rm32"), a, Register.EBP);
    }));
  f.gen(
    6,
    (r) =>
      mmCase(
        r,
        "movq.m64.mm",
        64,
        (a, _b, st) =>
          ins.createMemReg(code("Movq_mmm64_mm"), memAt(r, st, dataAddr(r, 8), [4]), a),
      ),
  );
  f.gen(
    6,
    (r) =>
      mmCase(
        r,
        "movntq.m64.mm",
        64,
        (a, _b, st) =>
          ins.createMemReg(code("Movntq_m64_mm"), memAt(r, st, dataAddr(r, 8), [4]), a),
      ),
  );
  f.gen(
    6,
    (r) =>
      mmCase(
        r,
        "movd.mm.m32",
        32,
        (a, _b, st) => ins.createRegMem(code("Movd_mm_rm32"), a, memAt(r, st, dataAddr(r, 4), [4])),
      ),
  );
  f.gen(10, (r) =>
    mmCase(r, "maskmovq", 8, (a, b, st) => {
      st.setIdx(7, dataAddr(r, 8));
      return ins.createMaskmovq(64, a, b, Register.None);
    }));
  // MMX <-> XMM
  f.gen(
    6,
    (r) =>
      mmCase(
        r,
        "movq2dq.x.mm",
        64,
        (a) => ins.createRegReg(code("Movq2dq_xmm_mm"), XMM[r.int(16)]!, a),
      ),
  );
  f.gen(
    6,
    (r) =>
      mmCase(
        r,
        "movdq2q.mm.x",
        64,
        (a) => ins.createRegReg(code("Movdq2q_mm_xmm"), a, XMM[r.int(16)]!),
      ),
  );
  for (const nm of ["Cvtpi2ps_xmm_mmm64", "Cvtpi2pd_xmm_mmm64"]) {
    f.gen(10, (r) =>
      mmCase(r, nm.split("_")[0]!.toLowerCase(), 32, (a, _b, st) => {
        st.sse!.mxcsr = mxcsr(r, false);
        return ins.createRegReg(code(nm), XMM[r.int(16)]!, a);
      }));
  }
  for (
    const [nm, w] of [
      ["Cvtps2pi_mm_xmmm64", 32],
      ["Cvttps2pi_mm_xmmm64", 32],
      ["Cvtpd2pi_mm_xmmm128", 64],
      ["Cvttpd2pi_mm_xmmm128", 64],
    ] as const
  ) {
    f.gen(10, (r) =>
      mmCase(r, nm.split("_")[0]!.toLowerCase(), 32, (a, _b, st) => {
        const x = r.int(16);
        st.sse!.xmm[x] = fpVec(r, w);
        st.sse!.mxcsr = mxcsr(r, false);
        return ins.createRegReg(code(nm), a, XMM[x]!);
      }));
  }
  // the x87 view after MMX writes: fxrstor a clean image, write an MM register, fxsave
  f.gen(6, (r) => {
    const st = new St(r);
    st.useSse(r);
    const src = dataAddr(r, 512, 16, 0x100, 0x1000);
    const dst = dataAddr(r, 512, 16, 0x1000, 0x1e00);
    const [bs, bd, g] = pickRegs(r, 64, 3);
    st.set(bs!, src);
    st.set(bd!, dst);
    st.set(g!, r.u64());
    const m = (b: Register, d: number) => mem(b, d);
    const emms = r.bool(0.5);
    return {
      form: emms ? "mmx.emms.fxsave" : "mmx.fxsave",
      st,
      instrs: [
        ...sanitizeLegacy(bs!, 0x1f80),
        ins.createMem(code("Fxrstor64_m512byte"), m(bs!, 0)),
        ins.createRegReg(code("Movq_mm_rm64"), MM[r.int(8)]!, g!),
        ...(emms ? [ins.create(code("Emms"))] : []),
        ins.createMem(code("Fxsave64_m512byte"), m(bd!, 0)),
        ins.createMemU32(code("Mov_rm32_imm32"), m(bd!, 28), 0),
        ins.create(code("Emms")),
      ],
    };
  });
}

// ---------------------------------------------------------------------------------------------
// XSAVE family (x87 and SSE components only: EDX:EAX selects from bits 0-1)

export function xsave(f: Family): void {
  const m = (b: Register, d: number) => mem(b, d);
  /** Instructions that turn the area at `b` into a valid standard-form image. */
  const sanitize = (r: Rng, b: Register, bv: number): Instruction[] => [
    ...sanitizeLegacy(b, mxcsr(r, false)),
    ins.createMemI32(code("Mov_rm64_imm32"), m(b, 512), bv),
    ...[520, 528, 536, 544, 552, 560, 568].map((o) =>
      ins.createMemI32(code("Mov_rm64_imm32"), m(b, o), 0)
    ),
  ];
  const setMask = (st: St, v: number) => {
    st.setIdx(0, BigInt(v));
    st.setIdx(2, 0n);
  };
  for (
    const save of [
      "Xsave_mem",
      "Xsave64_mem",
      "Xsaveopt_mem",
      "Xsaveopt64_mem",
      "Xsavec_mem",
      "Xsavec64_mem",
    ]
  ) {
    f.gen(24, (r) => {
      const st = new St(r);
      st.useSse(r);
      const src = dataAddr(r, 576, 64, 0x100, 0xe00);
      const dst = dataAddr(r, 576, 64, 0x1000, 0x1d00);
      const [bs, bd] = pickRegs(r, 64, 2, { exclude: [0, 2] });
      st.set(bs!, src);
      st.set(bd!, dst);
      // Restore both components (the runner's x87 state is otherwise left from earlier cases).
      const bv = r.int(4);
      const rst = 3, sv = 1 + r.int(3);
      const name = save.split("_")[0]!.toLowerCase();
      return {
        form: `xrstor.${name}`,
        st,
        instrs: [
          ...sanitize(r, bs!, bv),
          ins.createRegU32(code("Mov_r32_imm32"), Register.EAX, rst),
          ins.createRegU32(code("Mov_r32_imm32"), Register.EDX, 0),
          ins.createMem(code("Xrstor_mem"), m(bs!, 0)),
          ins.createRegU32(code("Mov_r32_imm32"), Register.EAX, sv),
          ins.createMem(code(save), m(bd!, 0)),
          ins.createMemU32(code("Mov_rm32_imm32"), m(bd!, 28), 0),
        ],
      };
    });
  }
  // XRSTOR header checks, alignment, and a compacted image written by XSAVEC
  f.gen(12, (r) => {
    const st = new St(r);
    st.useSse(r);
    const src = dataAddr(r, 576, 64, 0x100, 0x1d00);
    const [bs] = pickRegs(r, 64, 1, { exclude: [0, 2] });
    st.set(bs!, src);
    setMask(st, 3);
    const bad = r.int(4);
    const extra: Instruction[] = bad === 0
      ? [ins.createMemI32(code("Mov_rm64_imm32"), m(bs!, 512), -1)] // XSTATE_BV beyond XCR0
      : bad === 1
      ? [ins.createMemI32(code("Mov_rm64_imm32"), m(bs!, 520), 3)] // XCOMP_BV without bit 63
      : bad === 2
      ? [ins.createMemI32(code("Mov_rm64_imm32"), m(bs!, 528), 1)] // header bytes 16-23
      : [ins.createMemU32(code("Mov_rm32_imm32"), m(bs!, 24), 0x10000)]; // MXCSR reserved bit
    return {
      form: "xrstor.bad",
      st,
      instrs: [
        ...sanitize(r, bs!, 3),
        ...extra,
        ins.createRegU32(code("Mov_r32_imm32"), Register.EAX, 3),
        ins.createMem(code("Xrstor_mem"), m(bs!, 0)),
      ],
    };
  });
  f.gen(4, (r) => {
    const st = new St(r);
    st.useSse(r);
    setMask(st, 3);
    return {
      form: "xsave.misaligned",
      st,
      instrs: [
        ins.createMem(
          code("Xsave_mem"),
          memAt(r, st, dataAddr(r, 576, 64, 0x100, 0x1c00) + BigInt(16 * r.range(1, 3)), [0, 2]),
        ),
      ],
    };
  });
  f.gen(12, (r) => {
    const st = new St(r);
    st.useSse(r);
    const a = dataAddr(r, 576, 64, 0x100, 0xe00);
    const b = dataAddr(r, 576, 64, 0x1000, 0x1d00);
    const [ba, bb] = pickRegs(r, 64, 2, { exclude: [0, 2] });
    st.set(ba!, a);
    st.set(bb!, b);
    const x = r.int(16);
    return {
      form: "xsavec.xrstor.xsave",
      st,
      instrs: [
        ...sanitize(r, ba!, 3),
        ins.createRegU32(code("Mov_r32_imm32"), Register.EAX, 3),
        ins.createRegU32(code("Mov_r32_imm32"), Register.EDX, 0),
        ins.createMem(code("Xrstor_mem"), m(ba!, 0)),
        ins.createRegU32(code("Mov_r32_imm32"), Register.EAX, 1 + r.int(3)),
        ins.createMem(code("Xsavec_mem"), m(ba!, 0)),
        ins.createRegReg(code("Pxor_xmm_xmmm128"), XMM[x]!, XMM[x]!),
        ins.createRegU32(code("Mov_r32_imm32"), Register.EAX, 1 + r.int(3)),
        ins.createMem(code("Xrstor_mem"), m(ba!, 0)),
        ins.createRegU32(code("Mov_r32_imm32"), Register.EAX, 3),
        ins.createMem(code("Xsave_mem"), m(bb!, 0)),
        ins.createMemU32(code("Mov_rm32_imm32"), m(bb!, 28), 0),
        ins.createMemU32(code("Mov_rm32_imm32"), m(ba!, 28), 0),
      ],
    };
  });
}
