#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian machine: guest toolchains, QEMU for differential
# tests and benchmarks, then the npm packages. Safe to run again; skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nasm >/dev/null || need+=(nasm)
command -v qemu-system-i386 >/dev/null || need+=(qemu-system-x86)
[ -e /usr/lib/gcc/x86_64-linux-gnu/12/32/libgcc.a ] || need+=(gcc-multilib)
command -v gcc >/dev/null || need+=(gcc)
# End-to-end test in a real VS Code (code-server + Chromium), see scripts/e2e-setup.sh.
command -v chromium >/dev/null || need+=(chromium)
command -v rg >/dev/null || need+=(ripgrep)
command -v cpio >/dev/null || need+=(cpio) # initramfs for the Linux boot example in the README
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v python3 >/dev/null || need+=(python3)
command -v make >/dev/null && command -v g++ >/dev/null || need+=(build-essential)
[ -e /usr/include/krb5.h ] || [ -e /usr/include/krb5/krb5.h ] || need+=(libkrb5-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing Debian packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing Debian packages (run as root or install them): ${need[*]}" >&2
    exit 1
  fi
fi

if [ -f package-lock.json ]; then npm ci --no-fund --no-audit; else npm install --no-fund --no-audit; fi

# Debian's i386 Linux kernel for the Linux boot tests and benchmark, cached in .cache/linux/ (needs the i386
# architecture in dpkg, which this adds as root). In CI the Linux tests fail without it instead of skipping.
bash scripts/linux-setup.sh >/dev/null || echo "the Linux kernel could not be fetched (scripts/linux-setup.sh)" >&2

# code-server for the end-to-end test, cached in .cache/code-server/ (the test installs it too when missing).
bash scripts/e2e-setup.sh >/dev/null || echo "code-server could not be installed; the end-to-end test will skip" >&2
