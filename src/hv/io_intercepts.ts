/**
 * I/O-port secure intercepts (spec/vsm.md §6 "I/O-port secure intercepts"; TLFS-md
 * `hv_intercept_type.md`, `hv_intercept_parameters.md`; OpenVMM `cvm_try_protect_io_port_access`).
 * A higher VTL installs them with HvCallInstallIntercept (hypercalls/install_intercept.ts); an
 * IN, OUT, INS or OUTS of a lower VTL to an intercepted port is then not executed (abandoned,
 * RIP stays on it) and the installing VTL gets an HvMessageTypeX64IoPortIntercept message on
 * SINT0 (or through its VP assist page, spec §5.3) and runs next, like the register intercepts.
 *
 * The check runs after the instruction's I/O permission check (IOPL / TSS bitmap faults come
 * first, as for a VM exit) and before any memory operand of INS/OUTS is touched. As in OpenVMM
 * only the first port of the access is looked up. A REP INS/OUTS with a zero count accesses no
 * port and is not intercepted.
 *
 * HV_X64_IO_PORT_INTERCEPT_MESSAGE (OpenVMM `HvX64IoPortInterceptMessage`, spec §5.4), 128 bytes:
 *
 * | Off | Size | Field |
 * |---|---|---|
 * | 0 | 40 | HV_X64_INTERCEPT_MESSAGE_HEADER (access type 0 read for IN/INS, 1 write for OUT/OUTS) |
 * | 40 | 2 | PortNumber |
 * | 42 | 1 | AccessInfo: 2:0 access size (1, 2, 4), 3 StringOp, 4 RepPrefix |
 * | 43 | 1 | InstructionByteCount |
 * | 44 | 4 | Reserved |
 * | 48 | 8 | Rax |
 * | 56 | 16 | InstructionBytes |
 * | 72 | 16 | DsSegment |
 * | 88 | 16 | EsSegment |
 * | 104 | 8 | Rcx |
 * | 112 | 8 | Rsi |
 * | 120 | 8 | Rdi |
 */

import type { Vtl } from "../core/vtl.ts";
import { DS, ES, RAX, RCX, RDI, RSI } from "../cpu/regs.ts";
import {
  HV_INTERCEPT_ACCESS_MASK_READ,
  HV_INTERCEPT_ACCESS_MASK_WRITE,
  HV_X64_IO_PORT_INTERCEPT_MESSAGE_SIZE,
  HvMessageTypeX64IoPortIntercept,
} from "./hvdef.ts";
import { deliverIntercept, interceptMessage, writeGpr, writeSegment } from "./intercept.ts";
import { HV_MESSAGE_OFFSET_PAYLOAD as P } from "./messages.ts";
import type { HvVp, Partition } from "./partition.ts";

/**
 * The VTL that intercepts an access by `vp`'s active VTL to `port`: the lowest higher VTL,
 * enabled on this VP, that installed an intercept for the access (TLFS §15.13.2: lower VTLs
 * first); -1 when none did.
 */
export function ioInterceptOwner(p: Partition, vp: HvVp, port: number, write: boolean): number {
  const bit = write ? HV_INTERCEPT_ACCESS_MASK_WRITE : HV_INTERCEPT_ACCESS_MASK_READ;
  for (let v = vp.activeVtl + 1; v < p.vtlCount; v++) {
    const mask = p.ioIntercepts[v]!.get(port) ?? 0;
    if ((mask & bit) !== 0 && vp.isEnabled(v as Vtl)) return v;
  }
  return -1;
}

/** Builds the HvMessageTypeX64IoPortIntercept message for the VP's current instruction. */
export function ioPortInterceptMessage(
  vp: HvVp,
  port: number,
  size: number,
  write: boolean,
  string: boolean,
  rep: boolean,
): Uint8Array {
  const cpu = vp.cpu;
  const len = cpu.currentInsnLength();
  const [m, dv] = interceptMessage(
    vp,
    HvMessageTypeX64IoPortIntercept,
    HV_X64_IO_PORT_INTERCEPT_MESSAGE_SIZE,
    write ? 1 : 0,
    len,
  );
  dv.setUint16(P + 40, port, true);
  m[P + 42] = (size & 7) | (string ? 0x08 : 0) | (rep ? 0x10 : 0);
  const bytes = cpu.peekCode(len);
  m[P + 43] = bytes.length;
  writeGpr(dv, P + 48, cpu, RAX);
  m.set(bytes.subarray(0, 16), P + 56);
  writeSegment(dv, P + 72, cpu, DS);
  writeSegment(dv, P + 88, cpu, ES);
  writeGpr(dv, P + 104, cpu, RCX);
  writeGpr(dv, P + 112, cpu, RSI);
  writeGpr(dv, P + 120, cpu, RDI);
  return m;
}

/**
 * An I/O instruction of `vp`'s active VTL (CpuHost.interceptIo): true when a higher VTL
 * intercepts it; the message is then on its way and the instruction must be abandoned.
 */
export function ioIntercepted(
  p: Partition,
  vp: HvVp,
  port: number,
  size: number,
  write: boolean,
  string: boolean,
  rep: boolean,
): boolean {
  if (p.ioInterceptCount === 0) return false;
  const owner = ioInterceptOwner(p, vp, port, write);
  if (owner < 0) return false;
  const msg = ioPortInterceptMessage(vp, port, size, write, string, rep);
  deliverIntercept(p, vp, owner as Vtl, msg, undefined, true);
  return true;
}
