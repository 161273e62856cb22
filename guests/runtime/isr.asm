; Interrupt entry stubs for vectors 0..255. Each stub makes the stack uniform (an error code slot and the
; vector number) and jumps to a common routine that saves the general registers and calls trap_dispatch.
; Intel SDM Vol. 3A, Table 6-1: vectors 8, 10-14, 17, 21, 29 and 30 push an error code.

extern trap_dispatch

%macro STUB 1
isr_stub_%1:
%if %1 = 8 || (%1 >= 10 && %1 <= 14) || %1 = 17 || %1 = 21 || %1 = 29 || %1 = 30
    push dword %1
%else
    push dword 0
    push dword %1
%endif
    jmp trap_common
%endmacro

section .text progbits alloc exec nowrite align=16
trap_common:
    pushad
    push esp                      ; struct trap_frame *
    cld
    call trap_dispatch
    add esp, 4
    popad
    add esp, 8                    ; vector and error code
    iretd

%assign vector 0
%rep 256
    STUB %[vector]
%assign vector vector + 1
%endrep

section .data progbits alloc noexec write align=4
global isr_stub_table
isr_stub_table:
%assign vector 0
%rep 256
    dd isr_stub_%[vector]
%assign vector vector + 1
%endrep

section .note.GNU-stack noalloc noexec nowrite progbits
