/**
 * An unmodified Debian Linux kernel boots to a busybox shell, runs scripted commands typed at
 * the prompt, and its trace replays identically. The kernel and initramfs come from
 * tools/linux/fetch.sh (Debian's linux-image-amd64 and busybox-static, into cache/linux/); without
 * them the test is reported as ignored, with its name saying what is missing.
 *
 * This is the longest test (about 6 billion guest instructions each way).
 */

import assert from "node:assert/strict";
import { ROOT, vtlrr } from "./support.ts";

const KERNEL = new URL("cache/linux/vmlinuz", ROOT).pathname;
const INITRD = new URL("cache/linux/initramfs.cpio.gz", ROOT).pathname;

function exists(p: string): boolean {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}

const present = exists(KERNEL) && exists(INITRD);

Deno.test({
  name: present
    ? "Linux (Debian bzImage + busybox initramfs) boots to a shell, runs typed commands, replays identically"
    : "Linux boot to a shell: NOT RUN, cache/linux/vmlinuz or initramfs.cpio.gz missing (run tools/linux/fetch.sh)",
  ignore: !present,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "vtlrr-linux-" });
    const trace = `${tmp}/linux.vtlrr`, cmds = `${tmp}/cmds.txt`;
    await Deno.writeTextFile(
      cmds,
      "echo vtlrr-$((6*7))\nuname -r\ncat /proc/interrupts\nreboot -f\n",
    );
    const r = await vtlrr(
      "boot",
      KERNEL,
      "--initrd",
      INITRD,
      "--mem",
      "256M",
      "--append",
      "console=ttyS0",
      "--input",
      cmds,
      "--input-prompt",
      "# ",
      "--max-instructions",
      "20000000000",
      "--trace",
      trace,
    );
    const out = r.out;
    assert.match(out, /Linux version \d+\.\d+/, "kernel banner");
    assert.match(out, /Hypervisor detected: Microsoft Hyper-V/);
    assert.match(out, /ttyS0 at I\/O 0x3f8 \(irq = \d+/, "8250 bound through the DSDT");
    assert.match(out, /rtc_cmos .*registered as rtc0/);
    assert.match(out, /vtlrr: init running on Linux/, "initramfs /init ran");
    assert.match(out, /# .*echo vtlrr-\$\(\(6\*7\)\)\r?\n/, "typed command echoed at the prompt");
    assert.match(out, /\nvtlrr-42\r?\n/, "the shell evaluated it");
    assert.match(out, /\d+:\s+\d+\s+\S*IO-APIC\s+4-edge\s+ttyS0/, "serial interrupts counted");
    assert.match(
      r.err,
      /exit reset/,
      `the guest rebooted through the ACPI reset register:\n${r.err}`,
    );
    assert.equal(r.code, 0, r.err);
    const rep = await vtlrr("replay", trace);
    assert.equal(rep.code, 0, rep.out + rep.err);
    assert.match(rep.out, /replay identical/);
    await Deno.remove(tmp, { recursive: true });
  },
});
