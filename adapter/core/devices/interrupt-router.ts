/**
 * What the CPU asks at an instruction boundary: which maskable interrupt to take, and whether an NMI is waiting.
 *
 * With the local APIC hardware- and software-enabled, maskable interrupts come from its IRR through priority
 * arbitration, and the 8259's INTR reaches the CPU only as ExtINT: through LVT LINT0 programmed ExtINT and
 * unmasked, or through an ExtINT message (an I/O APIC pin in ExtINT mode). ExtINT is not subject to the task
 * priority. With the APIC globally disabled (IA32_APIC_BASE bit 11 clear) or software-disabled (SVR bit 8 clear)
 * the 8259's INTR and the NMI input go straight to the CPU, as a kernel booted with `nolapic` or a legacy OS expects.
 */

import type { LocalApic } from './apic';
import type { InterruptAcceptor } from './interrupts';

/** The members of the 8259 pair that the router uses. */
export interface LegacyPic {
  /** INTR output: an unmasked request is waiting. */
  hasInterrupt(): boolean;
  /** The INTA cycle: returns the vector and moves the request in service. */
  acknowledge(): number;
  /** Set by the router; the PIC calls it when its INTR output changes. */
  onIntrChange: ((level: boolean) => void) | undefined;
}

export interface InterruptRouterCounters {
  extIntAcknowledged: number;
  apicAcknowledged: number;
  spuriousAcknowledged: number;
  nmisTaken: number;
}

export class InterruptRouter implements InterruptAcceptor {
  /** Called when the answer to hasInterrupt() or hasNmi() may have changed (the CPU ends its block or wakes). */
  onPendingChange: (() => void) | undefined;
  readonly counters: InterruptRouterCounters = {
    extIntAcknowledged: 0,
    apicAcknowledged: 0,
    spuriousAcknowledged: 0,
    nmisTaken: 0,
  };
  private directNmi = false;

  constructor(
    private readonly lapic: LocalApic,
    private readonly pic: LegacyPic,
  ) {
    pic.onIntrChange = (level) => {
      lapic.setLint(0, level);
      this.onPendingChange?.();
    };
    lapic.onPendingChange = () => this.onPendingChange?.();
  }

  /** Virtual wire: the 8259 and the NMI line bypass the local APIC. */
  get bypassesApic(): boolean {
    return !this.lapic.enabled;
  }

  hasInterrupt(): boolean {
    if (this.bypassesApic) return this.pic.hasInterrupt();
    if (this.lapic.wantsExtInt() && this.pic.hasInterrupt()) return true;
    return this.lapic.hasDeliverableInterrupt();
  }

  acknowledge(): number {
    if (this.bypassesApic) {
      this.counters.extIntAcknowledged++;
      return this.pic.acknowledge();
    }
    if (this.lapic.wantsExtInt() && this.pic.hasInterrupt()) {
      this.lapic.extIntAcknowledged();
      this.counters.extIntAcknowledged++;
      return this.pic.acknowledge();
    }
    if (this.lapic.hasDeliverableInterrupt()) this.counters.apicAcknowledged++;
    else this.counters.spuriousAcknowledged++;
    return this.lapic.acknowledge();
  }

  /** A pulse on the NMI input (LINT1 on a PC): through LVT LINT1 when the APIC is enabled, else straight in. */
  raiseNmi(): void {
    if (this.bypassesApic) {
      this.directNmi = true;
    } else {
      this.lapic.setLint(1, true);
      this.lapic.setLint(1, false);
    }
    this.onPendingChange?.();
  }

  hasNmi(): boolean {
    return this.directNmi || this.lapic.hasPendingNmi;
  }

  /** The CPU takes the pending NMI (if any); NMIs raised before it is taken merge into one. */
  takeNmi(): boolean {
    const fromApic = this.lapic.takeNmi();
    const taken = this.directNmi || fromApic;
    this.directNmi = false;
    if (taken) this.counters.nmisTaken++;
    return taken;
  }
}
