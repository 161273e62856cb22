#!/usr/bin/env bash
# Builds every test guest into <out>/<name>/<name>.elf (default out: guests/). The build is reproducible:
# fixed relative paths, no build-id, no timestamps, so a rebuild gives identical bytes
# (scripts/check-guests.sh compares a fresh build against the committed files).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-guests}"
mkdir -p "$out"
objects="$(mktemp -d)"
trap 'rm -rf "$objects"' EXIT

export LC_ALL=C SOURCE_DATE_EPOCH=0
root="$(pwd)"
cflags=(-m32 -march=i686 -ffreestanding -fno-pic -fno-pie -fno-stack-protector -fno-asynchronous-unwind-tables
  -fno-builtin -nostdlib -nostdinc -isystem "$(gcc -m32 -print-file-name=include)" -O2 -g -std=gnu11
  --param=min-pagesize=0 -Wall -Wextra -Werror -Iguests/runtime "-ffile-prefix-map=$root=." "-fdebug-prefix-map=$root=.")
libgcc="$(gcc -m32 -print-libgcc-file-name)"

compile() { # <source> <object>
  case "$1" in
    *.c) gcc "${cflags[@]}" -c "$1" -o "$2" ;;
    *.asm) nasm -f elf32 -Iguests/runtime/ "$1" -o "$2" ;;
  esac
}

runtime_objects=()
for source in guests/runtime/entry.asm guests/runtime/isr.asm guests/runtime/runtime.c; do
  object="$objects/runtime-$(basename "$source").o"
  compile "$source" "$object"
  runtime_objects+=("$object")
done

guests=(hello cpu-selftest hpet-probe bench-cpu pit-pic rtc-cmos uart pci apic i8042-ports)
[ $# -ge 2 ] && guests=("${@:2}")
for guest in "${guests[@]}"; do
  [ "$guest" = linux-init ] && continue
  guest_objects=()
  for source in $(ls guests/"$guest"/*.c guests/"$guest"/*.asm 2>/dev/null | sort); do
    object="$objects/$guest-$(basename "$source").o"
    compile "$source" "$object"
    guest_objects+=("$object")
  done
  mkdir -p "$out/$guest"
  ld -m elf_i386 -nostdlib --build-id=none -T guests/runtime/guest.ld -o "$out/$guest/$guest.elf" \
    "${runtime_objects[@]}" "${guest_objects[@]}" "$libgcc"
  echo "built $out/$guest/$guest.elf ($(stat -c %s "$out/$guest/$guest.elf") bytes)"
done

# linux-init is not a bare-metal guest but a static i386 Linux program (the /init of the Linux boot test's
# initramfs): no runtime, no linker script, entry _start.
if [ $# -lt 2 ] || [[ " ${*:2} " == *" linux-init "* ]]; then
  mkdir -p "$out/linux-init"
  gcc "${cflags[@]}" -static -Wl,--build-id=none -Wl,-e,_start -o "$out/linux-init/linux-init.elf" \
    guests/linux-init/init.c "$libgcc"
  echo "built $out/linux-init/linux-init.elf ($(stat -c %s "$out/linux-init/linux-init.elf") bytes)"
fi
