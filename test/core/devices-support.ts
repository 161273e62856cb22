import { PortSpace } from '../../adapter/core/bus/ports';
import type { IrqSink } from '../../adapter/core/devices/interrupts';
import type { TimeSource } from '../../adapter/core/time/scheduler';
import { Scheduler } from '../../adapter/core/time/scheduler';

/** A clock the test moves by hand. */
export class ManualClock implements TimeSource {
  time = 0;
  now(): number {
    return this.time;
  }
}

/** A port space and a scheduler on a manual clock; `advanceTo` fires every deadline on the way, in order. */
export class Bench {
  readonly clock = new ManualClock();
  readonly scheduler = new Scheduler(this.clock);
  readonly ports = new PortSpace();

  now(): number {
    return this.clock.time;
  }

  advanceTo(target: number): void {
    for (;;) {
      const next = this.scheduler.nextDeadline();
      if (next > target) break;
      if (next > this.clock.time) this.clock.time = next;
      this.scheduler.runDue();
    }
    this.clock.time = Math.max(this.clock.time, target);
    this.scheduler.runDue();
  }

  advanceBy(ns: number): void {
    this.advanceTo(this.clock.time + ns);
  }

  inb(port: number): number {
    return this.ports.read(port, 1);
  }

  outb(port: number, value: number): void {
    this.ports.write(port, 1, value);
  }
}

/** Records every level change on each line, with the time it happened. */
export class RecordingIrqSink implements IrqSink {
  readonly levels = new Map<number, boolean>();
  readonly events: { line: number; level: boolean; time: number }[] = [];

  constructor(private readonly clock: TimeSource) {}

  setIrq(line: number, level: boolean): void {
    this.levels.set(line, level);
    this.events.push({ line, level, time: this.clock.now() });
  }

  level(line: number): boolean {
    return this.levels.get(line) ?? false;
  }

  /** Times of low-to-high transitions on a line. */
  risingEdges(line: number): number[] {
    const out: number[] = [];
    let previous = false;
    for (const e of this.events) {
      if (e.line !== line) continue;
      if (e.level && !previous) out.push(e.time);
      previous = e.level;
    }
    return out;
  }
}
