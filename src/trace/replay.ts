/**
 * Replay verification: the events a re-execution produces are compared, in order and field by
 * field, with the recorded ones. The machine emits synchronously; recorded events are read
 * lazily from the trace. The first mismatch is kept as a DivergenceReport.
 */

import type { EventSink, TraceEvent } from "../core/events.ts";
import { compareEvents, type DivergenceReport } from "./compare.ts";

export class ReplayVerifier implements EventSink {
  readonly #expected: AsyncIterator<TraceEvent>;
  readonly #k: number;
  readonly #queue: TraceEvent[] = [];
  readonly #recent: TraceEvent[] = [];
  divergence: DivergenceReport | null = null;
  matched = 0;
  #ended = false;
  /** Also receives every produced event (e.g. a TraceWriter for `replay --out`). */
  tee: EventSink | null = null;

  /** A recorded trace that was cut short: events past its end are not a divergence. */
  readonly #truncated: boolean;

  constructor(expected: AsyncIterator<TraceEvent>, k = 5, truncated = false) {
    this.#expected = expected;
    this.#k = k;
    this.#truncated = truncated;
  }

  event(e: TraceEvent): void {
    this.tee?.event(e);
    if (this.divergence === null) this.#queue.push(e);
  }

  /** True when the recorded trace has no more events. */
  get recordedEnded(): boolean {
    return this.#ended;
  }

  /** Compares all produced events so far. Returns false once diverged. */
  async drain(): Promise<boolean> {
    const q = this.#queue;
    for (let qi = 0; qi < q.length && this.divergence === null; qi++) {
      const actual = q[qi]!;
      const n = this.#ended ? null : await this.#expected.next();
      if (n === null || n.done) {
        this.#ended = true;
        if (!this.#truncated) this.#diverge(null, actual);
        break;
      }
      const expected = n.value;
      const diffs = compareEvents(expected, actual);
      if (diffs.length > 0) {
        this.divergence = {
          seq: expected.seq,
          expected,
          actual,
          fields: diffs,
          before: [...this.#recent],
        };
        break;
      }
      this.matched++;
      this.#recent.push(actual);
      if (this.#recent.length > this.#k) this.#recent.shift();
    }
    this.#queue.length = 0;
    return this.divergence === null;
  }

  /** After the run: any recorded events left over are a divergence. */
  async finish(): Promise<void> {
    await this.drain();
    if (this.divergence !== null || this.#ended) return;
    const n = await this.#expected.next();
    if (!n.done) this.#diverge(n.value, null);
    else this.#ended = true;
  }

  #diverge(expected: TraceEvent | null, actual: TraceEvent | null): void {
    this.divergence = {
      seq: (expected ?? actual)!.seq,
      expected,
      actual,
      fields: [],
      before: [...this.#recent],
    };
  }
}
