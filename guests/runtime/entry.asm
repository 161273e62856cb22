; Multiboot v1 entry for mmiodbg test guests.
; Multiboot 0.6.96 section 3.1.1: the header is 4-byte aligned within the first 8192 bytes of the image.
; Flags: bit 0 = modules page-aligned, bit 1 = memory information wanted. Bit 16 (a.out kludge) is not
; set: QEMU and mmiodbg both load the ELF program headers.

MB_MAGIC equ 0x1BADB002
MB_FLAGS equ 0x00000003

STACK_SIZE equ 0x4000

section .multiboot progbits alloc noexec nowrite align=4
    dd MB_MAGIC
    dd MB_FLAGS
    dd -(MB_MAGIC + MB_FLAGS)

section .bss nobits alloc noexec write align=16
stack_bottom:
    resb STACK_SIZE
stack_top:

section .data progbits alloc noexec write align=8
; Multiboot 0.6.96 section 3.2: GDTR may be invalid on entry, so the guest loads its own flat GDT.
gdt:
    dq 0                          ; null descriptor
    dq 0x00CF9A000000FFFF         ; 0x08: code, base 0, limit 4 GiB, 32-bit, ring 0
    dq 0x00CF92000000FFFF         ; 0x10: data, base 0, limit 4 GiB, 32-bit, ring 0
gdt_end:
gdt_pointer:
    dw gdt_end - gdt - 1
    dd gdt

section .text progbits alloc exec nowrite align=16
global _start
extern guest_start
extern exit
_start:
    cli
    mov esp, stack_top
    mov ecx, eax                  ; keep the boot magic across the GDT reload
    lgdt [gdt_pointer]
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    mov ss, ax
    jmp 0x08:.reloaded
.reloaded:
    push 0                        ; EFLAGS: IF=0, DF=0
    popfd
    push ebx                      ; multiboot info address
    push ecx                      ; multiboot magic
    call guest_start
    push eax
    call exit
.halt:
    cli
    hlt
    jmp .halt

section .note.GNU-stack noalloc noexec nowrite progbits
