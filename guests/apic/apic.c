/* Local APIC and I/O APIC: the MADT (found through the ACPI RSDP) gives the local APIC address, the I/O APIC
 * and the ISA IRQ0 override; the local APIC's ID/version, spurious vector enable, timer one-shot and periodic
 * with the divide register, TPR masking and EOI; the I/O APIC's ID/version and a redirection entry that
 * routes the PIT (GSI 2) to a vector with the 8259 masked. Timer counts are only checked, never printed. */
#include "runtime.h"

#define LAPIC_ID 0x020
#define LAPIC_VERSION 0x030
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0B0
#define LAPIC_SVR 0x0F0
#define LAPIC_ISR 0x100
#define LAPIC_IRR 0x200
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE 0x3E0
#define LVT_MASKED 0x10000u
#define LVT_PERIODIC 0x20000u

#define IOREGSEL 0x00
#define IOWIN 0x10

#define VECTOR_TIMER 0x40
#define VECTOR_TPR_TEST 0x45
#define VECTOR_PIT 0x50
#define VECTOR_SPURIOUS 0xFF

static uintptr_t lapic;
static uintptr_t ioapic;
static u32 ioapic_madt_id;
static u32 pit_gsi = 0;
static u16 pit_flags;
static int have_override;

static u32 lapic_read(u32 reg) { return mmio_read32(lapic + reg); }
static void lapic_write(u32 reg, u32 value) { mmio_write32(lapic + reg, value); }
static u32 ioapic_read(u8 reg) {
    mmio_write32(ioapic + IOREGSEL, reg);
    return mmio_read32(ioapic + IOWIN);
}
static void ioapic_write(u8 reg, u32 value) {
    mmio_write32(ioapic + IOREGSEL, reg);
    mmio_write32(ioapic + IOWIN, value);
}

static int checksum_ok(const void *table, u32 length) {
    const u8 *bytes = table;
    u8 sum = 0;
    for (u32 i = 0; i < length; i++) sum += bytes[i];
    return sum == 0;
}

/* ACPI 6.5 section 5.2.5: the RSDP is on a 16-byte boundary in the first KiB of the EBDA or in
 * 0xE0000-0xFFFFF. */
static const u8 *scan_rsdp(uintptr_t start, uintptr_t end) {
    for (uintptr_t a = start; a + 20 <= end; a += 16)
        if (memcmp((const void *)a, "RSD PTR ", 8) == 0 && checksum_ok((const void *)a, 20)) return (const u8 *)a;
    return NULL;
}

static const u8 *find_table(const char signature[4]) {
    uintptr_t ebda = (uintptr_t)mmio_read16(0x40E) << 4;
    const u8 *rsdp = ebda >= 0x80000 && ebda < 0xA0000 ? scan_rsdp(ebda, ebda + 1024) : NULL;
    if (!rsdp) rsdp = scan_rsdp(0xE0000, 0x100000);
    if (!rsdp) return NULL;
    const u8 *rsdt = (const u8 *)(uintptr_t)*(const u32 *)(rsdp + 16);
    if (memcmp(rsdt, "RSDT", 4) != 0 || !checksum_ok(rsdt, *(const u32 *)(rsdt + 4))) return NULL;
    u32 length = *(const u32 *)(rsdt + 4);
    for (u32 offset = 36; offset + 4 <= length; offset += 4) {
        const u8 *table = (const u8 *)(uintptr_t)*(const u32 *)(rsdt + offset);
        if (memcmp(table, signature, 4) == 0 && checksum_ok(table, *(const u32 *)(table + 4))) return table;
    }
    return NULL;
}

/* ACPI 6.5 section 5.2.12: the MADT. */
static int parse_madt(void) {
    const u8 *madt = find_table("APIC");
    if (!madt) {
        puts("madt: not found");
        return 0;
    }
    u32 length = *(const u32 *)(madt + 4);
    lapic = *(const u32 *)(madt + 36);
    printf("madt: local APIC address 0x%08x, PCAT_COMPAT %u\n", (u32)lapic, *(const u32 *)(madt + 40) & 1);
    u32 cpus = 0, ioapics = 0;
    for (u32 offset = 44; offset + 2 <= length;) {
        const u8 *entry = madt + offset;
        u8 type = entry[0], size = entry[1];
        if (size < 2) break;
        if (type == 0 && (*(const u32 *)(entry + 4) & 1)) {
            if (cpus++ == 0) printf("madt: processor UID %u, APIC ID %u, enabled\n", entry[2], entry[3]);
        } else if (type == 1) {
            if (ioapics++ == 0) {
                ioapic = *(const u32 *)(entry + 4);
                ioapic_madt_id = entry[2];
                printf("madt: I/O APIC at 0x%08x, GSI base %u\n", (u32)ioapic, *(const u32 *)(entry + 8));
            }
        } else if (type == 2 && entry[3] == 0) {
            /* Interrupt source override for ISA IRQ0 (the PIT). */
            have_override = 1;
            pit_gsi = *(const u32 *)(entry + 4);
            pit_flags = *(const u16 *)(entry + 8);
            printf("madt: override bus %u IRQ 0 -> GSI %u, flags 0x%04x\n", entry[2], pit_gsi, pit_flags);
        }
        offset += size;
    }
    printf("madt: %u enabled processor(s), %u I/O APIC(s)\n", cpus, ioapics);
    return lapic && ioapic;
}

static volatile u32 timer_interrupts;
static volatile u32 isr_bit_in_handler;
static volatile u32 tpr_interrupts;
static volatile u32 pit_interrupts;
static volatile u32 spurious_interrupts;

static u32 isr_bit(u8 vector) { return (lapic_read(LAPIC_ISR + (vector / 32) * 0x10) >> (vector % 32)) & 1; }
static u32 irr_bit(u8 vector) { return (lapic_read(LAPIC_IRR + (vector / 32) * 0x10) >> (vector % 32)) & 1; }

static void timer_handler(struct trap_frame *frame) {
    (void)frame;
    isr_bit_in_handler = isr_bit(VECTOR_TIMER);
    timer_interrupts++;
    lapic_write(LAPIC_EOI, 0);
}

static void tpr_handler(struct trap_frame *frame) {
    (void)frame;
    tpr_interrupts++;
    lapic_write(LAPIC_EOI, 0);
}

static void pit_handler(struct trap_frame *frame) {
    (void)frame;
    pit_interrupts++;
    lapic_write(LAPIC_EOI, 0);
}

static void spurious_handler(struct trap_frame *frame) {
    (void)frame;
    spurious_interrupts++; /* no EOI for the spurious vector */
}

static void lapic_tests(void) {
    u64 base;
    __asm__ volatile("rdmsr" : "=A"(base) : "c"(0x1B));
    printf("lapic: IA32_APIC_BASE 0x%08x (BSP %u, enabled %u), MADT address matches: %s\n",
           (u32)base & 0xFFFFF000u, (u32)(base >> 8) & 1, (u32)(base >> 11) & 1,
           ((u32)base & 0xFFFFF000u) == lapic ? "yes" : "no");
    printf("lapic: ID %u, version 0x%02x, max LVT entry %u\n", lapic_read(LAPIC_ID) >> 24,
           lapic_read(LAPIC_VERSION) & 0xFF, (lapic_read(LAPIC_VERSION) >> 16) & 0xFF);
    lapic_write(LAPIC_SVR, 0x100 | VECTOR_SPURIOUS);
    printf("lapic: SVR 0x%03x (software enabled)\n", lapic_read(LAPIC_SVR) & 0x1FF);
    lapic_write(LAPIC_TPR, 0);

    /* Divide configuration: bits 0, 1 and 3; 0xB = divide by 1. */
    lapic_write(LAPIC_TIMER_DIVIDE, 0x0B);
    printf("lapic: divide configuration 0x0b -> 0x%02x\n", lapic_read(LAPIC_TIMER_DIVIDE) & 0x0F);
    lapic_write(LAPIC_TIMER_DIVIDE, 0x03); /* divide by 16 */
    printf("lapic: divide configuration 0x03 -> 0x%02x\n", lapic_read(LAPIC_TIMER_DIVIDE) & 0x0F);

    /* One-shot. */
    lapic_write(LAPIC_LVT_TIMER, VECTOR_TIMER);
    lapic_write(LAPIC_TIMER_INITIAL, 100000);
    u32 c1 = lapic_read(LAPIC_TIMER_CURRENT);
    u32 c2 = lapic_read(LAPIC_TIMER_CURRENT);
    printf("lapic: one-shot current count counts down from the initial count: %s\n",
           c1 <= 100000 && c2 <= c1 ? "yes" : "no");
    while (timer_interrupts < 1) sti_hlt();
    cli();
    printf("lapic: one-shot: %u interrupt, ISR bit set in the handler %u, after EOI %u, current count %u\n",
           timer_interrupts, isr_bit_in_handler, isr_bit(VECTOR_TIMER), lapic_read(LAPIC_TIMER_CURRENT));
    for (u32 spins = 0; spins < 100000; spins++) cpu_pause();
    printf("lapic: no second one-shot interrupt: %s\n", timer_interrupts == 1 ? "yes" : "no");

    /* Periodic: five interrupts, then stopped by masking. */
    timer_interrupts = 0;
    lapic_write(LAPIC_LVT_TIMER, LVT_PERIODIC | VECTOR_TIMER);
    lapic_write(LAPIC_TIMER_INITIAL, 20000);
    while (timer_interrupts < 5) sti_hlt();
    cli();
    u32 current = lapic_read(LAPIC_TIMER_CURRENT);
    printf("lapic: periodic: %u interrupts, current count reloaded within the period: %s\n", timer_interrupts,
           current > 0 && current <= 20000 ? "yes" : "no");
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | LVT_PERIODIC | VECTOR_TIMER);
    /* An interrupt accepted into IRR before the mask took effect is still delivered: let it in first. */
    sti();
    __asm__ volatile("nop; nop; nop" ::: "memory");
    cli();
    u32 before = timer_interrupts;
    sti();
    for (u32 spins = 0; spins < 200000; spins++) cpu_pause();
    cli();
    printf("lapic: masked LVT timer: %u interrupts, LVT reads 0x%05x\n", timer_interrupts - before,
           lapic_read(LAPIC_LVT_TIMER) & 0x300FF);
    lapic_write(LAPIC_TIMER_INITIAL, 0);

    /* TPR: class 4 blocks vector 0x45 (class 4); lowering it delivers the pending interrupt. */
    lapic_write(LAPIC_TPR, 0x40);
    lapic_write(LAPIC_LVT_TIMER, VECTOR_TPR_TEST);
    lapic_write(LAPIC_TIMER_DIVIDE, 0x0B);
    lapic_write(LAPIC_TIMER_INITIAL, 1000);
    sti();
    u32 spins = 0;
    while (!irr_bit(VECTOR_TPR_TEST) && spins < 10000000) spins++;
    for (u32 i = 0; i < 1000; i++) cpu_pause();
    cli();
    printf("lapic: TPR 0x40 holds vector 0x45 in IRR: %s, delivered %u\n", irr_bit(VECTOR_TPR_TEST) ? "yes" : "no",
           tpr_interrupts);
    lapic_write(LAPIC_TPR, 0x50);
    printf("lapic: TPR 0x50 reads back 0x%02x\n", lapic_read(LAPIC_TPR) & 0xFF);
    lapic_write(LAPIC_TPR, 0x00);
    sti();
    __asm__ volatile("nop; nop; nop" ::: "memory");
    cli();
    printf("lapic: TPR 0 delivers it: %u interrupt, IRR now %u\n", tpr_interrupts, irr_bit(VECTOR_TPR_TEST));
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED);
    printf("lapic: spurious interrupts %u\n", spurious_interrupts);
}

#define PIT_HZ 1193182u

static void ioapic_tests(void) {
    u32 id = ioapic_read(0x00);
    u32 version = ioapic_read(0x01);
    /* The version differs by design: 0x11 is the 82093AA (ours), 0x20 the later I/O APICs QEMU models. */
    printf("ioapic: ID %u (MADT says %u), version 0x11 or 0x20: %s, max redirection entry %u\n", (id >> 24) & 0x0F,
           ioapic_madt_id, (version & 0xFF) == 0x11 || (version & 0xFF) == 0x20 ? "yes" : "no",
           (version >> 16) & 0xFF);
    u32 pins = ((version >> 16) & 0xFF) + 1;
    u32 masked = 0;
    for (u32 pin = 0; pin < pins; pin++)
        if (ioapic_read((u8)(0x10 + pin * 2)) & LVT_MASKED) masked++;
    printf("ioapic: %u of %u redirection entries masked\n", masked, pins);

    /* Route GSI pit_gsi (ISA IRQ0 after the override): edge, active high, fixed, physical destination 0. */
    u32 gsi = have_override ? pit_gsi : 0;
    u32 low = VECTOR_PIT;
    if ((pit_flags & 3) == 3) low |= 1u << 13; /* active low */
    if (((pit_flags >> 2) & 3) == 3) low |= 1u << 15; /* level */
    ioapic_write((u8)(0x10 + gsi * 2 + 1), (lapic_read(LAPIC_ID) >> 24) << 24);
    ioapic_write((u8)(0x10 + gsi * 2), low);
    printf("ioapic: redirection entry %u = 0x%08x%08x\n", gsi, ioapic_read((u8)(0x10 + gsi * 2 + 1)),
           ioapic_read((u8)(0x10 + gsi * 2)) & ~(1u << 12)); /* delivery status masked */

    pic_remap(0x20, 0x28); /* all 8259 inputs masked */
    outb(0x43, 0x34);
    outb(0x40, (PIT_HZ / 1000) & 0xFF);
    outb(0x40, (PIT_HZ / 1000) >> 8);
    while (pit_interrupts < 5) sti_hlt();
    cli();
    printf("ioapic: %u PIT interrupts on vector 0x%02x with the 8259 masked\n", pit_interrupts, VECTOR_PIT);
    ioapic_write((u8)(0x10 + gsi * 2), LVT_MASKED | VECTOR_PIT);
    sti();
    __asm__ volatile("nop; nop; nop" ::: "memory");
    cli();
    u32 before = pit_interrupts;
    sti();
    for (u32 i = 0; i < 3000000; i++) cpu_pause();
    cli();
    printf("ioapic: masked entry: %u interrupts\n", pit_interrupts - before);
    outb(0x43, 0x30); /* channel 0 mode 0, stop periodic interrupts */
    outb(0x40, 0);
    outb(0x40, 0);
}

int guest_start(u32 magic, const struct multiboot_info *info) {
    (void)magic;
    (void)info;
    idt_init();
    pic_remap(0x20, 0x28);
    set_trap_handler(VECTOR_TIMER, timer_handler);
    set_trap_handler(VECTOR_TPR_TEST, tpr_handler);
    set_trap_handler(VECTOR_PIT, pit_handler);
    set_trap_handler(VECTOR_SPURIOUS, spurious_handler);
    puts("apic: local APIC and I/O APIC");
    if (!parse_madt()) return 1;
    lapic_tests();
    ioapic_tests();
    puts("apic: done");
    return 0;
}
