/**
 * Per-VTL memory protections (TLFS §15.9, spec/vsm.md §5.1). A VTL m ≥ 1 that has enabled VTL
 * protection owns a mask per guest RAM page (HV_MAP_GPA_FLAGS bits: R=1, W=2, KX=4, UX=8) that
 * restricts every lower VTL. The rights of VTL n on a page are the intersection of the masks of
 * all protecting VTLs above n. Until a VTL enables protection it restricts nothing.
 */

import type { Vtl } from "../core/vtl.ts";

export const PROT_R = 1, PROT_W = 2, PROT_KX = 4, PROT_UX = 8, PROT_ALL = 0xf;

export class VtlProtections {
  readonly pages: number;
  /** Mask arrays indexed by the owning VTL; null = that VTL enforces nothing. */
  readonly #masks: (Uint8Array | null)[] = new Array(16).fill(null);
  #highestOwner = 0;

  constructor(pages: number) {
    this.pages = pages;
  }

  /** Starts enforcement by `owner` with every page set to `defaultMask`. */
  enable(owner: Vtl, defaultMask: number): void {
    if (this.#masks[owner] !== null) return;
    this.#masks[owner] = new Uint8Array(this.pages).fill(defaultMask & PROT_ALL);
    if (owner > this.#highestOwner) this.#highestOwner = owner;
  }

  isEnabled(owner: Vtl): boolean {
    return this.#masks[owner] !== null;
  }

  /** Sets `owner`'s mask for one page. The caller validated `gpn` and the flags. */
  set(owner: Vtl, gpn: number, mask: number): void {
    const m = this.#masks[owner];
    if (m === null) throw new Error(`VTL ${owner} has not enabled protection`);
    m[gpn] = mask & PROT_ALL;
  }

  get(owner: Vtl, gpn: number): number {
    const m = this.#masks[owner];
    return m === null ? PROT_ALL : m[gpn]!;
  }

  /** Effective rights of VTL `vtl` on RAM page `gpn`. */
  effective(vtl: Vtl, gpn: number): number {
    let r = PROT_ALL;
    for (let m = vtl + 1; m <= this.#highestOwner; m++) {
      const a = this.#masks[m];
      if (a !== null) r &= a[gpn]!;
    }
    return r;
  }

  /** Owners with masks, ascending. */
  owners(): number[] {
    const out: number[] = [];
    for (let m = 1; m < 16; m++) if (this.#masks[m] !== null) out.push(m);
    return out;
  }

  /** The raw mask array of an owner (for state hashing / snapshots). */
  maskArray(owner: number): Uint8Array | null {
    return this.#masks[owner] ?? null;
  }
}

/**
 * Valid protection masks (spec §5.1, OpenVMM validate_vtl_gpa_flags): 0 (no access) or readable;
 * kernel execute only together with user execute, and the two may differ only with MBEC.
 */
export function validMask(mask: number, mbec: boolean): boolean {
  if (mask & ~0xf) return false;
  if (mask === 0) return true;
  if (!(mask & PROT_R)) return false;
  const kx = (mask & PROT_KX) !== 0, ux = (mask & PROT_UX) !== 0;
  if (kx && !ux) return false;
  return mbec || kx === ux;
}
