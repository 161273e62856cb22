/**
 * The text of the read-only disassembly listing that a click on an MMIO trace row opens when VS Code's
 * Disassembly view cannot show that row's EIP (see src/trace/disassembly.ts). No VS Code dependency.
 */

/** An instruction of a DAP `disassemble` response. */
export interface ListedInstruction {
  readonly address: string;
  readonly instructionBytes?: string;
  readonly instruction: string;
  readonly symbol?: string;
}

export function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * A header line, then one line per instruction; the instruction at `eip` is marked `=>`, and `current` (the
 * stopped instruction, when another) `->`. `line` is the 0-based line of `eip`, or -1 when it is not listed.
 */
export function listingText(
  eip: number,
  instructions: readonly ListedInstruction[],
  note: { seq?: number; current?: number } = {},
): { text: string; line: number } {
  const origin = note.seq !== undefined ? `MMIO trace record #${note.seq}` : 'the MMIO trace';
  const current =
    note.current !== undefined && note.current !== eip ? `; the guest is stopped at ${hex32(note.current)} (->)` : '';
  const lines = [`; EIP ${hex32(eip)} of ${origin} (=>)${current}`];
  let line = -1;
  for (const i of instructions) {
    const address = Number(i.address);
    const mark = address === eip ? '=>' : address === note.current ? '->' : '  ';
    if (address === eip) line = lines.length;
    const symbol = i.symbol ? `<${i.symbol}> ` : '';
    lines.push(`${mark} ${i.address}  ${(i.instructionBytes ?? '').padEnd(24)} ${symbol}${i.instruction}`);
  }
  return { text: lines.join('\n') + '\n', line };
}
