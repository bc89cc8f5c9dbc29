import assert from "node:assert/strict";
import {
  gzip,
  initramfsEntries,
  newcArchive,
  S_IFCHR,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
} from "./mkinitramfs.ts";

interface Parsed {
  name: string;
  ino: number;
  mode: number;
  nlink: number;
  mtime: number;
  rdev: [number, number];
  data: Uint8Array;
}

/** An independent newc reader (buffer-format.rst). */
function parseNewc(b: Uint8Array): Parsed[] {
  const dec = new TextDecoder();
  const out: Parsed[] = [];
  let o = 0;
  for (;;) {
    assert.equal(dec.decode(b.subarray(o, o + 6)), "070701", `magic at ${o}`);
    const f = (i: number) => parseInt(dec.decode(b.subarray(o + 6 + i * 8, o + 14 + i * 8)), 16);
    const namesize = f(11), filesize = f(6);
    const name = dec.decode(b.subarray(o + 110, o + 110 + namesize - 1));
    assert.equal(b[o + 110 + namesize - 1], 0);
    const dataAt = Math.ceil((o + 110 + namesize) / 4) * 4;
    const e = {
      name,
      ino: f(0),
      mode: f(1),
      nlink: f(4),
      mtime: f(5),
      rdev: [f(9), f(10)] as [number, number],
      data: b.subarray(dataAt, dataAt + filesize),
    };
    o = Math.ceil((dataAt + filesize) / 4) * 4;
    if (name === "TRAILER!!!") {
      assert.equal(o, b.length);
      return out;
    }
    out.push(e);
  }
}

Deno.test("mkinitramfs: newc archive with busybox, links, device nodes and /init", async () => {
  const busybox = new Uint8Array(1001).map((_, i) => i & 0xff);
  const cpio = newcArchive(initramfsEntries(busybox));
  const parsed = parseNewc(cpio);
  const by = new Map(parsed.map((p) => [p.name, p]));
  assert.deepEqual(parsed.map((p) => p.ino), parsed.map((_, i) => i + 1));
  assert.ok(parsed.every((p) => p.mtime === 0));
  assert.equal(by.get("bin/busybox")!.mode, S_IFREG | 0o755);
  assert.deepEqual(by.get("bin/busybox")!.data, busybox);
  assert.equal(by.get("bin/sh")!.mode, S_IFLNK | 0o777);
  assert.equal(new TextDecoder().decode(by.get("bin/sh")!.data), "busybox");
  assert.equal(by.get("dev")!.mode, S_IFDIR | 0o755);
  assert.equal(by.get("dev")!.nlink, 2);
  assert.equal(by.get("dev/console")!.mode, S_IFCHR | 0o600);
  assert.deepEqual(by.get("dev/console")!.rdev, [5, 1]);
  const init = new TextDecoder().decode(by.get("init")!.data);
  assert.equal(by.get("init")!.mode, S_IFREG | 0o755);
  assert.match(init, /^#!\/bin\/sh\n/);
  assert.match(init, /mount -t proc proc \/proc/);
  assert.match(init, /mount -t sysfs sysfs \/sys/);
  assert.match(init, /mount -t devtmpfs devtmpfs \/dev/);
  assert.match(init, /exec .*\/bin\/sh\n$/);

  // gzip round trip, and the output is deterministic.
  const gz = await gzip(cpio);
  assert.deepEqual([gz[0], gz[1]], [0x1f, 0x8b]);
  const back = new Uint8Array(
    await new Response(
      new Blob([gz as BlobPart]).stream().pipeThrough(new DecompressionStream("gzip")),
    )
      .arrayBuffer(),
  );
  assert.deepEqual(back, cpio);
  assert.deepEqual(await gzip(newcArchive(initramfsEntries(busybox))), gz);
});
