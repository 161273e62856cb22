/** Wires between interrupt sources and interrupt controllers. */

/** Input lines of an interrupt controller (8259 IRQ lines, I/O APIC pins). */
export interface IrqSink {
  /** Drives input `line` high or low. Edge-triggered inputs react to the low-to-high transition. */
  setIrq(line: number, level: boolean): void;
}

/** A message-signalled interrupt: a 32-bit write of `data` to `address` in the 0xFEExxxxx window. */
export interface MsiSink {
  deliverMsi(address: number, data: number): void;
}

/** What the CPU asks at an instruction boundary; implemented by the machine (local APIC, then the 8259s). */
export interface InterruptAcceptor {
  /** True when a maskable interrupt is waiting (the CPU checks EFLAGS.IF itself). */
  hasInterrupt(): boolean;
  /** Acknowledges the highest-priority pending interrupt and returns its vector (INTA cycle). */
  acknowledge(): number;
}

/** An interrupt line that drives one input of a sink. */
export class IrqLine {
  private level = false;
  constructor(
    private readonly sink: IrqSink,
    readonly line: number,
  ) {}
  set(level: boolean): void {
    this.level = level;
    this.sink.setIrq(this.line, level);
  }
  raise(): void {
    this.set(true);
  }
  lower(): void {
    this.set(false);
  }
  /** A low-to-high-to-low pulse, for edge-triggered inputs. */
  pulse(): void {
    this.sink.setIrq(this.line, true);
    this.sink.setIrq(this.line, false);
    this.level = false;
  }
  get high(): boolean {
    return this.level;
  }
}
