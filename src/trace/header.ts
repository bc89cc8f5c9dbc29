/**
 * The trace header: what ran (emulator, guest, full machine config, seed, compatibility flags).
 *
 *   offset 0   8 bytes  magic "VTLRR\r\n\x1a"
 *   offset 8   u16 LE   format major
 *   offset 10  u16 LE   format minor
 *   offset 12  u32 LE   N, byte length of the JSON
 *   offset 16  N bytes  canonical JSON (UTF-8) of the TraceHeader object
 *   offset 16+N u32 LE  CRC-32 of bytes 0 .. 16+N
 */
import { ByteWriter, getU16, getU32 } from "./bytes.ts";
import { canonicalJson, parseJson } from "./canonical_json.ts";
import { crc32 } from "./crc32.ts";
import { TraceFormatError } from "./errors.ts";
import {
  FILE_MAGIC,
  FORMAT_MAJOR,
  FORMAT_MINOR,
  HEADER_PREFIX_SIZE,
  MAX_HEADER_JSON,
} from "./format.ts";
import type { ByteSource } from "./source.ts";
import { configToJson, type MachineConfig } from "../machine/config.ts";

export interface TraceHeader {
  /** This build writes 1.1. */
  format: { major: number; minor: number };
  emulator: { name: "vtlrr"; version: string; commit: string | null };
  guest: {
    name: string;
    source: "builtin" | "file";
    path: string | null;
    sha256: string;
    size: number;
  };
  /** The full machine config, JSON-compatible (integers, strings, booleans, arrays, objects). */
  config: Record<string, unknown>;
  seed: string;
  /** Compatibility flags, sorted, unique. */
  flags: string[];
}

/**
 * Why `v` is not a TraceHeader, or null when it is. Unknown extra keys are allowed (a newer minor
 * version may add some); readers keep them untouched.
 */
export function checkHeader(v: unknown): string | null {
  if (!isObject(v)) return "header must be a JSON object";
  const fmt = v.format;
  if (!isObject(fmt) || !isU16(fmt.major) || !isU16(fmt.minor)) {
    return "header field format must be {major, minor} with integers 0..65535";
  }
  const emu = v.emulator;
  if (!isObject(emu)) return "header field emulator must be an object";
  if (emu.name !== "vtlrr") return 'header field emulator.name must be "vtlrr"';
  if (typeof emu.version !== "string") return "header field emulator.version must be a string";
  if (emu.commit !== null && typeof emu.commit !== "string") {
    return "header field emulator.commit must be a string or null";
  }
  const g = v.guest;
  if (!isObject(g)) return "header field guest must be an object";
  if (typeof g.name !== "string") return "header field guest.name must be a string";
  if (g.source !== "builtin" && g.source !== "file") {
    return 'header field guest.source must be "builtin" or "file"';
  }
  if (g.path !== null && typeof g.path !== "string") {
    return "header field guest.path must be a string or null";
  }
  if (typeof g.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(g.sha256)) {
    return "header field guest.sha256 must be 64 lowercase hex digits";
  }
  if (typeof g.size !== "number" || !Number.isSafeInteger(g.size) || g.size < 0) {
    return "header field guest.size must be a non-negative integer";
  }
  if (!isObject(v.config)) return "header field config must be an object";
  if (typeof v.seed !== "string") return "header field seed must be a string";
  const flags = v.flags;
  if (!Array.isArray(flags) || !flags.every((x) => typeof x === "string")) {
    return "header field flags must be an array of strings";
  }
  for (let i = 1; i < flags.length; i++) {
    if (!(flags[i - 1] < flags[i])) return "header field flags must be sorted and unique";
  }
  return null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isU16(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffff;
}

/**
 * The header's bytes. The binary version fields are taken from `header.format`. Throws TypeError
 * for a header that is not valid (a host bug).
 */
export function encodeHeader(header: TraceHeader): Uint8Array<ArrayBuffer> {
  const problem = checkHeader(header);
  if (problem !== null) throw new TypeError(`Cannot write trace header: ${problem}`);
  const json = new TextEncoder().encode(canonicalJson(header));
  if (json.length > MAX_HEADER_JSON) {
    throw new RangeError(`Cannot write trace header: ${json.length} bytes of JSON is too large`);
  }
  const w = new ByteWriter(HEADER_PREFIX_SIZE + json.length + 4);
  w.bytes(FILE_MAGIC);
  w.u16(header.format.major);
  w.u16(header.format.minor);
  w.u32(json.length);
  w.bytes(json);
  w.u32(crc32(w.view()));
  return w.copy();
}

export interface ReadHeader {
  header: TraceHeader;
  /** File offset of the first byte after the header (where the first chunk starts). */
  end: number;
}

/** Reads and validates the header at the start of `src`; every failure is a TraceFormatError. */
export async function readHeader(src: ByteSource, path: string): Promise<ReadHeader> {
  const prefix = await src.read(0, HEADER_PREFIX_SIZE);
  const magicLen = Math.min(prefix.length, FILE_MAGIC.length);
  for (let i = 0; i < magicLen; i++) {
    if (prefix[i] !== FILE_MAGIC[i]) {
      throw TraceFormatError.parse(path, 0, "not a vtlrr trace (bad magic)");
    }
  }
  if (src.size === 0) throw TraceFormatError.parse(path, 0, "not a vtlrr trace (empty file)");
  if (prefix.length < HEADER_PREFIX_SIZE) throw cutInHeader(path, src.size);
  const major = getU16(prefix, 8);
  const minor = getU16(prefix, 10);
  if (major !== FORMAT_MAJOR) {
    throw TraceFormatError.parse(
      path,
      8,
      `unsupported trace format version ${major}.${minor}; this build reads ${FORMAT_MAJOR}.x`,
    );
  }
  const n = getU32(prefix, 12);
  if (n > MAX_HEADER_JSON) {
    throw TraceFormatError.parse(path, 12, `header length ${n} is implausible (corrupt header)`);
  }
  const total = HEADER_PREFIX_SIZE + n + 4;
  if (src.size < total) throw cutInHeader(path, src.size);
  const bytes = await src.read(0, total);
  if (crc32(bytes.subarray(0, total - 4)) !== getU32(bytes, total - 4)) {
    throw TraceFormatError.read(path, 0, "header is corrupt (CRC mismatch)");
  }
  let value: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      bytes.subarray(HEADER_PREFIX_SIZE, HEADER_PREFIX_SIZE + n),
    );
    value = parseJson(text);
  } catch (e) {
    const why = e instanceof TypeError ? "header JSON is not valid UTF-8" : (e as Error).message;
    throw TraceFormatError.parse(path, HEADER_PREFIX_SIZE, why);
  }
  const problem = checkHeader(value);
  if (problem !== null) throw TraceFormatError.parse(path, HEADER_PREFIX_SIZE, problem);
  const header = value as TraceHeader;
  if (header.format.major !== major || header.format.minor !== minor) {
    throw TraceFormatError.parse(
      path,
      HEADER_PREFIX_SIZE,
      `header JSON says format ${header.format.major}.${header.format.minor} but the file says ${major}.${minor}`,
    );
  }
  return { header, end: total };
}

function cutInHeader(path: string, size: number): TraceFormatError {
  return TraceFormatError.parse(path, size, "trace was cut short inside its header");
}

/** The version this build writes, for building headers. */
export function currentFormat(): { major: number; minor: number } {
  return { major: FORMAT_MAJOR, minor: FORMAT_MINOR };
}

/** The header of a new recording, in this build's format version. */
export function newHeader(o: {
  readonly guest: TraceHeader["guest"];
  readonly config: MachineConfig;
  /** The recording build's version (and git commit, when known). */
  readonly version: string;
  readonly commit?: string | null;
  readonly seed?: string;
}): TraceHeader {
  return {
    format: currentFormat(),
    emulator: { name: "vtlrr", version: o.version, commit: o.commit ?? null },
    guest: o.guest,
    config: configToJson(o.config),
    seed: o.seed ?? "0",
    flags: [],
  };
}
