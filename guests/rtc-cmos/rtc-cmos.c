/* MC146818 RTC and CMOS at ports 0x70/0x71: the time registers read with the UIP protocol (only their
 * validity is printed, the time itself differs from run to run), the memory-size bytes, register D's valid
 * bit, the periodic interrupt on IRQ8, register C read-to-clear and the NMI mask bit of port 0x70. */
#include "runtime.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define NMI_DISABLE 0x80
#define REG_A 0x0A
#define REG_B 0x0B
#define REG_C 0x0C
#define REG_D 0x0D
#define REG_CENTURY 0x32 /* the FADT's CENTURY field points here on both machines */
#define A_UIP 0x80
#define B_PIE 0x40
#define B_BINARY 0x04
#define B_24H 0x02
#define C_IRQF 0x80
#define C_PF 0x40

#define VECTOR_BASE 0x20
#define IRQ_RTC 8

static u8 cmos_read(u8 index) {
    outb(CMOS_INDEX, NMI_DISABLE | index);
    return inb(CMOS_DATA);
}

static void cmos_write(u8 index, u8 value) {
    outb(CMOS_INDEX, NMI_DISABLE | index);
    outb(CMOS_DATA, value);
}

struct rtc_time {
    u8 second, minute, hour, weekday, day, month, year, century;
};

static void read_time_once(struct rtc_time *t) {
    while (cmos_read(REG_A) & A_UIP) cpu_pause();
    t->second = cmos_read(0x00);
    t->minute = cmos_read(0x02);
    t->hour = cmos_read(0x04);
    t->weekday = cmos_read(0x06);
    t->day = cmos_read(0x07);
    t->month = cmos_read(0x08);
    t->year = cmos_read(0x09);
    t->century = cmos_read(REG_CENTURY);
}

/* Linux's mc146818_get_time: read until two consecutive reads agree. */
static void read_time(struct rtc_time *t) {
    struct rtc_time again;
    for (;;) {
        read_time_once(t);
        read_time_once(&again);
        if (memcmp(t, &again, sizeof again) == 0) return;
    }
}

static int bcd_ok(u8 v) { return (v & 0x0F) <= 9 && (v >> 4) <= 9; }
static u8 from_bcd(u8 v) { return (u8)((v >> 4) * 10 + (v & 0x0F)); }

static int field_ok(u8 raw, int bcd, u8 lo, u8 hi) {
    if (bcd && !bcd_ok(raw)) return 0;
    u8 v = bcd ? from_bcd(raw) : raw;
    return v >= lo && v <= hi;
}

static void time_tests(void) {
    u8 b = cmos_read(REG_B);
    int bcd = !(b & B_BINARY);
    printf("rtc: register A 0x%02x, register B 0x%02x (%s, %s)\n", cmos_read(REG_A), b, bcd ? "BCD" : "binary",
           b & B_24H ? "24-hour" : "12-hour");
    struct rtc_time t;
    read_time(&t);
    u8 hour = t.hour;
    int hour_ok = (b & B_24H) ? field_ok(hour, bcd, 0, 23) : field_ok(hour & 0x7F, bcd, 1, 12);
    printf("rtc: seconds %s, minutes %s, hours %s\n", field_ok(t.second, bcd, 0, 59) ? "valid" : "INVALID",
           field_ok(t.minute, bcd, 0, 59) ? "valid" : "INVALID", hour_ok ? "valid" : "INVALID");
    printf("rtc: weekday %s, day %s, month %s, year %s, century %s\n",
           field_ok(t.weekday, bcd, 1, 7) ? "valid" : "INVALID", field_ok(t.day, bcd, 1, 31) ? "valid" : "INVALID",
           field_ok(t.month, bcd, 1, 12) ? "valid" : "INVALID", field_ok(t.year, bcd, 0, 99) ? "valid" : "INVALID",
           field_ok(t.century, bcd, 19, 21) ? "valid" : "INVALID");
    printf("rtc: register D 0x%02x (valid RAM and time: %s)\n", cmos_read(REG_D),
           cmos_read(REG_D) & 0x80 ? "yes" : "no");
}

static void memory_tests(void) {
    u32 base = cmos_read(0x15) | cmos_read(0x16) << 8;
    u32 ext1 = cmos_read(0x17) | cmos_read(0x18) << 8;
    u32 ext2 = cmos_read(0x30) | cmos_read(0x31) << 8;
    u32 high = cmos_read(0x34) | cmos_read(0x35) << 8;
    printf("cmos: base memory %u KiB (0x15/0x16)\n", base);
    printf("cmos: memory above 1 MiB %u KiB (0x17/0x18), %u KiB (0x30/0x31)\n", ext1, ext2);
    printf("cmos: memory above 16 MiB %u x 64 KiB = %u MiB (0x34/0x35)\n", high, high / 16 + 16);
    u32 above4g = cmos_read(0x5B) | cmos_read(0x5C) << 8 | (u32)cmos_read(0x5D) << 16;
    printf("cmos: memory above 4 GiB %u x 64 KiB (0x5b-0x5d)\n", above4g);
}

static volatile u32 rtc_interrupts;
static volatile u8 reg_c_in_handler;

static void rtc_handler(struct trap_frame *frame) {
    (void)frame;
    reg_c_in_handler = cmos_read(REG_C); /* reading C acknowledges the interrupt */
    rtc_interrupts++;
    pic_eoi(IRQ_RTC);
}

static void periodic_tests(void) {
    set_trap_handler(VECTOR_BASE + IRQ_RTC, rtc_handler);
    (void)cmos_read(REG_C);
    u8 a = cmos_read(REG_A);
    cmos_write(REG_A, (u8)((a & 0xF0) | 6)); /* rate 6: 1024 Hz */
    cmos_write(REG_B, cmos_read(REG_B) | B_PIE);
    pic_set_mask(0xFFFF & ~(1u << 2) & ~(1u << IRQ_RTC));
    while (rtc_interrupts < 5) sti_hlt();
    cli();
    printf("rtc: %u periodic interrupts at rate 6 on IRQ8, register C in the handler & 0xc0 = 0x%02x\n",
           rtc_interrupts, reg_c_in_handler & 0xC0);

    /* With PIE off the periodic flag still rises, but no interrupt is requested. */
    cmos_write(REG_B, cmos_read(REG_B) & ~B_PIE);
    u8 c0 = cmos_read(REG_C);
    u8 c1 = cmos_read(REG_C);
    printf("rtc: register C read twice with PIE off: IRQF %u then %u, PF cleared by the read: %s\n",
           (c0 >> 7) & 1, (c1 >> 7) & 1, c1 & C_PF ? "no" : "yes");

    /* Masked IRQ8: the PIE interrupt is requested (IRR) but not delivered. */
    pic_set_mask(0xFFFF);
    u32 before = rtc_interrupts;
    (void)cmos_read(REG_C);
    cmos_write(REG_B, cmos_read(REG_B) | B_PIE);
    sti();
    u32 polls = 0;
    for (; polls < 100000000u; polls++) {
        outb(0xA0, 0x0A); /* OCW3: read IRR of the slave */
        if (inb(0xA0) & 0x01) break;
    }
    cli();
    printf("rtc: with IRQ8 masked the slave IRR shows it: %s, interrupts delivered: %u\n",
           polls < 100000000u ? "yes" : "no", rtc_interrupts - before);
    cmos_write(REG_B, cmos_read(REG_B) & ~B_PIE);
    (void)cmos_read(REG_C);
    cmos_write(REG_A, a);
}

static void index_port_tests(void) {
    /* Port 0x70 bit 7 masks NMI; the register index is the low 7 bits either way. */
    outb(CMOS_INDEX, REG_D);
    u8 d_plain = inb(CMOS_DATA);
    outb(CMOS_INDEX, NMI_DISABLE | REG_D);
    u8 d_nmi = inb(CMOS_DATA);
    printf("cmos: register D with and without the NMI mask bit: 0x%02x 0x%02x\n", d_plain, d_nmi);
    printf("cmos: port 0x70 reads back 0x%02x\n", inb(CMOS_INDEX));
    /* A general-purpose CMOS byte keeps what is written. */
    u8 saved = cmos_read(0x48);
    cmos_write(0x48, 0xA5);
    u8 first = cmos_read(0x48);
    cmos_write(0x48, 0x5A);
    printf("cmos: byte 0x48 read/write 0x%02x 0x%02x\n", first, cmos_read(0x48));
    cmos_write(0x48, saved);
    /* Leave NMIs enabled, as firmware does. */
    outb(CMOS_INDEX, REG_D);
    (void)inb(CMOS_DATA);
}

int guest_start(u32 magic, const struct multiboot_info *info) {
    (void)magic;
    (void)info;
    idt_init();
    pic_remap(VECTOR_BASE, VECTOR_BASE + 8);
    puts("rtc-cmos: MC146818 RTC and CMOS");
    time_tests();
    memory_tests();
    periodic_tests();
    index_port_tests();
    puts("rtc-cmos: done");
    return 0;
}
