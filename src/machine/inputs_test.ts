import assert from "node:assert/strict";
import { DEFAULT_CONFIG, validateConfig } from "./config.ts";
import { LiveInput } from "./inputs.ts";
import { flatLoader } from "./loader.ts";
import { Machine } from "./machine.ts";

Deno.test("LiveInput: a poll instant is served once, even when the UART had no room", () => {
  const li = new LiveInput(100);
  li.push(Uint8Array.of(1, 2, 3));
  li.close();
  assert.equal(li.nextDeadline(50), 100);
  assert.equal(li.nextDeadline(100), 100);
  assert.equal(li.fetch(100, 0), null); // no room
  assert.equal(li.nextDeadline(100), 200); // not 100 again
  assert.deepEqual(li.fetch(200, 2), Uint8Array.of(1, 2));
  assert.equal(li.nextDeadline(200), 300);
  assert.deepEqual(li.fetch(300, 16), Uint8Array.of(3));
  assert.equal(li.nextDeadline(300), Infinity); // exhausted
});

Deno.test("a halted guest with input the UART cannot take: time still advances", () => {
  // cli; hlt — the guest never reads COM1, so its receive buffer fills and the rest waits.
  const config = validateConfig({
    ...DEFAULT_CONFIG,
    loader: { kind: "flat", load: 0x100000, entry: 0x100000 },
  });
  const input = new LiveInput(config.inputPollInterval);
  input.push(new Uint8Array(64).fill(0x41));
  input.close();
  const m = new Machine(
    config,
    flatLoader("t", Uint8Array.of(0xfa, 0xf4), 0x100000, 0x100000),
    { event() {} },
    input,
  );
  m.run(1_000_000); // used to spin forever at the first poll after the buffer filled
  assert.equal(m.icount, 1_000_000);
  assert.equal(m.exit, null);
});

Deno.test("LiveInput with a prompt: one line released per prompt seen on the console", () => {
  const li = new LiveInput(10, "# ");
  li.push(new TextEncoder().encode("ls\nuname -r\n"));
  li.close();
  assert.equal(li.exhausted, false);
  assert.equal(li.fetch(10, 16), null); // nothing released before the prompt
  for (const b of new TextEncoder().encode("boot...\n~ # ")) li.onConsole(b);
  assert.deepEqual(new TextDecoder().decode(li.fetch(20, 16)!), "ls\n");
  assert.equal(li.fetch(30, 16), null);
  for (const b of new TextEncoder().encode("bin dev\n~ # ")) li.onConsole(b);
  assert.deepEqual(new TextDecoder().decode(li.fetch(40, 16)!), "uname -r\n");
  assert.equal(li.exhausted, true);
});

Deno.test("LiveInput: the first poll instant is one interval in, not instruction 0", () => {
  const li = new LiveInput(100);
  li.push(Uint8Array.of(0x68));
  assert.equal(li.nextDeadline(0), 100);
  assert.deepEqual(li.fetch(100, 16), Uint8Array.of(0x68));
});

Deno.test("LiveInput: bytes come out in order across buffer growth and compaction", () => {
  const li = new LiveInput(1);
  const all: number[] = [], got: number[] = [];
  let t = 1, next = 0;
  for (let round = 0; round < 50; round++) {
    const chunk = Uint8Array.from({ length: 37 * (round % 7) + 1 }, () => next++ & 0xff);
    all.push(...chunk);
    li.push(chunk);
    for (let k = 0; k < 3; k++) got.push(...(li.fetch(t++, 16) ?? []));
  }
  li.close();
  while (!li.exhausted) got.push(...(li.fetch(t++, 16) ?? []));
  assert.deepEqual(got, all);
});
