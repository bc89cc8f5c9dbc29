/**
 * Machine configuration: everything (besides the guest image and the recorded inputs) that
 * execution depends on. It is written whole into the trace header, so every field is named,
 * JSON-compatible and validated here with one-line errors.
 */

export type HvProfileName = "hyperv" | "kvm-rfc";

export type LoaderConfig =
  | { readonly kind: "builtin" }
  | {
    readonly kind: "flat";
    /** Guest physical load address of file offset 0. */
    readonly load: number;
    /** 64-bit entry point (long mode, identity paging set up by the loader). */
    readonly entry: number;
  }
  | {
    /** A kernel image whose format is detected from its bytes (multiboot, bzImage, PVH, ELF). */
    readonly kind: "image";
    /** The initial ramdisk / multiboot module, identified by content; null for none. */
    readonly initrd: InitrdIdentity | null;
  };

export interface InitrdIdentity {
  readonly name: string;
  /** Where it was read from when recorded (replay may be given another path). */
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

/**
 * A SynIC connection for HvCallSignalEvent / HvCallPostMessage (TLFS §11 "Ports and
 * Connections"): the connection ID and the port it is bound to — the target VP, VTL and SINT,
 * and for an event port its flag range (BaseFlagNumber `flag`, FlagCount `flagCount`). There is
 * no root partition to create ports, so the config lists them.
 */
export type ConnectionConfig =
  | {
    readonly id: number;
    readonly kind: "event";
    readonly vp: number;
    readonly vtl: number;
    readonly sint: number;
    readonly flag: number;
    readonly flagCount: number;
  }
  | {
    readonly id: number;
    readonly kind: "message";
    readonly vp: number;
    readonly vtl: number;
    readonly sint: number;
  };

export interface MachineConfig {
  readonly vps: number;
  /** Highest VTL the guest may enable (0..15). */
  readonly maxVtl: number;
  readonly memMiB: number;
  readonly hvProfile: HvProfileName;
  /** TSC frequency: one retired instruction is one TSC tick. */
  readonly tscHz: number;
  /** APIC timer base frequency (tscHz must be a multiple). */
  readonly apicHz: number;
  /** Round-robin quantum in retired instructions. */
  readonly quantum: number;
  /** A `checkpoint` event every this many instructions (0 = none). */
  readonly checkpointInterval: number;
  /** Live input (serial) is offered to the guest every this many instructions. */
  readonly inputPollInterval: number;
  /** Stop with exit reason "limit" after this many instructions (0 = no limit). */
  readonly maxInstructions: number;
  /** Wall-clock time at instruction 0 (RTC), seconds since 1970-01-01 UTC. */
  readonly startEpochSeconds: number;
  /** Kernel command line (boot protocols and fw_cfg). */
  readonly cmdline: string;
  readonly loader: LoaderConfig;
  /** SynIC connections (empty: HvCallSignalEvent/PostMessage fail with INVALID_CONNECTION_ID). */
  readonly connections: readonly ConnectionConfig[];
}

export const DEFAULT_CONFIG: MachineConfig = {
  vps: 1,
  maxVtl: 2,
  memMiB: 64,
  hvProfile: "hyperv",
  tscHz: 1_000_000_000,
  apicHz: 100_000_000,
  quantum: 10_000,
  checkpointInterval: 1_000_000,
  inputPollInterval: 10_000,
  maxInstructions: 0,
  startEpochSeconds: 1_767_225_600, // 2026-01-01T00:00:00Z
  cmdline: "",
  loader: { kind: "builtin" },
  connections: [],
};

export class ConfigError extends Error {
  override name = "ConfigError";
}

function int(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(
      `invalid config: ${name} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function str(v: unknown, name: string): string {
  if (typeof v !== "string" || v.length > 65536) {
    throw new ConfigError(`invalid config: ${name} must be a string, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** At most this many connections. */
const MAX_CONNECTIONS = 256;

/**
 * Validates `connections` against the already validated VP count and MaximumVtl. Event
 * connections get defaults flag 0, flagCount 1; IDs are HV_CONNECTION_ID values (24 bits),
 * unique.
 */
function connectionsOf(raw: unknown, vps: number, maxVtl: number): ConnectionConfig[] {
  if (!Array.isArray(raw) || raw.length > MAX_CONNECTIONS) {
    throw new ConfigError(
      `invalid config: connections must be an array of at most ${MAX_CONNECTIONS} objects`,
    );
  }
  const seen = new Set<number>();
  return raw.map((c: unknown, i) => {
    const at = `connections[${i}]`;
    if (typeof c !== "object" || c === null || Array.isArray(c)) {
      throw new ConfigError(`invalid config: ${at} must be an object`);
    }
    const o = c as Record<string, unknown>;
    const kind = o.kind;
    if (kind !== "event" && kind !== "message") {
      throw new ConfigError(
        `invalid config: ${at}.kind must be "event" or "message", got ${JSON.stringify(kind)}`,
      );
    }
    const allowed = kind === "event"
      ? ["id", "kind", "vp", "vtl", "sint", "flag", "flagCount"]
      : ["id", "kind", "vp", "vtl", "sint"];
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) {
        throw new ConfigError(`invalid config: unknown field "${k}" in ${at} (${kind})`);
      }
    }
    const id = int(o.id, `${at}.id`, 0, 0xffffff);
    if (seen.has(id)) throw new ConfigError(`invalid config: ${at}.id ${id} is not unique`);
    seen.add(id);
    const base = {
      id,
      vp: int(o.vp, `${at}.vp`, 0, vps - 1),
      vtl: int(o.vtl, `${at}.vtl`, 0, maxVtl),
      sint: int(o.sint, `${at}.sint`, 0, 15),
    };
    if (kind === "message") return { id, kind, vp: base.vp, vtl: base.vtl, sint: base.sint };
    const flag = int(o.flag ?? 0, `${at}.flag`, 0, 2047);
    const flagCount = int(o.flagCount ?? 1, `${at}.flagCount`, 1, 2048 - flag);
    return { id, kind, vp: base.vp, vtl: base.vtl, sint: base.sint, flag, flagCount };
  });
}

/** Validates an untrusted config object (from a trace header or the CLI). */
export function validateConfig(raw: unknown): MachineConfig {
  if (typeof raw !== "object" || raw === null) {
    throw new ConfigError("invalid config: not an object");
  }
  const o = raw as Record<string, unknown>;
  const known = new Set(Object.keys(DEFAULT_CONFIG));
  for (const k of Object.keys(o)) {
    if (!known.has(k)) throw new ConfigError(`invalid config: unknown field "${k}"`);
  }
  const get = (k: keyof MachineConfig) => o[k] ?? DEFAULT_CONFIG[k];
  const hvProfile = get("hvProfile");
  if (hvProfile !== "hyperv" && hvProfile !== "kvm-rfc") {
    throw new ConfigError(
      `invalid config: hvProfile must be "hyperv" or "kvm-rfc", got ${JSON.stringify(hvProfile)}`,
    );
  }
  const tscHz = int(get("tscHz"), "tscHz", 1_000_000, 100_000_000_000);
  const apicHz = int(get("apicHz"), "apicHz", 1_000, tscHz);
  if (tscHz % apicHz !== 0) {
    throw new ConfigError("invalid config: tscHz must be a multiple of apicHz");
  }
  const loaderRaw = get("loader") as Record<string, unknown>;
  let loader: LoaderConfig;
  if (loaderRaw?.kind === "builtin") loader = { kind: "builtin" };
  else if (loaderRaw?.kind === "flat") {
    loader = {
      kind: "flat",
      load: int(loaderRaw.load, "loader.load", 0, 0xffffffff),
      entry: int(loaderRaw.entry, "loader.entry", 0, Number.MAX_SAFE_INTEGER),
    };
  } else if (loaderRaw?.kind === "image") {
    const r = loaderRaw.initrd as Record<string, unknown> | null | undefined;
    let initrd: InitrdIdentity | null = null;
    if (r !== null && r !== undefined) {
      if (typeof r !== "object") {
        throw new ConfigError("invalid config: loader.initrd must be an object or null");
      }
      const sha256 = str(r.sha256, "loader.initrd.sha256");
      if (!/^[0-9a-f]{64}$/.test(sha256)) {
        throw new ConfigError("invalid config: loader.initrd.sha256 must be 64 hex digits");
      }
      initrd = {
        name: str(r.name, "loader.initrd.name"),
        path: str(r.path, "loader.initrd.path"),
        sha256,
        size: int(r.size, "loader.initrd.size", 0, 2 ** 32),
      };
    }
    loader = { kind: "image", initrd };
  } else throw new ConfigError(`invalid config: unknown loader ${JSON.stringify(loaderRaw)}`);
  const vps = int(get("vps"), "vps", 1, 64);
  const maxVtl = int(get("maxVtl"), "maxVtl", 0, 15);
  return {
    vps,
    maxVtl,
    memMiB: int(get("memMiB"), "memMiB", 2, 3072),
    hvProfile,
    tscHz,
    apicHz,
    quantum: int(get("quantum"), "quantum", 1, 100_000_000),
    checkpointInterval: int(
      get("checkpointInterval"),
      "checkpointInterval",
      0,
      Number.MAX_SAFE_INTEGER,
    ),
    inputPollInterval: int(get("inputPollInterval"), "inputPollInterval", 1, 100_000_000),
    maxInstructions: int(get("maxInstructions"), "maxInstructions", 0, Number.MAX_SAFE_INTEGER),
    startEpochSeconds: int(get("startEpochSeconds"), "startEpochSeconds", 0, 2 ** 40),
    cmdline: str(get("cmdline"), "cmdline"),
    loader,
    connections: connectionsOf(get("connections"), vps, maxVtl),
  };
}

/** The config as a plain JSON object (field order irrelevant: the trace uses canonical JSON). */
export function configToJson(c: MachineConfig): Record<string, unknown> {
  const l = c.loader;
  return {
    ...c,
    loader: l.kind === "image" ? { ...l, initrd: l.initrd && { ...l.initrd } } : { ...l },
    connections: c.connections.map((x) => ({ ...x })),
  };
}
