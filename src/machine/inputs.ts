/**
 * Inputs from outside the guest — the only source of nondeterminism, and the only module of the
 * core allowed to see host input. A `live` source is polled at fixed instruction intervals and
 * whatever it yields is recorded as `input` events; a `scheduled` source replays recorded input
 * events at their exact instruction counts.
 */

export interface InputSource {
  /** The next instruction count at which the machine must consult this source (≥ now). */
  nextDeadline(now: number): number;
  /** Bytes to deliver to the serial port at `now`, at most `space` unless scheduled. */
  fetch(now: number, space: number): Uint8Array | null;
  /** True when nothing more can ever arrive. */
  readonly exhausted: boolean;
  /** Sees every byte the guest writes to a console (for prompt-paced input). */
  onConsole?(byte: number): void;
}

/** No input at all. */
export class NoInput implements InputSource {
  readonly exhausted = true;
  nextDeadline(): number {
    return Infinity;
  }
  fetch(): Uint8Array | null {
    return null;
  }
}

/** A FIFO of bytes: append at the end, take from the front, both in O(length taken). */
class ByteQueue {
  #b = new Uint8Array(256);
  #start = 0;
  #end = 0;

  get length(): number {
    return this.#end - this.#start;
  }

  push(bytes: Uint8Array): void {
    if (this.#end + bytes.length > this.#b.length) {
      // Compact to the front, growing (doubling) when the bytes would not fit anyway.
      const n = this.length;
      if (n + bytes.length > this.#b.length) {
        const to = new Uint8Array(Math.max(2 * this.#b.length, n + bytes.length));
        to.set(this.#b.subarray(this.#start, this.#end));
        this.#b = to;
      } else this.#b.copyWithin(0, this.#start, this.#end);
      this.#start = 0;
      this.#end = n;
    }
    this.#b.set(bytes, this.#end);
    this.#end += bytes.length;
  }

  /** Removes and returns the first `n` bytes (at most what there is). */
  take(n: number): Uint8Array {
    const k = Math.min(n, this.length);
    const out = this.#b.slice(this.#start, this.#start + k);
    this.#start += k;
    return out;
  }

  /** Index (from the front) of the first byte equal to `b`, or -1. */
  indexOf(b: number): number {
    return this.#b.subarray(this.#start, this.#end).indexOf(b);
  }
}

/**
 * Live bytes offered every `interval` instructions, as many as the UART can take. Bytes are
 * appended with `push` (a file's contents up front, stdin as it arrives).
 *
 * With a `prompt`, input is paced like a person typing at a shell: pushed bytes are held, and
 * each time the guest's console output ends with the prompt, the next held line (through its
 * newline) is released to the UART. Bytes offered before a guest opens its serial port would
 * otherwise be lost (Linux resets the FIFO when it opens ttyS0). The recorded `input` events
 * carry the exact instruction counts, so replay does not depend on this pacing.
 */
export class LiveInput implements InputSource {
  readonly interval: number;
  readonly #buf = new ByteQueue();
  #closed = false;
  /** The poll instant already served: the next deadline is after it, even if nothing fit. */
  #polled = -1;
  readonly #prompt: number[] | null;
  readonly #held = new ByteQueue();
  #tail: number[] = [];

  constructor(interval: number, prompt?: string) {
    this.interval = interval;
    this.#prompt = prompt ? [...new TextEncoder().encode(prompt)] : null;
  }

  push(bytes: Uint8Array): void {
    (this.#prompt ? this.#held : this.#buf).push(bytes);
  }

  onConsole(byte: number): void {
    const p = this.#prompt;
    if (p === null) return;
    this.#tail.push(byte);
    if (this.#tail.length > p.length) this.#tail.shift();
    if (this.#tail.length !== p.length || this.#held.length === 0) return;
    for (let i = 0; i < p.length; i++) if (this.#tail[i] !== p[i]) return;
    const nl = this.#held.indexOf(10);
    this.#buf.push(this.#held.take(nl < 0 ? this.#held.length : nl + 1));
    this.#tail.length = 0;
  }

  close(): void {
    this.#closed = true;
  }

  get exhausted(): boolean {
    return this.#closed && this.#buf.length === 0 && this.#held.length === 0;
  }

  get pending(): number {
    return this.#buf.length + this.#held.length;
  }

  nextDeadline(now: number): number {
    if (this.exhausted) return Infinity;
    // The first poll instant is `interval`, not 0: no guest has set up its UART before its first
    // instruction, and the FIFO enable every driver starts with would discard the bytes
    // (PC16550D §8.4, uart16550.ts).
    const t = Math.max(this.interval, Math.ceil(now / this.interval) * this.interval);
    return t === this.#polled ? t + this.interval : t;
  }

  fetch(now: number, space: number): Uint8Array | null {
    if (now % this.interval !== 0) return null;
    this.#polled = now;
    if (space <= 0 || this.#buf.length === 0) return null;
    return this.#buf.take(space);
  }
}

export interface ScheduledInput {
  readonly icount: number;
  readonly data: Uint8Array;
}

/** Recorded inputs re-injected at their instruction counts (replay). */
export class ScheduledInputs implements InputSource {
  readonly #items: ScheduledInput[];
  #next = 0;

  constructor(items: ScheduledInput[]) {
    this.#items = items;
  }

  get exhausted(): boolean {
    return this.#next >= this.#items.length;
  }

  nextDeadline(now: number): number {
    const it = this.#items[this.#next];
    return it === undefined ? Infinity : Math.max(it.icount, now);
  }

  fetch(now: number): Uint8Array | null {
    const it = this.#items[this.#next];
    if (it === undefined || it.icount > now) return null;
    this.#next++;
    return it.data;
  }
}
