/**
 * Guest resolution for the CLI: a built-in guest by name (assembled in TypeScript, or one of the
 * multiboot test kernels), or a file — a kernel image whose format is detected from its contents,
 * or a flat binary with --flat/--entry. Produces the loader, and the identity recorded in the
 * trace header.
 */

import { buildCpuBench } from "../guests/cpubench.ts";
import { buildDemo, type BuiltinGuest } from "../guests/demo.ts";
import { SCENARIOS } from "../guests/scenarios/index.ts";
import { CPU_TEST_EXTRAS } from "../guests/cpu_tests/index.ts";
import { MULTIBOOT_KERNELS, multibootKernel } from "../guests/multiboot/index.ts";
import type { MachineConfig } from "../machine/config.ts";
import { flatLoader, imageLoader, longModeLoader, realModeLoader } from "../machine/loader.ts";
import { detectFormat } from "../machine/loaders/mod.ts";
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
  return [...Object.keys(BUILTINS), ...Object.keys(MULTIBOOT_KERNELS)].sort();
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Whether `name` is a built-in guest. */
export function isBuiltin(name: string): boolean {
  return Object.hasOwn(BUILTINS, name) || Object.hasOwn(MULTIBOOT_KERNELS, name);
}

/** Resolves a built-in guest by name. */
export async function builtinGuest(name: string): Promise<ResolvedGuest> {
  if (Object.hasOwn(MULTIBOOT_KERNELS, name)) {
    // A multiboot kernel file built in the repo: loaded by the same loader as a user's file.
    const k = multibootKernel(name);
    return {
      identity: {
        name: k.name,
        source: "builtin",
        path: null,
        sha256: await sha256Hex(k.image),
        size: k.image.length,
      },
      loader: imageLoader(k.name, k.image, undefined),
      config: k.config,
    };
  }
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

/**
 * Reads a file the user named (`what`: "guest", "initrd", "input"), with a one-line error when it
 * cannot be read: "Cannot read initrd x.img: No such file".
 */
export async function readUserFile(what: string, path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound
      ? "No such file"
      : e instanceof Deno.errors.IsADirectory
      ? "is a directory"
      : (e as Error).message;
    throw new UsageError(`Cannot read ${what} ${path}: ${why}`);
  }
}

/**
 * Where a file guest's initrd comes from: bytes the caller has already read (and recorded in the
 * config), or a file to read — `path`, default the path the config records — which must have the
 * recorded SHA-256.
 */
export type InitrdSource = { readonly bytes: Uint8Array } | { readonly path?: string };

/** A guest file with the loader the config names (and for an image, its initrd if it has one). */
export async function fileGuest(
  path: string,
  config: MachineConfig,
  initrdSource: InitrdSource = {},
): Promise<ResolvedGuest> {
  const bytes = await readUserFile("guest", path);
  if (bytes.length === 0) throw new UsageError(`Cannot load guest ${path}: the file is empty`);
  const l = config.loader;
  const name = path.split("/").pop() ?? path;
  const identity = {
    name,
    source: "file" as const,
    path,
    sha256: await sha256Hex(bytes),
    size: bytes.length,
  };
  if (l.kind === "flat") {
    return { identity, loader: flatLoader(path, bytes, l.load, l.entry), config: {} };
  }
  if (l.kind !== "image") {
    throw new UsageError(`Cannot load guest ${path}: the config names no loader for a file`);
  }
  if (detectFormat(bytes) === "unknown") {
    throw new UsageError(
      `Cannot load guest ${path}: not a multiboot, Linux bzImage or ELF image ` +
        `(for a flat binary give --flat ADDR --entry ADDR)`,
    );
  }
  let initrd: { name: string; bytes: Uint8Array } | undefined;
  if (l.initrd !== null) {
    if ("bytes" in initrdSource) initrd = { name: l.initrd.name, bytes: initrdSource.bytes };
    else {
      const ipath = initrdSource.path ?? l.initrd.path;
      const ib = await readUserFile("initrd", ipath);
      const sha = await sha256Hex(ib);
      if (sha !== l.initrd.sha256) {
        throw new UsageError(
          `initrd mismatch: the trace was recorded with ${l.initrd.name} sha256 ` +
            `${l.initrd.sha256}, ${ipath} has ${sha}`,
        );
      }
      initrd = { name: l.initrd.name, bytes: ib };
    }
  }
  return { identity, loader: imageLoader(name, bytes, initrd), config: {} };
}

/**
 * The guest a trace header names, rebuilt or re-read by this build. `override` replaces the
 * recorded file path. Refuses an image whose SHA-256 differs from the header's.
 */
export async function guestFromHeader(
  h: TraceHeader,
  config: MachineConfig,
  override: string | undefined,
  initrdOverride?: string,
): Promise<ResolvedGuest> {
  let g: ResolvedGuest;
  if (h.guest.source === "builtin" && override === undefined) g = await builtinGuest(h.guest.name);
  else {
    const path = override ?? h.guest.path;
    if (path === null) {
      throw new UsageError("the trace does not record the guest file's path; give --guest FILE");
    }
    g = await fileGuest(path, config, { path: initrdOverride });
  }
  if (g.identity.sha256 !== h.guest.sha256) {
    throw new UsageError(
      `guest image mismatch: the trace was recorded with ${h.guest.name} sha256 ${h.guest.sha256}, ` +
        `this build has ${g.identity.sha256}`,
    );
  }
  return g;
}
