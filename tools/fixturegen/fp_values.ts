/**
 * Floating-point operand values shared by the SSE and x87 families: bit casts and the binary64 /
 * binary32 edge values they draw from.
 *
 * The two families pick from differently ordered edge lists (SSE_* and X87_* below). The order
 * and length of a list decide which value every generated case gets, so merging them into one
 * would change the inputs of every case that picks from them (and the fixtures would have to be
 * re-recorded): the lists stay as they were, built from one table of named values.
 */

/** Bits of a double. */
export function f64Bits(x: number): bigint {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  return dv.getBigUint64(0);
}

/** Bits of a float (x rounded to binary32). */
export function f32Bits(x: number): bigint {
  const dv = new DataView(new ArrayBuffer(4));
  dv.setFloat32(0, x);
  return BigInt(dv.getUint32(0));
}

/** binary64 values by name. */
export const D = {
  zero: 0x0000000000000000n,
  negZero: 0x8000000000000000n,
  one: 0x3ff0000000000000n,
  negOne: 0xbff0000000000000n,
  onePointFive: 0x3ff8000000000000n,
  two: 0x4000000000000000n,
  half: 0x3fe0000000000000n,
  minNormal: 0x0010000000000000n,
  minDenormal: 0x0000000000000001n,
  negMinDenormal: 0x8000000000000001n,
  maxDenormal: 0x000fffffffffffffn,
  max: 0x7fefffffffffffffn,
  inf: 0x7ff0000000000000n,
  negInf: 0xfff0000000000000n,
  qnan: 0x7ff8000000000000n,
  /** −QNaN, the default NaN */
  negQnan: 0xfff8000000000000n,
  snan: 0x7ff0000000000001n,
  snanHighPayload: 0x7ff4000000000000n,
  snanPayload: 0x7ff4000000000abcn,
  qnanPayload: 0x7ffc000000001234n,
  two63: 0x43e0000000000000n,
  negTwo63: 0xc3e0000000000000n,
  int32Max: 0x41dfffffffc00000n,
  negTwo31: 0xc1e0000000000000n,
  two31: 0x41e0000000000000n,
  tenth: 0x3fb999999999999an,
  hundred: 0x4059000000000000n,
} as const;

/** binary32 values by name. */
export const S = {
  zero: 0x00000000n,
  negZero: 0x80000000n,
  one: 0x3f800000n,
  negOne: 0xbf800000n,
  onePointFive: 0x3fc00000n,
  minNormal: 0x00800000n,
  minDenormal: 0x00000001n,
  negMinDenormal: 0x80000001n,
  maxDenormal: 0x007fffffn,
  max: 0x7f7fffffn,
  inf: 0x7f800000n,
  negInf: 0xff800000n,
  qnan: 0x7fc00000n,
  negQnan: 0xffc00000n,
  snan: 0x7f800001n,
  snanHighPayload: 0x7fa00000n,
  snanPayload: 0x7fa00123n,
  two63: 0x5f000000n,
  two31: 0x4f000000n,
  negTwo31: 0xcf000000n,
  tenth: 0x3dcccccdn,
} as const;

/** Edge operands of the SSE floating-point families. */
export const SSE_F64_EDGES: readonly bigint[] = [
  D.zero,
  D.negZero,
  D.one,
  D.negOne,
  D.onePointFive,
  D.two,
  D.half,
  D.minNormal,
  D.minDenormal,
  D.maxDenormal,
  D.max,
  D.inf,
  D.negInf,
  D.qnan,
  D.negQnan,
  D.snan,
  D.snanPayload,
  D.qnanPayload,
  D.two63,
  D.negTwo63,
  D.int32Max,
  D.negTwo31,
  D.two31,
  D.tenth,
  D.hundred,
];
export const SSE_F32_EDGES: readonly bigint[] = [
  S.zero,
  S.negZero,
  S.one,
  S.negOne,
  S.onePointFive,
  S.minNormal,
  S.minDenormal,
  S.maxDenormal,
  S.max,
  S.inf,
  S.negInf,
  S.qnan,
  S.negQnan,
  S.snan,
  S.snanPayload,
  S.two63,
  S.two31,
  S.negTwo31,
  S.tenth,
];

/** Edge operands of the x87 m64fp / m32fp forms. */
export const X87_F64_EDGES: readonly bigint[] = [
  D.zero,
  D.negZero,
  D.one,
  D.negOne,
  D.inf,
  D.negInf,
  D.qnan,
  D.negQnan,
  D.snan,
  D.snanHighPayload,
  D.max,
  D.minNormal,
  D.maxDenormal,
  D.minDenormal,
  D.negMinDenormal,
  D.two63,
  D.negTwo63,
  D.tenth,
];
export const X87_F32_EDGES: readonly bigint[] = [
  S.zero,
  S.negZero,
  S.one,
  S.negOne,
  S.inf,
  S.negInf,
  S.qnan,
  S.snan,
  S.snanHighPayload,
  S.max,
  S.minNormal,
  S.maxDenormal,
  S.minDenormal,
  S.negMinDenormal,
  S.tenth,
];
