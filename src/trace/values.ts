/**
 * Field values in their in-memory representation (see src/core/events.ts): validation and the
 * byte conversions the codec needs. Validation is strict so that one event object has exactly one
 * encoding and every decoded value is in canonical form.
 */
import type { FieldType } from "../core/events.ts";

/** Why `v` is not a valid value of `type`, or null when it is. */
export function checkValue(type: FieldType, v: unknown): string | null {
  switch (type) {
    case "u":
      return typeof v === "number" && Number.isSafeInteger(v) && v >= 0
        ? null
        : `must be an integer in 0..2^53-1, got ${show(v)}`;
    case "u64":
      return typeof v === "string" && isCanonicalU64(v)
        ? null
        : `must be a u64 as lowercase hex "0x…" without leading zeros, got ${show(v)}`;
    case "bool":
      return typeof v === "boolean" ? null : `must be a boolean, got ${show(v)}`;
    case "str":
      return typeof v === "string" && v.isWellFormed()
        ? null
        : `must be well-formed text, got ${show(v)}`;
    case "hex":
      return typeof v === "string" && isHexBytes(v)
        ? null
        : `must be lowercase hex bytes (two digits each), got ${show(v)}`;
    case "latin1":
      return typeof v === "string" && isLatin1(v)
        ? null
        : `must be text of characters U+0000..U+00FF, got ${show(v)}`;
  }
}

function show(v: unknown): string {
  if (typeof v === "string") {
    const s = JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
    return s;
  }
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  return typeof v;
}

function isHexDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
}

/** "0x0", or "0x" + 1..16 lowercase hex digits with no leading zero. */
export function isCanonicalU64(s: string): boolean {
  const n = s.length;
  if (n < 3 || n > 18 || s.charCodeAt(0) !== 0x30 || s.charCodeAt(1) !== 0x78) return false;
  if (n > 3 && s.charCodeAt(2) === 0x30) return false;
  for (let i = 2; i < n; i++) if (!isHexDigit(s.charCodeAt(i))) return false;
  return true;
}

export function isHexBytes(s: string): boolean {
  if (s.length % 2 !== 0) return false;
  for (let i = 0; i < s.length; i++) if (!isHexDigit(s.charCodeAt(i))) return false;
  return true;
}

export function isLatin1(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}

export function bytesToLatin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) {
    s += String.fromCharCode(...b.subarray(i, Math.min(b.length, i + 8192)));
  }
  return s;
}
