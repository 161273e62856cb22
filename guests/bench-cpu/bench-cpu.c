/*
 * CPU-bound benchmark guest: integer loops of the kind hashing and checksumming code runs (table-driven and
 * bitwise CRC-32, FNV-1a, xorshift, an insertion sort, a sieve). The number of rounds comes from the multiboot
 * command line ("rounds=N", default 60); each round is about 3.5 million instructions. Prints one checksum line
 * per kernel so that runs on different emulators can be compared, then exits with code 0.
 */
#include "runtime.h"

#define BUFFER_BYTES 65536
static u8 buffer[BUFFER_BYTES];
static u32 crc_table[256];
static u32 sort_buffer[512];
static u8 sieve[32768];

static u32 parse_rounds(const struct multiboot_info *info) {
    u32 rounds = 60;
    if (!info || !(info->flags & (1u << 2)) || !info->cmdline) return rounds;
    const char *p = (const char *)info->cmdline;
    for (; *p; p++) {
        if (p[0] == 'r' && p[1] == 'o' && p[2] == 'u' && p[3] == 'n' && p[4] == 'd' && p[5] == 's' && p[6] == '=') {
            u32 n = 0;
            for (p += 7; *p >= '0' && *p <= '9'; p++) n = n * 10 + (u32)(*p - '0');
            return n ? n : rounds;
        }
    }
    return rounds;
}

static void fill(u32 seed) {
    u32 x = seed | 1;
    for (u32 i = 0; i < BUFFER_BYTES; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buffer[i] = (u8)x;
    }
}

static void make_crc_table(void) {
    for (u32 n = 0; n < 256; n++) {
        u32 c = n;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
        crc_table[n] = c;
    }
}

static u32 crc32_table(const u8 *data, u32 length) {
    u32 crc = 0xFFFFFFFFu;
    for (u32 i = 0; i < length; i++) crc = crc_table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

static u32 crc32_bitwise(const u8 *data, u32 length) {
    u32 crc = 0xFFFFFFFFu;
    for (u32 i = 0; i < length; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static u32 fnv1a(const u8 *data, u32 length) {
    u32 h = 2166136261u;
    for (u32 i = 0; i < length; i++) {
        h ^= data[i];
        h *= 16777619u;
    }
    return h;
}

static u32 sort_checksum(u32 seed) {
    u32 x = seed | 1;
    for (u32 i = 0; i < 512; i++) {
        x = x * 1103515245u + 12345u;
        sort_buffer[i] = x >> 8;
    }
    for (u32 i = 1; i < 512; i++) {
        u32 v = sort_buffer[i];
        u32 j = i;
        while (j > 0 && sort_buffer[j - 1] > v) {
            sort_buffer[j] = sort_buffer[j - 1];
            j--;
        }
        sort_buffer[j] = v;
    }
    u32 sum = 0;
    for (u32 i = 0; i < 512; i++) sum = (sum << 1 | sum >> 31) ^ sort_buffer[i];
    return sum;
}

static u32 primes(void) {
    u32 count = 0;
    for (u32 i = 0; i < sizeof sieve; i++) sieve[i] = 1;
    for (u32 i = 2; i < sizeof sieve; i++) {
        if (!sieve[i]) continue;
        count++;
        for (u32 j = i * 2; j < sizeof sieve; j += i) sieve[j] = 0;
    }
    return count;
}

int guest_start(u32 magic, const struct multiboot_info *info) {
    (void)magic;
    u32 rounds = parse_rounds(info);
    make_crc_table();
    u32 crc_t = 0, crc_b = 0, fnv = 0, sorted = 0, prime_count = 0;
    for (u32 round = 0; round < rounds; round++) {
        fill(round * 2654435761u);
        crc_t ^= crc32_table(buffer, BUFFER_BYTES);
        crc_b ^= crc32_bitwise(buffer, BUFFER_BYTES / 8);
        fnv ^= fnv1a(buffer, BUFFER_BYTES);
        sorted ^= sort_checksum(round * 2 + 1);
        prime_count += primes();
    }
    printf("bench-cpu: %u rounds\n", rounds);
    printf("crc32 table %08x bitwise %08x fnv1a %08x sort %08x primes %u\n", crc_t, crc_b, fnv, sorted, prime_count);
    exit(0);
    return 0;
}
