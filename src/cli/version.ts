/** This build's identity for trace headers: the package version and, when known, the git commit. */

import denoJson from "../../deno.json" with { type: "json" };

export const EMULATOR_VERSION: string = denoJson.version;

/** The emulator identity this build records in a trace header. */
export function thisBuild(): { version: string; commit: string | null } {
  return { version: EMULATOR_VERSION, commit: gitCommit() };
}

/** The git commit of the checkout this runs from (read from .git directly), or null. */
export function gitCommit(): string | null {
  try {
    const root = new URL("../../.git/", import.meta.url);
    const head = Deno.readTextFileSync(new URL("HEAD", root)).trim();
    if (!head.startsWith("ref: ")) return /^[0-9a-f]{40}$/.test(head) ? head : null;
    const ref = head.slice(5);
    try {
      return Deno.readTextFileSync(new URL(ref, root)).trim();
    } catch {
      const packed = Deno.readTextFileSync(new URL("packed-refs", root));
      const line = packed.split("\n").find((l) => l.endsWith(" " + ref));
      return line ? line.split(" ")[0]! : null;
    }
  } catch {
    return null;
  }
}
