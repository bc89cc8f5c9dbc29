/**
 * Test support: a CPU on flat RAM with a minimal host (ports recorded, no hypervisor), and a
 * long-mode setup with identity paging. Used by CPU unit tests and the fixture harness.
 */

import { GuestMemory } from "../memory/guest_memory.ts";
import { CodeCache } from "./code_cache.ts";
import { Cpu } from "./cpu.ts";
import { type CpuHost, GPA_UNMAPPED, RIGHTS_ALL } from "./host.ts";
import {
  CR0_PE,
  CR0_PG,
  CR4_PAE,
  CS,
  DS,
  EFER_LMA,
  EFER_LME,
  EFER_NXE,
  ES,
  FS,
  GS,
  SS,
} from "./regs.ts";

export class TestHost implements CpuHost {
  cpu!: Cpu;
  readonly out: { port: number; size: number; value: number }[] = [];
  readonly exceptions: number[] = [];
  readonly ram: number;
  icountBase = 0;
  shutdownReason: string | null = null;
  hypercalls = 0;
  constructor(ramBytes: number) {
    this.ram = ramBytes;
  }
  resolveGpa(gpn: number): number {
    if (gpn >= 0 && gpn < this.ram / 4096) return gpn * 32 + RIGHTS_ALL;
    return GPA_UNMAPPED;
  }
  mmioRead(): number {
    return 0xffffffff;
  }
  mmioWrite(): void {}
  ioIn(): number {
    return 0xffffffff;
  }
  ioOut(port: number, size: 1 | 2 | 4, value: number): void {
    this.out.push({ port, size, value });
  }
  rdmsr(): boolean {
    return false;
  }
  wrmsr(): boolean {
    return false;
  }
  cpuid(): void {}
  now(): number {
    return this.cpu.exactIcount();
  }
  readCr8(): number {
    return 0;
  }
  writeCr8(): void {}
  apicId(): number {
    return 0;
  }
  hypercall(): void {
    this.hypercalls++;
  }
  protectionFault(): void {}
  interruptAck(): number {
    return -1;
  }
  onException(vector: number, _hasErrorCode: boolean, _errorCode: number, _cr2: number): void {
    this.exceptions.push(vector);
  }
  onInterrupt(_vector: number): void {}
  onHalt(): void {}
  onShutdown(reason: string): void {
    this.shutdownReason = reason;
  }
  /** Bytes written to ports 0xe9 / 0x3f8 as text. */
  text(port = 0xe9): string {
    return this.out.filter((o) => o.port === port).map((o) => String.fromCharCode(o.value & 0xff))
      .join("");
  }
}

export interface TestMachine {
  cpu: Cpu;
  mem: GuestMemory;
  host: TestHost;
}

export function makeCpu(ramBytes = 16 << 20): TestMachine {
  const mem = new GuestMemory(ramBytes, 16);
  const host = new TestHost(ramBytes);
  const cpu = new Cpu(host, mem, new CodeCache(mem));
  host.cpu = cpu;
  return { cpu, mem, host };
}

/**
 * Puts the CPU in 64-bit long mode at CPL 0 with identity paging of the first `mapBytes` (2 MiB
 * pages, RWX) built at physical `ptBase` (6 pages used for up to 4 GiB).
 */
export function enterLongMode(cpu: Cpu, ptBase = 0x1000, mapBytes = 1 << 30): void {
  // (`4 << 30` is 0 in JavaScript: a caller asking for 4 GiB must write 2 ** 32.)
  if (!(mapBytes > 0)) throw new RangeError(`enterLongMode: nothing to map (${mapBytes} bytes)`);
  const mem = cpu.mem;
  const pml4 = ptBase, pdpt = ptBase + 0x1000, pd0 = ptBase + 0x2000;
  const pds = Math.ceil(mapBytes / (1 << 30));
  mem.u8.fill(0, ptBase, ptBase + 0x2000 + pds * 0x1000);
  mem.dv.setUint32(pml4, pdpt | 3, true);
  for (let i = 0; i < pds; i++) {
    mem.dv.setUint32(pdpt + i * 8, (pd0 + i * 0x1000) | 3, true);
    for (let j = 0; j < 512; j++) {
      const addr = i * (1 << 30) + j * (1 << 21);
      if (addr >= mapBytes) break;
      mem.dv.setUint32(pd0 + i * 0x1000 + j * 8, (addr | 0x83) >>> 0, true);
      mem.dv.setUint32(pd0 + i * 0x1000 + j * 8 + 4, Math.floor(addr / 4294967296), true);
    }
  }
  cpu.cr3 = pml4;
  cpu.cr4 = CR4_PAE;
  cpu.efer = EFER_LME | EFER_LMA | EFER_NXE;
  cpu.cr0 = (CR0_PE | CR0_PG | 0x10 | 0x20) | 0;
  cpu.setSegment(CS, 0x08, 0, 0xffffffff, 0xa09b);
  for (const s of [DS, ES, SS, FS, GS]) cpu.setSegment(s, 0x10, 0, 0xffffffff, 0xc093);
  cpu.updateMode();
  cpu.flushTlbAll();
}

const STOP = new Error("stop at the first exception");

/**
 * Runs `code` and a HLT at 0x8000 with the registers `regs` ({register: value}) until the HLT or
 * the first exception, which stops the run after `onFault` sees its vector and error code.
 */
export function runCode(
  t: TestMachine,
  code: number[],
  regs: Record<number, number>,
  onFault: (vec: number, err: number) => void,
): void {
  const { cpu, mem, host } = t;
  mem.u8.set([...code, 0xf4], 0x8000);
  cpu.rip = 0x8000;
  cpu.halted = false;
  for (const [r, v] of Object.entries(regs)) cpu.setReg(Number(r), v);
  const saved = host.onException;
  host.onException = (vec, _has, err) => {
    onFault(vec, err);
    throw STOP;
  };
  try {
    for (let i = 0; i < 10 && !cpu.halted; i++) cpu.run(1000);
  } catch (e) {
    if (e !== STOP) throw e;
  } finally {
    host.onException = saved;
  }
}
