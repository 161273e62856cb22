/* Freestanding runtime for mmiodbg test guests: port and MMIO access, COM1 serial output, port 0xE9 output,
 * printf, exit through isa-debug-exit, IDT with trap handlers, 8259 PIC helpers. */
#ifndef MMIODBG_RUNTIME_H
#define MMIODBG_RUNTIME_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;
typedef unsigned int size_t;
typedef unsigned int uintptr_t;

#define NULL ((void *)0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Multiboot 0.6.96 section 3.3: the information structure. */
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u
struct multiboot_info {
    u32 flags;
    u32 mem_lower;
    u32 mem_upper;
    u32 boot_device;
    u32 cmdline;
    u32 mods_count;
    u32 mods_addr;
    u32 syms[4];
    u32 mmap_length;
    u32 mmap_addr;
    u32 drives_length;
    u32 drives_addr;
    u32 config_table;
    u32 boot_loader_name;
    u32 apm_table;
    u32 vbe_control_info;
    u32 vbe_mode_info;
    u16 vbe_mode;
    u16 vbe_interface_seg;
    u16 vbe_interface_off;
    u16 vbe_interface_len;
};

/* Every guest defines this; its return value is the exit code. */
int guest_start(u32 magic, const struct multiboot_info *info);

static inline void outb(u16 port, u8 value) { __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port)); }
static inline void outw(u16 port, u16 value) { __asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port)); }
static inline void outl(u16 port, u32 value) { __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port)); }
static inline u8 inb(u16 port) {
    u8 value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}
static inline u16 inw(u16 port) {
    u16 value;
    __asm__ volatile("inw %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}
static inline u32 inl(u16 port) {
    u32 value;
    __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

static inline u8 mmio_read8(uintptr_t address) { return *(volatile u8 *)address; }
static inline u16 mmio_read16(uintptr_t address) { return *(volatile u16 *)address; }
static inline u32 mmio_read32(uintptr_t address) { return *(volatile u32 *)address; }
static inline void mmio_write8(uintptr_t address, u8 value) { *(volatile u8 *)address = value; }
static inline void mmio_write16(uintptr_t address, u16 value) { *(volatile u16 *)address = value; }
static inline void mmio_write32(uintptr_t address, u32 value) { *(volatile u32 *)address = value; }

static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void hlt(void) { __asm__ volatile("hlt" ::: "memory"); }
/* STI delays interrupt recognition by one instruction (Intel SDM Vol. 2B, STI), so no interrupt is lost
 * between the two instructions. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void cpu_pause(void) { __asm__ volatile("pause" ::: "memory"); }

void *memset(void *dest, int value, size_t count);
void *memcpy(void *dest, const void *src, size_t count);
int memcmp(const void *a, const void *b, size_t count);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/* COM1, 16550 UART at I/O port 0x3F8. */
void serial_init(void);
void serial_putc(char c);
/* Bochs/QEMU debug console port 0xE9 (QEMU needs -debugcon to show it). */
void e9_putc(char c);
void e9_puts(const char *s);

void putc(char c);
void puts(const char *s);
int printf(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* isa-debug-exit at port 0xF4: QEMU exits with status (code << 1) | 1. */
void exit(int code) __attribute__((noreturn));

/* The stack as trap_common leaves it (isr.asm): PUSHAD registers, vector, error code, then the CPU's frame. */
struct trap_frame {
    u32 edi, esi, ebp, esp_at_pushad, ebx, edx, ecx, eax;
    u32 vector;
    u32 error_code;
    u32 eip;
    u32 cs;
    u32 eflags;
};
typedef void (*trap_handler)(struct trap_frame *frame);

/* Loads an IDT whose 256 gates are 32-bit interrupt gates; unhandled vectors print and exit(0x7F). */
void idt_init(void);
void set_trap_handler(u8 vector, trap_handler handler);
/* Makes a gate callable from ring 0 with INT n (DPL 0) or with any DPL. */
void set_trap_gate_dpl(u8 vector, u8 dpl);

/* 8259 pair: remap IRQ 0-7 to master_base and IRQ 8-15 to slave_base, all lines masked. */
void pic_remap(u8 master_base, u8 slave_base);
void pic_set_mask(u16 mask);
void pic_eoi(u8 irq);

#endif
