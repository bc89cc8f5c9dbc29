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

/**
 * Live bytes offered every `interval` instructions, as many as the UART can take. Bytes are
 * appended with `push` (a file's contents up front, stdin as it arrives).
 */
export class LiveInput implements InputSource {
  readonly interval: number;
  #buf: number[] = [];
  #closed = false;
  /** The poll instant already served: the next deadline is after it, even if nothing fit. */
  #polled = -1;

  constructor(interval: number) {
    this.interval = interval;
  }

  push(bytes: Uint8Array): void {
    for (const b of bytes) this.#buf.push(b);
  }

  close(): void {
    this.#closed = true;
  }

  get exhausted(): boolean {
    return this.#closed && this.#buf.length === 0;
  }

  get pending(): number {
    return this.#buf.length;
  }

  nextDeadline(now: number): number {
    if (this.exhausted) return Infinity;
    const t = Math.ceil(now / this.interval) * this.interval;
    return t === this.#polled ? t + this.interval : t;
  }

  fetch(now: number, space: number): Uint8Array | null {
    if (now % this.interval !== 0) return null;
    this.#polled = now;
    if (space <= 0 || this.#buf.length === 0) return null;
    return Uint8Array.from(this.#buf.splice(0, space));
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
