/**
 * The `checkpoint` state hash: a 64-bit hash (two independent 32-bit FNV-1a/murmur-mixed lanes)
 * over every VP's registers and per-VTL contexts, guest memory, and device and hypervisor state.
 * Memory is hashed page by page with a cache: only pages written since the last checkpoint are
 * rehashed (GuestMemory.dirty), so a checkpoint costs little in a long run.
 */

import { PAGE_SIZE } from "../memory/guest_memory.ts";
import type { GuestMemory } from "../memory/guest_memory.ts";

export class Hasher {
  a = 0x811c9dc5 | 0;
  b = 0x12345678 | 0;

  word(v: number): void {
    v |= 0;
    this.a = Math.imul(this.a ^ v, 0x01000193);
    let k = Math.imul(v, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    this.b ^= Math.imul(k, 0x1b873593);
    this.b = Math.imul((this.b << 13) | (this.b >>> 19), 5) + 0xe6546b64 | 0;
  }

  num(n: number): void {
    this.word(n | 0);
    this.word(Math.floor(n / 4294967296) | 0);
  }

  words(arr: ArrayLike<number>): void {
    for (let i = 0; i < arr.length; i++) this.word(arr[i]!);
  }

  str(s: string): void {
    this.word(s.length);
    for (let i = 0; i < s.length; i++) this.word(s.charCodeAt(i));
  }

  /** Canonical JSON-ish hashing of plain values (device snapshots). */
  value(v: unknown): void {
    if (v === null || v === undefined) this.word(0x7f7f7f7f);
    else if (typeof v === "number") this.num(v);
    else if (typeof v === "boolean") this.word(v ? 1 : 2);
    else if (typeof v === "string") this.str(v);
    else if (Array.isArray(v)) {
      this.word(v.length);
      for (const x of v) this.value(x);
    } else if (typeof v === "object") {
      const keys = Object.keys(v as object).sort();
      this.word(keys.length);
      for (const k of keys) {
        this.str(k);
        this.value((v as Record<string, unknown>)[k]);
      }
    }
  }

  hex(): string {
    return (this.a >>> 0).toString(16).padStart(8, "0") +
      (this.b >>> 0).toString(16).padStart(8, "0");
  }
}

function hashPage(u32: Uint32Array, page: number): number {
  let h = 0x811c9dc5 | 0;
  const start = page * (PAGE_SIZE / 4), end = start + PAGE_SIZE / 4;
  for (let i = start; i < end; i++) {
    h = Math.imul(h ^ u32[i]!, 0x01000193);
    h ^= h >>> 15;
  }
  return h;
}

/** Incremental hash of guest memory (RAM and overlay pages). */
export class MemoryHash {
  readonly #mem: GuestMemory;
  readonly #u32: Uint32Array;
  readonly #pageHash: Int32Array;

  constructor(mem: GuestMemory) {
    this.#mem = mem;
    this.#u32 = new Uint32Array(mem.buffer);
    // Every write path marks its page dirty (GuestMemory.touch), so a page not dirty now has
    // never been written and is still zero: start from the zero page's hash instead of hashing
    // all of RAM at the first checkpoint (1.8 s at 3 GiB). Dirty pages are hashed as usual.
    this.#pageHash = new Int32Array(mem.totalPages).fill(
      hashPage(new Uint32Array(PAGE_SIZE / 4), 0),
    );
  }

  /** Rehashes dirty pages, clears the dirty map, and feeds the page hashes into `h`. */
  update(h: Hasher): void {
    const dirty = this.#mem.dirty;
    for (let p = 0; p < dirty.length; p++) {
      if (dirty[p] !== 0) {
        this.#pageHash[p] = hashPage(this.#u32, p);
        dirty[p] = 0;
      }
    }
    h.words(this.#pageHash);
  }
}
