/* NS16550A at COM1 (0x3F8, IRQ4): divisor latch, register round trips, FIFO enable and the IIR FIFO bits,
 * loopback (bytes sent come back through LSR.DR/RBR, modem outputs appear on the MSR inputs), overrun, the
 * THRE interrupt on IRQ4 and the scratch register. COM1 also carries this transcript, so every test runs
 * with output stopped (results go to a buffer) and the port is set up again before printing. */
#include "runtime.h"

#define COM1 0x3F8
#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7
#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define VECTOR_BASE 0x20
#define IRQ_COM1 4

static char log_buffer[4096];
static u32 log_length;

static void log_char(char c) {
    if (log_length < sizeof log_buffer - 1) log_buffer[log_length++] = c;
}

static void log_str(const char *s) {
    while (*s) log_char(*s++);
}

static void log_hex(u32 v, int digits) {
    for (int i = digits - 1; i >= 0; i--) log_char("0123456789abcdef"[(v >> (i * 4)) & 0xF]);
}

/* "name value" lines with 8-bit hex values. */
static void log_reg(const char *name, u8 value) {
    log_str(name);
    log_str(" 0x");
    log_hex(value, 2);
    log_char('\n');
}

static void flush_log(void) {
    log_buffer[log_length] = 0;
    for (u32 i = 0; i < log_length; i++) putc(log_buffer[i]);
    log_length = 0;
}

static u8 rd(u8 reg) { return inb(COM1 + reg); }
static void wr(u8 reg, u8 value) { outb(COM1 + reg, value); }

static void drain_transmitter(void) {
    while ((rd(LSR) & (LSR_THRE | LSR_TEMT)) != (LSR_THRE | LSR_TEMT)) cpu_pause();
}

static void register_tests(void) {
    drain_transmitter();
    wr(IER, 0);
    log_reg("uart: LSR idle", rd(LSR));
    wr(SCR, 0x55);
    u8 s1 = rd(SCR);
    wr(SCR, 0xAA);
    log_reg("uart: SCR 0x55 ->", s1);
    log_reg("uart: SCR 0xaa ->", rd(SCR));

    wr(LCR, 0x80); /* DLAB */
    wr(DLL, 0x0C);
    wr(DLM, 0x00); /* 9600 baud */
    log_reg("uart: DLL (9600 baud) ->", rd(DLL));
    log_reg("uart: DLM ->", rd(DLM));
    log_reg("uart: LCR with DLAB ->", rd(LCR));
    wr(DLL, 0x01);
    wr(LCR, 0x1B); /* 8 bits, even parity, 1 stop */
    log_reg("uart: LCR 8E1 ->", rd(LCR));
    wr(LCR, 0x03);
    log_reg("uart: LCR 8N1 ->", rd(LCR));

    wr(IER, 0xFF);
    log_reg("uart: IER 0xff ->", rd(IER));
    wr(IER, 0x00);
    log_reg("uart: IER 0x00 ->", rd(IER));

    wr(MCR, 0xFF & ~MCR_LOOP);
    log_reg("uart: MCR 0xef ->", rd(MCR));
    wr(MCR, 0x0B);
    log_reg("uart: MCR 0x0b ->", rd(MCR));

    wr(FCR, 0x00);
    log_reg("uart: IIR with FIFOs off", rd(IIR));
    wr(FCR, 0x07);
    log_reg("uart: IIR with FIFOs on", rd(IIR));
    wr(FCR, 0xC7); /* trigger level 14 */
    log_reg("uart: IIR with FIFOs on, trigger 14", rd(IIR));
    wr(FCR, 0x07);
}

static void loopback_tests(void) {
    static const u8 pattern[] = {'H', 'i', '!', 0x00, 0xFF, 0x7E};
    drain_transmitter();
    /* The modem outputs appear on the inputs: RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. Only the line states
     * (bits 7:4) are printed: QEMU 7.2 reports no delta bits in loopback mode (guests/README.md). */
    wr(MCR, MCR_LOOP);
    log_reg("uart: loopback MSR lines with DTR/RTS/OUT1/OUT2 off", rd(MSR) & 0xF0);
    wr(MCR, MCR_LOOP | 0x0F);
    log_reg("uart: loopback MSR lines with DTR/RTS/OUT1/OUT2 on", rd(MSR) & 0xF0);
    wr(MCR, MCR_LOOP | 0x01);
    log_reg("uart: loopback MSR lines with DTR only", rd(MSR) & 0xF0);
    wr(MCR, MCR_LOOP | 0x0A); /* Linux's 8250 autoconfig check: RTS and OUT2 give CTS and DCD (0x90) */
    log_reg("uart: loopback MSR lines with RTS and OUT2", rd(MSR) & 0xF0);
    wr(MCR, MCR_LOOP | 0x0B);
    (void)rd(MSR);

    /* FIFO on: six bytes go out and come back in order. */
    wr(FCR, 0x07);
    for (u32 i = 0; i < sizeof pattern; i++) wr(THR, pattern[i]);
    u32 received = 0, matched = 0;
    for (u32 spins = 0; received < sizeof pattern && spins < 1000000; spins++) {
        if (rd(LSR) & LSR_DR) {
            u8 b = rd(RBR);
            if (b == pattern[received]) matched++;
            received++;
        }
    }
    log_str("uart: loopback with FIFO: sent 6, received ");
    log_hex(received, 1);
    log_str(", matching ");
    log_hex(matched, 1);
    log_char('\n');
    log_reg("uart: LSR after draining", rd(LSR) & ~(LSR_THRE | LSR_TEMT));

    /* FIFO off: a second byte before the first is read overruns it and replaces it in RBR. The receiver
     * line status identification (IIR 0x06) shows the overrun without reading LSR, which would clear OE. */
    wr(FCR, 0x00);
    wr(IER, 0x05); /* ERBFI and ELSI; IRQ4 stays masked at the PIC */
    wr(THR, 0x41);
    for (u32 spins = 0; (rd(IIR) & 0x0F) != 0x04 && spins < 1000000; spins++) cpu_pause();
    wr(THR, 0x42);
    u8 iir = 0;
    for (u32 spins = 0; (iir = rd(IIR)) != 0x06 && spins < 1000000; spins++) cpu_pause();
    log_reg("uart: IIR after two bytes without FIFO (line status)", iir);
    log_reg("uart: LSR DR|OE", rd(LSR) & (LSR_DR | LSR_OE));
    log_reg("uart: LSR DR|OE read again (OE cleared by the read)", rd(LSR) & (LSR_DR | LSR_OE));
    log_reg("uart: RBR holds the newer byte", rd(RBR));
    wr(IER, 0x00);
    wr(FCR, 0x07);

    /* Received data available interrupt identification. */
    wr(IER, 0x01);
    wr(THR, 0x33);
    for (u32 spins = 0; !(rd(LSR) & LSR_DR) && spins < 1000000; spins++) cpu_pause();
    log_reg("uart: IIR with a byte received and ERBFI", rd(IIR));
    (void)rd(RBR);
    log_reg("uart: IIR after reading RBR", rd(IIR));
    wr(IER, 0x00);
}

static volatile u32 com1_interrupts;
static volatile u8 iir_in_handler;

static void com1_handler(struct trap_frame *frame) {
    (void)frame;
    iir_in_handler = rd(IIR);
    com1_interrupts++;
    pic_eoi(IRQ_COM1);
}

static void drain_irq4(void) {
    /* An edge the 8259 latched while IRQ4 was masked is delivered here and forgotten. */
    pic_set_mask(0xFFFF & ~(1u << IRQ_COM1));
    sti();
    __asm__ volatile("nop; nop; nop" ::: "memory");
    cli();
    pic_set_mask(0xFFFF);
    com1_interrupts = 0;
}

/* Not in loopback mode: on PCs OUT2 gates IRQ4 and loopback disconnects it (QEMU does not model the gate), so
 * the byte that re-raises THRE really goes out on COM1 and shows in the transcript. */
static void thre_interrupt_tests(void) {
    drain_transmitter();
    wr(MCR, 0x0B);
    wr(FCR, 0x00);
    wr(IER, 0x02);
    log_reg("uart: IIR right after enabling ETBEI", rd(IIR));
    log_reg("uart: IIR read again (the first read cleared THRE)", rd(IIR));
    wr(IER, 0x00);
    drain_irq4();

    pic_set_mask(0xFFFF & ~(1u << IRQ_COM1));
    wr(IER, 0x02);
    sti();
    for (u32 spins = 0; com1_interrupts < 1 && spins < 1000000; spins++) cpu_pause();
    for (u32 spins = 0; spins < 10000; spins++) cpu_pause();
    cli();
    log_str("uart: THRE interrupts on IRQ4 after enabling ETBEI: ");
    log_hex(com1_interrupts, 1);
    log_char('\n');
    log_reg("uart: IIR in the handler", iir_in_handler);
    wr(THR, '+'); /* THRE rises again once the holding register empties */
    sti();
    for (u32 spins = 0; com1_interrupts < 2 && spins < 1000000; spins++) cpu_pause();
    for (u32 spins = 0; spins < 10000; spins++) cpu_pause();
    cli();
    log_str("\nuart: THRE interrupts after sending '+': ");
    log_hex(com1_interrupts, 1);
    log_char('\n');
    log_reg("uart: IIR in the handler", iir_in_handler);
    wr(IER, 0x00);
    pic_set_mask(0xFFFF);
    wr(FCR, 0x07);
}

int guest_start(u32 magic, const struct multiboot_info *info) {
    (void)magic;
    (void)info;
    idt_init();
    pic_remap(VECTOR_BASE, VECTOR_BASE + 8);
    set_trap_handler(VECTOR_BASE + IRQ_COM1, com1_handler);
    puts("uart: NS16550A at COM1");
    register_tests();
    serial_init();
    flush_log();
    loopback_tests();
    serial_init();
    flush_log();
    puts("uart: THRE test byte follows");
    drain_transmitter();
    drain_irq4();
    thre_interrupt_tests();
    serial_init();
    flush_log();
    puts("uart: done");
    return 0;
}
