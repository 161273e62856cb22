import type { Flat32EntryState, GeneralRegisters } from './types';

/** EFLAGS with only the always-one bit 1 set: IF = 0, DF = 0 (Multiboot 0.6.96 section 3.2). */
export const INITIAL_EFLAGS = 0x2;
export const FLAT_CODE_SELECTOR = 0x08;
export const FLAT_DATA_SELECTOR = 0x10;

export function flat32Entry(
  eip: number,
  regs: Partial<GeneralRegisters>,
  selectors: { code: number; data: number } = { code: FLAT_CODE_SELECTOR, data: FLAT_DATA_SELECTOR },
): Flat32EntryState {
  return {
    mode: 'flat32',
    eip: eip >>> 0,
    regs: { eax: 0, ebx: 0, ecx: 0, edx: 0, esi: 0, edi: 0, ebp: 0, esp: 0, ...regs },
    eflags: INITIAL_EFLAGS,
    codeSelector: selectors.code,
    dataSelector: selectors.data,
  };
}
