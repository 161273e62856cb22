/**
 * The PC machine: the CPU with RAM, the legacy ISA devices, the local and I/O APIC, the HPET, PCI
 * configuration space, firmware tables (E820, ACPI), guest loading, and the run loop on virtual time.
 */
import { PhysicalAddressSpace } from '../bus/physical';
import { PortSpace } from '../bus/ports';
import { Cpu, RunExit, hex32 } from '../cpu/cpu';
import { Cr0, Flag } from '../cpu/state';
import { LocalApic } from '../devices/apic';
import type { HpetConfig } from '../devices/hpet';
import { AcpiPmTimer, PM_TIMER_PORT } from '../devices/acpi-pm-timer';
import { Hpet, buildAcpiHpetTable, hpetPreset } from '../devices/hpet';
import { I8042 } from '../devices/i8042';
import { InterruptRouter } from '../devices/interrupt-router';
import type { IrqSink } from '../devices/interrupts';
import { IrqLine } from '../devices/interrupts';
import { IoApic } from '../devices/ioapic';
import { DebugConsole, DebugExitPort, PostCodePort, SystemControlPort } from '../devices/misc-ports';
import { PciHost } from '../devices/pci';
import { Pic } from '../devices/pic';
import { Pit } from '../devices/pit';
import { Rtc } from '../devices/rtc';
import { Uart } from '../devices/uart';
import type { DeviceDescription, InspectableDevice } from '../regs/describe';
import type { TimeSource } from '../time/scheduler';
import { InstructionClock, RealTimeClock, Scheduler } from '../time/scheduler';
import { buildAcpiTables, installAcpiTables } from './acpi';
import { buildE820Map } from './e820';
import type { E820Entry } from './e820';
import type { ImageFormat, LoadPlan } from './loaders';
import { loadImage } from './loaders';

export interface MachineOptions {
  /** RAM in MiB (default 128). */
  readonly memoryMiB?: number;
  readonly hpet?: HpetConfig;
  /** Guest time follows the host clock instead of the instruction count. */
  readonly realtime?: boolean;
  /** Virtual nanoseconds per executed instruction (default 1: a 1 GHz guest). */
  readonly nsPerInstruction?: number;
  readonly onSerial?: (byte: number) => void;
  readonly onDebugConsole?: (byte: number) => void;
}

export interface LoadOptions {
  readonly format?: ImageFormat | 'auto';
  /** Flat binaries: physical load and entry addresses (default 0x100000, entry = load address). */
  readonly loadAddress?: number;
  readonly entryAddress?: number;
  readonly commandLine?: string;
  readonly initrd?: Uint8Array;
}

/** How a run slice ended. */
export type RunResult =
  | { readonly kind: 'running' }
  | { readonly kind: 'stopped' }
  | { readonly kind: 'idle'; readonly waitNs: number }
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'shutdown'; readonly reason: string };

/** Where the machine puts the GDT for guests that enter in flat 32-bit protected mode. */
const BOOT_GDT_ADDRESS = 0x600;
/** Instructions per run slice when no device deadline comes sooner. */
const MAX_SLICE = 1_000_000;

/** Fans an ISA interrupt line out to the 8259 pair and the I/O APIC (IRQ0 arrives on input 2, per the MADT). */
class IsaInterrupts implements IrqSink {
  constructor(
    private readonly pic: Pic,
    private readonly ioapic: IoApic,
  ) {}
  setIrq(line: number, level: boolean): void {
    this.pic.setIrq(line, level);
    this.ioapic.setIrq(line === 0 ? 2 : line, level);
  }
}

export class PcMachine {
  readonly phys: PhysicalAddressSpace;
  readonly ports = new PortSpace();
  readonly cpu: Cpu;
  readonly clock: TimeSource;
  readonly scheduler: Scheduler;
  readonly pic: Pic;
  readonly pit: Pit;
  readonly rtc: Rtc;
  readonly uart: Uart;
  readonly i8042: I8042;
  readonly lapic: LocalApic;
  readonly ioapic: IoApic;
  readonly router: InterruptRouter;
  readonly hpet: Hpet;
  readonly hpetConfig: HpetConfig;
  readonly pci: PciHost;
  readonly pmTimer: AcpiPmTimer;
  readonly post: PostCodePort;
  readonly debugConsole: DebugConsole;
  readonly debugExit: DebugExitPort;
  readonly sysctl: SystemControlPort;
  readonly e820: E820Entry[];
  /** Every device the debugger can show, in display order. */
  readonly devices: InspectableDevice[];
  plan: LoadPlan | undefined;
  private exitCode: number | undefined;
  private shutdownReason: string | undefined;
  private readonly virtualClock: InstructionClock | undefined;

  constructor(readonly options: MachineOptions = {}) {
    const memoryMiB = options.memoryMiB ?? 128;
    if (!Number.isInteger(memoryMiB) || memoryMiB < 2 || memoryMiB > 3072) {
      throw new RangeError(`memory must be a whole number of MiB between 2 and 3072, got ${memoryMiB}`);
    }
    this.phys = new PhysicalAddressSpace(memoryMiB * 1024 * 1024);
    this.cpu = new Cpu({ phys: this.phys, ports: this.ports });
    const cpu = this.cpu;
    if (options.realtime) this.clock = new RealTimeClock();
    else {
      this.virtualClock = new InstructionClock(() => cpu.icount + cpu.accessInsnInBlock, options.nsPerInstruction ?? 1);
      this.clock = this.virtualClock;
    }
    this.scheduler = new Scheduler(this.clock);
    cpu.msr.timeNs = () => this.clock.now();

    this.pic = new Pic(this.ports);
    this.lapic = new LocalApic({ scheduler: this.scheduler });
    this.lapic.attach(this.phys);
    this.ioapic = new IoApic(this.lapic);
    this.ioapic.map(this.phys);
    this.lapic.onLevelEoi = (vector) => this.ioapic.endOfInterrupt(vector);
    this.router = new InterruptRouter(this.lapic, this.pic);
    this.router.onPendingChange = () => {
      if (this.router.hasNmi() && this.router.takeNmi()) cpu.nmiPending = true;
      cpu.blockExit = true;
    };
    cpu.interrupts = this.router;
    cpu.msr.apicBase = {
      read: () => this.lapic.readMsrBase(),
      write: (value) => {
        if (!this.lapic.writeMsrBase(value)) cpu.raise(13, 0);
      },
    };
    const isa = new IsaInterrupts(this.pic, this.ioapic);
    const line = (n: number): IrqLine => new IrqLine(isa, n);

    this.pit = new Pit(this.ports, this.scheduler, line(0));
    this.rtc = new Rtc(this.ports, this.scheduler, line(8), { ramBytes: this.phys.ramSize });
    this.uart = new Uart(this.ports, this.scheduler, line(4), { onTransmit: (b) => options.onSerial?.(b) });
    // The chipset ORs the two A20 gates (PIIX3/PIIX4: port 0x92 ALT_A20_GATE is ORed with the keyboard
    // controller's A20GATE): A20 is masked only while both are off. Both start on, as firmware leaves them.
    const updateA20 = (): void => {
      const enabled = this.i8042.a20Enabled || this.sysctl.a20Enabled;
      const mask = enabled ? -1 : ~(1 << 20);
      if (cpu.mmu.a20Mask === mask) return;
      cpu.mmu.a20Mask = mask;
      cpu.mmu.flushAll();
    };
    const reset = (): void => this.requestShutdown('the guest requested a system reset');
    this.i8042 = new I8042(this.ports, line(1), line(12), { onReset: reset, onA20: updateA20 });
    this.sysctl = new SystemControlPort(this.ports, { onReset: reset, onA20: updateA20, a20InitiallyEnabled: true });
    this.post = new PostCodePort(this.ports);
    this.debugConsole = new DebugConsole(this.ports, (b) => options.onDebugConsole?.(b));
    this.debugExit = new DebugExitPort(this.ports, (status) => this.requestExit(status));
    this.pci = new PciHost(this.ports, { onReset: reset });
    this.pmTimer = new AcpiPmTimer(this.ports, this.clock);

    this.hpetConfig = options.hpet ?? hpetPreset('ich');
    this.hpet = new Hpet(this.hpetConfig, this.scheduler, this.pic, this.ioapic, this.lapic);
    this.hpet.attach(this.phys);
    this.hpet.onLegacyReplacementChange = (active) => {
      this.pit.setHpetLegacyReplacement(active);
      this.rtc.setHpetLegacyReplacement(active);
    };
    const irq13 = line(13);
    cpu.fpu.onFerr = () => irq13.pulse();

    this.initializeInterruptControllers();
    this.e820 = buildE820Map(this.phys.ramSize);
    const tables = buildAcpiTables({
      extraTables: [buildAcpiHpetTable(this.hpetConfig)],
      has8042: true,
      rtcCenturyIndex: 0x32,
      pmTimerBlock: PM_TIMER_PORT,
    });
    installAcpiTables(this.phys, tables);

    this.devices = [
      this.hpet,
      this.lapic,
      this.ioapic,
      this.pic,
      this.pit,
      this.rtc,
      this.uart,
      this.i8042,
      this.pci,
      this.pmTimer,
      this.sysctl,
      this.post,
      this.debugConsole,
      this.debugExit,
    ] as InspectableDevice[];
  }

  /**
   * What PC firmware leaves behind for a loaded kernel (SeaBIOS's pic_setup): the 8259s initialised with vector
   * bases 0x08 and 0x70, cascade on IRQ2, every line masked but the cascade.
   */
  private initializeInterruptControllers(): void {
    const out = (port: number, value: number): void => this.ports.write(port, 1, value);
    for (const [command, data, base, cascade] of [
      [0x20, 0x21, 0x08, 0x04],
      [0xa0, 0xa1, 0x70, 0x02],
    ] as const) {
      out(command, 0x11); // ICW1: edge triggered, cascade, ICW4 follows
      out(data, base); // ICW2: vector base
      out(data, cascade); // ICW3
      out(data, 0x01); // ICW4: 8086 mode
    }
    out(0x21, 0xfb);
    out(0xa1, 0xff);
  }

  deviceDescriptions(): DeviceDescription[] {
    return this.devices.map((d) => d.description);
  }

  findDevice(name: string): InspectableDevice | undefined {
    const lower = name.toLowerCase();
    return this.devices.find((d) => d.description.name.toLowerCase() === lower);
  }

  /** Loads a guest image and puts the CPU in the state its format requires. */
  load(image: Uint8Array, options: LoadOptions = {}): LoadPlan {
    const plan = loadImage(
      image,
      { ramSize: this.phys.ramSize, e820: this.e820 },
      {
        format: options.format ?? 'auto',
        ...(options.commandLine !== undefined ? { commandLine: options.commandLine } : {}),
        ...(options.initrd ? { modules: [{ name: 'initrd', bytes: options.initrd, string: 'initrd' }] } : {}),
        ...(options.loadAddress !== undefined ? { loadAddress: options.loadAddress } : {}),
        ...(options.entryAddress !== undefined ? { entryAddress: options.entryAddress } : {}),
      },
    );
    for (const chunk of plan.chunks) {
      if (chunk.address + chunk.bytes.length > this.phys.ramSize) {
        throw new RangeError(
          `${chunk.label} at 0x${hex32(chunk.address)} does not fit in ${this.phys.ramSize >> 20} MiB of RAM`,
        );
      }
      this.phys.debugWrite(chunk.address, chunk.bytes);
    }
    this.enterFlat32(plan);
    this.plan = plan;
    return plan;
  }

  private enterFlat32(plan: LoadPlan): void {
    const entry = plan.entry;
    const cpu = this.cpu;
    const code = entry.codeSelector & ~7;
    const data = entry.dataSelector & ~7;
    const gdtLimit = Math.max(code, data) + 7;
    const gdt = new Uint8Array(gdtLimit + 1);
    const view = new DataView(gdt.buffer);
    // Flat 4 GiB descriptors: code 0x00CF9A000000FFFF (execute/read), data 0x00CF92000000FFFF (read/write).
    view.setUint32(code, 0x0000ffff, true);
    view.setUint32(code + 4, 0x00cf9a00, true);
    view.setUint32(data, 0x0000ffff, true);
    view.setUint32(data + 4, 0x00cf9200, true);
    this.phys.debugWrite(BOOT_GDT_ADDRESS, gdt);
    cpu.reset();
    cpu.gdtr.base = BOOT_GDT_ADDRESS;
    cpu.gdtr.limit = gdtLimit;
    cpu.cr0 = Cr0.PE | Cr0.ET;
    cpu.seg[1].set(entry.codeSelector, 0, 0xffffffff, 0xc09b);
    for (const s of [0, 2, 3, 4, 5]) cpu.seg[s].set(entry.dataSelector, 0, 0xffffffff, 0xc093);
    cpu.cpl = 0;
    const r = entry.regs;
    cpu.regs.set([r.eax, r.ecx, r.edx, r.ebx, r.esp, r.ebp, r.esi, r.edi].map((v) => v | 0));
    cpu.eip = entry.eip | 0;
    cpu.setEflags(entry.eflags, 0xffffffff);
    cpu.segmentChanged();
    cpu.mmu.flushAll();
    cpu.translator.flushAll();
  }

  requestExit(status: number): void {
    this.exitCode = status;
    this.cpu.exitRequested = true;
    this.cpu.blockExit = true;
  }

  requestShutdown(reason: string): void {
    this.shutdownReason = reason;
    this.cpu.exitRequested = true;
    this.cpu.blockExit = true;
  }

  /** Asks a running slice to return as soon as possible (pause). */
  requestStop(): void {
    this.cpu.exitRequested = true;
    this.cpu.blockExit = true;
  }

  get finished(): boolean {
    return this.exitCode !== undefined || this.shutdownReason !== undefined;
  }

  /**
   * Runs the guest for at most `instructions` instructions, in slices that end at the next device deadline.
   * HLT skips virtual time ahead to the next deadline; in real-time mode it returns `idle` with the time to wait.
   */
  run(instructions: number): RunResult {
    const cpu = this.cpu;
    const end = cpu.icount + instructions;
    for (;;) {
      const done = this.finishedResult();
      if (done) return done;
      this.scheduler.runDue();
      if (cpu.icount >= end) return { kind: 'running' };
      const now = this.clock.now();
      const deadline = this.scheduler.nextDeadline();
      let slice = Math.min(MAX_SLICE, end - cpu.icount);
      if (this.virtualClock && deadline !== Infinity) {
        const untilDeadline = Math.ceil((deadline - now) / this.virtualClock.nsPerInstruction);
        slice = Math.max(1, Math.min(slice, untilDeadline));
      }
      const exit = cpu.run(slice);
      switch (exit) {
        case RunExit.Budget:
          break;
        case RunExit.Stopped: {
          const finished = this.finishedResult();
          if (finished) return finished;
          return { kind: 'stopped' };
        }
        case RunExit.Shutdown:
          this.shutdownReason ??= cpu.stopReason;
          return { kind: 'shutdown', reason: this.shutdownReason };
        case RunExit.Halted: {
          this.scheduler.runDue();
          if (this.router.hasInterrupt() && cpu.eflags & Flag.IF) break;
          if (cpu.nmiPending) break;
          const next = this.scheduler.nextDeadline();
          if (!(cpu.eflags & Flag.IF) || next === Infinity) {
            if (!(cpu.eflags & Flag.IF)) {
              this.shutdownReason = `the guest halted with interrupts disabled at eip 0x${hex32(cpu.eip)}`;
              return { kind: 'shutdown', reason: this.shutdownReason };
            }
            this.shutdownReason = `the guest halted waiting for an interrupt, and no device will raise one (eip 0x${hex32(cpu.eip)})`;
            return { kind: 'shutdown', reason: this.shutdownReason };
          }
          if (this.virtualClock) this.virtualClock.skipTo(next);
          else return { kind: 'idle', waitNs: Math.max(0, next - this.clock.now()) };
          break;
        }
      }
    }
  }

  private finishedResult(): RunResult | undefined {
    if (this.exitCode !== undefined) return { kind: 'exited', code: this.exitCode };
    if (this.shutdownReason !== undefined) return { kind: 'shutdown', reason: this.shutdownReason };
    return undefined;
  }
}
