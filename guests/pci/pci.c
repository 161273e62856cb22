/* PCI configuration mechanism #1 (ports 0xCF8/0xCFC): enumerate bus 0 the way kernels do (function 0 of each
 * device, the other functions when the header type's multi-function bit is set), print the host bridge
 * 00:00.0 and the ISA bridge 00:01.0 in full and skip the others (QEMU's pc machine has VGA, IDE and ACPI
 * functions that our machine does not), size BARs, and check the address register round trip, sub-dword
 * reads, read-only IDs and the master aborts of absent functions. */
#include "runtime.h"

#define CONFIG_ADDRESS 0xCF8
#define CONFIG_DATA 0xCFC

static u32 address_of(u8 bus, u8 dev, u8 fn, u8 offset) {
    return 0x80000000u | (u32)bus << 16 | (u32)dev << 11 | (u32)fn << 8 | (offset & 0xFC);
}

static u32 cfg_read32(u8 bus, u8 dev, u8 fn, u8 offset) {
    outl(CONFIG_ADDRESS, address_of(bus, dev, fn, offset));
    return inl(CONFIG_DATA);
}

static u16 cfg_read16(u8 bus, u8 dev, u8 fn, u8 offset) {
    outl(CONFIG_ADDRESS, address_of(bus, dev, fn, offset));
    return inw(CONFIG_DATA + (offset & 2));
}

static u8 cfg_read8(u8 bus, u8 dev, u8 fn, u8 offset) {
    outl(CONFIG_ADDRESS, address_of(bus, dev, fn, offset));
    return inb(CONFIG_DATA + (offset & 3));
}

static void cfg_write32(u8 bus, u8 dev, u8 fn, u8 offset, u32 value) {
    outl(CONFIG_ADDRESS, address_of(bus, dev, fn, offset));
    outl(CONFIG_DATA, value);
}

static void cfg_write16(u8 bus, u8 dev, u8 fn, u8 offset, u16 value) {
    outl(CONFIG_ADDRESS, address_of(bus, dev, fn, offset));
    outw(CONFIG_DATA + (offset & 2), value);
}

/* The BAR sizing protocol: save, write all-ones, read the mask, restore (decoding off meanwhile). */
static void size_bars(u8 dev, u8 fn, int print) {
    u16 command = cfg_read16(0, dev, fn, 0x04);
    cfg_write16(0, dev, fn, 0x04, command & ~0x0003);
    for (u8 bar = 0; bar < 6; bar++) {
        u8 offset = (u8)(0x10 + bar * 4);
        u32 saved = cfg_read32(0, dev, fn, offset);
        cfg_write32(0, dev, fn, offset, 0xFFFFFFFFu);
        u32 mask = cfg_read32(0, dev, fn, offset);
        cfg_write32(0, dev, fn, offset, saved);
        if (!print || mask == 0) continue;
        if (mask & 1) printf("  BAR%u: I/O, %u bytes\n", bar, (~(mask & 0xFFFFFFFCu) + 1) & 0xFFFF);
        else printf("  BAR%u: memory, %u bytes\n", bar, ~(mask & 0xFFFFFFF0u) + 1);
    }
    cfg_write16(0, dev, fn, 0x04, command);
}

static void describe(u8 dev, u8 fn) {
    u32 id = cfg_read32(0, dev, fn, 0x00);
    u32 class_rev = cfg_read32(0, dev, fn, 0x08);
    u8 header = cfg_read8(0, dev, fn, 0x0E);
    printf("00:%02x.%u %04x:%04x class %06x header type 0x%02x\n", dev, fn, id & 0xFFFF, id >> 16, class_rev >> 8,
           header);
    size_bars(dev, fn, 1);
}

int guest_start(u32 magic, const struct multiboot_info *info) {
    (void)magic;
    (void)info;
    puts("pci: configuration mechanism #1 on bus 0");

    outl(CONFIG_ADDRESS, 0x80000000u);
    u32 address = inl(CONFIG_ADDRESS);
    printf("pci: CONFIG_ADDRESS reads back 0x%08x\n", address);
    outl(CONFIG_ADDRESS, 0x80001234u);
    printf("pci: CONFIG_ADDRESS with offset bits 1:0 set reads back 0x%08x\n", inl(CONFIG_ADDRESS));

    u32 others = 0;
    for (u8 dev = 0; dev < 32; dev++) {
        u8 functions = 1;
        for (u8 fn = 0; fn < functions; fn++) {
            u16 vendor = cfg_read16(0, dev, fn, 0x00);
            if (vendor == 0xFFFF) continue;
            if (fn == 0 && (cfg_read8(0, dev, 0, 0x0E) & 0x80)) functions = 8;
            if ((dev == 0 || dev == 1) && fn == 0) describe(dev, fn);
            else {
                size_bars(dev, fn, 0);
                others++;
            }
        }
    }
    /* The other functions differ between the machines (QEMU: IDE, ACPI PM, VGA); they are enumerated and
     * their BARs sized, but not printed. */
    (void)others;
    puts("pci: bus 0 enumerated");
    printf("pci: 00:1f.0 absent: %s\n", cfg_read16(0, 0x1F, 0, 0) == 0xFFFF ? "yes" : "no");
    printf("pci: bus 1 device 0 absent: %s\n", cfg_read32(1, 0, 0, 0) == 0xFFFFFFFFu ? "yes" : "no");

    /* Byte and word reads at unaligned offsets of the host bridge's ID register. */
    printf("pci: 00:00.0 bytes 0-3: %02x %02x %02x %02x, word at 2: %04x\n", cfg_read8(0, 0, 0, 0),
           cfg_read8(0, 0, 0, 1), cfg_read8(0, 0, 0, 2), cfg_read8(0, 0, 0, 3), cfg_read16(0, 0, 0, 2));
    /* The ID registers are read-only. */
    cfg_write32(0, 0, 0, 0x00, 0x12345678u);
    printf("pci: 00:00.0 ID after a write: %08x\n", cfg_read32(0, 0, 0, 0x00));
    /* The command register's value is left by the firmware (SeaBIOS also sets SERR#); I/O and memory
     * decoding are on for the ISA bridge on both machines. */
    printf("pci: 00:01.0 I/O and memory decoding: %s, status 0x%04x\n",
           (cfg_read16(0, 1, 0, 0x04) & 0x03) == 0x03 ? "on" : "off", cfg_read16(0, 1, 0, 0x06));
    outl(CONFIG_ADDRESS, 0);
    puts("pci: done");
    return 0;
}
