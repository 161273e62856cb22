/* The smallest useful guest: greets on COM1, prints a few computed values, exits with code 0. */
#include "runtime.h"

/* CRC-32 as used by Ethernet and zlib (reflected polynomial 0xEDB88320), computed bit by bit. */
static u32 crc32(const char *text) {
    u32 crc = 0xFFFFFFFFu;
    for (; *text; text++) {
        crc ^= (u8)*text;
        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static u32 fibonacci(u32 n) {
    u32 a = 0, b = 1;
    while (n--) {
        u32 next = a + b;
        a = b;
        b = next;
    }
    return a;
}

/* The volatile copies keep the compiler from folding the 64-bit division at build time, so the guest calls
 * libgcc's __udivdi3/__umoddi3/__divdi3 at run time. */
static volatile u64 dividend = 0x123456789ABCDEF0ull;
static volatile u64 divisor = 1000000007ull;
static volatile s64 signed_dividend = -9000000000000000000ll;
static volatile s64 signed_divisor = 7;

int guest_start(u32 magic, const struct multiboot_info *info) {
    serial_init();
    puts("Hello from mmiodbg guest");
    printf("multiboot magic: 0x%08x (%s)\n", magic, magic == MULTIBOOT_BOOTLOADER_MAGIC ? "ok" : "wrong");
    printf("multiboot memory info: %s\n", info->flags & 1 ? "present" : "missing");
    printf("6 * 7 = %d, -1000 / 7 = %d, -1000 %% 7 = %d, 0xFFFFFFFF + 1 = %u\n", 6 * 7, -1000 / 7, -1000 % 7,
           0xFFFFFFFFu + 1);
    printf("fibonacci(40) = %u\n", fibonacci(40));
    printf("crc32(\"The quick brown fox jumps over the lazy dog\") = 0x%08x\n",
           crc32("The quick brown fox jumps over the lazy dog"));
    u64 quotient = dividend / divisor, remainder = dividend % divisor;
    printf("0x%llx / %llu = %llu remainder %llu\n", dividend, divisor, quotient, remainder);
    printf("%lld / %lld = %lld\n", signed_dividend, signed_divisor, signed_dividend / signed_divisor);
    printf("format check: [%5d] [%-5d] [%05d] [%c] [%s] [%x] [%X]\n", 42, 42, -42, 'z', "str", 0xbeef, 0xbeef);
    puts("exiting with code 0");
    return 0;
}
