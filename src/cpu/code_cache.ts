/**
 * The decode cache: blocks of pre-bound ops keyed by guest physical address (host offset) and
 * mode, shared by all VPs. A block never crosses more than one page boundary; writes to a page
 * holding blocks invalidate the overlapping ones (self-modifying code), via GuestMemory's code
 * map. Decoding is deterministic and never changes guest-visible behaviour.
 */

import { Mnemonic } from "iced-x86";
import type { GuestMemory } from "../memory/guest_memory.ts";
import { PAGE_SIZE } from "../memory/guest_memory.ts";
import type { Block, Cpu, Op } from "./cpu.ts";
import { decodeRun } from "./decode.ts";
import { FLOW_CONDITIONAL, type Insn } from "./insn.ts";
import { builderFor, isIsolated, udOp } from "./ops/registry.ts";
import "./ops/all.ts";
import "./jit/snippets.ts";

const MAX_BLOCK = 64;

export class CodeCache {
  readonly #mem: GuestMemory;
  readonly #byStart = new Map<number, Block>();
  readonly #byPage = new Map<number, Block[]>();
  /** Mnemonics decoded without an implementation (they raise #UD), with counts. */
  readonly unimplemented = new Map<string, number>();
  blocksBuilt = 0;

  constructor(mem: GuestMemory) {
    this.#mem = mem;
    mem.onCodeWrite = (page, off, len) => this.invalidate(page, off, len);
  }

  /** Returns the block starting at host offset `pa` for `rip` in the CPU's mode, decoding it if needed. */
  lookup(cpu: Cpu, pa: number, rip: number, lin: number): Block {
    const key = pa * 4 + (cpu.modeKey === 64 ? 2 : cpu.modeKey === 32 ? 1 : 0);
    const b = this.#byStart.get(key);
    if (b !== undefined && b.rip === rip) {
      // An instruction crossing into the next page: that page's translation may have changed.
      if (b.pages.length === 1) return b;
      const pa2 = cpu.fetchAddr(lin + (PAGE_SIZE - b.startOff));
      if (Math.floor(pa2 / PAGE_SIZE) === b.pages[1]) return b;
    }
    if (b !== undefined) this.#remove(b);
    const nb = this.#build(cpu, pa, rip, lin);
    this.#byStart.set(key, nb);
    for (const p of nb.pages) {
      let list = this.#byPage.get(p);
      if (list === undefined) this.#byPage.set(p, list = []);
      list.push(nb);
      this.#mem.code[p] = 1;
    }
    return nb;
  }

  #build(cpu: Cpu, pa: number, rip: number, lin: number): Block {
    this.blocksBuilt++;
    const bits = cpu.bits;
    const page = Math.floor(pa / PAGE_SIZE);
    const off = pa % PAGE_SIZE;
    const u8 = cpu.u8;
    let run = decodeRun(
      u8.subarray(pa, page * PAGE_SIZE + PAGE_SIZE),
      rip,
      bits,
      MAX_BLOCK,
      endsBlock,
      isIsolated,
    );
    const pages = [page];
    let endOff = off;
    if (run.insns.length === 0 && run.truncated) {
      // The first instruction crosses into the next page: fetch it (may fault, correctly).
      const nextLin = lin + (PAGE_SIZE - off);
      const pa2 = cpu.fetchAddr(nextLin);
      const tail = PAGE_SIZE - off;
      const buf = new Uint8Array(tail + 15);
      buf.set(u8.subarray(pa, pa + tail), 0);
      buf.set(u8.subarray(pa2, pa2 + 15), tail);
      run = decodeRun(buf, rip, bits, 1, () => true, () => false);
      pages.push(Math.floor(pa2 / PAGE_SIZE));
      endOff = PAGE_SIZE; // first page fully covered from off; second page prefix
    }
    const ops: Op[] = [];
    const rips: number[] = [];
    let len = 0;
    for (const d of run.insns) {
      ops.push(this.#semantics(d));
      rips.push(d.rip);
      len += d.len;
    }
    if (run.invalidAt >= 0 || ops.length === 0) {
      ops.push(udOp());
      rips.push(ops.length === 1 ? rip : run.insns[run.insns.length - 1]!.next);
      len += 1;
    }
    // A conditional branch inside the block ends it when taken (see endsBlock).
    for (let k = 0; k < ops.length - 1; k++) {
      const d = run.insns[k]!;
      if (d.flow === FLOW_CONDITIONAL) ops[k] = exitIfTaken(ops[k]!, d.next);
    }
    if (pages.length === 1) endOff = Math.min(PAGE_SIZE, off + len);
    return {
      rip,
      mode: cpu.modeKey,
      pa,
      ops,
      rips: Float64Array.from(rips),
      n: ops.length,
      valid: true,
      hits: 0,
      fn: null,
      insns: run.insns,
      pages,
      startOff: off,
      endOff: pages.length === 1 ? endOff : (off + len) - PAGE_SIZE,
    };
  }

  #semantics(d: Insn): Op {
    const b = builderFor(d.mnemonic);
    if (b === undefined) {
      const name = Mnemonic[d.mnemonic] ?? String(d.mnemonic);
      this.unimplemented.set(name, (this.unimplemented.get(name) ?? 0) + 1);
      return udOp();
    }
    return b(d);
  }

  /** Invalidates blocks overlapping [off, off+len) of host page `page`. */
  invalidate(page: number, off: number, len: number): void {
    const list = this.#byPage.get(page);
    if (list === undefined) {
      this.#mem.code[page] = 0;
      return;
    }
    const end = off + len;
    // Backwards: #remove takes blocks out of `list` without moving the ones before them.
    for (let k = list.length - 1; k >= 0; k--) {
      const b = list[k]!;
      let s: number, e: number;
      if (b.pages[0] === page) {
        s = b.startOff;
        e = b.pages.length === 2 ? PAGE_SIZE : b.endOff;
      } else {
        s = 0;
        e = b.endOff;
      }
      if (off < e && end > s) this.#remove(b);
    }
  }

  #remove(b: Block): void {
    b.valid = false;
    const key = b.pa * 4 + (b.mode === 64 ? 2 : b.mode === 32 ? 1 : 0);
    if (this.#byStart.get(key) === b) this.#byStart.delete(key);
    for (const p of b.pages) {
      const list = this.#byPage.get(p);
      if (list === undefined) continue;
      const i = list.indexOf(b);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) {
        this.#byPage.delete(p);
        this.#mem.code[p] = 0;
      }
    }
  }

  /** Drops every block (e.g. after restoring a snapshot). */
  clear(): void {
    for (const list of this.#byPage.values()) for (const b of list) b.valid = false;
    for (const p of this.#byPage.keys()) this.#mem.code[p] = 0;
    this.#byPage.clear();
    this.#byStart.clear();
  }
}

/**
 * Whether a block ends after `d`: after control transfers and isolated instructions, but not
 * after a conditional branch, which leaves the block only when taken (fewer, longer blocks).
 */
function endsBlock(d: Insn): boolean {
  return (d.flow !== 0 && d.flow !== FLOW_CONDITIONAL) || isIsolated(d);
}

/** A conditional branch inside a block: stops the block (`brk`) when it is taken. */
function exitIfTaken(op: Op, next: number): Op {
  return (c) => {
    op(c);
    if (c.rip !== next) c.brk = true;
  };
}
