/* i8042 keyboard controller and the system ports: controller self-test, command byte, interface tests,
 * keyboard enable/disable, A20 through the i8042 output port and through port 0x92 (a pattern above 1 MiB and
 * its alias below), POST codes on port 0x80, and the 0xE9 debug console (QEMU runs this guest with
 * -debugcon so that the port exists there too). */
#include "runtime.h"

#define KBC_DATA 0x60
#define KBC_STATUS 0x64
#define KBC_COMMAND 0x64
#define STATUS_OBF 0x01
#define STATUS_IBF 0x02
#define STATUS_SYS 0x04
#define STATUS_A2 0x08

#define ALIAS_LOW 0x00280000u
#define ALIAS_HIGH 0x00380000u
#define PROBE_ADDRESS 0x8000u

extern const u8 a20_probe_start[];
extern const u8 a20_probe_end[];

static void kbc_wait_input(void) {
    for (u32 i = 0; i < 1000000 && (inb(KBC_STATUS) & STATUS_IBF); i++) cpu_pause();
}

static int kbc_read(u8 *value) {
    for (u32 i = 0; i < 1000000; i++) {
        if (inb(KBC_STATUS) & STATUS_OBF) {
            *value = inb(KBC_DATA);
            return 1;
        }
        cpu_pause();
    }
    return 0;
}

static void kbc_command(u8 command) {
    kbc_wait_input();
    outb(KBC_COMMAND, command);
}

static void kbc_write_data(u8 value) {
    kbc_wait_input();
    outb(KBC_DATA, value);
}

static void kbc_flush(void) {
    for (u32 i = 0; i < 64 && (inb(KBC_STATUS) & STATUS_OBF); i++) (void)inb(KBC_DATA);
}

static void print_reply(const char *what, u8 command) {
    u8 value;
    kbc_command(command);
    if (kbc_read(&value)) printf("i8042: %s -> 0x%02x\n", what, value);
    else printf("i8042: %s -> no reply\n", what);
}

static u8 read_command_byte(void) {
    u8 value = 0;
    kbc_command(0x20);
    (void)kbc_read(&value);
    return value;
}

static void write_command_byte(u8 value) {
    kbc_command(0x60);
    kbc_write_data(value);
}

static void keyboard_command(const char *what, u8 command, int replies) {
    kbc_write_data(command);
    printf("i8042: keyboard %s ->", what);
    for (int i = 0; i < replies; i++) {
        u8 value;
        if (kbc_read(&value)) printf(" 0x%02x", value);
        else printf(" none");
    }
    putc('\n');
}

static void controller_tests(void) {
    kbc_command(0xAD); /* disable the keyboard while the controller is set up, as Linux does */
    kbc_command(0xA7);
    kbc_flush();
    write_command_byte(0x00); /* no interrupts, no translation, both ports enabled */
    print_reply("self-test (0xaa)", 0xAA);
    printf("i8042: status SYS flag after the self-test %u\n", (inb(KBC_STATUS) & STATUS_SYS) ? 1 : 0);
    write_command_byte(0x44); /* SYS flag, translation; interrupts off */
    printf("i8042: command byte 0x44 -> 0x%02x\n", read_command_byte());
    write_command_byte(0x04);
    printf("i8042: command byte 0x04 -> 0x%02x\n", read_command_byte());
    print_reply("keyboard interface test (0xab)", 0xAB);
    print_reply("aux interface test (0xa9)", 0xA9);
    kbc_command(0xAD);
    printf("i8042: command byte after 0xad (keyboard disabled) 0x%02x\n", read_command_byte());
    kbc_command(0xAE);
    printf("i8042: command byte after 0xae (keyboard enabled) 0x%02x\n", read_command_byte());
    kbc_command(0xA7);
    printf("i8042: command byte after 0xa7 (aux disabled) 0x%02x\n", read_command_byte());
    kbc_command(0xA8);
    printf("i8042: command byte after 0xa8 (aux enabled) 0x%02x\n", read_command_byte());
    printf("i8042: status after a command (A2 = last write was a command) %u\n",
           (inb(KBC_STATUS) & STATUS_A2) ? 1 : 0);
    /* The keyboard itself, without translation. */
    keyboard_command("echo (0xee)", 0xEE, 1);
    keyboard_command("identify (0xf2)", 0xF2, 3);
    keyboard_command("reset (0xff)", 0xFF, 2);
    kbc_flush();
}

static u32 output_port_a20(void) {
    u8 value = 0;
    kbc_command(0xD0);
    (void)kbc_read(&value);
    return (value >> 1) & 1;
}

static void a20_test(u32 method) {
    typedef u32 (*probe_fn)(u32);
    volatile u32 *low = (volatile u32 *)ALIAS_LOW;
    volatile u32 *high = (volatile u32 *)ALIAS_HIGH;
    *low = 0x11111111u;
    *high = 0x22222222u;
    u32 seen = ((probe_fn)PROBE_ADDRESS)(method);
    const char *name = method ? "i8042 output port" : "port 0x92";
    printf("a20 off (both gates): 0x%06x reads 0x%08x (%s)\n", ALIAS_HIGH, seen,
           seen == 0x11111111u ? "alias of 0x280000" : "no alias");
    printf("a20 off: the write through the alias landed at 0x280000: %s; 0x380000 kept 0x%08x\n",
           *low == 0x33333333u ? "yes" : "no", *high);
    printf("a20 on via %s: port 0x92 bit 1 = %u, output port bit 1 = %u\n", name, (inb(0x92) >> 1) & 1,
           output_port_a20());
    *low = 0x44444444u;
    printf("a20 on via %s: 0x380000 independent of 0x280000: %s\n", name, *high != *low ? "yes" : "no");
    /* Turn the other gate on again too, as firmware left it. */
    if (method) outb(0x92, (inb(0x92) | 0x02) & ~0x01);
    else {
        kbc_command(0xD1);
        kbc_write_data(0xDF);
        kbc_wait_input();
    }
}

static void ports_tests(void) {
    printf("port 0x92: 0x%02x (A20 gate bit 1 on, fast reset bit 0 clear)\n", inb(0x92) & 0x03);
    printf("i8042: output port A20 bit %u\n", output_port_a20());
    memcpy((void *)PROBE_ADDRESS, a20_probe_start, (size_t)(a20_probe_end - a20_probe_start));
    a20_test(0);
    a20_test(1);

    /* POST codes: firmware progress on port 0x80, nothing to read back on QEMU. */
    for (u32 code = 0x10; code <= 0x18; code++) outb(0x80, (u8)code);
    outb(0x80, 0xAA);
    puts("port 0x80: POST codes 0x10-0x18, 0xaa written");

    /* Port 0xE9 reads 0xE9 where a debug console is present (QEMU with -debugcon, Bochs, mmiodbg). */
    u8 e9 = inb(0xE9);
    printf("port 0xe9: reads 0x%02x\n", e9);
    if (e9 == 0xE9) e9_puts("i8042-ports: hello on the debug console\n");
}

int guest_start(u32 magic, const struct multiboot_info *info) {
    (void)magic;
    (void)info;
    idt_init();
    pic_remap(0x20, 0x28);
    puts("i8042-ports: keyboard controller, A20, POST and debug ports");
    controller_tests();
    ports_tests();
    puts("i8042-ports: done");
    return 0;
}
