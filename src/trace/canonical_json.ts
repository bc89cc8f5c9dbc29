/**
 * Canonical JSON: the one text form of a JSON value that trace files contain. Object keys are
 * sorted by UTF-16 code unit order, there is no whitespace, numbers are safe integers only (traces
 * never hold floats), strings are escaped exactly as `JSON.stringify` escapes them. The same value
 * always gives the same text, so the same header gives the same bytes.
 */

/** A value canonicalJson accepts. Object properties whose value is `undefined` are left out. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue | undefined };

/**
 * The canonical JSON text of `value`. Throws a TypeError naming the offending path (`$.a[2].b`)
 * for anything that is not plain JSON data: non-integer or unsafe numbers, NaN/Infinity, bigint,
 * functions, symbols, class instances, cycles, `undefined` outside an object property.
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, "$", parts, new Set());
  return parts.join("");
}

function write(v: unknown, path: string, out: string[], open: Set<object>): void {
  switch (typeof v) {
    case "string":
      out.push(JSON.stringify(v));
      return;
    case "boolean":
      out.push(v ? "true" : "false");
      return;
    case "number":
      if (!Number.isSafeInteger(v)) {
        throw new TypeError(`Cannot encode ${path} as canonical JSON: ${v} is not a safe integer`);
      }
      out.push(Object.is(v, -0) ? "0" : String(v));
      return;
    case "object":
      break;
    default:
      throw new TypeError(`Cannot encode ${path} as canonical JSON: unsupported ${typeof v} value`);
  }
  if (v === null) {
    out.push("null");
    return;
  }
  if (open.has(v)) throw new TypeError(`Cannot encode ${path} as canonical JSON: cycle`);
  open.add(v);
  if (Array.isArray(v)) {
    out.push("[");
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.push(",");
      write(v[i], `${path}[${i}]`, out, open);
    }
    out.push("]");
  } else {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`Cannot encode ${path} as canonical JSON: not a plain object`);
    }
    const rec = v as Record<string, unknown>;
    // Default sort compares UTF-16 code units, which is exactly the canonical key order.
    const keys = Object.keys(rec).filter((k) => rec[k] !== undefined).sort();
    out.push("{");
    for (let i = 0; i < keys.length; i++) {
      if (i > 0) out.push(",");
      const k = keys[i];
      out.push(JSON.stringify(k), ":");
      write(rec[k], `${path}${memberPath(k)}`, out, open);
    }
    out.push("}");
  }
  open.delete(v);
}

function memberPath(key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** Thrown by parseJson; the message is a bare reason that callers wrap with file and offset. */
export class JsonParseError extends Error {
  override name = "JsonParseError";
}

/** `JSON.parse` whose failure is a JsonParseError with a one-line reason ("invalid JSON: …"). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const reason = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new JsonParseError(`invalid JSON: ${reason}`);
  }
}
