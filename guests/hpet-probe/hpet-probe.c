/* Probes the HPET the way Linux finds and starts it, and prints only deterministic results. */
#include "runtime.h"

#define HPET_DEFAULT_BASE 0xFED00000u

/* IA-PC HPET 1.0a section 2.3: register offsets and bits. */
#define HPET_GCAP_ID 0x000
#define HPET_PERIOD 0x004
#define HPET_GEN_CONF 0x010
#define HPET_GINTR_STA 0x020
#define HPET_MAIN_CNT 0x0F0
#define HPET_MAIN_CNT_HIGH 0x0F4
#define HPET_TN_CONF(n) (0x100 + 0x20 * (n))
#define HPET_TN_ROUTE_CAP(n) (0x104 + 0x20 * (n))
#define HPET_TN_COMP(n) (0x108 + 0x20 * (n))

#define GCAP_REV_ID(c) ((c) & 0xFF)
#define GCAP_NUM_TIM_CAP(c) (((c) >> 8) & 0x1F)
#define GCAP_COUNT_SIZE_CAP 0x2000u
#define GCAP_LEG_RT_CAP 0x8000u
#define GCAP_VENDOR_ID(c) ((c) >> 16)

#define GEN_CONF_ENABLE 0x1u
#define GEN_CONF_LEGACY_ROUTE 0x2u

#define TN_INT_TYPE_LEVEL 0x002u
#define TN_INT_ENABLE 0x004u
#define TN_TYPE_PERIODIC 0x008u
#define TN_PERIODIC_CAP 0x010u
#define TN_SIZE_64BIT_CAP 0x020u
#define TN_VAL_SET 0x040u
#define TN_32BIT_MODE 0x100u
#define TN_FSB_CAP 0x8000u

#define FEMTOSECONDS_PER_SECOND 1000000000000000ull
#define FEMTOSECONDS_PER_MILLISECOND 1000000000000ull

#define IRQ_BASE 0x20
#define TIMER_IRQ 0
#define PERIODIC_INTERRUPTS 8

static uintptr_t hpet_base;

static u32 hpet_read(u32 offset) { return mmio_read32(hpet_base + offset); }
static void hpet_write(u32 offset, u32 value) { mmio_write32(hpet_base + offset, value); }

static int checksum_ok(const void *table, u32 length) {
    const u8 *bytes = table;
    u8 sum = 0;
    for (u32 i = 0; i < length; i++) sum += bytes[i];
    return sum == 0;
}

/* ACPI 6.5 section 5.2.5: the RSDP lies on a 16-byte boundary in the first KiB of the EBDA or in
 * 0xE0000-0xFFFFF; its first 20 bytes (ACPI 1.0 part) sum to zero. */
static const u8 *find_rsdp_in(uintptr_t start, uintptr_t end) {
    for (uintptr_t address = start; address + 20 <= end; address += 16) {
        const u8 *candidate = (const u8 *)address;
        if (memcmp(candidate, "RSD PTR ", 8) == 0 && checksum_ok(candidate, 20)) return candidate;
    }
    return NULL;
}

static const u8 *find_rsdp(void) {
    uintptr_t ebda = (uintptr_t)mmio_read16(0x40E) << 4;
    const u8 *rsdp = NULL;
    if (ebda >= 0x80000 && ebda < 0xA0000) rsdp = find_rsdp_in(ebda, ebda + 1024);
    return rsdp ? rsdp : find_rsdp_in(0xE0000, 0x100000);
}

static const u8 *find_acpi_table(const char signature[4]) {
    const u8 *rsdp = find_rsdp();
    if (!rsdp) return NULL;
    u32 revision = rsdp[15];
    /* ACPI 2.0+ RSDP: XsdtAddress at offset 24 (64-bit), Length at 20, extended checksum over Length. */
    int use_xsdt = revision >= 2 && checksum_ok(rsdp, *(const u32 *)(rsdp + 20)) && *(const u32 *)(rsdp + 28) == 0 &&
                   *(const u32 *)(rsdp + 24) != 0;
    const u8 *root = (const u8 *)(uintptr_t)(use_xsdt ? *(const u32 *)(rsdp + 24) : *(const u32 *)(rsdp + 16));
    u32 entry_size = use_xsdt ? 8 : 4;
    if (memcmp(root, use_xsdt ? "XSDT" : "RSDT", 4) != 0) return NULL;
    u32 length = *(const u32 *)(root + 4);
    if (!checksum_ok(root, length)) return NULL;
    /* Section 5.2.7/5.2.8: entries follow the 36-byte table header. */
    for (u32 offset = 36; offset + entry_size <= length; offset += entry_size) {
        const u8 *table = (const u8 *)(uintptr_t)(*(const u32 *)(root + offset));
        if (memcmp(table, signature, 4) == 0 && checksum_ok(table, *(const u32 *)(table + 4))) return table;
    }
    return NULL;
}

/* IA-PC HPET 1.0a section 3.2.4: the ACPI HPET table; the Base Address (a Generic Address Structure) is at
 * offset 40 with its 64-bit address at offset 44. */
static uintptr_t hpet_base_from_acpi(void) {
    const u8 *table = find_acpi_table("HPET");
    if (!table) return 0;
    if (table[40] != 0 || *(const u32 *)(table + 48) != 0) return 0; /* not in 32-bit system memory space */
    return *(const u32 *)(table + 44);
}

static volatile u32 interrupt_count;
static volatile u32 counter_at_interrupt[PERIODIC_INTERRUPTS + 4];
static volatile u32 comparator_at_interrupt[PERIODIC_INTERRUPTS + 4];

static void timer_interrupt(struct trap_frame *frame) {
    (void)frame;
    u32 now = hpet_read(HPET_MAIN_CNT);
    if (interrupt_count < ARRAY_SIZE(counter_at_interrupt)) {
        counter_at_interrupt[interrupt_count] = now;
        comparator_at_interrupt[interrupt_count] = hpet_read(HPET_TN_COMP(0));
    }
    interrupt_count++;
    pic_eoi(TIMER_IRQ);
}

static void print_capabilities(u32 caps, u32 period) {
    u32 timers = GCAP_NUM_TIM_CAP(caps) + 1;
    /* drivers/char/hpet.c: frequency in Hz is 10^15 / period, rounded to nearest. */
    u64 frequency = (FEMTOSECONDS_PER_SECOND + period / 2) / period;
    printf("hpet0: %u comparators, %d-bit %u.%06u MHz counter\n", timers, caps & GCAP_COUNT_SIZE_CAP ? 64 : 32,
           (u32)(frequency / 1000000), (u32)(frequency % 1000000));
    printf("hpet: vendor 0x%04x, revision %u, period %u fs\n", GCAP_VENDOR_ID(caps), GCAP_REV_ID(caps), period);
    printf("hpet: legacy replacement route %s\n", caps & GCAP_LEG_RT_CAP ? "capable" : "not capable");
    for (u32 timer = 0; timer < timers; timer++) {
        u32 config = hpet_read(HPET_TN_CONF(timer));
        printf("hpet: timer %u: %s comparator, periodic %s, fsb %s, routes 0x%08x\n", timer,
               config & TN_SIZE_64BIT_CAP ? "64-bit" : "32-bit", config & TN_PERIODIC_CAP ? "yes" : "no",
               config & TN_FSB_CAP ? "yes" : "no", hpet_read(HPET_TN_ROUTE_CAP(timer)));
    }
}

static void check_advancing(void) {
    hpet_write(HPET_GEN_CONF, 0);
    hpet_write(HPET_MAIN_CNT, 0);
    hpet_write(HPET_MAIN_CNT_HIGH, 0);
    hpet_write(HPET_GEN_CONF, GEN_CONF_ENABLE);
    u32 first = hpet_read(HPET_MAIN_CNT);
    int advanced = 0;
    for (int attempt = 0; attempt < 1000000 && !advanced; attempt++) advanced = hpet_read(HPET_MAIN_CNT) != first;
    printf("advancing: %s\n", advanced ? "yes" : "no");
}

/* An edge latched in the 8259 while IRQ0 was masked (a PIT tick, or a timer 0 expiry after a test stopped counting)
 * is taken here, with timer 0 disabled, so that it is not counted by the next test. */
static void drain_timer_irq(void) {
    pic_set_mask((u16) ~(1u << TIMER_IRQ));
    sti();
    for (int i = 0; i < 100; i++) cpu_pause();
    cli();
    interrupt_count = 0;
}

/* Wait until `count` interrupts arrived or the counter moved `limit` ticks, with interrupts enabled. */
static void wait_for_interrupts(u32 count, u32 limit) {
    u32 start = hpet_read(HPET_MAIN_CNT);
    sti();
    while (interrupt_count < count && hpet_read(HPET_MAIN_CNT) - start < limit) cpu_pause();
    cli();
}

/* The sequence of Linux's hpet_set_periodic (arch/x86/kernel/hpet.c): stop the counter, set VAL_SET, write the
 * first expiry, then the period, restart the counter. */
static void check_periodic(u32 ticks_per_ms) {
    u32 period = 10 * ticks_per_ms;
    hpet_write(HPET_GEN_CONF, GEN_CONF_LEGACY_ROUTE);
    u32 now = hpet_read(HPET_MAIN_CNT);
    u32 config = hpet_read(HPET_TN_CONF(0)) & ~(TN_INT_TYPE_LEVEL | TN_VAL_SET);
    hpet_write(HPET_TN_CONF(0), config | TN_INT_ENABLE | TN_TYPE_PERIODIC | TN_VAL_SET | TN_32BIT_MODE);
    hpet_write(HPET_TN_COMP(0), now + period);
    hpet_write(HPET_TN_COMP(0), period);
    drain_timer_irq();
    hpet_write(HPET_GEN_CONF, GEN_CONF_LEGACY_ROUTE | GEN_CONF_ENABLE);
    wait_for_interrupts(PERIODIC_INTERRUPTS, (PERIODIC_INTERRUPTS + 4) * period);
    hpet_write(HPET_TN_CONF(0), config);
    pic_set_mask(0xFFFF);

    u32 received = interrupt_count;
    if (received < PERIODIC_INTERRUPTS) {
        printf("periodic: FAIL, %u of %u interrupts\n", received, PERIODIC_INTERRUPTS);
        return;
    }
    /* In periodic mode Tn_COMP reads the next expiry: it advances by the period at each match
     * (hpet.md R51), and by a multiple of it where a loaded host made QEMU skip expiries. The counter read in the
     * handler lies between the expiry that fired and the next one. */
    for (u32 i = 1; i < PERIODIC_INTERRUPTS; i++) {
        u32 advance = comparator_at_interrupt[i] - comparator_at_interrupt[i - 1];
        u32 expired = comparator_at_interrupt[i] - period;
        u32 latency = counter_at_interrupt[i] - expired;
        if (advance == 0 || advance % period != 0) {
            printf("periodic: FAIL, the comparator moved by %u ticks, period %u\n", advance, period);
            return;
        }
        if (latency >= period) {
            printf("periodic: FAIL, interrupt %u at counter 0x%08x, the expiry was 0x%08x\n", i,
                   counter_at_interrupt[i], expired);
            return;
        }
    }
    puts("periodic: ok");
}

/* One-shot timer 0 in 32-bit mode: the comparator holds a small value and the counter starts 2 ms below 2^32, so
 * the timer must not fire before bits 31:0 of the counter wrap, and must fire once when they reach the comparator,
 * 2 ms after the wrap (IA-PC HPET 1.0a section 2.3.9.2.4; hpet.md R46-R48). QEMU also raises an interrupt at the
 * instant of the roll-over (hpet.md R48); interrupts between the roll-over and the comparator are tolerated and not
 * reported, so that the transcript is the same on QEMU and on a model that follows the hardware. Interrupt
 * delivery under QEMU's TCG can lag the expiry by milliseconds on a loaded host, so no upper bound is checked. */
/* Whether an interrupt was recorded with the counter in [target, start), i.e. after the wrap at the comparator. */
static int interrupt_at_or_after(u32 target, u32 start) {
    u32 received = interrupt_count < ARRAY_SIZE(counter_at_interrupt) ? interrupt_count : ARRAY_SIZE(counter_at_interrupt);
    for (u32 i = 0; i < received; i++) {
        if (counter_at_interrupt[i] >= target && counter_at_interrupt[i] < start) return 1;
    }
    return 0;
}

static void check_one_shot_wrap(u32 ticks_per_ms) {
    u32 start = 0u - 2 * ticks_per_ms;
    u32 target = 2 * ticks_per_ms;
    hpet_write(HPET_GEN_CONF, GEN_CONF_LEGACY_ROUTE);
    u32 config = hpet_read(HPET_TN_CONF(0)) & ~(TN_INT_TYPE_LEVEL | TN_VAL_SET | TN_TYPE_PERIODIC);
    hpet_write(HPET_TN_CONF(0), config | TN_32BIT_MODE);
    hpet_write(HPET_MAIN_CNT, start);
    hpet_write(HPET_MAIN_CNT_HIGH, 0);
    hpet_write(HPET_TN_COMP(0), target);
    drain_timer_irq();
    hpet_write(HPET_TN_CONF(0), config | TN_32BIT_MODE | TN_INT_ENABLE);
    hpet_write(HPET_GEN_CONF, GEN_CONF_LEGACY_ROUTE | GEN_CONF_ENABLE);
    sti();
    /* Wait for the interrupt at the comparator (QEMU follows host time and may deliver it late on a loaded host;
     * give up after 1 s of counter time), then 5 ms more to catch a second one. */
    u32 seen_at = 0;
    for (;;) {
        u32 elapsed = hpet_read(HPET_MAIN_CNT) - start;
        if (!seen_at && interrupt_at_or_after(target, start)) seen_at = elapsed | 1;
        if (seen_at && elapsed - seen_at > 5 * ticks_per_ms) break;
        if (elapsed > 1000 * ticks_per_ms) break;
        cpu_pause();
    }
    cli();
    hpet_write(HPET_TN_CONF(0), config);
    hpet_write(HPET_GEN_CONF, 0);
    pic_set_mask(0xFFFF);

    u32 received = interrupt_count < ARRAY_SIZE(counter_at_interrupt) ? interrupt_count : ARRAY_SIZE(counter_at_interrupt);
    u32 at_target = 0;
    for (u32 i = 0; i < received; i++) {
        u32 fired_at = counter_at_interrupt[i];
        if (fired_at >= start) {
            printf("one-shot wrap: FAIL, fired at counter 0x%08x, before the 32-bit wrap\n", fired_at);
            return;
        }
        if (fired_at >= target) at_target++;
    }
    if (at_target != 1) {
        printf("one-shot wrap: FAIL, %u interrupts at the comparator 0x%08x\n", at_target, target);
        return;
    }
    puts("one-shot wrap: ok");
}

int guest_start(u32 magic, const struct multiboot_info *info) {
    (void)magic;
    (void)info;
    serial_init();
    idt_init();
    pic_remap(IRQ_BASE, IRQ_BASE + 8);
    set_trap_handler(IRQ_BASE + TIMER_IRQ, timer_interrupt);
    puts("hpet-probe: looking for the HPET");

    hpet_base = hpet_base_from_acpi();
    if (hpet_base) {
        printf("hpet0: at MMIO 0x%08x (from the ACPI HPET table)\n", hpet_base);
    } else {
        hpet_base = HPET_DEFAULT_BASE;
        printf("hpet0: no ACPI HPET table, trying 0x%08x\n", hpet_base);
    }
    u32 caps = hpet_read(HPET_GCAP_ID);
    u32 period = hpet_read(HPET_PERIOD);
    if (caps == 0xFFFFFFFFu || caps == 0 || period == 0 || period > 100000000u) {
        printf("hpet: no usable HPET (GCAP_ID 0x%08x, period %u)\n", caps, period);
        return 1;
    }
    print_capabilities(caps, period);
    u32 ticks_per_ms = (u32)((FEMTOSECONDS_PER_MILLISECOND + period / 2) / period);

    check_advancing();
    if (!(caps & GCAP_LEG_RT_CAP)) {
        puts("hpet: no legacy replacement route, skipping interrupt tests");
        return 1;
    }
    check_periodic(ticks_per_ms);
    check_one_shot_wrap(ticks_per_ms);
    puts("hpet-probe: done");
    return 0;
}
