#!/usr/bin/env bash
# Fetches Debian's current i386 "686" Linux kernel (the package linux-image-686 points at) into .cache/linux/,
# for the Linux boot tests and benchmark. Prints the path of the kernel image. Safe to run again: a kernel
# already in the cache is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=.cache/linux
existing=$(ls "$dir"/vmlinuz-*-686 2>/dev/null | head -n 1 || true)
if [ -n "$existing" ]; then
  echo "$existing"
  exit 0
fi

if ! dpkg --print-foreign-architectures | grep -qx i386; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "the i386 architecture is not enabled in dpkg (run as root: dpkg --add-architecture i386)" >&2
    exit 1
  fi
  dpkg --add-architecture i386
  apt-get update -qq
fi

package=$(apt-cache depends linux-image-686:i386 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$package" ] && [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq
  package=$(apt-cache depends linux-image-686:i386 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
fi
if [ -z "$package" ]; then
  echo "no linux-image-686:i386 package is known to apt" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod a+rwx "$work" # apt downloads as the _apt user
(cd "$work" && apt-get download -qq "$package" >/dev/null)
deb=$(ls "$work"/*.deb)
mkdir -p "$work/x" "$dir"
dpkg-deb -x "$deb" "$work/x"
kernel=$(ls "$work"/x/boot/vmlinuz-*-686 | head -n 1)
cp "$kernel" "$dir/"
cp "$work"/x/boot/config-*-686 "$dir/" 2>/dev/null || true
echo "$dir/$(basename "$kernel")"
