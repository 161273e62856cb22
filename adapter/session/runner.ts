/**
 * The run-state machine: owns the Emulator while a session lasts and drives it in bounded slices that yield to the
 * event loop (setImmediate), so pause, breakpoint changes and other requests get through while the guest runs.
 * Stepping (instruction or source line, in/over/out) runs as a job in the same slices.
 */
import type { Emulator, SliceResult, StopCause } from '../runtime/emulator';
import type { StepInfo } from './disasm';
import { codeBitness, stepInfo } from './disasm';
import type { LineTable, SourceLocation } from './dwarf';
import { readMemory } from './memory';

export type RunState = 'stopped' | 'running' | 'stepping' | 'terminated';

export type StepKind = 'in' | 'over' | 'out';
export type Granularity = 'instruction' | 'line';

/** Why a run or step ended. */
export type RunOutcome =
  | { readonly kind: 'stopped'; readonly cause: StopCause }
  | { readonly kind: 'exited'; readonly code: number }
  | { readonly kind: 'shutdown'; readonly reason: string };

export interface RunHost {
  /** After every slice: flush buffered output. */
  sliceEnded(): void;
  /** The run or step ended; the state is already `stopped` (or `terminated` for exits). */
  finished(outcome: RunOutcome): void;
}

/** Wall-clock time one slice may take before it yields. */
const SLICE_MS = 4;
const MIN_INSTRUCTIONS = 1_000;
const MAX_INSTRUCTIONS = 2_000_000;

type JobResult = 'more' | { readonly idleMs: number } | RunOutcome;

interface Job {
  run(deadline: number): JobResult;
}

export class RunController {
  private stateValue: RunState = 'stopped';
  private job: Job | undefined;
  private timer: NodeJS.Immediate | NodeJS.Timeout | undefined;
  private pauseRequested = false;
  private userBreakpoints = new Set<number>();
  private temporary: number | undefined;
  /** Instructions per runSlice call, adapted so that a call takes a fraction of a slice. */
  private chunk = 50_000;

  constructor(
    readonly emulator: Emulator,
    private readonly host: RunHost,
    private readonly lines: LineTable | undefined,
  ) {}

  get state(): RunState {
    return this.stateValue;
  }

  isTerminated(): boolean {
    return this.stateValue === 'terminated';
  }

  get isRunning(): boolean {
    return this.stateValue === 'running' || this.stateValue === 'stepping';
  }

  setBreakpoints(addresses: Iterable<number>): void {
    this.userBreakpoints = new Set([...addresses].map((a) => a | 0));
    this.applyBreakpoints();
  }

  hasUserBreakpoint(address: number): boolean {
    return this.userBreakpoints.has(address | 0);
  }

  private applyBreakpoints(): void {
    const all = new Set(this.userBreakpoints);
    if (this.temporary !== undefined) all.add(this.temporary | 0);
    this.emulator.setInstructionBreakpoints(all);
  }

  private setTemporary(address: number | undefined): void {
    if (this.temporary === address) return;
    this.temporary = address;
    this.applyBreakpoints();
  }

  resume(): void {
    this.start('running', new ContinueJob(this));
  }

  step(kind: StepKind, granularity: Granularity): void {
    const location = granularity === 'line' ? this.location() : undefined;
    const plan: StepPlan =
      kind === 'out'
        ? new StepOutPlan()
        : location
          ? new LineStepPlan(kind === 'over', location, (ip) => this.lines?.lookup(ip))
          : new InstructionStepPlan(kind === 'over');
    this.start('stepping', new StepJob(this, plan));
  }

  /** Source location of the current instruction, if the image has line information for it. */
  location(): SourceLocation | undefined {
    return this.lines?.lookup(this.emulator.machine.cpu.linearIp);
  }

  /** Asks a running guest to stop; it stops at the end of the current slice (a few milliseconds at most). */
  pause(): boolean {
    if (!this.isRunning) return false;
    this.pauseRequested = true;
    this.emulator.pause();
    return true;
  }

  terminate(): void {
    this.stateValue = 'terminated';
    this.job = undefined;
    this.clearTimer();
    this.setTemporary(undefined);
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    clearImmediate(this.timer as NodeJS.Immediate);
    clearTimeout(this.timer as NodeJS.Timeout);
    this.timer = undefined;
  }

  private start(state: RunState, job: Job): void {
    if (this.stateValue === 'terminated') return;
    this.emulator.deliverPendingException();
    this.stateValue = state;
    this.pauseRequested = false;
    this.job = job;
    this.clearTimer();
    this.timer = setImmediate(this.tick);
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    const job = this.job;
    if (!job || this.stateValue === 'terminated') return;
    let result: JobResult;
    if (this.pauseRequested) result = { kind: 'stopped', cause: { kind: 'pause' } };
    else result = job.run(performance.now() + SLICE_MS);
    this.host.sliceEnded();
    if (this.job !== job || this.isTerminated()) return;
    if (result === 'more') {
      this.timer = setImmediate(this.tick);
      return;
    }
    if ('idleMs' in result) {
      this.timer = setTimeout(this.tick, Math.max(0, Math.min(10, result.idleMs)));
      return;
    }
    this.job = undefined;
    this.pauseRequested = false;
    this.setTemporary(undefined);
    this.stateValue = result.kind === 'stopped' ? 'stopped' : 'terminated';
    this.host.finished(result);
  };

  /** Runs at most until `deadline`, stopping at breakpoints; `until` is the temporary breakpoint of a step. */
  runUntil(deadline: number, resuming: boolean, until?: { address: number; sp: number }): JobResult | 'reached' {
    this.setTemporary(until?.address);
    const cpu = this.emulator.machine.cpu;
    let first = resuming;
    for (;;) {
      const started = performance.now();
      const result: SliceResult = this.emulator.runSlice(this.chunk, first);
      first = false;
      const took = performance.now() - started;
      if (took < SLICE_MS / 4) this.chunk = Math.min(MAX_INSTRUCTIONS, this.chunk * 2);
      else if (took > SLICE_MS) this.chunk = Math.max(MIN_INSTRUCTIONS, Math.floor(this.chunk / 2));
      switch (result.kind) {
        case 'budget':
        case 'running':
          break;
        case 'idle':
          return { idleMs: result.waitNs / 1e6 };
        case 'stopped': {
          const cause = 'cause' in result ? result.cause : ({ kind: 'pause' } as const);
          if (cause.kind === 'breakpoint' && until && cause.address === (until.address | 0)) {
            if (cpu.regs[4] >>> 0 >= until.sp >>> 0) {
              if (this.hasUserBreakpoint(cause.address)) return { kind: 'stopped', cause };
              return 'reached';
            }
            // A recursive call reached the return address on a deeper stack: keep going.
            first = true;
            break;
          }
          return { kind: 'stopped', cause };
        }
        case 'exited':
          return { kind: 'exited', code: result.code };
        case 'shutdown':
          return { kind: 'shutdown', reason: result.reason };
      }
      if (performance.now() >= deadline) return 'more';
    }
  }

  /** Executes one instruction; undefined when it completed normally. */
  stepOne(): RunOutcome | undefined {
    const result = this.emulator.stepInstruction();
    switch (result.kind) {
      case 'budget':
      case 'running':
      case 'idle':
        return undefined;
      case 'stopped':
        return 'cause' in result && result.cause.kind !== 'pause'
          ? { kind: 'stopped', cause: result.cause }
          : undefined;
      case 'exited':
        return { kind: 'exited', code: result.code };
      case 'shutdown':
        return { kind: 'shutdown', reason: result.reason };
    }
  }

  currentInstruction(): StepInfo | undefined {
    const machine = this.emulator.machine;
    const cpu = machine.cpu;
    const bitness = codeBitness(cpu);
    return stepInfo(
      (linear, length) => readMemory(machine, { physical: false, address: linear >>> 0 }, length),
      cpu.linearIp,
      bitness,
    );
  }
}

class ContinueJob implements Job {
  private resuming = true;
  constructor(private readonly controller: RunController) {}
  run(deadline: number): JobResult {
    const r = this.controller.runUntil(deadline, this.resuming);
    this.resuming = false;
    return r === 'reached' ? 'more' : r;
  }
}

/** What a step does before the next instruction. */
type Decision = 'stop' | 'single' | { readonly over: number; readonly sp: number };

interface StepPlan {
  decide(ip: number, sp: number, next: StepInfo | undefined): Decision;
}

class InstructionStepPlan implements StepPlan {
  private done = false;
  constructor(private readonly over: boolean) {}
  decide(ip: number, sp: number, next: StepInfo | undefined): Decision {
    if (this.done) return 'stop';
    this.done = true;
    if (this.over && next?.stepOver) return { over: (ip + next.length) | 0, sp };
    return 'single';
  }
}

/** Runs until a RET of the current function has executed; calls made on the way run at full speed. */
class StepOutPlan implements StepPlan {
  private returned = false;
  decide(ip: number, sp: number, next: StepInfo | undefined): Decision {
    if (this.returned) return 'stop';
    if (next?.isReturn) {
      this.returned = true;
      return 'single';
    }
    if (next?.stepOver) return { over: (ip + next.length) | 0, sp };
    return 'single';
  }
}

/**
 * Source-line step: single-steps until the instruction pointer is at the start of a statement of another line.
 * `over` runs calls at full speed; a step into a function without line information runs to its return.
 */
class LineStepPlan implements StepPlan {
  private started = false;
  private afterCall: { over: number; sp: number } | undefined;
  constructor(
    private readonly over: boolean,
    private readonly from: SourceLocation,
    private readonly lookup: (ip: number) => SourceLocation | undefined,
  ) {}
  decide(ip: number, sp: number, next: StepInfo | undefined): Decision {
    if (this.started) {
      const here = this.lookup(ip);
      if (!here) {
        const call = this.afterCall;
        this.afterCall = undefined;
        return call ?? 'stop';
      }
      if (here.atRowStart && here.isStmt && (here.line !== this.from.line || here.file !== this.from.file))
        return 'stop';
    }
    this.started = true;
    this.afterCall = undefined;
    if (next?.stepOver && (this.over || !next.isCall)) return { over: (ip + next.length) | 0, sp };
    if (next?.isCall) this.afterCall = { over: (ip + next.length) | 0, sp };
    return 'single';
  }
}

class StepJob implements Job {
  private until: { address: number; sp: number } | undefined;
  private resuming = true;
  constructor(
    private readonly controller: RunController,
    private readonly plan: StepPlan,
  ) {}

  run(deadline: number): JobResult {
    const cpu = this.controller.emulator.machine.cpu;
    let count = 0;
    for (;;) {
      if (this.until) {
        const r = this.controller.runUntil(deadline, this.resuming, this.until);
        this.resuming = false;
        if (r !== 'reached') return r;
        this.until = undefined;
      } else {
        const decision = this.plan.decide(cpu.linearIp, cpu.regs[4], this.controller.currentInstruction());
        if (decision === 'stop') return { kind: 'stopped', cause: { kind: 'step' } };
        if (decision === 'single') {
          const outcome = this.controller.stepOne();
          this.resuming = false;
          if (outcome) return outcome;
        } else {
          this.until = { address: decision.over, sp: decision.sp };
          this.resuming = true;
        }
      }
      if ((++count & 63) === 0 && performance.now() >= deadline) return 'more';
    }
  }
}
