/*
 * linux-init: a static i386 Linux program used as /init in an initramfs, to show that a Linux kernel booted on
 * mmiodbg reaches user space. It prints the kernel release and the clocksources the kernel registered (read
 * from sysfs), then ends the run through the isa-debug-exit port (0xf4): status (0x10 << 1) | 1 = 33.
 * No C library: system calls go through int 0x80 with the i386 Linux ABI.
 */
typedef unsigned int size_t;

enum {
  SYS_exit = 1,
  SYS_read = 3,
  SYS_write = 4,
  SYS_open = 5,
  SYS_close = 6,
  SYS_mount = 21,
  SYS_iopl = 110,
  SYS_uname = 122,
};

static long syscall3(long number, long a, long b, long c) {
  long result;
  __asm__ volatile("int $0x80" : "=a"(result) : "a"(number), "b"(a), "c"(b), "d"(c) : "memory");
  return result;
}

static long syscall5(long number, long a, long b, long c, long d, long e) {
  long result;
  __asm__ volatile("int $0x80" : "=a"(result) : "a"(number), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
  return result;
}

static size_t length(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

static void print(const char *s) { syscall3(SYS_write, 1, (long)s, (long)length(s)); }

static void print_number(long value) {
  char digits[12];
  int i = sizeof digits - 1;
  int negative = value < 0;
  unsigned long v = negative ? -(unsigned long)value : (unsigned long)value;
  digits[i] = 0;
  do {
    digits[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v && i > 1);
  if (negative) digits[--i] = '-';
  print(&digits[i]);
}

/* Prints "<label>: <first line of file>" or "<label>: error <errno>". */
static void print_file_line(const char *label, const char *path) {
  char buffer[256];
  long fd = syscall3(SYS_open, (long)path, 0, 0);
  print(label);
  print(": ");
  if (fd < 0) {
    print("error ");
    print_number(-fd);
    print("\n");
    return;
  }
  long n = syscall3(SYS_read, fd, (long)buffer, sizeof buffer - 1);
  syscall3(SYS_close, fd, 0, 0);
  if (n < 0) n = 0;
  buffer[n] = 0;
  for (long i = 0; i < n; i++)
    if (buffer[i] == '\n') buffer[i] = 0;
  print(buffer);
  print("\n");
}

struct utsname {
  char sysname[65], nodename[65], release[65], version[65], machine[65], domainname[65];
};

void _start(void) {
  static struct utsname uts;
  print("linux-init: hello from user space\n");
  if (syscall3(SYS_uname, (long)&uts, 0, 0) == 0) {
    print("linux-init: ");
    print(uts.sysname);
    print(" ");
    print(uts.release);
    print(" ");
    print(uts.machine);
    print("\n");
  }
  long mounted = syscall5(SYS_mount, (long)"sysfs", (long)"/sys", (long)"sysfs", 0, 0);
  if (mounted < 0) {
    print("linux-init: mounting sysfs failed, error ");
    print_number(-mounted);
    print("\n");
  } else {
    print_file_line("linux-init: current clocksource",
                    "/sys/devices/system/clocksource/clocksource0/current_clocksource");
    print_file_line("linux-init: available clocksources",
                    "/sys/devices/system/clocksource/clocksource0/available_clocksource");
  }
  /* isa-debug-exit: needs I/O privilege in user mode. */
  if (syscall3(SYS_iopl, 3, 0, 0) == 0) {
    print("linux-init: done\n");
    __asm__ volatile("outb %0, %1" : : "a"((unsigned char)0x10), "Nd"((unsigned short)0xf4));
  }
  print("linux-init: iopl failed, cannot exit the machine\n");
  for (;;) syscall3(SYS_exit, 0, 0, 0);
}
