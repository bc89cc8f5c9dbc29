/**
 * A minimal ACPI Machine Language (AML) encoder for the DSDT's device objects (ACPI 6.4 §20.2):
 * Scope, Device, Name, integers, EISA IDs, buffers and the small resource descriptors the
 * platform needs (I/O port ranges and IRQs, §6.4.2). Output matches what iasl compiles from the
 * equivalent ASL (the test holds iasl's bytes).
 */

/** PkgLength (§20.2.4): 1 to 4 bytes, counting itself. */
export function pkgLength(contentLength: number): number[] {
  for (let n = 1; n <= 4; n++) {
    const total = contentLength + n;
    if (n === 1 && total <= 0x3f) return [total];
    if (n > 1 && total < 1 << (4 + 8 * (n - 1))) {
      const out = [((n - 1) << 6) | (total & 0xf)];
      for (let k = 1; k < n; k++) out.push((total >>> (4 + 8 * (k - 1))) & 0xff);
      return out;
    }
  }
  throw new RangeError(`AML: package of ${contentLength} bytes is too long`);
}

/** A NameSeg: 1-4 characters [A-Z0-9_], padded with '_' (§20.2.2). */
export function nameSeg(name: string): number[] {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(name)) throw new RangeError(`AML: bad NameSeg "${name}"`);
  return [...name.padEnd(4, "_")].map((c) => c.charCodeAt(0));
}

const cat = (parts: number[][]): number[] => parts.flat();

/** DefScope: ScopeOp PkgLength NameString TermList. */
export function scope(name: string, ...terms: number[][]): number[] {
  const body = [...nameSeg(name), ...cat(terms)];
  return [0x10, ...pkgLength(body.length), ...body];
}

/** DefDevice: ExtOpPrefix DeviceOp PkgLength NameString TermList. */
export function device(name: string, ...terms: number[][]): number[] {
  const body = [...nameSeg(name), ...cat(terms)];
  return [0x5b, 0x82, ...pkgLength(body.length), ...body];
}

/** DefName: NameOp NameString DataRefObject. */
export function name(n: string, value: number[]): number[] {
  return [0x08, ...nameSeg(n), ...value];
}

/** The shortest integer encoding: ZeroOp, OneOp, Byte/Word/DWordConst. */
export function integer(v: number): number[] {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`AML: ${v}`);
  if (v === 0) return [0x00];
  if (v === 1) return [0x01];
  if (v <= 0xff) return [0x0a, v];
  if (v <= 0xffff) return [0x0b, v & 0xff, v >>> 8];
  return [0x0c, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
}

/** EisaId("PNP0501"): three letters (5 bits each) and four hex digits, as a DWordConst. */
export function eisaId(id: string): number[] {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new RangeError(`AML: bad EISA ID "${id}"`);
  const c = (i: number) => id.charCodeAt(i) - 0x40;
  const v = (c(0) << 10) | (c(1) << 5) | c(2);
  const p = parseInt(id.slice(3), 16);
  return [0x0c, v >>> 8, v & 0xff, p >>> 8, p & 0xff];
}

/** DefBuffer with a ByteConst/WordConst size. */
export function buffer(bytes: number[]): number[] {
  const size = integer(bytes.length);
  const body = [...size, ...bytes];
  return [0x11, ...pkgLength(body.length), ...body];
}

/** IO port descriptor, 16-bit decode, fixed range (§6.4.2.5). */
export function ioPort(base: number, length: number): number[] {
  return [0x47, 0x01, base & 0xff, base >>> 8, base & 0xff, base >>> 8, 0x01, length];
}

/** IRQ descriptor without flags: edge-triggered, active-high (§6.4.2.1). */
export function irqNoFlags(irq: number): number[] {
  const mask = 1 << irq;
  return [0x22, mask & 0xff, mask >>> 8];
}

/** A ResourceTemplate buffer: the descriptors and the End Tag (checksum 0: none). */
export function resourceTemplate(...descriptors: number[][]): number[] {
  return buffer([...cat(descriptors), 0x79, 0x00]);
}
