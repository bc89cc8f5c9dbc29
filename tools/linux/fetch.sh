#!/bin/sh
# Fetches a real Linux guest for vtlrr from Debian's package mirror (no root needed):
#
#   cache/linux/vmlinuz            the kernel (a bzImage) from linux-image-<ver>-amd64
#   cache/linux/vmlinuz-<ver>      the same file under its own name
#   cache/linux/busybox            the static busybox from busybox-static
#   cache/linux/initramfs.cpio.gz  a tiny initramfs: busybox + /init (mounts proc, sys, devtmpfs
#                                  and execs sh on the console), built by mkinitramfs.ts
#   cache/linux/VERSIONS           the concrete package versions used
#
# Usage (from anywhere): tools/linux/fetch.sh
# Needs: apt-get, apt-cache, dpkg-deb, tar, deno. `cache/` is git-ignored.
# The packages are whatever the configured Debian mirror currently serves for linux-image-amd64
# and busybox-static; VERSIONS records them.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/cache/linux"
mkdir -p "$out/debs"
cd "$out/debs"
for tool in apt-get apt-cache dpkg-deb tar deno; do
  command -v "$tool" >/dev/null || { echo "fetch.sh: $tool is needed" >&2; exit 1; }
done

# linux-image-amd64 is a metapackage: resolve it to the concrete linux-image-<ver>-amd64.
kpkg=$(apt-cache depends linux-image-amd64 | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
if [ -z "$kpkg" ]; then
  echo "fetch.sh: cannot resolve linux-image-amd64 to a concrete kernel package" >&2
  exit 1
fi
echo "fetch.sh: kernel package $kpkg"

rm -f ./*.deb
apt-get download "$kpkg" busybox-static
kdeb=$(ls "$kpkg"_*.deb)
bdeb=$(ls busybox-static_*.deb)

# Extract only the files we need from the packages' data archives.
rm -rf "$out/x"
mkdir -p "$out/x"
dpkg-deb --fsys-tarfile "$kdeb" | (cd "$out/x" && tar -xf - --wildcards './boot/vmlinuz-*')
dpkg-deb --fsys-tarfile "$bdeb" | (cd "$out/x" && tar -xf - ./bin/busybox)

{
  echo "kernel $(dpkg-deb -f "$kdeb" Package) $(dpkg-deb -f "$kdeb" Version)"
  echo "busybox $(dpkg-deb -f "$bdeb" Package) $(dpkg-deb -f "$bdeb" Version)"
} >"$out/VERSIONS"

vmlinuz=$(ls "$out"/x/boot/vmlinuz-* | head -n 1)
kver=$(basename "$vmlinuz" | sed 's/^vmlinuz-//')
cp "$vmlinuz" "$out/vmlinuz-$kver"
cp "$vmlinuz" "$out/vmlinuz"
cp "$out/x/bin/busybox" "$out/busybox"
chmod 0755 "$out/busybox"
cd "$out"
rm -rf "$out/x" "$out/debs"

deno run --allow-read="$out" --allow-write="$out" "$here/mkinitramfs.ts" \
  --busybox "$out/busybox" --out "$out/initramfs.cpio.gz"

cat "$out/VERSIONS"
ls -l "$out/vmlinuz" "$out/busybox" "$out/initramfs.cpio.gz"
