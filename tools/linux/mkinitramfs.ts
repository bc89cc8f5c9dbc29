/**
 * Builds a tiny Linux initramfs for vtlrr: a gzip-compressed "newc" cpio archive (the format the
 * kernel unpacks, Documentation/driver-api/early-userspace/buffer-format.rst) holding a static
 * busybox and an `/init` that mounts proc, sysfs and devtmpfs and execs `sh` on the console (through busybox
 * `setsid cttyhack`, so the shell has the console as its controlling terminal).
 *
 *   deno run --allow-read --allow-write tools/linux/mkinitramfs.ts \
 *     --busybox cache/linux/busybox --out cache/linux/initramfs.cpio.gz
 *
 * The archive is deterministic: inode numbers are assigned in order, all times are 0, owners are
 * root. No cpio binary is needed; gzip is the platform's CompressionStream.
 */

/** One archive member. */
export interface CpioEntry {
  /** Path inside the archive, without a leading slash ("bin/busybox"). */
  readonly path: string;
  /** Full st_mode: file type bits (S_IF*) | permissions. */
  readonly mode: number;
  /** File contents (regular files) or the link target (symlinks). */
  readonly data?: Uint8Array;
  /** Device number of a character/block special file. */
  readonly rdev?: { readonly major: number; readonly minor: number };
}

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

const enc = new TextEncoder();

function hex8(v: number): string {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new Error(`cpio: field ${v} out of range`);
  }
  return v.toString(16).padStart(8, "0").toUpperCase();
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** Serializes `entries` (in order) as a newc cpio archive with its TRAILER!!! record. */
export function newcArchive(entries: readonly CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  const push = (b: Uint8Array) => {
    parts.push(b);
    total += b.length;
  };
  const member = (ino: number, e: CpioEntry) => {
    const name = enc.encode(e.path + "\0");
    const data = e.data ?? new Uint8Array(0);
    const isDir = (e.mode & 0o170000) === S_IFDIR;
    const header = "070701" + [
      ino,
      e.mode,
      0, // uid
      0, // gid
      isDir ? 2 : 1, // nlink
      0, // mtime
      data.length,
      0, // devmajor
      0, // devminor
      e.rdev?.major ?? 0,
      e.rdev?.minor ?? 0,
      name.length,
      0, // check
    ].map(hex8).join("");
    push(enc.encode(header));
    push(name);
    push(new Uint8Array(pad4(110 + name.length)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  };
  entries.forEach((e, i) => member(i + 1, e));
  member(0, { path: "TRAILER!!!", mode: 0 });
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The `/init` script. */
export const INIT_SCRIPT = `#!/bin/sh
# vtlrr initramfs init: mount the pseudo file systems and give the console a shell.
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s
echo "vtlrr: init running on Linux $(uname -r)"
# cttyhack opens the real console (e.g. ttyS0) as the shell's controlling terminal.
exec /bin/busybox setsid /bin/busybox cttyhack /bin/sh
`;

/** Busybox applets linked in the archive itself (more are added by `busybox --install -s`). */
export const APPLETS = [
  "sh",
  "mount",
  "umount",
  "mkdir",
  "ls",
  "cat",
  "echo",
  "uname",
  "dmesg",
  "ps",
  "poweroff",
  "reboot",
];

/** The initramfs members: directories, busybox, applet links, /dev/console and /init. */
export function initramfsEntries(busybox: Uint8Array): CpioEntry[] {
  const dir = (path: string): CpioEntry => ({ path, mode: S_IFDIR | 0o755 });
  const entries: CpioEntry[] = [
    dir("bin"),
    dir("sbin"),
    dir("usr"),
    dir("usr/bin"),
    dir("usr/sbin"),
    dir("dev"),
    dir("proc"),
    dir("sys"),
    dir("tmp"),
    dir("root"),
    dir("etc"),
    // The kernel opens /dev/console for init before init can mount devtmpfs.
    { path: "dev/console", mode: S_IFCHR | 0o600, rdev: { major: 5, minor: 1 } },
    { path: "dev/null", mode: S_IFCHR | 0o666, rdev: { major: 1, minor: 3 } },
    { path: "bin/busybox", mode: S_IFREG | 0o755, data: busybox },
  ];
  for (const a of APPLETS) {
    entries.push({ path: `bin/${a}`, mode: S_IFLNK | 0o777, data: enc.encode("busybox") });
  }
  entries.push({ path: "init", mode: S_IFREG | 0o755, data: enc.encode(INIT_SCRIPT) });
  return entries;
}

/** gzip via the platform's CompressionStream. */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function arg(args: string[], flag: string): string {
  const i = args.indexOf(flag);
  const v = i >= 0 ? args[i + 1] : undefined;
  if (v === undefined) {
    console.error(`usage: mkinitramfs.ts --busybox <static busybox> --out <initramfs.cpio.gz>`);
    Deno.exit(2);
  }
  return v;
}

if (import.meta.main) {
  const busyboxPath = arg(Deno.args, "--busybox");
  const outPath = arg(Deno.args, "--out");
  const busybox = await Deno.readFile(busyboxPath);
  const cpio = newcArchive(initramfsEntries(busybox));
  const gz = await gzip(cpio);
  await Deno.writeFile(outPath, gz);
  console.log(`mkinitramfs: ${outPath}: cpio ${cpio.length} bytes, gzip ${gz.length} bytes`);
}
