/**
 * Platform helpers for the multiboot kernels: discovery as kvm-unit-tests and firmware do it
 * (the QEMU fw_cfg interface, docs/specs/fw_cfg.rst; the ACPI RSDP/RSDT/MADT, ACPI 6.x §5.2.5,
 * §5.2.7, §5.2.12; the multiboot_info structure and command line), and register access to the
 * IOAPIC (82093AA data sheet §3: IOREGSEL at +0x00, IOWIN at +0x10), the 8254 and the CMOS.
 *
 * `discover()` fills `PV` (platform variables) at run time; kernels then size their work by
 * the CPU count and find the IOAPIC pin of ISA IRQ0 from the MADT's interrupt source override.
 */

import { byte, dword, type Label, mem, word } from "../asm.ts";
import { al, ax, dx, eax, ebx, ecx, edi, edx, esi } from "../asm/operands.ts";
import { KV, type MbKit } from "./kit.ts";

export const IOAPIC = 0xfec00000;
export const LAPIC = 0xfee00000;

/** Platform variables filled by `discover()`. */
export const PV = {
  fwSignature: KV.scratchVars - 0x100,
  fwCpus: KV.scratchVars - 0xfc,
  fwRamLo: KV.scratchVars - 0xf8,
  fwRamHi: KV.scratchVars - 0xf4,
  rsdp: KV.scratchVars - 0xf0,
  rsdpSum: KV.scratchVars - 0xec,
  madt: KV.scratchVars - 0xe8,
  madtSum: KV.scratchVars - 0xe4,
  cpus: KV.scratchVars - 0xe0,
  ioapicAddr: KV.scratchVars - 0xdc,
  ioapicId: KV.scratchVars - 0xd8,
  irq0Gsi: KV.scratchVars - 0xd4,
  irq0Flags: KV.scratchVars - 0xd0,
  ioapics: KV.scratchVars - 0xcc,
  /** byte apicIds[16]: APIC IDs of the enabled MADT processors, in table order. */
  apicIds: KV.scratchVars - 0xc0,
} as const;

/** Selects fw_cfg item `key` (16-bit write to port 0x510). Clobbers eax, edx. */
function fwSelect(k: MbKit, key: number): void {
  k.a.mov(dx, 0x510).mov(ax, key).out(dx, ax);
}

/** Reads the next `n` (1..4) fw_cfg data bytes, little-endian, into eax. Clobbers ecx, edx. */
function fwRead(k: MbKit, n: number): void {
  const a = k.a;
  a.xor(ecx, ecx).mov(dx, 0x511);
  for (let i = 0; i < n; i++) {
    a.in_(al, dx).movzx(eax, al).shl(eax, 8 * i).or(ecx, eax);
  }
  a.mov(eax, ecx);
}

/**
 * Emits the discovery code inline (fw_cfg signature, CPU count and RAM size; ACPI RSDP, RSDT,
 * MADT) and checks what a guest can check about it. Preserves registers.
 */
export function discover(k: MbKit): void {
  const a = k.a, r = k.r;
  k.save(eax, ebx, ecx, edx, esi, edi);
  // fw_cfg (FW_CFG_SIGNATURE 0x0000, FW_CFG_RAM_SIZE 0x0003, FW_CFG_NB_CPUS 0x0005).
  fwSelect(k, 0x0000);
  fwRead(k, 4);
  a.mov(dword(PV.fwSignature), eax);
  fwSelect(k, 0x0005);
  fwRead(k, 2);
  a.mov(dword(PV.fwCpus), eax);
  fwSelect(k, 0x0003);
  fwRead(k, 4);
  a.mov(dword(PV.fwRamLo), eax);
  fwRead(k, 4);
  a.mov(dword(PV.fwRamHi), eax);
  // RSDP: "RSD PTR " on a 16-byte boundary in 0xe0000-0xfffff (ACPI §5.2.5.1).
  const scan = a.label(), next = a.label(), found = a.label(), out = a.label();
  a.mov(esi, 0xe0000);
  a.bind(scan).cmp(dword(r.si), 0x20445352).jne(next).cmp(dword(r.si, 4), 0x20525450).je(found);
  a.bind(next).add(esi, 16).cmp(esi, 0x100000).jb(scan).jmp(out);
  a.bind(found).mov(dword(PV.rsdp), esi);
  a.mov(ecx, 20).call(sumLabel(k)).mov(dword(PV.rsdpSum), eax); // ACPI 1.0 checksum: 20 bytes
  // RSDT (RSDP offset 16): 32-bit table pointers after the 36-byte header.
  const tl = a.label(), madt = a.label();
  a.mov(edi, dword(r.si, 16)).mov(ecx, dword(r.di, 4)).sub(ecx, 36).shr(ecx, 2);
  a.lea(ebx, mem(r.di, 36));
  a.bind(tl).test(ecx, ecx).jz(out);
  a.mov(eax, dword(r.bx)).cmp(dword(r.ax), 0x43495041).je(madt); // "APIC"
  a.add(ebx, 4).dec(ecx).jmp(tl);
  a.bind(madt).mov(dword(PV.madt), eax).mov(esi, eax).mov(ecx, dword(r.si, 4));
  a.call(sumLabel(k)).mov(dword(PV.madtSum), eax);
  // MADT entries from offset 44 (ACPI §5.2.12): type, length, ...
  const ent = a.label(), nextEnt = a.label(), t1 = a.label(), t2 = a.label();
  a.mov(edx, esi).add(edx, dword(r.si, 4)).add(esi, 44);
  a.bind(ent).cmp(esi, edx).jae(out);
  a.movzx(eax, byte(r.si)).test(eax, eax).jnz(t1);
  // Type 0, Processor Local APIC: UID, APIC ID, flags (bit 0 enabled).
  a.test(byte(r.si, 4), 1).jz(nextEnt);
  a.mov(ecx, dword(PV.cpus)).movzx(eax, byte(r.si, 3));
  a.mov(byte(mem(null, r.cx, 1, PV.apicIds)), al).i("inc", dword(PV.cpus)).jmp(nextEnt);
  a.bind(t1).cmp(eax, 1).jne(t2);
  // Type 1, I/O APIC: ID, reserved, address, GSI base.
  a.movzx(eax, byte(r.si, 2)).mov(dword(PV.ioapicId), eax);
  a.mov(eax, dword(r.si, 4)).mov(dword(PV.ioapicAddr), eax).i("inc", dword(PV.ioapics));
  a.jmp(nextEnt);
  // Type 2, Interrupt Source Override: bus, source (ISA IRQ), GSI, flags.
  a.bind(t2).cmp(eax, 2).jne(nextEnt).cmp(byte(r.si, 3), 0).jne(nextEnt);
  a.mov(eax, dword(r.si, 4)).mov(dword(PV.irq0Gsi), eax);
  a.movzx(eax, word(r.si, 8)).mov(dword(PV.irq0Flags), eax);
  a.bind(nextEnt).movzx(eax, byte(r.si, 1)).add(esi, eax).jmp(ent);
  a.bind(out);
  k.restore(eax, ebx, ecx, edx, esi, edi);
  // What the guest can verify.
  k.expectEq("fw_cfg: signature 'QEMU' (selector 0x0000)", dword(PV.fwSignature), 0x554d4551);
  k.check("ACPI: RSDP found in 0xe0000-0xfffff", () => a.cmp(dword(PV.rsdp), 0), "e");
  k.expectEq("ACPI: RSDP checksum (first 20 bytes) sums to 0", dword(PV.rsdpSum), 0);
  k.check("ACPI: MADT ('APIC') listed in the RSDT", () => a.cmp(dword(PV.madt), 0), "e");
  k.expectEq("ACPI: MADT checksum sums to 0", dword(PV.madtSum), 0);
  k.expectSame(
    "ACPI: MADT processor count = fw_cfg FW_CFG_NB_CPUS",
    dword(PV.cpus),
    dword(PV.fwCpus),
  );
  k.expectEq("ACPI: one I/O APIC in the MADT", dword(PV.ioapics), 1);
  k.expectEq("ACPI: I/O APIC at 0xfec00000", dword(PV.ioapicAddr), IOAPIC);
  // multiboot mem_upper (KiB above 1 MiB) against fw_cfg RAM size (below 4 GiB).
  k.save(eax, ebx);
  a.mov(ebx, dword(KV.mbInfo)).mov(eax, dword(r.bx, 8)).shl(eax, 10).add(eax, 0x100000);
  k.expectSame(
    "multiboot: mem_upper * 1024 + 1 MiB = fw_cfg FW_CFG_RAM_SIZE",
    eax,
    dword(PV.fwRamLo),
  );
  k.restore(eax, ebx);
}

const sums = new WeakMap<MbKit, Label>();

/** Routine: esi = start, ecx = length → eax = byte sum mod 256. Preserves esi, ecx. */
function sumLabel(k: MbKit): Label {
  let l = sums.get(k);
  if (l) return l;
  const a = k.a, r = k.r, skip = a.label();
  l = a.label();
  sums.set(k, l);
  a.jmp(skip).bind(l);
  k.save(ecx, esi, edx);
  a.xor(eax, eax);
  const lp = a.here(), done = a.label();
  a.test(ecx, ecx).jz(done).movzx(edx, byte(r.si)).add(eax, edx).i("inc", esi).dec(ecx).jmp(lp);
  a.bind(done).and(eax, 0xff);
  k.restore(ecx, esi, edx);
  a.ret().bind(skip);
  return l;
}

/**
 * Finds `key=` (a whole word) in the multiboot command line and parses the decimal number after
 * it into eax; eax = `missing` when absent. Preserves other registers.
 */
export function cmdlineNumber(k: MbKit, key: string, missing: number): void {
  const a = k.a, r = k.r;
  const pos = a.label(), cmp = a.label(), nomatch = a.label(), absent = a.label();
  const digits = a.label(), done = a.label(), end = a.label();
  k.save(ebx, ecx, edx, esi, edi);
  a.mov(ebx, dword(KV.mbInfo)).test(dword(r.bx), 4).jz(absent); // flags bit 2: cmdline
  a.mov(esi, dword(r.bx, 16)).mov(edx, esi); // edx: start of the string
  a.bind(pos).cmp(byte(r.si), 0).je(absent);
  // A word starts at the string start or after a space.
  a.cmp(esi, edx).je(cmp).cmp(byte(r.si, -1), 0x20).jne(nomatch);
  a.bind(cmp).mov(edi, k.str(`${key}=`)).mov(ecx, esi);
  const cl2 = a.here();
  a.mov(al, byte(r.di)).test(al, al).jz(digits).cmp(al, byte(r.cx)).jne(nomatch);
  a.i("inc", edi).i("inc", ecx).jmp(cl2);
  a.bind(nomatch).i("inc", esi).jmp(pos);
  a.bind(digits).xor(eax, eax);
  const dl = a.here();
  a.movzx(edx, byte(r.cx)).sub(edx, 0x30).cmp(edx, 9).ja(done);
  a.imul(eax, eax, 10).add(eax, edx).i("inc", ecx).jmp(dl);
  a.bind(absent).mov(eax, missing >>> 0).jmp(end);
  a.bind(done);
  a.bind(end);
  k.restore(ebx, ecx, edx, esi, edi);
}

/** Writes IOAPIC register `index` (IOREGSEL) with `value` (IOWIN). Preserves registers. */
export function ioapicWrite(k: MbKit, index: number, value: number | typeof eax): void {
  const a = k.a, r = k.r;
  k.save(eax, edi);
  if (typeof value === "number") a.mov(eax, value >>> 0);
  else if (value !== eax) a.mov(eax, value);
  a.mov(edi, IOAPIC).mov(dword(r.di), index).mov(dword(r.di, 0x10), eax);
  k.restore(eax, edi);
}

/** Reads IOAPIC register `index` into eax. */
export function ioapicRead(k: MbKit, index: number): void {
  const a = k.a, r = k.r;
  k.save(edi);
  a.mov(edi, IOAPIC).mov(dword(r.di), index).mov(eax, dword(r.di, 0x10));
  k.restore(edi);
}

/** Programs redirection entry `pin`: high dword first, then low (which may unmask). */
export function ioapicRoute(k: MbKit, pin: number, lo: number, hi = 0): void {
  ioapicWrite(k, 0x11 + 2 * pin, hi);
  ioapicWrite(k, 0x10 + 2 * pin, lo);
}

/** Reads CMOS register `index` (port 0x70 with NMI disabled, then 0x71) into al. */
export function cmosRead(k: MbKit, index: number): void {
  k.a.mov(al, 0x80 | index).out(0x70, al).in_(al, 0x71);
}

/** Writes CMOS register `index` with `value` (a number or al). Clobbers al. */
export function cmosWrite(k: MbKit, index: number, value: number): void {
  k.a.mov(al, 0x80 | index).out(0x70, al).mov(al, value & 0xff).out(0x71, al);
}
