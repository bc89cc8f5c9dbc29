/**
 * Inline source for the hottest instruction forms (integer moves, ALU, shifts by immediates,
 * multiplies, stack, near branches). Anything not covered here runs as its interpreter op
 * inside the compiled block. Each generator mirrors the interpreter builder of the same family
 * exactly; the fixture and trace-equality tests run with compilation forced on.
 */

import { Mnemonic } from "iced-x86";
import { getCF, getZF, LF_ADD, LF_DEC, LF_INC, LF_LOGIC, LF_SUB, testCC } from "../flags.ts";
import { K_BRANCH, K_IMM, K_MEM, K_REG, RC_GPR } from "../insn.ts";
import { rmwBegin, rmwEnd } from "../operands.ts";
import { shiftOp } from "../ops/shift.ts";
import { imulTrunc64 } from "../u64.ts";
import { defineSnippet, registerHelpers, type Snippet } from "./compile.ts";
import { eaCode, int, memRead, memWrite, regRead, regWrite, ripLiteral } from "./emit.ts";

registerHelpers({ getCF, getZF, testCC, rmwBegin, rmwEnd, shiftOp, imulTrunc64 });

const CANON = 140737488355328;

function snip(code: string, mayFault: boolean, mayBreak = false, setsRip = false): Snippet {
  return { code, mayFault, mayBreak, setsRip };
}

const gpr = (o: { kind: number; rc: number }) => o.kind === K_REG && o.rc === RC_GPR;

// ---- mov ------------------------------------------------------------------------------------

defineSnippet([Mnemonic.Mov], (d) => {
  const [dst, src] = d.ops;
  if (!dst || !src) return null;
  if (gpr(dst)) {
    const size = dst.size;
    if (gpr(src)) {
      if (size === 8) {
        return snip(`lo[${dst.reg}] = lo[${src.reg}]; hi[${dst.reg}] = hi[${src.reg}];`, false);
      }
      return snip(regWrite(dst.reg, size, regRead(src.reg, size)), false);
    }
    if (src.kind === K_IMM) {
      const v = size === 1 ? src.lo & 0xff : size === 2 ? src.lo & 0xffff : src.lo;
      return snip(regWrite(dst.reg, size, int(v), int(size === 8 ? src.hi : 0)), false);
    }
    if (src.kind === K_MEM) {
      const ea = eaCode(d.mem!, d.bits);
      if (ea === null) return null;
      if (size === 8) {
        return snip(`${ea} a = c.read64(lin); lo[${dst.reg}] = a; hi[${dst.reg}] = c.tHi;`, true);
      }
      return snip(`${ea} a = ${memRead(size)}; ${regWrite(dst.reg, size, "a")}`, true);
    }
    return null;
  }
  if (dst.kind === K_MEM) {
    const ea = eaCode(d.mem!, d.bits);
    if (ea === null) return null;
    const size = d.mem!.size;
    if (gpr(src)) {
      const v = size === 8 ? `lo[${src.reg}]` : regRead(src.reg, size);
      return snip(`${ea} ${memWrite(size, v, `hi[${src.reg}]`)}`, true, true);
    }
    if (src.kind === K_IMM) {
      const v = size === 1 ? src.lo & 0xff : size === 2 ? src.lo & 0xffff : src.lo;
      return snip(`${ea} ${memWrite(size, int(v), int(src.hi))}`, true, true);
    }
  }
  return null;
});

defineSnippet([Mnemonic.Movzx, Mnemonic.Movsx, Mnemonic.Movsxd], (d) => {
  const [dst, src] = d.ops;
  if (!dst || !src || !gpr(dst)) return null;
  const signed = d.mnemonic !== Mnemonic.Movzx;
  const ssize = src.kind === K_REG ? src.size : d.mem!.size;
  let pre = "", v: string;
  if (gpr(src)) v = regRead(src.reg, ssize);
  else if (src.kind === K_MEM) {
    const ea = eaCode(d.mem!, d.bits);
    if (ea === null) return null;
    pre = ea;
    v = memRead(ssize);
  } else return null;
  const shift = 32 - ssize * 8;
  const val = signed ? (shift > 0 ? `((${v} << ${shift}) >> ${shift})` : `(${v} | 0)`) : v;
  return snip(
    `${pre} a = ${val}; ${regWrite(dst.reg, dst.size, "a", signed ? "(a >> 31)" : "0")}`,
    src.kind === K_MEM,
  );
});

defineSnippet([Mnemonic.Lea], (d) => {
  const m = d.mem!, dst = d.ops[0]!;
  if (m.addrSize !== 8) return null;
  const { base, index, scale, disp } = m;
  if (base === -2) {
    const lo = disp | 0, hi = Math.floor(disp / 4294967296) | 0;
    return snip(regWrite(dst.reg, dst.size, int(lo), int(hi)), false);
  }
  const sh = scale === 8 ? 3 : scale === 4 ? 2 : scale === 2 ? 1 : 0;
  const dlo = disp | 0, dhi = Math.floor(disp / 4294967296) | 0;
  let code = base >= 0 ? `a = lo[${base}]; ah = hi[${base}];` : "a = 0; ah = 0;";
  if (index >= 0) {
    code += sh
      ? ` bb = lo[${index}] << ${sh}; bh = (hi[${index}] << ${sh}) | (lo[${index}] >>> ${32 - sh});`
      : ` bb = lo[${index}]; bh = hi[${index}];`;
  } else code += " bb = 0; bh = 0;";
  code += ` t = (a >>> 0) + (bb >>> 0); r = t | 0; rh = (ah + bh + (t > 0xffffffff ? 1 : 0)) | 0;`;
  if (dlo !== 0 || dhi !== 0) {
    code += ` t = (r >>> 0) + ${
      dlo >>> 0
    }; r = t | 0; rh = (rh + ${dhi} + (t > 0xffffffff ? 1 : 0)) | 0;`;
  }
  code += " " + regWrite(dst.reg, dst.size, "r", "rh");
  return snip(code, false);
});

// ---- two-operand ALU (32/64-bit) ---------------------------------------------------------------

const ALU: [Mnemonic, string][] = [
  [Mnemonic.Add, "add"],
  [Mnemonic.Sub, "sub"],
  [Mnemonic.Cmp, "cmp"],
  [Mnemonic.And, "and"],
  [Mnemonic.Test, "test"],
  [Mnemonic.Or, "or"],
  [Mnemonic.Xor, "xor"],
];

function aluCore(op: string, size: number): string {
  const w = size === 8;
  const sz = w ? 3 : 2;
  switch (op) {
    case "add":
      return (w
        ? "t = (a >>> 0) + (bb >>> 0); r = t | 0; rh = (ah + bh + (t > 0xffffffff ? 1 : 0)) | 0;"
        : "r = (a + bb) | 0;") + ` c.lfOp = ${LF_ADD * 4 + sz};` + flagStores(w);
    case "sub":
    case "cmp":
      return (w
        ? "t = (a >>> 0) - (bb >>> 0); r = t | 0; rh = (ah - bh - (t < 0 ? 1 : 0)) | 0;"
        : "r = (a - bb) | 0;") + ` c.lfOp = ${LF_SUB * 4 + sz};` + flagStores(w);
    default: {
      const o = op === "and" || op === "test" ? "&" : op === "or" ? "|" : "^";
      return `r = a ${o} bb;` + (w ? ` rh = ah ${o} bh;` : "") +
        ` c.lfOp = ${LF_LOGIC * 4 + sz}; c.lfRes = r;` + (w ? " c.lfResHi = rh;" : "");
    }
  }
}

function flagStores(w: boolean): string {
  return " c.lfA = a; c.lfB = bb; c.lfRes = r;" +
    (w ? " c.lfAHi = ah; c.lfBHi = bh; c.lfResHi = rh;" : "");
}

for (const [m, op] of ALU) {
  defineSnippet([m], (d) => {
    const [dst, src] = d.ops;
    if (!dst || !src) return null;
    const writes = op !== "cmp" && op !== "test";
    if (gpr(dst)) {
      const size = dst.size;
      if (size !== 4 && size !== 8) return null;
      const w = size === 8;
      let pre = `a = lo[${dst.reg}];` + (w ? ` ah = hi[${dst.reg}];` : "");
      let fault = false;
      if (gpr(src)) pre += ` bb = lo[${src.reg}];` + (w ? ` bh = hi[${src.reg}];` : "");
      else if (src.kind === K_IMM) {
        pre += ` bb = ${int(src.lo)};` + (w ? ` bh = ${int(src.hi)};` : "");
      } else if (src.kind === K_MEM) {
        const ea = eaCode(d.mem!, d.bits);
        if (ea === null) return null;
        pre = `${ea} ${w ? "bb = c.read64(lin); bh = c.tHi;" : "bb = c.read32(lin);"} ` + pre;
        fault = true;
      } else return null;
      const post = writes ? " " + regWrite(dst.reg, size, "r", w ? "rh" : "0") : "";
      return snip(pre + " " + aluCore(op, size) + post, fault);
    }
    if (dst.kind === K_MEM) {
      const size = d.mem!.size;
      if (size !== 4 && size !== 8) return null;
      const w = size === 8;
      const ea = eaCode(d.mem!, d.bits);
      if (ea === null) return null;
      let b: string;
      if (gpr(src)) b = `bb = lo[${src.reg}];` + (w ? ` bh = hi[${src.reg}];` : "");
      else if (src.kind === K_IMM) b = `bb = ${int(src.lo)};` + (w ? ` bh = ${int(src.hi)};` : "");
      else return null;
      if (!writes) {
        return snip(
          `${ea} ${w ? "a = c.read64(lin); ah = c.tHi;" : "a = c.read32(lin);"} ${b} ${
            aluCore(op, size)
          }`,
          true,
        );
      }
      return snip(
        `${ea} a = rmwBegin(c, lin, ${size}); ah = c.tHi; ${b} ${
          aluCore(op, size)
        } rmwEnd(c, ${size}, r, rh);`,
        true,
        true,
      );
    }
    return null;
  });
}

// inc/dec on 32/64-bit registers.
defineSnippet([Mnemonic.Inc, Mnemonic.Dec], (d) => {
  const dst = d.ops[0]!;
  if (!gpr(dst) || (dst.size !== 4 && dst.size !== 8)) return null;
  const inc = d.mnemonic === Mnemonic.Inc;
  const w = dst.size === 8, rg = dst.reg;
  let code = `c.lfAux = getCF(c) ? 1 : 0; a = lo[${rg}];`;
  if (w) {
    code += inc
      ? ` ah = hi[${rg}]; r = (a + 1) | 0; rh = r === 0 ? (ah + 1) | 0 : ah;`
      : ` ah = hi[${rg}]; r = (a - 1) | 0; rh = a === 0 ? (ah - 1) | 0 : ah;`;
    code += ` lo[${rg}] = r; hi[${rg}] = rh; c.lfResHi = rh; c.lfAHi = ah; c.lfBHi = 0;`;
  } else {
    code += ` r = (a ${inc ? "+" : "-"} 1) | 0; lo[${rg}] = r; hi[${rg}] = 0;`;
  }
  code += ` c.lfOp = ${
    (inc ? LF_INC : LF_DEC) * 4 + (w ? 3 : 2)
  }; c.lfA = a; c.lfB = 1; c.lfRes = r;`;
  return snip(code, false);
});

// ---- shifts and rotates by an immediate (32/64-bit registers) --------------------------------

const SHIFTS: [Mnemonic, number][] = [
  [Mnemonic.Shl, 0],
  [Mnemonic.Sal, 0],
  [Mnemonic.Shr, 1],
  [Mnemonic.Sar, 2],
  [Mnemonic.Rol, 3],
  [Mnemonic.Ror, 4],
];
for (const [m, op] of SHIFTS) {
  defineSnippet([m], (d) => {
    const [dst, cnt] = d.ops;
    if (!dst || !gpr(dst) || (dst.size !== 4 && dst.size !== 8)) return null;
    if (cnt !== undefined && cnt.kind !== K_IMM) return null;
    const n = (cnt === undefined ? 1 : cnt.lo) & (dst.size === 8 ? 0x3f : 0x1f);
    const rg = dst.reg;
    if (n === 0) return snip(dst.size === 4 ? `hi[${rg}] = 0;` : "", false);
    if (dst.size === 8) {
      return snip(
        `r = shiftOp(c, ${op}, 8, lo[${rg}], hi[${rg}], ${n}); lo[${rg}] = r; hi[${rg}] = c.tHi;`,
        false,
      );
    }
    return snip(
      `r = shiftOp(c, ${op}, 4, lo[${rg}], 0, ${n}); lo[${rg}] = r; hi[${rg}] = 0;`,
      false,
    );
  });
}

// ---- imul r, r/m[, imm] (32/64-bit) ------------------------------------------------------------

defineSnippet([Mnemonic.Imul], (d) => {
  if (d.ops.length < 2) return null;
  const dst = d.ops[0]!, src = d.ops[1]!;
  if (!gpr(dst) || (dst.size !== 4 && dst.size !== 8)) return null;
  const w = dst.size === 8;
  let pre = "", fault = false;
  let aExpr: string, ahExpr: string, bExpr: string, bhExpr: string;
  if (gpr(src)) {
    aExpr = `lo[${src.reg}]`;
    ahExpr = `hi[${src.reg}]`;
  } else if (src.kind === K_MEM) {
    const ea = eaCode(d.mem!, d.bits);
    if (ea === null) return null;
    pre = `${ea} ${w ? "t = c.read64(lin); rh = c.tHi;" : "t = c.read32(lin);"}`;
    aExpr = "t";
    ahExpr = "rh";
    fault = true;
  } else return null;
  if (d.ops.length === 3) {
    const imm = d.ops[2]!;
    bExpr = int(imm.lo);
    bhExpr = int(imm.hi);
  } else {
    // two-operand: dst = dst * src
    bExpr = aExpr;
    bhExpr = ahExpr;
    aExpr = `lo[${dst.reg}]`;
    ahExpr = `hi[${dst.reg}]`;
  }
  const rg = dst.reg;
  if (!w) {
    return snip(
      `${pre} a = ${aExpr}; bb = ${bExpr}; r = Math.imul(a, bb); lo[${rg}] = r; hi[${rg}] = 0; ` +
        `c.lfOp = 38; c.lfRes = r; c.lfResHi = 0; c.lfAux = ((a | 0) * (bb | 0)) !== r ? 0x801 : 0;`,
      fault,
    );
  }
  return snip(
    `${pre} a = ${aExpr}; ah = ${ahExpr}; bb = ${bExpr}; bh = ${bhExpr}; ` +
      `t = imulTrunc64(a, ah, bb, bh, c.wide) ? 0x801 : 0; ` +
      `r = c.wide[0]; rh = c.wide[1]; lo[${rg}] = r; hi[${rg}] = rh; ` +
      `c.lfOp = 39; c.lfRes = r; c.lfResHi = rh; c.lfAux = t;`,
    fault,
  );
});

// ---- stack -------------------------------------------------------------------------------------

defineSnippet([Mnemonic.Push], (d) => {
  const src = d.ops[0]!;
  if (d.bits !== 64 || -d.spInc !== 8) return null;
  if (gpr(src)) return snip(`c.push64(lo[${src.reg}], hi[${src.reg}]);`, true, true);
  if (src.kind === K_IMM) {
    return snip(
      `c.push64(${int(src.lo)}, ${int(src.size === 8 ? src.hi : src.lo >> 31)});`,
      true,
      true,
    );
  }
  return null;
});

defineSnippet([Mnemonic.Pop], (d) => {
  const dst = d.ops[0]!;
  if (d.bits !== 64 || d.spInc !== 8 || !gpr(dst)) return null;
  return snip(`a = c.pop64(); lo[${dst.reg}] = a; hi[${dst.reg}] = c.tHi;`, true);
});

// ---- near branches (64-bit mode) ---------------------------------------------------------------

defineSnippet([Mnemonic.Jmp], (d) => {
  if (d.ops[0]?.kind !== K_BRANCH || d.bits !== 64 || !(d.target < CANON && d.target >= -CANON)) {
    return null;
  }
  return snip(`c.rip = ${ripLiteral(d.target)};`, false, false, true);
});

const JCC = [
  Mnemonic.Jo,
  Mnemonic.Jno,
  Mnemonic.Jb,
  Mnemonic.Jae,
  Mnemonic.Je,
  Mnemonic.Jne,
  Mnemonic.Jbe,
  Mnemonic.Ja,
  Mnemonic.Js,
  Mnemonic.Jns,
  Mnemonic.Jp,
  Mnemonic.Jnp,
  Mnemonic.Jl,
  Mnemonic.Jge,
  Mnemonic.Jle,
  Mnemonic.Jg,
];
defineSnippet(JCC, (d) => {
  if (d.bits !== 64 || !(d.target < CANON && d.target >= -CANON)) return null;
  const t = ripLiteral(d.target), n = ripLiteral(d.next);
  const cond = d.cc === 4 ? "getZF(c)" : d.cc === 5 ? "!getZF(c)" : `testCC(c, ${d.cc})`;
  return snip(`c.rip = ${cond} ? ${t} : ${n};`, false, false, true);
});

defineSnippet([Mnemonic.Call], (d) => {
  if (d.ops[0]?.kind !== K_BRANCH || d.bits !== 64 || !(d.target < CANON && d.target >= -CANON)) {
    return null;
  }
  const nlo = d.next | 0, nhi = Math.floor(d.next / 4294967296) | 0;
  return snip(`c.push64(${nlo}, ${nhi}); c.rip = ${ripLiteral(d.target)};`, true, true, true);
});

defineSnippet([Mnemonic.Ret], (d) => {
  if (d.bits !== 64 || d.ops.length !== 0) return null;
  return snip(
    `t = hi[4] * 4294967296 + (lo[4] >>> 0); a = c.read64(t); lin = c.tHi * 4294967296 + (a >>> 0); ` +
      `if (!(lin < ${CANON} && lin >= -${CANON})) c.raise(13, 0); t += 8; lo[4] = t | 0; ` +
      `hi[4] = Math.floor(t / 4294967296) | 0; c.rip = lin;`,
    true,
    false,
    true,
  );
});

defineSnippet([Mnemonic.Nop], () => snip("", false));
