/**
 * Robustness: truncated and corrupted images only ever produce a `LoadError` (one line, naming the
 * file) or a valid plan (writes inside guest memory, not overlapping) - never another exception.
 */

import assert from "node:assert/strict";
import type { LoadPlan } from "../boot_state.ts";
import { loadImage } from "./detect.ts";
import { loadElf } from "./elf.ts";
import { LoadError } from "./errors.ts";
import { loadLinuxBzImage, loadLinuxPvh, XEN_ELFNOTE_PHYS32_ENTRY } from "./linux.ts";
import { loadMultiboot } from "./multiboot.ts";
import type { LoadOptions } from "./plan.ts";
import {
  buildBzImage,
  buildElf,
  checkPlanInvariants,
  elfNote,
  multibootHeader,
  options,
} from "./testing.ts";

const MEM = 32 << 20;
const NAME = "fuzz.img";
type Loader = (o: LoadOptions) => LoadPlan;

const code = new Uint8Array(96).map((_, i) => (i * 37) & 0xff);
const withHeader = (h: Uint8Array) => new Uint8Array([...h, ...code]);
const pvhNote = elfNote("Xen", XEN_ELFNOTE_PHYS32_ENTRY, new Uint8Array([0, 0, 0x10, 0]));

const IMAGES: [string, Uint8Array, Loader][] = [
  [
    "multiboot ELF32",
    buildElf({
      cls: 32,
      entry: 0x100000,
      segments: [
        { paddr: 0x100000, data: withHeader(multibootHeader(3)) },
        { paddr: 0x101000, data: code.subarray(0, 16), memsz: 0x800 },
      ],
    }),
    loadMultiboot,
  ],
  [
    "multiboot ELF64",
    buildElf({
      cls: 64,
      entry: 0xffffffff80100010n,
      segments: [{
        paddr: 0x100000,
        vaddr: 0xffffffff80100000n,
        data: withHeader(multibootHeader(3)),
        memsz: 0x1000,
      }],
    }),
    loadMultiboot,
  ],
  [
    "multiboot a.out kludge",
    withHeader(multibootHeader(0x10003, {
      headerAddr: 0x200000,
      loadAddr: 0x200000,
      loadEndAddr: 0x200040,
      bssEndAddr: 0x201000,
      entryAddr: 0x200020,
    })),
    loadMultiboot,
  ],
  [
    "bzImage 64-bit",
    buildBzImage({ kernel: code, setupSects: 1, initSize: 0x10000 }),
    loadLinuxBzImage,
  ],
  [
    "bzImage 32-bit",
    buildBzImage({ kernel: code, setupSects: 1, xloadflags: 0, prefAddress: 0 }),
    loadLinuxBzImage,
  ],
  [
    "PVH vmlinux",
    buildElf({
      cls: 64,
      entry: 0xffffffff81000000n,
      segments: [
        { paddr: 0x100000, vaddr: 0xffffffff81000000n, data: code, memsz: 0x2000 },
        { type: 4, paddr: 0, data: pvhNote, align: 4 },
      ],
    }),
    loadLinuxPvh,
  ],
  [
    "plain ELF32",
    buildElf({ cls: 32, entry: 0x100000, segments: [{ paddr: 0x100000, data: code }] }),
    loadElf,
  ],
  [
    "plain ELF64",
    buildElf({ cls: 64, entry: 0x100000, segments: [{ paddr: 0x100000, data: code }] }),
    loadElf,
  ],
];

/** Load options; plain ELF kernels take no initrd. */
function opts(image: Uint8Array, loader?: Loader): LoadOptions {
  return options(NAME, image, {
    memBytes: MEM,
    cmdline: "console=ttyS0",
    initrd: loader === loadElf ? undefined : { name: "rd.img", bytes: code },
  });
}

/** Runs a loader; returns "plan" or "error", failing the test on anything else. */
function attempt(
  load: Loader,
  image: Uint8Array,
  what: string,
  family: Loader = load,
): "plan" | "error" {
  let plan: LoadPlan;
  try {
    plan = load(opts(image, family));
  } catch (e) {
    if (!(e instanceof LoadError)) {
      assert.fail(`${what}: ${e instanceof Error ? e.stack : String(e)}`);
    }
    assert.ok(e.message.startsWith(`Cannot load guest ${NAME}: `), `${what}: ${e.message}`);
    assert.ok(!/[\n\r]/.test(e.message), `${what}: multi-line message`);
    return "error";
  }
  assert.equal(checkPlanInvariants(plan, MEM), null, what);
  assert.ok(Number.isSafeInteger(plan.entry.rip) && plan.entry.rip >= 0, what);
  return "plan";
}

/** A small deterministic PRNG (xorshift32). */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

for (const [label, image, loader] of IMAGES) {
  Deno.test(`fuzz ${label}: the intact image loads`, () => {
    assert.equal(attempt(loader, image, "intact"), "plan");
    assert.equal(attempt(loadImage, image, "intact (detected)", loader), "plan");
  });

  Deno.test(`fuzz ${label}: truncated at every offset`, () => {
    for (let n = 0; n < image.length; n++) {
      const t = image.subarray(0, n);
      attempt(loader, t, `truncated to ${n}`);
      attempt(loadImage, t, `truncated to ${n} (detected)`, loader);
    }
  });

  Deno.test(`fuzz ${label}: every byte flipped (masks 0x01, 0x80, 0xff)`, () => {
    for (let i = 0; i < image.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const b = image.slice();
        b[i]! ^= mask;
        attempt(loader, b, `byte ${i} ^ ${mask}`);
        attempt(loadImage, b, `byte ${i} ^ ${mask} (detected)`, loader);
      }
    }
  });

  Deno.test(`fuzz ${label}: random multi-byte corruption`, () => {
    const next = rng(label.length * 7919 + image.length);
    for (let k = 0; k < 3000; k++) {
      const b = image.slice();
      const n = 1 + (next() % 6);
      for (let j = 0; j < n; j++) b[next() % b.length] = next() & 0xff;
      const cut = next() % 4 === 0 ? next() % (b.length + 1) : b.length;
      attempt(loader, b.subarray(0, cut), `iteration ${k}`);
      attempt(loadImage, b.subarray(0, cut), `iteration ${k} (detected)`, loader);
    }
  });
}

Deno.test("fuzz: bad load options are LoadErrors too", () => {
  const image = IMAGES[0]![1];
  const bad: Partial<LoadOptions>[] = [
    { memBytes: NaN },
    { memBytes: 2 ** 40 },
    { memBytes: -1 },
    { e820: [] },
    { e820: null as never },
    { e820: [{ addr: -1, size: 1, type: 1 }] },
    { cmdline: 5 as never },
    { cmdline: "a\0b" },
    { initrd: { name: "x", bytes: null as never } },
    { initrd: null as never },
    { image: undefined as never },
  ];
  for (const b of bad) {
    for (const load of [loadMultiboot, loadLinuxBzImage, loadLinuxPvh, loadElf, loadImage]) {
      assert.throws(() => load({ ...opts(image, load), ...b }), LoadError, JSON.stringify(b));
    }
  }
  assert.throws(() => loadImage(undefined as never), LoadError);
});
