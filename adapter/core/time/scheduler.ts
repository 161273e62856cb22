/**
 * Virtual time. Every device reads the time from one clock and schedules deadlines on one scheduler; the
 * CPU runs until the nearest deadline, so nothing polls per instruction. Times are nanoseconds as numbers
 * (exact up to 2^53 ns, about 104 days).
 */

export interface TimeSource {
  /** Current time in nanoseconds since the machine started. */
  now(): number;
}

/**
 * The default clock: time follows the number of executed instructions (deterministic), plus whatever HLT
 * skipped while waiting for the next deadline.
 */
export class InstructionClock implements TimeSource {
  /** Skipped idle time (HLT) in nanoseconds. */
  private idleNs = 0;

  constructor(
    private readonly instructions: () => number,
    readonly nsPerInstruction = 1,
  ) {}

  now(): number {
    return this.instructions() * this.nsPerInstruction + this.idleNs;
  }

  /** Advances the clock to `target` while the CPU is halted. */
  skipTo(target: number): void {
    const now = this.now();
    if (target > now) this.idleNs += target - now;
  }
}

/** Wall-clock time (the `realtime` option): guest time follows the host's monotonic clock. */
export class RealTimeClock implements TimeSource {
  private readonly start = process.hrtime.bigint();
  now(): number {
    return Number(process.hrtime.bigint() - this.start);
  }
}

export class Timer {
  /** Deadline in ns, or Infinity when not armed. */
  deadline = Infinity;

  constructor(
    readonly name: string,
    readonly callback: (now: number) => void,
    readonly order: number,
  ) {}

  get armed(): boolean {
    return this.deadline !== Infinity;
  }
}

export class Scheduler {
  private readonly timers: Timer[] = [];
  private cachedNext = Infinity;
  private dirty = false;

  constructor(readonly clock: TimeSource) {}

  now(): number {
    return this.clock.now();
  }

  createTimer(name: string, callback: (now: number) => void): Timer {
    const timer = new Timer(name, callback, this.timers.length);
    this.timers.push(timer);
    return timer;
  }

  /** Arms (or re-arms) a timer to fire at `deadline` ns; a deadline in the past fires at the next check. */
  arm(timer: Timer, deadline: number): void {
    timer.deadline = deadline;
    if (deadline < this.cachedNext) this.cachedNext = deadline;
    else this.dirty = true;
  }

  cancel(timer: Timer): void {
    if (timer.deadline === Infinity) return;
    timer.deadline = Infinity;
    this.dirty = true;
  }

  /** The earliest armed deadline, Infinity when none. */
  nextDeadline(): number {
    if (this.dirty) {
      let next = Infinity;
      for (const t of this.timers) if (t.deadline < next) next = t.deadline;
      this.cachedNext = next;
      this.dirty = false;
    }
    return this.cachedNext;
  }

  /**
   * Fires every timer whose deadline has passed, earliest first (creation order breaks ties, so runs are
   * deterministic). A callback may re-arm its timer; one that re-arms into the past fires again.
   */
  runDue(): void {
    for (let guard = 0; guard < 100000; guard++) {
      const now = this.clock.now();
      if (this.nextDeadline() > now) return;
      let due: Timer | undefined;
      for (const t of this.timers) {
        if (
          t.deadline <= now &&
          (!due || t.deadline < due.deadline || (t.deadline === due.deadline && t.order < due.order))
        )
          due = t;
      }
      if (!due) return;
      due.deadline = Infinity;
      this.dirty = true;
      due.callback(now);
    }
  }

  list(): readonly Timer[] {
    return this.timers;
  }
}
