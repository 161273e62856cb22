; A20 probe that runs from low memory. With A20 off, every address with bit 20 set aliases the one without,
; and this guest's code and stack live at 1 MiB: the routine below is copied below 1 MiB and touches neither
; the stack nor data between turning A20 off and on again. It is position independent (relative jumps only).
;
; uint32_t a20_probe(uint32_t method)   (cdecl; method 0 = port 0x92, 1 = i8042 output port)
; Before the call the guest stores 0x11111111 at ALIAS_LOW and 0x22222222 at ALIAS_HIGH with A20 on.
; The routine turns both A20 gates off (PC chipsets OR them, so one gate alone does not mask A20), reads
; ALIAS_HIGH into the result (the low value when it aliases), writes 0x33333333 to ALIAS_HIGH (which lands
; at ALIAS_LOW when it aliases), then turns A20 on again through the gate `method` names.

ALIAS_LOW  equ 0x00280000
ALIAS_HIGH equ 0x00380000           ; ALIAS_LOW | bit 20

%macro WAIT_INPUT_EMPTY 0
%%wait:
    in al, 0x64
    test al, 2
    jnz %%wait
%endmacro

%macro WRITE_OUTPUT_PORT 1
    WAIT_INPUT_EMPTY
    mov al, 0xD1                    ; i8042 command: write output port
    out 0x64, al
    WAIT_INPUT_EMPTY
    mov al, %1
    out 0x60, al
    WAIT_INPUT_EMPTY
%endmacro

section .rodata progbits alloc noexec nowrite align=16
global a20_probe_start
global a20_probe_end
a20_probe_start:
    mov ecx, [esp + 4]              ; method, read while A20 is still on
    WRITE_OUTPUT_PORT 0xDD          ; A20 gate off; bit 0 = 1 keeps the reset line inactive
    in al, 0x92
    and al, 0xFC                    ; bit 1 = A20 off, bit 0 = no fast reset
    out 0x92, al
    mov edx, [ALIAS_HIGH]
    mov dword [ALIAS_HIGH], 0x33333333
    test ecx, ecx
    jnz .i8042_on
    in al, 0x92
    or al, 0x02
    and al, 0xFE
    out 0x92, al
    jmp .done
.i8042_on:
    WRITE_OUTPUT_PORT 0xDF          ; A20 gate on
.done:
    mov eax, edx
    ret
a20_probe_end:

section .note.GNU-stack noalloc noexec nowrite progbits
