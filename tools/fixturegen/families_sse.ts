/** SSE/SSE2 fixture families: integer (sse_int) and floating point (sse_fp). */
import {
  code,
  dataAddr,
  type Family,
  ins,
  type Instruction,
  memAt,
  pickRegs,
  R64,
  type Rng,
  St,
  val,
  XMM,
} from "./core.ts";

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

const F64_EDGES = [
  0x0000000000000000n, // +0
  0x8000000000000000n, // -0
  0x3ff0000000000000n, // 1
  0xbff0000000000000n, // -1
  0x3ff8000000000000n, // 1.5
  0x4000000000000000n, // 2
  0x3fe0000000000000n, // 0.5
  0x0010000000000000n, // min normal
  0x0000000000000001n, // min denormal
  0x000fffffffffffffn, // max denormal
  0x7fefffffffffffffn, // max
  0x7ff0000000000000n, // +inf
  0xfff0000000000000n, // -inf
  0x7ff8000000000000n, // qNaN
  0xfff8000000000000n, // -qNaN (default NaN)
  0x7ff0000000000001n, // sNaN
  0x7ff4000000000abcn, // sNaN with payload
  0x7ffc000000001234n, // qNaN with payload
  0x43e0000000000000n, // 2^63
  0xc3e0000000000000n, // -2^63
  0x41dfffffffc00000n, // 2^31 - 1
  0xc1e0000000000000n, // -2^31
  0x41e0000000000000n, // 2^31
  0x3fb999999999999an, // 0.1
  0x4059000000000000n, // 100
];
const F32_EDGES = [
  0x00000000n,
  0x80000000n,
  0x3f800000n,
  0xbf800000n,
  0x3fc00000n,
  0x00800000n,
  0x00000001n,
  0x007fffffn,
  0x7f7fffffn,
  0x7f800000n,
  0xff800000n,
  0x7fc00000n,
  0xffc00000n,
  0x7f800001n,
  0x7fa00123n,
  0x5f000000n, // 2^63
  0x4f000000n, // 2^31
  0xcf000000n, // -2^31
  0x3dcccccdn, // 0.1
];

/** A float/double bit pattern: an edge value, a "nice" value, or random bits. */
function fpVal(r: Rng, w: 32 | 64): bigint {
  const k = r.int(8);
  if (k < 3) return r.pick(w === 64 ? F64_EDGES : F32_EDGES);
  if (k < 6) {
    // a moderate random number (exponent near 0)
    const x = (r.u32() / 0x100000000 - 0.5) * 2 ** r.range(-20, 40);
    const b = new DataView(new ArrayBuffer(8));
    if (w === 64) b.setFloat64(0, x);
    else b.setFloat32(0, x);
    return w === 64 ? b.getBigUint64(0) : BigInt(b.getUint32(0));
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

export function sseFp(f: Family): void {
  const fpCase = (
    r: Rng,
    form: string,
    w: 32 | 64,
    mk: (st: St, a: number, b: number) => Instruction[],
    unmasked = false,
  ) => {
    const st = new St(r);
    const sse = st.useSse(r);
    const [a, b] = xmmPair(r);
    sse.xmm[a] = fpVec(r, w);
    sse.xmm[b] = fpVec(r, w);
    sse.mxcsr = mxcsr(r, unmasked);
    return { form, st, instrs: mk(st, a, b) };
  };
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
