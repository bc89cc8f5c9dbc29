/**
 * The CPUID model: what this CPU reports about itself. Rule: advertise only what is implemented.
 * Each bit set here names the instruction family or mechanism that provides it. The host (the
 * hypervisor) adds its own leaves 0x40000000+ and the "hypervisor present" bit afterwards.
 */

export const CPUID_MAX_BASIC = 0xd;
export const CPUID_MAX_EXT = 0x80000008;

// Leaf 1 EDX
const L1_EDX = (1 << 0) | // FPU: x87 (ops/x87*.ts, fp/f80*.ts)
  (1 << 3) | // PSE: 4 MiB pages in 32-bit paging (cpu.ts walk2)
  (1 << 4) | // TSC: rdtsc (system.ts)
  (1 << 5) | // MSR: rdmsr/wrmsr (msr.ts)
  (1 << 6) | // PAE (cpu.ts walkPae)
  (1 << 8) | // CX8: cmpxchg8b (atomic.ts)
  (1 << 9) | // APIC: local APIC (devices)
  (1 << 11) | // SEP: sysenter/sysexit (system.ts)
  (1 << 12) | // MTRR: registers stored (msr.ts)
  (1 << 13) | // PGE: global pages (TLB flushes are conservative)
  (1 << 15) | // CMOV (mov.ts)
  (1 << 16) | // PAT (msr.ts)
  (1 << 17) | // PSE-36 (cpu.ts walk2)
  (1 << 19) | // CLFSH: clflush (misc.ts)
  (1 << 23) | // MMX (ops/sse_mmx.ts)
  (1 << 24) | // FXSR: fxsave/fxrstor (ops/sse_state.ts)
  (1 << 25) | // SSE (ops/sse_*.ts, fp/softfloat.ts)
  (1 << 26); // SSE2 (ops/sse_*.ts, fp/softfloat.ts)

// Leaf 1 ECX
const L1_ECX = (1 << 0) | // SSE3 (ops/sse_ext.ts, ops/sse_mov.ts)
  (1 << 9) | // SSSE3 (ops/sse_ext.ts)
  (1 << 13) | // CX16: cmpxchg16b (atomic.ts)
  (1 << 19) | // SSE4.1 (ops/sse4.ts)
  (1 << 20) | // SSE4.2 (ops/sse4.ts, ops/sse_str.ts)
  (1 << 21) | // x2APIC (devices/lapic.ts)
  (1 << 22) | // MOVBE (mov.ts)
  (1 << 23) | // POPCNT (bit.ts)
  (1 << 24) | // TSC-deadline timer mode (devices/lapic.ts, IA32_TSC_DEADLINE)
  (1 << 26); // XSAVE: xsave/xrstor/xsaveopt/xsavec for x87+SSE (ops/sse_state.ts); leaf 0xD.
// (Bit 27, OSXSAVE, mirrors CR4.OSXSAVE: the caller of cpuidModel adds it.)

// Leaf 7.0 EBX
const L7_EBX = (1 << 0) | // FSGSBASE (system.ts)
  (1 << 3) | // BMI1: andn bextr blsi blsmsk blsr (ops/bmi.ts), tzcnt (bit.ts)
  (1 << 7) | // SMEP (cpu.ts translate)
  (1 << 8) | // BMI2: bzhi pdep pext rorx sarx shlx shrx mulx (ops/bmi.ts)
  (1 << 13) | // FPU CS/DS deprecated: fxsave/xsave store them as 0 (ops/sse_state.ts)
  (1 << 19) | // ADX: adcx adox (ops/bmi.ts)
  (1 << 20); // SMAP (cpu.ts translate, stac/clac)

// Leaf 0x80000001
const E1_ECX = (1 << 0) | // LAHF/SAHF in 64-bit mode (misc.ts)
  (1 << 5); // ABM: lzcnt (bit.ts)
const E1_EDX = (1 << 11) | // SYSCALL/SYSRET (system.ts)
  (1 << 20) | // NX (cpu.ts walk)
  (1 << 26) | // 1 GiB pages (cpu.ts walk4)
  (1 << 27) | // RDTSCP (system.ts)
  (1 << 29); // Long mode

const BRAND = "vtlrr deterministic x86-64 CPU";

function brandWords(): number[] {
  const b = new Uint8Array(48);
  for (let i = 0; i < BRAND.length; i++) b[i] = BRAND.charCodeAt(i);
  const dv = new DataView(b.buffer);
  const w: number[] = [];
  for (let i = 0; i < 12; i++) w.push(dv.getInt32(i * 4, true));
  return w;
}
const BRAND_WORDS = brandWords();

/** Fills out[0..3] = eax, ebx, ecx, edx for the CPU's own leaves. */
export function cpuidModel(leaf: number, sub: number, apicId: number, out: Int32Array): void {
  out.fill(0);
  leaf >>>= 0;
  if (leaf > CPUID_MAX_BASIC && leaf < 0x40000000) leaf = CPUID_MAX_BASIC; // Intel behaviour
  switch (leaf) {
    case 0:
      out[0] = CPUID_MAX_BASIC;
      out[1] = 0x756e6547; // "Genu"
      out[3] = 0x49656e69; // "ineI"
      out[2] = 0x6c65746e; // "ntel"
      return;
    case 1:
      out[0] = 0x000506e3; // family 6, model 0x5e, stepping 3
      out[1] = (apicId << 24) | (1 << 16) | (8 << 8); // APIC ID, 1 logical, CLFLUSH 64 bytes
      out[2] = L1_ECX;
      out[3] = L1_EDX;
      return;
    case 7:
      if (sub === 0) out[1] = L7_EBX;
      return;
    case 0xd: // XSAVE state components (ops/sse_state.ts): x87 and SSE only, 576-byte area
      if (sub === 0) {
        out[0] = 3; // XCR0 bits supported
        out[1] = 576; // size for the components enabled in XCR0 (both live in the legacy area)
        out[2] = 576; // size for all supported components
      } else if (sub === 1) {
        out[0] = (1 << 0) | (1 << 1); // XSAVEOPT, XSAVEC
        out[1] = 576;
      }
      return;
    case 0xb: // x2APIC topology: one thread per core, one core per package level
      if (sub === 0) {
        out[0] = 0;
        out[1] = 1;
        out[2] = 0x100 | sub;
      } else {
        out[2] = sub;
      }
      out[3] = apicId;
      return;
    case 0x80000000:
      out[0] = CPUID_MAX_EXT;
      return;
    case 0x80000001:
      out[2] = E1_ECX;
      out[3] = E1_EDX;
      return;
    case 0x80000002:
    case 0x80000003:
    case 0x80000004: {
      const k = (leaf - 0x80000002) * 4;
      for (let i = 0; i < 4; i++) out[i] = BRAND_WORDS[k + i]!;
      return;
    }
    case 0x80000008:
      out[0] = 40 | (48 << 8); // physical / linear address bits
      return;
  }
}
