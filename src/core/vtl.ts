/**
 * Virtual Trust Levels (TLFS §15.2). A VTL is a small integer 0..15, but code handles it through
 * the `Vtl` brand so a VTL can never be confused with a VP index, a vector or a count.
 */

declare const vtlBrand: unique symbol;

/** A Virtual Trust Level, 0 (normal world) .. 15 (architectural maximum). */
export type Vtl = number & { readonly [vtlBrand]: true };

/** Architectural number of VTLs (TLFS: HV_VTL is 4 bits wide). */
export const VTL_COUNT_MAX = 16;

export const Vtl0 = 0 as Vtl;
export const Vtl1 = 1 as Vtl;
export const Vtl2 = 2 as Vtl;

/** Converts a number to a `Vtl`, throwing a RangeError outside 0..15 (a host bug, not guest input). */
export function vtl(n: number): Vtl {
  if (!Number.isInteger(n) || n < 0 || n >= VTL_COUNT_MAX) {
    throw new RangeError(`not a VTL: ${n}`);
  }
  return n as Vtl;
}

/** Validates a guest-supplied VTL number without throwing. */
export function isVtl(n: number): n is Vtl {
  return Number.isInteger(n) && n >= 0 && n < VTL_COUNT_MAX;
}

/**
 * A fixed-size container with one slot per VTL 0..count-1, indexed only by `Vtl`.
 * Iteration order is ascending VTL, always.
 */
export class VtlArray<T> {
  readonly #items: T[];

  constructor(readonly count: number, init: (v: Vtl) => T) {
    if (count < 1 || count > VTL_COUNT_MAX) throw new RangeError(`bad VTL count ${count}`);
    this.#items = [];
    for (let i = 0; i < count; i++) this.#items.push(init(i as Vtl));
  }

  get(v: Vtl): T {
    const x = this.#items[v];
    if (x === undefined) throw new RangeError(`VTL ${v} out of range (count ${this.count})`);
    return x;
  }

  set(v: Vtl, value: T): void {
    if (v >= this.count) throw new RangeError(`VTL ${v} out of range (count ${this.count})`);
    this.#items[v] = value;
  }

  has(v: number): v is Vtl {
    return Number.isInteger(v) && v >= 0 && v < this.count;
  }

  *entries(): IterableIterator<[Vtl, T]> {
    for (let i = 0; i < this.count; i++) yield [i as Vtl, this.#items[i]!];
  }

  *values(): IterableIterator<T> {
    for (let i = 0; i < this.count; i++) yield this.#items[i]!;
  }
}
