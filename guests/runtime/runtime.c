#include "runtime.h"

#include <stdarg.h>

void *memset(void *dest, int value, size_t count) {
    u8 *d = dest;
    while (count--) *d++ = (u8)value;
    return dest;
}

void *memcpy(void *dest, const void *src, size_t count) {
    u8 *d = dest;
    const u8 *s = src;
    while (count--) *d++ = *s++;
    return dest;
}

int memcmp(const void *a, const void *b, size_t count) {
    const u8 *x = a, *y = b;
    for (; count; count--, x++, y++)
        if (*x != *y) return *x < *y ? -1 : 1;
    return 0;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

int strcmp(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return (u8)*a - (u8)*b;
}

/* 16550 UART registers (offsets from the base port) and bits, PC16550D data sheet. */
#define COM1 0x3F8
#define UART_THR 0
#define UART_DLL 0
#define UART_IER 1
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LCR_DLAB 0x80
#define UART_LCR_8N1 0x03
#define UART_FCR_ENABLE_CLEAR 0x07
#define UART_MCR_DTR_RTS_OUT2 0x0B
#define UART_LSR_THRE 0x20

static int serial_ready;

void serial_init(void) {
    outb(COM1 + UART_IER, 0);
    outb(COM1 + UART_LCR, UART_LCR_DLAB);
    outb(COM1 + UART_DLL, 1); /* divisor 1: 115200 baud from the 1.8432 MHz clock */
    outb(COM1 + UART_DLM, 0);
    outb(COM1 + UART_LCR, UART_LCR_8N1);
    outb(COM1 + UART_FCR, UART_FCR_ENABLE_CLEAR);
    outb(COM1 + UART_MCR, UART_MCR_DTR_RTS_OUT2);
    serial_ready = 1;
}

void serial_putc(char c) {
    if (!serial_ready) serial_init();
    while (!(inb(COM1 + UART_LSR) & UART_LSR_THRE)) cpu_pause();
    outb(COM1 + UART_THR, (u8)c);
}

void e9_putc(char c) { outb(0xE9, (u8)c); }

void e9_puts(const char *s) {
    while (*s) e9_putc(*s++);
}

void putc(char c) {
    if (c == '\n') serial_putc('\r');
    serial_putc(c);
}

void puts(const char *s) {
    while (*s) putc(*s++);
    putc('\n');
}

struct format_spec {
    int left_align;
    int zero_pad;
    int width;
};

static void emit_padded(const char *text, int length, const struct format_spec *spec) {
    int padding = spec->width > length ? spec->width - length : 0;
    char pad = spec->zero_pad && !spec->left_align ? '0' : ' ';
    int i;
    if (!spec->left_align) {
        /* A zero-padded negative number keeps its sign in front of the zeros. */
        if (pad == '0' && length > 0 && text[0] == '-') {
            putc('-');
            text++;
            length--;
        }
        for (i = 0; i < padding; i++) putc(pad);
    }
    for (i = 0; i < length; i++) putc(text[i]);
    if (spec->left_align)
        for (i = 0; i < padding; i++) putc(' ');
}

static int format_unsigned(char *out, u64 value, unsigned base, int upper) {
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char reversed[24];
    int n = 0, i;
    do {
        reversed[n++] = digits[value % base];
        value /= base;
    } while (value);
    for (i = 0; i < n; i++) out[i] = reversed[n - 1 - i];
    return n;
}

int printf(const char *format, ...) {
    va_list args;
    va_start(args, format);
    for (const char *p = format; *p; p++) {
        if (*p != '%') {
            putc(*p);
            continue;
        }
        struct format_spec spec = {0, 0, 0};
        p++;
        for (;; p++) {
            if (*p == '-') spec.left_align = 1;
            else if (*p == '0') spec.zero_pad = 1;
            else break;
        }
        while (*p >= '0' && *p <= '9') spec.width = spec.width * 10 + (*p++ - '0');
        int longs = 0;
        while (*p == 'l') longs++, p++;
        char text[26];
        int length;
        switch (*p) {
        case 'd':
        case 'i': {
            s64 value = longs >= 2 ? va_arg(args, s64) : va_arg(args, s32);
            u64 magnitude = value < 0 ? (u64)0 - (u64)value : (u64)value;
            length = 0;
            if (value < 0) text[length++] = '-';
            length += format_unsigned(text + length, magnitude, 10, 0);
            emit_padded(text, length, &spec);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            u64 value = longs >= 2 ? va_arg(args, u64) : va_arg(args, u32);
            length = format_unsigned(text, value, *p == 'u' ? 10 : 16, *p == 'X');
            emit_padded(text, length, &spec);
            break;
        }
        case 'p': {
            text[0] = '0';
            text[1] = 'x';
            struct format_spec pointer_spec = {0, 1, 8};
            length = format_unsigned(text + 2, (uintptr_t)va_arg(args, void *), 16, 0);
            emit_padded(text, 2, &spec);
            emit_padded(text + 2, length, &pointer_spec);
            break;
        }
        case 'c':
            text[0] = (char)va_arg(args, int);
            emit_padded(text, 1, &spec);
            break;
        case 's': {
            const char *s = va_arg(args, const char *);
            if (!s) s = "(null)";
            emit_padded(s, (int)strlen(s), &spec);
            break;
        }
        case '%':
            putc('%');
            break;
        case '\0':
            p--;
            break;
        default:
            putc('%');
            putc(*p);
        }
    }
    va_end(args);
    return 0;
}

#define DEBUG_EXIT_PORT 0xF4

void exit(int code) {
    outl(DEBUG_EXIT_PORT, (u32)code);
    for (;;) {
        cli();
        hlt();
    }
}

/* Intel SDM Vol. 3A, section 6.11: 8-byte IDT gate descriptors. */
struct idt_gate {
    u16 offset_low;
    u16 selector;
    u8 zero;
    u8 type_attributes;
    u16 offset_high;
} __attribute__((packed));

#define KERNEL_CODE_SELECTOR 0x08
#define GATE_PRESENT 0x80
#define GATE_INTERRUPT_32 0x0E

extern u32 isr_stub_table[256];
static struct idt_gate idt[256] __attribute__((aligned(8)));
static trap_handler trap_handlers[256];

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF",
    "15",  "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "22",  "23",  "24",  "25",  "26",  "27",  "28",  "#VC", "#SX", "31",
};

void trap_dispatch(struct trap_frame *frame) {
    trap_handler handler = trap_handlers[frame->vector & 0xFF];
    if (handler) {
        handler(frame);
        return;
    }
    printf("unhandled vector %u", frame->vector);
    if (frame->vector < 32) printf(" (%s)", exception_names[frame->vector]);
    printf(" error 0x%x at eip 0x%08x\n", frame->error_code, frame->eip);
    exit(0x7F);
}

void set_trap_handler(u8 vector, trap_handler handler) { trap_handlers[vector] = handler; }

void set_trap_gate_dpl(u8 vector, u8 dpl) {
    idt[vector].type_attributes = (u8)(GATE_PRESENT | ((dpl & 3) << 5) | GATE_INTERRUPT_32);
}

void idt_init(void) {
    for (int vector = 0; vector < 256; vector++) {
        u32 offset = isr_stub_table[vector];
        idt[vector].offset_low = (u16)offset;
        idt[vector].selector = KERNEL_CODE_SELECTOR;
        idt[vector].zero = 0;
        idt[vector].type_attributes = GATE_PRESENT | GATE_INTERRUPT_32;
        idt[vector].offset_high = (u16)(offset >> 16);
    }
    struct {
        u16 limit;
        u32 base;
    } __attribute__((packed)) idtr = {sizeof(idt) - 1, (u32)idt};
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

/* 8259A programming (Intel 8259A data sheet): ICW1-ICW4, then OCW1 (mask) and OCW2 (EOI). */
#define PIC_MASTER_COMMAND 0x20
#define PIC_MASTER_DATA 0x21
#define PIC_SLAVE_COMMAND 0xA0
#define PIC_SLAVE_DATA 0xA1
#define PIC_ICW1_INIT_WITH_ICW4 0x11
#define PIC_ICW4_8086 0x01
#define PIC_OCW2_NONSPECIFIC_EOI 0x20

void pic_remap(u8 master_base, u8 slave_base) {
    outb(PIC_MASTER_COMMAND, PIC_ICW1_INIT_WITH_ICW4);
    outb(PIC_SLAVE_COMMAND, PIC_ICW1_INIT_WITH_ICW4);
    outb(PIC_MASTER_DATA, master_base);
    outb(PIC_SLAVE_DATA, slave_base);
    outb(PIC_MASTER_DATA, 1 << 2); /* slave on IRQ2 */
    outb(PIC_SLAVE_DATA, 2);       /* slave identity */
    outb(PIC_MASTER_DATA, PIC_ICW4_8086);
    outb(PIC_SLAVE_DATA, PIC_ICW4_8086);
    pic_set_mask(0xFFFF);
}

void pic_set_mask(u16 mask) {
    outb(PIC_MASTER_DATA, (u8)mask);
    outb(PIC_SLAVE_DATA, (u8)(mask >> 8));
}

void pic_eoi(u8 irq) {
    if (irq >= 8) outb(PIC_SLAVE_COMMAND, PIC_OCW2_NONSPECIFIC_EOI);
    outb(PIC_MASTER_COMMAND, PIC_OCW2_NONSPECIFIC_EOI);
}
