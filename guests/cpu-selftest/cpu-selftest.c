/* Exercises integer instructions, exceptions, paging and the x87, printing one deterministic line per check.
 * Only architecturally defined results are printed: flags an instruction leaves undefined are masked. */
#include "runtime.h"

/* EFLAGS bits (Intel SDM Vol. 1, section 3.4.3). */
#define CF 0x001u
#define PF 0x004u
#define AF 0x010u
#define ZF 0x040u
#define SF 0x080u
#define OF 0x800u
#define ARITHMETIC_FLAGS (CF | PF | AF | ZF | SF | OF)

static int failures;

static void check(const char *name, int ok) {
    if (!ok) failures++;
    printf("%s: %s\n", name, ok ? "ok" : "FAIL");
}

#define BINARY_OP(name, insn)                                                                                         \
    static u32 name(u32 a, u32 b, u32 carry_in, u32 *flags) {                                                         \
        u32 out;                                                                                                      \
        __asm__ volatile("pushl %[cin]\n\tpopfl\n\t" insn " %[b], %[a]\n\tpushfl\n\tpopl %[f]"                        \
                         : [a] "=&r"(out), [f] "=&r"(*flags)                                                          \
                         : "0"(a), [b] "r"(b), [cin] "r"(carry_in ? 0x3u : 0x2u)                                      \
                         : "cc");                                                                                     \
        return out;                                                                                                   \
    }
BINARY_OP(op_add, "addl")
BINARY_OP(op_adc, "adcl")
BINARY_OP(op_sub, "subl")
BINARY_OP(op_sbb, "sbbl")
BINARY_OP(op_and, "andl")
BINARY_OP(op_xor, "xorl")

static void test_arithmetic(void) {
    static const u32 operands[][2] = {
        {0, 0}, {1, 0xFFFFFFFF}, {0x7FFFFFFF, 1}, {0x80000000, 0x80000000}, {0x0F, 0x01}, {0x12345678, 0x9ABCDEF0},
    };
    for (u32 i = 0; i < ARRAY_SIZE(operands); i++) {
        u32 a = operands[i][0], b = operands[i][1], f1, f2, f3, f4;
        u32 add = op_add(a, b, 0, &f1), adc = op_adc(a, b, 1, &f2), sub = op_sub(a, b, 0, &f3), sbb = op_sbb(a, b, 1, &f4);
        printf("arith %08x,%08x: add %08x/%03x adc %08x/%03x sub %08x/%03x sbb %08x/%03x\n", a, b, add,
               f1 & ARITHMETIC_FLAGS, adc, f2 & ARITHMETIC_FLAGS, sub, f3 & ARITHMETIC_FLAGS, sbb, f4 & ARITHMETIC_FLAGS);
    }
    u32 f5, f6;
    /* Logical instructions clear CF and OF; AF is undefined (SDM Vol. 2, AND/XOR). */
    u32 and_result = op_and(0xF0F0F0F0, 0x8F0F0F0F, 1, &f5), xor_result = op_xor(0x5555, 0x5555, 1, &f6);
    printf("logic: and %08x/%03x xor %08x/%03x\n", and_result, f5 & (ARITHMETIC_FLAGS & ~AF), xor_result,
           f6 & (ARITHMETIC_FLAGS & ~AF));
}

static void test_multiply_divide(void) {
    u32 low, high, flags;
    /* MUL/IMUL define only CF and OF (SDM Vol. 2, MUL). */
    __asm__ volatile("mull %[b]\n\tpushfl\n\tpopl %[f]" : "=a"(low), "=d"(high), [f] "=r"(flags) : "a"(0xFFFFFFFFu), [b] "r"(0xFFFFFFFFu) : "cc");
    printf("mul ffffffff*ffffffff = %08x:%08x cf/of %03x\n", high, low, flags & (CF | OF));
    __asm__ volatile("imull %[b]\n\tpushfl\n\tpopl %[f]" : "=a"(low), "=d"(high), [f] "=r"(flags) : "a"(-7), [b] "r"(3) : "cc");
    printf("imul -7*3 = %08x:%08x cf/of %03x\n", high, low, flags & (CF | OF));
    s32 product;
    __asm__ volatile("imull %[b], %[a]\n\tpushfl\n\tpopl %[f]" : [a] "=r"(product), [f] "=r"(flags) : "0"(0x40000000), [b] "r"(4) : "cc");
    printf("imul 0x40000000*4 = %08x cf/of %03x\n", (u32)product, flags & (CF | OF));
    u32 quotient, remainder;
    __asm__ volatile("divl %[d]" : "=a"(quotient), "=d"(remainder) : "a"(0xFFFFFFFFu), "d"(0xFFFFFFFEu), [d] "r"(0xFFFFFFFFu));
    printf("div fffffffe:ffffffff / ffffffff = %08x rem %08x\n", quotient, remainder);
    s32 signed_quotient, signed_remainder;
    __asm__ volatile("cltd\n\tidivl %[d]" : "=a"(signed_quotient), "=d"(signed_remainder) : "a"(-7), [d] "r"(2));
    printf("idiv -7 / 2 = %d rem %d\n", signed_quotient, signed_remainder);
    u8 byte_quotient, byte_remainder;
    u16 ax;
    __asm__ volatile("divb %[d]" : "=a"(ax) : "a"((u16)1000), [d] "q"((u8)7));
    byte_quotient = (u8)ax, byte_remainder = (u8)(ax >> 8);
    printf("divb 1000 / 7 = %u rem %u\n", byte_quotient, byte_remainder);
}

static volatile u32 fault_vector, fault_error, fault_eip, fault_site;
static u32 fault_resume;

static void recover_from_fault(struct trap_frame *frame) {
    fault_vector = frame->vector;
    fault_error = frame->error_code;
    fault_eip = frame->eip;
    frame->eip = fault_resume;
}

static void test_exceptions(void) {
    set_trap_handler(0, recover_from_fault);
    set_trap_handler(6, recover_from_fault);
    u32 zero = 0, low = 1, high = 0;
    fault_vector = 0xFF;
    __asm__ volatile("movl $1f, %[resume]\n\tmovl $2f, %[site]\n2:\tdivl %[d]\n1:"
                     : [resume] "=m"(fault_resume), [site] "=m"(fault_site), "+a"(low), "+d"(high)
                     : [d] "r"(zero));
    check("#DE on divide by zero", fault_vector == 0 && fault_eip == fault_site);
    /* INT_MIN / -1 overflows the quotient: also #DE (SDM Vol. 2, IDIV). */
    s32 dividend = (s32)0x80000000, divisor = -1;
    fault_vector = 0xFF;
    __asm__ volatile("movl $1f, %[resume]\n\tmovl $2f, %[site]\n2:\tcltd\n\tidivl %[d]\n1:"
                     : [resume] "=m"(fault_resume), [site] "=m"(fault_site), "+a"(dividend)
                     : [d] "r"(divisor)
                     : "edx");
    check("#DE on idiv overflow", fault_vector == 0 && fault_eip == fault_site + 1);
    fault_vector = 0xFF;
    __asm__ volatile("movl $1f, %[resume]\n\tmovl $2f, %[site]\n2:\tud2\n1:"
                     : [resume] "=m"(fault_resume), [site] "=m"(fault_site));
    check("#UD on ud2", fault_vector == 6 && fault_eip == fault_site);
}

static void software_interrupt(struct trap_frame *frame) { frame->eax = frame->eax * 2 + frame->vector; }

static void test_software_interrupt(void) {
    set_trap_handler(0x80, software_interrupt);
    u32 value = 21;
    __asm__ volatile("int $0x80" : "+a"(value));
    printf("int 0x80 returned %u\n", value);
}

static void test_bits(void) {
    u32 result, flags;
    __asm__ volatile("shldl $4, %[b], %[a]\n\tpushfl\n\tpopl %[f]" : [a] "=r"(result), [f] "=r"(flags) : "0"(0x12345678u), [b] "r"(0x9ABCDEF0u) : "cc");
    printf("shld 12345678,9abcdef0,4 = %08x cf %u\n", result, flags & CF);
    __asm__ volatile("shrdl $12, %[b], %[a]\n\tpushfl\n\tpopl %[f]" : [a] "=r"(result), [f] "=r"(flags) : "0"(0x12345678u), [b] "r"(0x9ABCDEF0u) : "cc");
    printf("shrd 12345678,9abcdef0,12 = %08x cf %u\n", result, flags & CF);
    u32 count = 33; /* counts are masked to 5 bits: 33 shifts by 1 */
    __asm__ volatile("shll %%cl, %[a]\n\tpushfl\n\tpopl %[f]" : [a] "=r"(result), [f] "=r"(flags) : "0"(0xC0000001u), "c"(count) : "cc");
    printf("shl c0000001,33 = %08x cf/of %03x\n", result, flags & (CF | OF));
    __asm__ volatile("sarl $31, %[a]" : [a] "=r"(result) : "0"(0x80000000u));
    printf("sar 80000000,31 = %08x\n", result);
    __asm__ volatile("stc\n\trcll $1, %[a]\n\tpushfl\n\tpopl %[f]" : [a] "=r"(result), [f] "=r"(flags) : "0"(0x80000000u) : "cc");
    printf("rcl 80000000,1 with cf = %08x cf %u\n", result, flags & CF);
    __asm__ volatile("rorl $8, %[a]" : [a] "=r"(result) : "0"(0x12345678u));
    printf("ror 12345678,8 = %08x\n", result);
    u32 index;
    __asm__ volatile("bsfl %[v], %[i]" : [i] "=r"(index) : [v] "r"(0x00F00000u) : "cc");
    printf("bsf 00f00000 = %u\n", index);
    __asm__ volatile("bsrl %[v], %[i]" : [i] "=r"(index) : [v] "r"(0x00F00000u) : "cc");
    printf("bsr 00f00000 = %u\n", index);
    __asm__ volatile("bsfl %[v], %[i]\n\tpushfl\n\tpopl %[f]" : [i] "=r"(index), [f] "=r"(flags) : [v] "r"(0u), "0"(0) : "cc");
    printf("bsf 0 sets zf: %s\n", flags & ZF ? "yes" : "no");
    /* A register bit offset addresses a bit string in memory beyond the operand (SDM Vol. 2, BT). */
    static u32 bitmap[4] = {0, 0, 0, 0};
    u32 bit = 77;
    __asm__ volatile("btsl %[b], %[m]" : [m] "+m"(bitmap) : [b] "r"(bit) : "cc");
    __asm__ volatile("btl %[b], %[m]\n\tpushfl\n\tpopl %[f]" : [f] "=r"(flags) : [m] "m"(bitmap), [b] "r"(bit) : "cc");
    printf("bts/bt bit 77: words %08x %08x %08x, cf %u\n", bitmap[0], bitmap[1], bitmap[2], flags & CF);
    __asm__ volatile("btcl $3, %[r]" : [r] "=r"(result) : "0"(0xFFu) : "cc");
    printf("btc ff,3 = %08x\n", result);
    __asm__ volatile("bswap %[r]" : [r] "=r"(result) : "0"(0x11223344u));
    printf("bswap 11223344 = %08x\n", result);
    u32 old = 5, memory = 5, replacement = 9;
    __asm__ volatile("lock cmpxchgl %[n], %[m]\n\tpushfl\n\tpopl %[f]" : [m] "+m"(memory), "+a"(old), [f] "=r"(flags) : [n] "r"(replacement) : "cc");
    printf("cmpxchg: memory %u, zf %u\n", memory, (flags & ZF) ? 1 : 0);
    u32 add = 10;
    __asm__ volatile("lock xaddl %[a], %[m]" : [m] "+m"(memory), [a] "+r"(add) : : "cc");
    printf("xadd: memory %u, old %u\n", memory, add);
    s32 sign_extended;
    __asm__ volatile("movsbl %b[v], %[r]" : [r] "=r"(sign_extended) : [v] "q"(0x80u));
    printf("movsx 80 = %d\n", sign_extended);
}

static void test_strings(void) {
    static char source[32] = "string instructions", destination[32];
    u32 remaining = 20;
    const char *from = source;
    char *to = destination;
    __asm__ volatile("cld\n\trep movsb" : "+c"(remaining), "+S"(from), "+D"(to) : : "memory");
    printf("rep movsb: \"%s\", ecx %u\n", destination, remaining);
    static u32 words[4];
    u32 *word_pointer = words;
    remaining = 4;
    __asm__ volatile("cld\n\trep stosl" : "+c"(remaining), "+D"(word_pointer) : "a"(0xA5A5A5A5u) : "memory");
    printf("rep stosd: %08x %08x %08x %08x\n", words[0], words[1], words[2], words[3]);
    u32 flags;
    const char *left = "abcdXf", *right = "abcdef";
    remaining = 6;
    __asm__ volatile("cld\n\trepe cmpsb\n\tpushfl\n\tpopl %[f]"
                     : "+c"(remaining), [f] "=r"(flags), "+S"(left), "+D"(right)
                     :
                     : "cc", "memory");
    printf("repe cmpsb: stopped with ecx %u, zf %u, cf %u\n", remaining, (flags & ZF) ? 1 : 0, flags & CF);
    const char *text = "find the x here";
    const char *end;
    __asm__ volatile("cld\n\trepne scasb" : "=D"(end), "=c"(remaining) : "0"(text), "1"(32u), "a"('x') : "cc");
    printf("repne scasb: 'x' at index %d\n", (int)(end - text - 1));
    static char backwards[8] = "1234567";
    char reversed_copy[8] = {0};
    from = backwards + 6;
    to = reversed_copy + 6;
    remaining = 7;
    __asm__ volatile("std\n\trep movsb\n\tcld" : "+c"(remaining), "+S"(from), "+D"(to) : : "memory");
    printf("std rep movsb: \"%s\", esi %d edi %d past the start\n", reversed_copy, (int)(backwards - from),
           (int)(reversed_copy - to));
}

/* Two-level 32-bit paging (SDM Vol. 3A, section 4.3): 4 KiB pages, identity map of the first 8 MiB. */
#define PTE_PRESENT 0x1u
#define PTE_WRITABLE 0x2u
#define CR0_PG 0x80000000u
#define UNMAPPED_PAGE 0x00400000u
#define ALIAS_ADDRESS 0xC0000000u

static u32 page_directory[1024] __attribute__((aligned(4096)));
static u32 page_tables[2][1024] __attribute__((aligned(4096)));
static u32 alias_table[1024] __attribute__((aligned(4096)));
static u32 alias_target[1024] __attribute__((aligned(4096)));
static volatile u32 page_fault_address, page_fault_error, page_faults;

static void fix_page_fault(struct trap_frame *frame) {
    u32 address;
    __asm__ volatile("movl %%cr2, %0" : "=r"(address));
    page_fault_address = address;
    page_fault_error = frame->error_code;
    page_faults++;
    page_tables[address >> 22][(address >> 12) & 0x3FF] |= PTE_PRESENT;
    __asm__ volatile("invlpg (%0)" : : "r"(address) : "memory");
}

static void test_paging(void) {
    for (u32 table = 0; table < 2; table++) {
        for (u32 entry = 0; entry < 1024; entry++)
            page_tables[table][entry] = ((table << 22) | (entry << 12)) | PTE_PRESENT | PTE_WRITABLE;
        page_directory[table] = (u32)page_tables[table] | PTE_PRESENT | PTE_WRITABLE;
    }
    page_tables[1][0] &= ~PTE_PRESENT;
    alias_table[0] = (u32)alias_target | PTE_PRESENT | PTE_WRITABLE;
    page_directory[ALIAS_ADDRESS >> 22] = (u32)alias_table | PTE_PRESENT | PTE_WRITABLE;
    alias_target[1] = 0xCAFEF00D;
    set_trap_handler(14, fix_page_fault);

    u32 cr0;
    __asm__ volatile("movl %0, %%cr3" : : "r"(page_directory) : "memory");
    __asm__ volatile("movl %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("movl %0, %%cr0\n\tjmp 1f\n1:" : : "r"(cr0 | CR0_PG) : "memory");
    printf("paging on: alias read 0x%08x\n", mmio_read32(ALIAS_ADDRESS + 4));
    mmio_write32(ALIAS_ADDRESS + 8, 0x600DCAFE);
    printf("paging on: alias write seen at the physical page: 0x%08x\n", alias_target[2]);
    mmio_write32(UNMAPPED_PAGE + 0x10, 0x12345678);
    printf("page fault at 0x%08x error 0x%x, fixed, %u fault(s), value 0x%08x\n", page_fault_address, page_fault_error,
           page_faults, mmio_read32(UNMAPPED_PAGE + 0x10));
    __asm__ volatile("movl %0, %%cr0\n\tjmp 1f\n1:" : : "r"(cr0) : "memory");
    printf("paging off: physical 0x%08x holds 0x%08x\n", UNMAPPED_PAGE + 0x10, mmio_read32(UNMAPPED_PAGE + 0x10));
}

static void test_cpuid(void) {
    u32 eax, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(0));
    int printable = 1;
    u32 vendor[3] = {ebx, edx, ecx};
    for (int i = 0; i < 12; i++) {
        char c = ((const char *)vendor)[i];
        if (c < 0x20 || c > 0x7E) printable = 0;
    }
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(1));
    /* Leaf 1 EDX: FPU (bit 0), TSC (4), CX8 (8), CMOV (15); the vendor string differs between QEMU and mmiodbg. */
    printf("cpuid: vendor printable %s, fpu %u tsc %u cx8 %u cmov %u\n", printable ? "yes" : "no", edx & 1,
           (edx >> 4) & 1, (edx >> 8) & 1, (edx >> 15) & 1);
}

/* Prints a double with `decimals` digits after the point, rounding half up, using only integer arithmetic after
 * one x87 multiplication per digit group. */
static void print_double(double value, int decimals) {
    if (value != value) {
        printf("nan");
        return;
    }
    if (value < 0) {
        putc('-');
        value = -value;
    }
    u64 scale = 1;
    for (int i = 0; i < decimals; i++) scale *= 10;
    u64 whole = (u64)value;
    u64 fraction = (u64)((value - (double)whole) * (double)scale + 0.5);
    if (fraction >= scale) {
        whole++;
        fraction -= scale;
    }
    char digits[24];
    for (int i = decimals - 1; i >= 0; i--) {
        digits[i] = (char)('0' + fraction % 10);
        fraction /= 10;
    }
    digits[decimals] = 0;
    printf("%llu.%s", whole, digits);
}

static u64 double_bits(double value) {
    u64 bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static volatile double three = 3.0, two = 2.0, big = 1e15, tiny = 1e-10;

static void test_x87(void) {
    __asm__ volatile("fninit");
    double third = 1.0 / three;
    double root;
    __asm__ volatile("fsqrt" : "=t"(root) : "0"(two));
    double pi_approximation = 355.0 / (113.0 + 0 * three);
    double sum = big + tiny;
    printf("x87 1/3 = ");
    print_double(third, 9);
    printf(" bits %016llx\n", double_bits(third));
    printf("x87 sqrt(2) = ");
    print_double(root, 9);
    printf(" bits %016llx\n", double_bits(root));
    printf("x87 355/113 = ");
    print_double(pi_approximation, 9);
    printf("\n");
    printf("x87 1e15 + 1e-10 = ");
    print_double(sum, 3);
    printf("\n");
    s32 rounded;
    __asm__ volatile("fistpl %0" : "=m"(rounded) : "t"(-2.5) : "st");
    printf("x87 fistp -2.5 (round to nearest even) = %d\n", rounded);
    u16 status;
    double quotient;
    __asm__ volatile("fdivrp\n\tfnstsw %1" : "=t"(quotient), "=a"(status) : "0"(0.0), "u"(1.0) : "st(1)");
    printf("x87 1/0: %s, zero-divide flag %u\n", double_bits(quotient) == 0x7FF0000000000000ull ? "+inf" : "wrong",
           (status >> 2) & 1);
}

int guest_start(u32 magic, const struct multiboot_info *info) {
    (void)magic;
    (void)info;
    serial_init();
    idt_init();
    puts("cpu-selftest: start");
    test_arithmetic();
    test_multiply_divide();
    test_exceptions();
    test_software_interrupt();
    test_bits();
    test_strings();
    test_paging();
    test_cpuid();
    test_x87();
    printf("cpu-selftest: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
