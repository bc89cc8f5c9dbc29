/**
 * The CPU's only window on the rest of the machine (the OpenVMM `x86emu` "Cpu trait" idea).
 * src/cpu knows nothing about Hyper-V, devices or traces; the VP that owns a Cpu implements this.
 */

/** Page rights, in the bit order of HV_MAP_GPA_FLAGS (TLFS): R, W, kernel-X, user-X. */
export const RIGHT_R = 1;
export const RIGHT_W = 2;
export const RIGHT_KX = 4;
export const RIGHT_UX = 8;
export const RIGHTS_ALL = 0xf;
/** Set on overlay pages whose violation is an architectural #GP, not a VTL intercept. */
export const RIGHT_GP_ON_VIOLATION = 0x10;

/** `resolveGpa` results below zero. */
export const GPA_MMIO = -1;
export const GPA_UNMAPPED = -2;

/** Access kinds, as used in protection-fault reports. */
export const ACCESS_READ = 0;
export const ACCESS_WRITE = 1;
export const ACCESS_EXECUTE = 2;

export interface CpuHost {
  /**
   * Resolves guest physical page `gpn` for this VP's active context. Returns
   * `hostPage * 32 + rights` (rights: RIGHT_* bits) for memory, GPA_MMIO for device memory, or
   * GPA_UNMAPPED (reads return all-ones, writes are dropped).
   */
  resolveGpa(gpn: number): number;
  mmioRead(gpa: number, size: 1 | 2 | 4): number;
  mmioWrite(gpa: number, size: 1 | 2 | 4, value: number): void;
  ioIn(port: number, size: 1 | 2 | 4): number;
  ioOut(port: number, size: 1 | 2 | 4, value: number): void;
  /**
   * Non-architectural MSRs (the CPU handles the architectural ones). Returns false for #GP.
   * Results go to `out[0]` (low half) and `out[1]` (high half).
   */
  rdmsr(index: number, out: Int32Array): boolean;
  /** Returns false for #GP. */
  wrmsr(index: number, lo: number, hi: number): boolean;
  /** Fills or overrides CPUID results (`out` = eax, ebx, ecx, edx) after the CPU's own model. */
  cpuid(leaf: number, subleaf: number, out: Int32Array): void;
  /** Instructions retired by the whole machine before the current instruction (drives the TSC). */
  now(): number;
  /** CR8 (task priority, bits 3:0) lives in the local APIC. */
  readCr8(): number;
  writeCr8(v: number): void;
  /** Initial APIC ID of this processor (CPUID). */
  apicId(): number;
  /** `vmcall`/`vmmcall` at CPL 0 in protected mode: the hypervisor handles it. */
  hypercall(): void;
  /**
   * An access violated the rights from `resolveGpa`. The instruction is abandoned without side
   * effects after this returns; the host decides what happens next (e.g. an intercept).
   */
  protectionFault(gpa: number, gva: number, access: number): void;
  /** The highest-priority deliverable external interrupt vector, acknowledged; or -1. */
  interruptAck(): number;
  /** Notifications for the event log. */
  onException(vector: number, hasErrorCode: boolean, errorCode: number, cr2: number): void;
  onInterrupt(vector: number): void;
  /** An NMI is being delivered (vector 2); without it, onInterrupt(2) is called. */
  onNmi?(): void;
  onHalt(): void;
  /** Triple fault or shutdown. */
  onShutdown(reason: string): void;
  /**
   * Optional register intercepts: return true to suppress the write (the host takes over and the
   * instruction is abandoned without side effects).
   */
  interceptCrWrite?(cr: number, lo: number, hi: number): boolean;
  interceptMsrWrite?(index: number, lo: number, hi: number): boolean;
  /**
   * Optional I/O intercepts: IN/OUT/INS/OUTS to `port` (after the I/O permission check, before
   * any access); true abandons the instruction without side effects. `write`: OUT/OUTS;
   * `string`: INS/OUTS; `rep`: with a REP prefix.
   */
  interceptIo?(port: number, size: number, write: boolean, string: boolean, rep: boolean): boolean;
  /** Optional: a WRMSR to IA32_TSC changed this context's TSC offset. */
  tscWritten?(): void;
}
