/**
 * Contents of the hypercall page (TLFS §3.13, spec/vsm.md §1.4). The real hypervisor's bytes are
 * not documented; the default profile uses OpenVMM's layout (0xCC fill, stubs at 0x00, 0x04,
 * 0x0F, 0x1B, 0x26). The kvm-rfc profile uses the KVM RFC's layout (vmcall; ret at 0 and the
 * 64-bit VTL prologues at 4 and 14, each ending in a jump back to offset 0 — with corrected
 * displacements, see README). The RFC has no 32-bit prologues; this page adds them after the
 * 64-bit ones (24 and 33, same shape) so VsmCodePageOffsets is right for a 32-bit VTL too.
 */

import type { HvProfile } from "./partition.ts";

const VMCALL = [0x0f, 0x01, 0xc1];
const RET = 0xc3;

export interface CodePageOffsets {
  readonly call64: number;
  readonly return64: number;
  readonly call32: number;
  readonly return32: number;
}

export const HYPERV_OFFSETS: CodePageOffsets = {
  call64: 0x0f,
  return64: 0x26,
  call32: 0x04,
  return32: 0x1b,
};
export const KVM_RFC_OFFSETS: CodePageOffsets = {
  call64: 4,
  return64: 14,
  call32: 24,
  return32: 33,
};

export function codePageOffsets(profile: HvProfile): CodePageOffsets {
  return profile === "kvm-rfc" ? KVM_RFC_OFFSETS : HYPERV_OFFSETS;
}

export function buildHypercallPage(profile: HvProfile): Uint8Array {
  const p = new Uint8Array(4096).fill(0xcc);
  const put = (off: number, bytes: number[]) => p.set(bytes, off);
  if (profile === "kvm-rfc") {
    put(0, [...VMCALL, RET]);
    // 64-bit VTL call: mov rax, rcx; mov ecx, 0x11; jmp 0
    put(4, [0x48, 0x89, 0xc8, 0xb9, 0x11, 0, 0, 0]);
    put(12, [0xeb, (0 - 14) & 0xff]);
    // 64-bit VTL return: mov rax, rcx; mov ecx, 0x12; jmp 0
    put(14, [0x48, 0x89, 0xc8, 0xb9, 0x12, 0, 0, 0]);
    put(22, [0xeb, (0 - 24) & 0xff]);
    // 32-bit VTL call / return: mov ecx, eax; mov eax, 0x11 / 0x12; jmp 0
    put(24, [0x89, 0xc1, 0xb8, 0x11, 0, 0, 0, 0xeb, (0 - 33) & 0xff]);
    put(33, [0x89, 0xc1, 0xb8, 0x12, 0, 0, 0, 0xeb, (0 - 42) & 0xff]);
    return p;
  }
  put(0x00, [...VMCALL, RET]);
  // 32-bit VTL call: mov ecx, eax; mov eax, 0x11; vmcall; ret
  put(0x04, [0x89, 0xc1, 0xb8, 0x11, 0, 0, 0, ...VMCALL, RET]);
  // 64-bit VTL call: mov rax, rcx; mov ecx, 0x11; vmcall; ret
  put(0x0f, [0x48, 0x89, 0xc8, 0xb9, 0x11, 0, 0, 0, ...VMCALL, RET]);
  // 32-bit VTL return
  put(0x1b, [0x89, 0xc1, 0xb8, 0x12, 0, 0, 0, ...VMCALL, RET]);
  // 64-bit VTL return
  put(0x26, [0x48, 0x89, 0xc8, 0xb9, 0x12, 0, 0, 0, ...VMCALL, RET]);
  return p;
}
