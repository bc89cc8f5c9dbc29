/**
 * Guest resolution for the CLI: a built-in guest by name, or a file (flat binary with
 * --flat/--entry). Produces the loader, and the identity recorded in the trace header.
 */

import { buildCpuBench } from "../guests/cpubench.ts";
import { buildDemo, type BuiltinGuest } from "../guests/demo.ts";
import { SCENARIOS } from "../guests/scenarios/index.ts";
import { CPU_TEST_EXTRAS } from "../guests/cpu_tests/index.ts";
import type { MachineConfig } from "../machine/config.ts";
import { flatLoader, longModeLoader, realModeLoader } from "../machine/loader.ts";
import type { GuestLoader } from "../machine/machine.ts";
import type { TraceHeader } from "../trace/header.ts";
import { UsageError } from "./errors.ts";

export interface ResolvedGuest {
  readonly identity: TraceHeader["guest"];
  readonly loader: GuestLoader;
  /** Config defaults the guest asks for (built-in guests only). */
  readonly config: Readonly<Record<string, unknown>>;
}

const BUILTINS: Record<string, () => BuiltinGuest> = {
  demo: buildDemo,
  cpubench: () => buildCpuBench(),
  ...SCENARIOS,
  ...CPU_TEST_EXTRAS,
};

export function builtinNames(): string[] {
  return Object.keys(BUILTINS).sort();
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether `name` is a built-in guest. */
export function isBuiltin(name: string): boolean {
  return Object.hasOwn(BUILTINS, name);
}

/** Resolves a built-in guest by name. */
export async function builtinGuest(name: string): Promise<ResolvedGuest> {
  const build = BUILTINS[name];
  if (build === undefined) {
    throw new UsageError(
      `unknown built-in guest "${name}" (built-in guests: ${builtinNames().join(", ")})`,
    );
  }
  const g = build();
  return {
    identity: {
      name: g.name,
      source: "builtin",
      path: null,
      sha256: await sha256Hex(g.bytes),
      size: g.bytes.length,
    },
    loader: g.entryMode === "real"
      ? realModeLoader(g.name, g.bytes, g.load, g.entry)
      : longModeLoader(g.name, g.bytes, g.load, g.entry),
    config: g.config ?? {},
  };
}

/** Reads a guest file, with a one-line error when it cannot be read. */
export async function readGuestFile(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "No such file"
      : e instanceof Deno.errors.IsADirectory
      ? "is a directory"
      : (e as Error).message;
    throw new UsageError(`Cannot read guest ${path}: ${why}`);
  }
}

/** A guest file with the loader the config names. */
export async function fileGuest(path: string, config: MachineConfig): Promise<ResolvedGuest> {
  const bytes = await readGuestFile(path);
  if (bytes.length === 0) throw new UsageError(`Cannot load guest ${path}: the file is empty`);
  const l = config.loader;
  if (l.kind !== "flat") {
    throw new UsageError(
      `Cannot load guest ${path}: only flat images are supported yet; give --flat ADDR --entry ADDR`,
    );
  }
  const name = path.split("/").pop() ?? path;
  return {
    identity: { name, source: "file", path, sha256: await sha256Hex(bytes), size: bytes.length },
    loader: flatLoader(path, bytes, l.load, l.entry),
    config: {},
  };
}

/**
 * The guest a trace header names, rebuilt or re-read by this build. `override` replaces the
 * recorded file path. Refuses an image whose SHA-256 differs from the header's.
 */
export async function guestFromHeader(
  h: TraceHeader,
  config: MachineConfig,
  override: string | undefined,
): Promise<ResolvedGuest> {
  let g: ResolvedGuest;
  if (h.guest.source === "builtin" && override === undefined) g = await builtinGuest(h.guest.name);
  else {
    const path = override ?? h.guest.path;
    if (path === null) {
      throw new UsageError("the trace does not record the guest file's path; give --guest FILE");
    }
    g = await fileGuest(path, config);
  }
  if (g.identity.sha256 !== h.guest.sha256) {
    throw new UsageError(
      `guest image mismatch: the trace was recorded with ${h.guest.name} sha256 ${h.guest.sha256}, ` +
        `this build has ${g.identity.sha256}`,
    );
  }
  return g;
}
