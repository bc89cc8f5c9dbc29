/** This build's identity for trace headers: the package version and, when known, the git commit. */

import denoJson from "../../deno.json" with { type: "json" };

const EMULATOR_VERSION: string = denoJson.version;

/** The emulator identity this build records in a trace header. */
export function thisBuild(): { version: string; commit: string | null } {
  return { version: EMULATOR_VERSION, commit: gitCommit() };
}

const CHECKOUT = new URL("../../", import.meta.url);

/**
 * The git commit of the checkout at `checkout` (default: the one this runs from), read from
 * .git directly — a clone's .git directory or a worktree's .git file — or null.
 */
export function gitCommit(checkout: URL = CHECKOUT): string | null {
  try {
    let gitDir = new URL(".git/", checkout);
    const dotGit = Deno.statSync(new URL(".git", checkout));
    if (dotGit.isFile) {
      // A worktree: ".git" is a file naming its git directory ("gitdir: PATH").
      const m = /^gitdir: (.+)$/m.exec(Deno.readTextFileSync(new URL(".git", checkout)));
      if (m === null) return null;
      gitDir = new URL(m[1]!.trim().replace(/\/?$/, "/"), checkout);
    }
    // Refs live in the common directory, which a worktree's git directory names in "commondir".
    let common = gitDir;
    try {
      const c = Deno.readTextFileSync(new URL("commondir", gitDir)).trim();
      common = new URL(c.replace(/\/?$/, "/"), gitDir);
    } catch {
      // Not a worktree.
    }
    const head = Deno.readTextFileSync(new URL("HEAD", gitDir)).trim();
    if (!head.startsWith("ref: ")) return /^[0-9a-f]{40}$/.test(head) ? head : null;
    const ref = head.slice(5);
    for (const dir of [gitDir, common]) {
      try {
        return Deno.readTextFileSync(new URL(ref, dir)).trim();
      } catch {
        // Not a loose ref here.
      }
    }
    const packed = Deno.readTextFileSync(new URL("packed-refs", common));
    const line = packed.split("\n").find((l) => l.endsWith(" " + ref));
    return line ? line.split(" ")[0]! : null;
  } catch {
    return null;
  }
}
