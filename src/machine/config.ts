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
  return {
    vps: int(get("vps"), "vps", 1, 64),
    maxVtl: int(get("maxVtl"), "maxVtl", 0, 15),
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
  };
}

/** The config as a plain JSON object (field order irrelevant: the trace uses canonical JSON). */
export function configToJson(c: MachineConfig): Record<string, unknown> {
  const l = c.loader;
  return {
    ...c,
    loader: l.kind === "image" ? { ...l, initrd: l.initrd && { ...l.initrd } } : { ...l },
  };
}
