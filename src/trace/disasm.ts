/** Disassembly of the instruction bytes recorded in an event (iced-x86, Intel syntax). */

import { Decoder, DecoderOptions, Formatter, FormatterSyntax } from "iced-x86";

let formatter: Formatter | null = null;

/** Formats the first instruction of `hex` (bytes at `rip`, code size `bits`); "" if none. */
export function disassemble(hex: string, rip: string, bits: number): string {
  if (hex.length < 2 || (bits !== 16 && bits !== 32 && bits !== 64)) return "";
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  formatter ??= new Formatter(FormatterSyntax.Intel);
  const d = new Decoder(bits, bytes, DecoderOptions.None);
  try {
    d.ip = BigInt(rip);
    const ins = d.decode();
    try {
      if (ins.isInvalid) return "(invalid instruction)";
      return formatter.format(ins);
    } finally {
      ins.free();
    }
  } finally {
    d.free();
  }
}
