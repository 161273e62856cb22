/**
 * The mmiodbg debug session: DAP requests in, events out. It holds the emulator through the run-state machine
 * (`RunController`); every request handler returns a body or throws, and `dispatchRequest` is the one place where
 * thrown errors become DAP error responses.
 */
import { readFileSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { DebugSession, Event, InvalidatedEvent, Response } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { EXCEPTION_NAMES } from '../core/cpu/state';
import type { InspectableDevice } from '../core/regs/describe';
import { decodeFields, findField, findRegister, formatHex, getField, setField } from '../core/regs/describe';
import type { HookInfo } from '../hooks';
import { openJsonLinesFile } from '../hooks';
import type { EmulatorConfig, StopCause } from '../runtime/emulator';
import { Emulator, EmulatorConfigError } from '../runtime/emulator';
import type { CodeBreakpoint, WatchBreakpoint } from './breakpoints';
import { Breakpoints, parseDataId, parseWatchName } from './breakpoints';
import { codeBitness, disassemble } from './disasm';
import { LineTable } from './dwarf';
import type { ListingContext } from './listing';
import { LISTING_MIME_TYPE, Listings } from './listing';
import type { SourceLocation } from './dwarf';
import { ErrorCode, SessionError, invalidArgument, toErrorMessage } from './errors';
import type { EvalEnvironment, EvalValue } from './evaluate';
import { evaluateExpression } from './evaluate';
import {
  codeReader,
  formatReference,
  hexDump,
  parseMemoryReference,
  readLinearValue,
  readMemory,
  writeMemory,
} from './memory';
import type {
  CustomEventName,
  CustomEvents,
  CustomRequestArgs,
  CustomRequestName,
  CustomRequestResult,
  LaunchArguments,
} from './protocol';
import type { Granularity, RunOutcome, StepKind } from './runner';
import { RunController } from './runner';
import type { VarNode } from './variables';
import { cpuRegister, deviceRegisterNode, devicesScope, fieldText, hex, registersScope } from './variables';
import { deviceView, hookDiagnostic, hookView, registerView, traceView } from './views';

export const THREAD_ID = 1;
/** Default launch values (package.json's launch schema must agree). */
export const LAUNCH_DEFAULTS = {
  format: 'auto',
  memory: 128,
  stopOnEntry: false,
  hooks: [] as string[],
  realtime: false,
} as const;

/**
 * The Breakpoints view shows these few; any other vector is reached through the condition of "CPU exceptions"
 * (e.g. `#DF #TS 17`).
 */
const EXCEPTION_FILTERS: DebugProtocol.ExceptionBreakpointsFilter[] = [
  { filter: '#GP', label: '#GP general protection' },
  { filter: '#PF', label: '#PF page fault' },
  { filter: '#UD', label: '#UD invalid opcode' },
  {
    filter: 'all',
    label: 'CPU exceptions',
    description: 'All, or the vectors named in the condition',
    supportsCondition: true,
    conditionDescription: 'Vectors to stop on, e.g. "#DE #DF 17"; empty for all',
  },
  { filter: 'triple', label: 'Triple fault', description: 'Stop instead of ending the session', default: true },
  { filter: 'hook', label: 'Hook errors', description: 'Stop when a hook faults at run time' },
];
/** `#DE #DF 17 0x0e` → vector numbers; an unknown name is an error with the known names. */
function parseVectorList(text: string): Set<number> {
  const vectors = new Set<number>();
  for (const word of text.split(/[\s,]+/).filter(Boolean)) {
    const named = FILTER_VECTORS[word.toUpperCase()];
    const number = Number(word);
    if (named !== undefined) vectors.add(named);
    else if (Number.isInteger(number) && number >= 0 && number < 32) vectors.add(number);
    else
      throw invalidArgument(
        `unknown exception "${word}" in the condition: use ${Object.keys(FILTER_VECTORS).join(' ')} or 0-31`,
      );
  }
  return vectors;
}

/** `x ADDRESS`, `x/128 esp`, `x/16 phys 0xfed00000`: a Debug Console memory dump (gdb's `x`, bytes only). */
const MEMORY_DUMP = /^x(?:\/(\S+))?\s+(phys\s+)?(.+)$/i;
const MEMORY_DUMP_DEFAULT = 64;
const MEMORY_DUMP_MAX = 4096;

const FILTER_VECTORS: Record<string, number> = {
  '#DE': 0,
  '#DB': 1,
  '#BP': 3,
  '#UD': 6,
  '#NM': 7,
  '#DF': 8,
  '#TS': 10,
  '#NP': 11,
  '#SS': 12,
  '#GP': 13,
  '#PF': 14,
  '#MF': 16,
  '#AC': 17,
};

// Each handler declares the DAP argument type of its own request.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Handler = (args: any) => unknown;

/** The special "stop" the session reports when a hook faulted or a triple fault ended the machine. */
type SessionStop =
  | { readonly kind: 'hook-fault'; readonly hook: string; readonly message: string }
  | { readonly kind: 'triple-fault'; readonly reason: string };

class Handles {
  private next = 1;
  private readonly map = new Map<number, () => VarNode[]>();
  add(children: () => VarNode[]): number {
    const id = this.next++;
    this.map.set(id, children);
    return id;
  }
  get(id: number): (() => VarNode[]) | undefined {
    return this.map.get(id);
  }
  /** Forgets every reference; numbers are not reused, so a reference from an earlier stop never aliases a new one. */
  reset(): void {
    this.map.clear();
  }
}

/** Console output collected between slices so a chatty guest does not send one event per byte. */
class OutputBuffer {
  private readonly decoder = new TextDecoder('utf-8');
  private text = '';
  constructor(
    private readonly category: string,
    private readonly send: (category: string, text: string) => void,
  ) {}
  push(byte: number): void {
    this.text += this.decoder.decode(new Uint8Array([byte]), { stream: true });
    if (this.text.length > 65536) this.flush();
  }
  flush(): void {
    if (this.text === '') return;
    const text = this.text;
    this.text = '';
    this.send(this.category, text);
  }
}

export class MmiodbgSession extends DebugSession {
  private launchArgs: LaunchArguments | undefined;
  private controller: RunController | undefined;
  private lines: LineTable | undefined;
  private sourceBase = '';
  private readonly sourcePaths = new Map<string, string | undefined>();
  private readonly breakpoints = new Breakpoints();
  private readonly handles = new Handles();
  private readonly listings = new Listings();
  private configured: Promise<void> = Promise.resolve();
  private markConfigured: () => void = () => undefined;
  private readonly serial = new OutputBuffer('stdout', (c, t) => this.output(c, t));
  private readonly debugcon = new OutputBuffer('console', (c, t) => this.output(c, t));
  private watchers: FSWatcher[] = [];
  private readonly debounce = new Map<string, NodeJS.Timeout>();
  private traceFile: { close(): void } | undefined;
  private sessionStop: SessionStop | undefined;
  private machineDead = false;
  private lastTraceTotal = -1;
  private lastTraceEvent = 0;
  private lastHooksEvent = 0;
  private lastHookHits = -1;
  /** The client re-reads views on an `invalidated` event. */
  private clientRefreshes = false;
  private lastStop: { cause: StopCause | SessionStop | { kind: 'entry' } } | undefined;
  private readonly handlers: Record<string, Handler>;

  constructor() {
    super();
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
    this.handlers = {
      initialize: (a: DebugProtocol.InitializeRequestArguments) => this.initialize(a),
      launch: (a: LaunchArguments) => this.launch(a),
      attach: () => {
        throw new SessionError(ErrorCode.Unsupported, 'mmiodbg starts its own emulator: use "request": "launch"');
      },
      configurationDone: () => this.markConfigured(),
      restart: (a: DebugProtocol.RestartArguments) => this.restart(a),
      terminate: () => this.terminate(),
      disconnect: () => this.disconnect(),
      threads: () => ({ threads: [{ id: THREAD_ID, name: 'CPU 0' }] }),
      continue: () => this.resume(),
      pause: () => this.pause(),
      next: (a: DebugProtocol.NextArguments) => this.step('over', a.granularity),
      stepIn: (a: DebugProtocol.StepInArguments) => this.step('in', a.granularity),
      stepOut: (a: DebugProtocol.StepOutArguments) => this.step('out', a.granularity),
      setBreakpoints: (a: DebugProtocol.SetBreakpointsArguments) => this.setBreakpoints(a),
      setFunctionBreakpoints: (a: DebugProtocol.SetFunctionBreakpointsArguments) => this.setFunctionBreakpoints(a),
      setInstructionBreakpoints: (a: DebugProtocol.SetInstructionBreakpointsArguments) =>
        this.setInstructionBreakpoints(a),
      setExceptionBreakpoints: (a: DebugProtocol.SetExceptionBreakpointsArguments) => this.setExceptionBreakpoints(a),
      dataBreakpointInfo: (a: DebugProtocol.DataBreakpointInfoArguments) => this.dataBreakpointInfo(a),
      setDataBreakpoints: (a: DebugProtocol.SetDataBreakpointsArguments) => this.setDataBreakpoints(a),
      exceptionInfo: () => this.exceptionInfo(),
      stackTrace: (a: DebugProtocol.StackTraceArguments) => this.stackTrace(a),
      source: (a: DebugProtocol.SourceArguments) => this.source(a),
      scopes: () => this.scopes(),
      variables: (a: DebugProtocol.VariablesArguments) => this.variables(a),
      setVariable: (a: DebugProtocol.SetVariableArguments) => this.setVariable(a),
      evaluate: (a: DebugProtocol.EvaluateArguments) => this.evaluate(a),
      disassemble: (a: DebugProtocol.DisassembleArguments) => this.disassemble(a),
      readMemory: (a: DebugProtocol.ReadMemoryArguments) => this.readMemory(a),
      writeMemory: (a: DebugProtocol.WriteMemoryArguments) => this.writeMemory(a),
      'mmiodbg/devices': (a: CustomRequestArgs<'mmiodbg/devices'>) => this.devices(a),
      'mmiodbg/writeRegister': (a: CustomRequestArgs<'mmiodbg/writeRegister'>) => this.writeRegister(a),
      'mmiodbg/trace': (a: CustomRequestArgs<'mmiodbg/trace'>) => this.trace(a),
      'mmiodbg/hookText': (a: CustomRequestArgs<'mmiodbg/hookText'>) => this.hookText(a),
      'mmiodbg/hooks': () => this.hooks(),
      'mmiodbg/serialInput': (a: CustomRequestArgs<'mmiodbg/serialInput'>) => this.serialInput(a),
      'mmiodbg/decode': (a: CustomRequestArgs<'mmiodbg/decode'>) => this.decode(a),
      'mmiodbg/listing': (a: CustomRequestArgs<'mmiodbg/listing'>) => this.listing(a),
    };
  }

  // ---- dispatch: the one place where errors become responses ---------------------------------------------------

  protected override dispatchRequest(request: DebugProtocol.Request): void {
    const response: DebugProtocol.Response = new Response(request);
    const handler = this.handlers[request.command];
    const run = async (): Promise<unknown> => {
      if (!handler) throw new SessionError(ErrorCode.Unsupported, `unsupported request "${request.command}"`, false);
      return handler(request.arguments ?? {});
    };
    run().then(
      (body) => {
        if (body !== undefined) response.body = body;
        this.sendResponse(response);
        if (request.command === 'initialize') this.afterInitialize();
        if (request.command === 'disconnect') this.shutdown();
      },
      (error: unknown) => {
        const message = toErrorMessage(error);
        response.success = false;
        response.message = message.format;
        response.body = { error: message };
        this.sendResponse(response);
      },
    );
  }

  private sendCustomEvent<K extends CustomEventName>(name: K, body: CustomEvents[K]): void {
    this.sendEvent(new Event(name, body));
  }

  private output(category: string, text: string): void {
    this.sendEvent(new Event('output', { category, output: text }));
  }

  private get emulator(): Emulator {
    const c = this.controller;
    if (!c) throw new SessionError(ErrorCode.NotLaunched, 'the guest has not been launched yet');
    return c.emulator;
  }

  private get run(): RunController {
    if (!this.controller) throw new SessionError(ErrorCode.NotLaunched, 'the guest has not been launched yet');
    return this.controller;
  }

  private requireStopped(): Emulator {
    const run = this.run;
    // After a triple fault the machine is dead but its state stays inspectable until the user continues.
    if (this.machineDead) return run.emulator;
    if (run.state === 'terminated') throw new SessionError(ErrorCode.Terminated, 'the guest has ended');
    if (run.isRunning) throw new SessionError(ErrorCode.NotStopped, 'the guest is running: pause it first');
    return run.emulator;
  }

  // ---- lifecycle --------------------------------------------------------------------------------------------------

  private initialize(args: DebugProtocol.InitializeRequestArguments): DebugProtocol.Capabilities {
    this.clientRefreshes = args.supportsInvalidatedEvent === true;
    return {
      supportsConfigurationDoneRequest: true,
      supportsFunctionBreakpoints: true,
      supportsConditionalBreakpoints: true,
      supportsEvaluateForHovers: true,
      exceptionBreakpointFilters: EXCEPTION_FILTERS,
      supportsExceptionFilterOptions: true,
      supportsSetVariable: true,
      supportsRestartRequest: true,
      supportsExceptionInfoRequest: true,
      supportsTerminateRequest: true,
      supportsDataBreakpoints: true,
      supportsDataBreakpointBytes: true,
      supportsReadMemoryRequest: true,
      supportsWriteMemoryRequest: true,
      supportsDisassembleRequest: true,
      supportsSteppingGranularity: true,
      supportsInstructionBreakpoints: true,
    };
  }

  private afterInitialize(): void {
    this.configured = new Promise((resolveConfigured) => {
      this.markConfigured = resolveConfigured;
    });
  }

  private createEmulator(args: LaunchArguments): Emulator {
    if (args === null || typeof args !== 'object') throw invalidArgument('launch arguments are missing');
    if (args.hpet !== undefined && typeof args.hpet !== 'string' && typeof args.hpet !== 'object') {
      throw new SessionError(ErrorCode.LaunchConfig, '"hpet" must be a preset name, key=value text or an object');
    }
    if (args.hooks !== undefined && !Array.isArray(args.hooks)) {
      throw new SessionError(ErrorCode.LaunchConfig, '"hooks" must be a list of hook file paths');
    }
    const config: EmulatorConfig = {
      program: args.program,
      format: args.format ?? LAUNCH_DEFAULTS.format,
      memoryMiB: args.memory ?? LAUNCH_DEFAULTS.memory,
      ...(args.cmdline !== undefined ? { cmdline: args.cmdline } : {}),
      ...(args.initrd !== undefined ? { initrd: args.initrd } : {}),
      ...(args.hpet !== undefined ? { hpet: args.hpet } : {}),
      hooks: args.hooks ?? LAUNCH_DEFAULTS.hooks,
      realtime: args.realtime ?? LAUNCH_DEFAULTS.realtime,
    };
    let created: ReturnType<typeof Emulator.create>;
    try {
      created = Emulator.create(config, {
        serial: (b) => this.serial.push(b),
        debugConsole: (b) => this.debugcon.push(b),
        hookLog: (message, hook) => this.hookLog(message, hook),
        hookFault: (hook, message) => this.hookFault(hook, message),
      });
    } catch (e) {
      if (e instanceof EmulatorConfigError) throw new SessionError(ErrorCode.LaunchConfig, e.message);
      throw e;
    }
    const { emulator, hookResults } = created;
    for (const [file, result] of hookResults)
      this.reportHookResult(file, result.ok, result.diagnostics.map(hookDiagnostic));
    const image = readFileSync(args.program);
    try {
      this.lines = LineTable.fromElf(image);
    } catch (e) {
      this.lines = undefined;
      this.output('console', `no source lines: ${(e as Error).message}\n`);
    }
    this.sourceBase = dirname(resolve(args.program));
    this.sourcePaths.clear();
    if (args.trace) {
      try {
        const file = openJsonLinesFile(args.trace);
        const remove = emulator.trace?.addSink(file.sink);
        this.traceFile = {
          close: () => {
            remove?.();
            file.close();
          },
        };
      } catch (e) {
        throw new SessionError(
          ErrorCode.LaunchConfig,
          `cannot write the trace file ${args.trace}: ${(e as Error).message}`,
        );
      }
    }
    return emulator;
  }

  private async launch(args: LaunchArguments): Promise<void> {
    const emulator = this.createEmulator(args);
    this.launchArgs = args;
    this.controller = new RunController(
      emulator,
      { sliceEnded: () => this.sliceEnded(), finished: (o) => this.finished(o) },
      this.lines,
    );
    this.output('console', `mmiodbg: ${emulator.plan.description}\n`);
    this.watchHookFiles(args.hooks ?? []);
    this.sendEvent(new Event('initialized'));
    // VS Code sends breakpoints, then configurationDone; a client that never does still gets the guest started.
    await Promise.race([this.configured, new Promise((r) => setTimeout(r, 2000).unref())]);
    this.startGuest(args.stopOnEntry ?? LAUNCH_DEFAULTS.stopOnEntry);
  }

  private startGuest(stopOnEntry: boolean): void {
    const run = this.run;
    this.applyCodeBreakpoints();
    this.applyExceptionFilters();
    if (stopOnEntry) {
      queueMicrotask(() => this.reportStop({ kind: 'entry' }));
    } else {
      run.resume();
    }
  }

  private async restart(args: DebugProtocol.RestartArguments): Promise<void> {
    const launchArgs = (args.arguments as LaunchArguments | undefined) ?? this.launchArgs;
    if (!launchArgs) throw new SessionError(ErrorCode.NotLaunched, 'nothing to restart: the guest was never launched');
    this.stopEverything();
    this.listings.clear();
    const emulator = this.createEmulator(launchArgs);
    this.launchArgs = launchArgs;
    this.machineDead = false;
    this.controller = new RunController(
      emulator,
      { sliceEnded: () => this.sliceEnded(), finished: (o) => this.finished(o) },
      this.lines,
    );
    this.breakpoints.reinstall(emulator);
    this.watchHookFiles(launchArgs.hooks ?? []);
    this.output('console', `mmiodbg: restarted, ${emulator.plan.description}\n`);
    this.startGuest(launchArgs.stopOnEntry ?? LAUNCH_DEFAULTS.stopOnEntry);
  }

  private stopEverything(): void {
    this.controller?.terminate();
    for (const w of this.watchers) w.close();
    this.watchers = [];
    for (const t of this.debounce.values()) clearTimeout(t);
    this.debounce.clear();
    this.traceFile?.close();
    this.traceFile = undefined;
    this.serial.flush();
    this.debugcon.flush();
  }

  private terminate(): void {
    const wasAlive = this.machineDead || (this.controller !== undefined && this.controller.state !== 'terminated');
    this.machineDead = false;
    this.stopEverything();
    if (wasAlive) this.sendEvent(new Event('terminated'));
  }

  private disconnect(): void {
    this.stopEverything();
  }

  // ---- execution --------------------------------------------------------------------------------------------------

  private resume(): DebugProtocol.ContinueResponse['body'] {
    const run = this.run;
    if (this.machineDead) {
      this.machineDead = false;
      queueMicrotask(() => this.endSession());
      return { allThreadsContinued: true };
    }
    if (run.state === 'terminated') throw new SessionError(ErrorCode.Terminated, 'the guest has ended');
    if (!run.isRunning) {
      this.handles.reset();
      run.resume();
    }
    return { allThreadsContinued: true };
  }

  private pause(): void {
    this.controller?.pause();
  }

  private step(kind: StepKind, granularity: DebugProtocol.SteppingGranularity | undefined): void {
    this.requireStopped();
    const run = this.run;
    if (this.machineDead) {
      this.machineDead = false;
      queueMicrotask(() => this.endSession());
      return;
    }
    // Where the source file is missing the editor shows a disassembly listing, one instruction a line: a step
    // there is one instruction, as the user sees it.
    const location = granularity === 'instruction' ? undefined : run.location();
    const lineLevel = location !== undefined && this.sourceFor(location)?.path !== undefined;
    const g: Granularity = lineLevel ? 'line' : 'instruction';
    this.handles.reset();
    run.step(kind, g);
  }

  private sliceEnded(): void {
    this.serial.flush();
    this.debugcon.flush();
    this.reportHookHits();
    const trace = this.controller?.emulator.trace;
    if (trace && trace.total !== this.lastTraceTotal) {
      const now = performance.now();
      if (now - this.lastTraceEvent > 250) {
        this.lastTraceEvent = now;
        this.lastTraceTotal = trace.total;
        this.sendCustomEvent('mmiodbg/traceAppended', { total: trace.total });
      }
    }
  }

  /** After the response to the request that changed a value: the client reads its Variables view again. */
  private valuesChanged(): void {
    if (!this.clientRefreshes) return;
    setImmediate(() => this.sendEvent(new InvalidatedEvent(['variables'])));
  }

  /** Hit counts for the Hooks view while the guest runs, at most twice a second and only when they changed. */
  private reportHookHits(): void {
    const emulator = this.controller?.emulator;
    const now = performance.now();
    if (!emulator || now - this.lastHooksEvent < 500) return;
    this.lastHooksEvent = now;
    const hooks = emulator.hooks.listHooks().map(hookView);
    const hits = hooks.reduce((n, h) => n + h.hits, 0);
    if (hits === this.lastHookHits) return;
    this.lastHookHits = hits;
    this.sendCustomEvent('mmiodbg/hooksChanged', { hooks });
  }

  private finished(outcome: RunOutcome): void {
    this.sliceEnded();
    const trace = this.controller?.emulator.trace;
    if (trace && trace.total !== this.lastTraceTotal) {
      this.lastTraceTotal = trace.total;
      this.sendCustomEvent('mmiodbg/traceAppended', { total: trace.total });
    }
    switch (outcome.kind) {
      case 'exited':
        this.output('console', `mmiodbg: the guest exited with code ${outcome.code}\n`);
        this.sendEvent(new Event('exited', { exitCode: outcome.code }));
        this.endSession();
        return;
      case 'shutdown': {
        const reason = outcome.reason;
        if (reason.startsWith('triple fault') && this.breakpoints.exceptionFilters.has('triple')) {
          this.machineDead = true;
          this.output('stderr', `mmiodbg: ${reason}\n`);
          this.reportStop({ kind: 'triple-fault', reason });
          return;
        }
        this.output('stderr', `mmiodbg: the machine stopped: ${reason}\n`);
        this.endSession();
        return;
      }
      case 'stopped': {
        const special = this.sessionStop;
        this.sessionStop = undefined;
        this.reportStop(outcome.cause.kind === 'pause' && special ? special : outcome.cause);
        return;
      }
    }
  }

  private endSession(): void {
    this.stopEverything();
    this.sendEvent(new Event('terminated'));
  }

  private reportStop(cause: StopCause | SessionStop | { kind: 'entry' }): void {
    this.handles.reset();
    this.serial.flush();
    this.debugcon.flush();
    this.lastStop = { cause };
    const body: DebugProtocol.StoppedEvent['body'] = { reason: 'pause', threadId: THREAD_ID, allThreadsStopped: true };
    switch (cause.kind) {
      case 'entry':
        body.reason = 'entry';
        break;
      case 'pause':
        body.reason = 'pause';
        break;
      case 'step':
        body.reason = 'step';
        break;
      case 'breakpoint': {
        const hits = this.breakpoints.codeAt(cause.address);
        const kind = hits[0]?.kind;
        body.reason =
          kind === 'instruction'
            ? 'instruction breakpoint'
            : kind === 'function'
              ? 'function breakpoint'
              : 'breakpoint';
        body.hitBreakpointIds = hits.map((b) => b.id);
        const where = this.emulator.symbolAt(cause.address);
        if (where) body.description = `breakpoint at ${symbolText(where)}`;
        break;
      }
      case 'watchpoint': {
        const w = this.breakpoints.watchFor(cause.info.watchpointId);
        body.reason = 'data breakpoint';
        body.description = cause.info.description;
        body.text = cause.info.description;
        if (w) body.hitBreakpointIds = [w.id];
        break;
      }
      case 'hook-break':
        body.reason = 'breakpoint';
        body.description = cause.info.message ? `hook break: ${cause.info.message}` : cause.info.description;
        body.text = cause.info.description;
        break;
      case 'exception':
        body.reason = 'exception';
        body.description = `${EXCEPTION_NAMES[cause.vector] ?? `exception ${cause.vector}`}${
          cause.errorCode !== undefined ? ` (error code ${hex(cause.errorCode, 16)})` : ''
        }`;
        body.text = body.description;
        break;
      case 'hook-fault':
        body.reason = 'exception';
        body.description = `hook ${cause.hook} faulted: ${cause.message}`;
        body.text = body.description;
        break;
      case 'triple-fault':
        body.reason = 'exception';
        body.description = cause.reason.split('\n')[0];
        body.text = body.description;
        break;
    }
    this.sendEvent(new Event('stopped', body));
    this.sendCustomEvent('mmiodbg/hooksChanged', { hooks: this.emulator.hooks.listHooks().map(hookView) });
  }

  private exceptionInfo(): DebugProtocol.ExceptionInfoResponse['body'] {
    const cause = this.lastStop?.cause;
    if (!cause) throw new SessionError(ErrorCode.NotStopped, 'the guest is not stopped on an exception');
    if (cause.kind === 'exception') {
      const name = EXCEPTION_NAMES[cause.vector] ?? `exception ${cause.vector}`;
      return {
        exceptionId: name.split(' ')[0],
        description: `${name} at ${this.emulator.describeLocation()}${cause.errorCode !== undefined ? `, error code ${hex(cause.errorCode, 16)}` : ''}`,
        breakMode: 'always',
      };
    }
    if (cause.kind === 'hook-fault') {
      return { exceptionId: 'hook fault', description: `${cause.hook}: ${cause.message}`, breakMode: 'always' };
    }
    if (cause.kind === 'triple-fault') {
      return { exceptionId: 'triple fault', description: cause.reason, breakMode: 'always' };
    }
    throw new SessionError(ErrorCode.NotStopped, 'the guest is not stopped on an exception');
  }

  // ---- hooks ------------------------------------------------------------------------------------------------------

  private hookLog(message: string, hook: HookInfo): void {
    this.sendCustomEvent('mmiodbg/hookLog', { message, hook: hook.name });
    this.output('console', `[hook ${hook.name}] ${message}\n`);
  }

  private hookFault(hook: HookInfo, message: string): void {
    this.sendCustomEvent('mmiodbg/hookFault', { hook: hook.name, message });
    this.output('stderr', `mmiodbg: hook ${hook.name} (${hook.file}:${hook.line}) disabled: ${message}\n`);
    if (this.breakpoints.exceptionFilters.has('hook')) {
      this.sessionStop = { kind: 'hook-fault', hook: hook.name, message };
      this.controller?.emulator.pause();
    }
  }

  private reportHookResult(
    file: string,
    ok: boolean,
    diagnostics: CustomEvents['mmiodbg/hookDiagnostics']['diagnostics'],
  ): void {
    this.sendCustomEvent('mmiodbg/hookDiagnostics', { file, ok, diagnostics });
    for (const d of diagnostics) {
      this.output(
        d.severity === 'error' ? 'stderr' : 'console',
        `${file}:${d.line}:${d.column}: ${d.severity}: ${d.message}\n`,
      );
    }
    if (!ok) this.output('stderr', `mmiodbg: ${file} has errors; its previous version (if any) stays active\n`);
  }

  private loadHook(
    file: string,
    text: string,
  ): { ok: boolean; diagnostics: CustomEvents['mmiodbg/hookDiagnostics']['diagnostics'] } {
    const emulator = this.emulator;
    const result = emulator.loadHookText(file, text);
    const diagnostics = result.diagnostics.map(hookDiagnostic);
    this.reportHookResult(file, result.ok, diagnostics);
    this.sendCustomEvent('mmiodbg/hooksChanged', { hooks: emulator.hooks.listHooks().map(hookView) });
    return { ok: result.ok, diagnostics };
  }

  private watchHookFiles(files: readonly string[]): void {
    const byDir = new Map<string, Set<string>>();
    for (const f of files) {
      const dir = dirname(f);
      let names = byDir.get(dir);
      if (!names) byDir.set(dir, (names = new Set()));
      names.add(basename(f));
    }
    for (const [dir, names] of byDir) {
      try {
        const watcher = watch(dir, (_event, name) => {
          if (name === null || !names.has(name.toString())) return;
          this.hookFileChanged(join(dir, name.toString()), files);
        });
        watcher.on('error', () => watcher.close());
        this.watchers.push(watcher);
      } catch {
        this.output('stderr', `mmiodbg: cannot watch ${dir} for hook changes\n`);
      }
    }
  }

  private hookFileChanged(path: string, files: readonly string[]): void {
    const file = files.find((f) => resolve(f) === resolve(path)) ?? path;
    clearTimeout(this.debounce.get(file));
    this.debounce.set(
      file,
      setTimeout(() => {
        this.debounce.delete(file);
        if (!this.controller || this.controller.state === 'terminated') return;
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch {
          return;
        }
        this.loadHook(file, text);
      }, 100),
    );
  }

  // ---- breakpoints ------------------------------------------------------------------------------------------------

  private applyCodeBreakpoints(): void {
    this.controller?.setBreakpoints(this.breakpoints.addresses());
  }

  private applyExceptionFilters(): void {
    const emulator = this.controller?.emulator;
    if (!emulator) return;
    emulator.exceptionBreaks.clear();
    const filters = this.breakpoints.exceptionFilters;
    for (const [filter, vector] of Object.entries(FILTER_VECTORS))
      if (filters.has(filter)) emulator.exceptionBreaks.add(vector);
    if (filters.has('all')) {
      const named = this.breakpoints.exceptionVectors;
      for (let v = 0; v < 32; v++) if (named === undefined || named.has(v)) emulator.exceptionBreaks.add(v);
    }
  }

  private setBreakpoints(args: DebugProtocol.SetBreakpointsArguments): DebugProtocol.SetBreakpointsResponse['body'] {
    const requested = args.breakpoints ?? (args.lines ?? []).map((line) => ({ line }));
    const reference = args.source.sourceReference ?? 0;
    if (reference > 0) return this.setListingBreakpoints(args.source, reference, requested);
    const path = args.source.path ?? args.source.name ?? '';
    const lines = this.lines;
    const result: DebugProtocol.Breakpoint[] = [];
    const code: CodeBreakpoint[] = [];
    const files = lines ? lines.filesMatching(path) : [];
    for (const bp of requested) {
      const id = this.breakpoints.newId();
      if (!lines) {
        result.push({
          id,
          verified: false,
          line: bp.line,
          message: 'the guest image has no DWARF line information (build it with -g)',
          reason: 'failed',
        });
        continue;
      }
      if (files.length === 0) {
        result.push({
          id,
          verified: false,
          line: bp.line,
          message: `${basename(path)} is not part of the guest image's line information`,
          reason: 'failed',
        });
        continue;
      }
      const found = lines.addressesForLine(files, bp.line);
      if (!found) {
        result.push({ id, verified: false, line: bp.line, message: `no code at line ${bp.line}`, reason: 'failed' });
        continue;
      }
      code.push({ id, kind: 'source', addresses: found.addresses });
      result.push({
        id,
        verified: true,
        line: found.line,
        source: args.source,
        instructionReference: hex(found.addresses[0]),
      });
    }
    this.breakpoints.setCode(`source:${path}`, code);
    this.applyCodeBreakpoints();
    return { breakpoints: result };
  }

  /** Breakpoints in the gutter of a disassembly listing: each line is one instruction. */
  private setListingBreakpoints(
    source: DebugProtocol.Source,
    reference: number,
    requested: readonly DebugProtocol.SourceBreakpoint[],
  ): DebugProtocol.SetBreakpointsResponse['body'] {
    const result: DebugProtocol.Breakpoint[] = [];
    const code: CodeBreakpoint[] = [];
    for (const bp of requested) {
      const id = this.breakpoints.newId();
      const found = this.listings.addressForLine(reference, bp.line);
      if (!found) {
        const message = this.listings.get(reference)
          ? `no instruction at or after line ${bp.line} of this listing`
          : 'this disassembly listing belongs to an earlier run of the guest';
        result.push({ id, verified: false, line: bp.line, message, reason: 'failed' });
        continue;
      }
      code.push({ id, kind: 'instruction', addresses: [found.address] });
      result.push({ id, verified: true, line: found.line, source, instructionReference: hex(found.address) });
    }
    this.breakpoints.setCode(`listing:${reference}`, code);
    this.applyCodeBreakpoints();
    return { breakpoints: result };
  }

  private setFunctionBreakpoints(
    args: DebugProtocol.SetFunctionBreakpointsArguments,
  ): DebugProtocol.SetFunctionBreakpointsResponse['body'] {
    const result: DebugProtocol.Breakpoint[] = [];
    const code: CodeBreakpoint[] = [];
    const watches: WatchBreakpoint[] = [];
    const emulator = this.emulator;
    for (const bp of args.breakpoints) {
      const id = this.breakpoints.newId();
      const spec = parseWatchName(bp.name, bp.condition);
      if (spec) {
        watches.push({ id, kind: 'function', spec, watchpointId: undefined, message: undefined });
        continue;
      }
      const name = bp.name.trim();
      const address = emulator.symbolAddress(name) ?? (/^0x[0-9a-f]+$/i.test(name) ? Number(name) : undefined);
      if (address === undefined) {
        result.push({ id, verified: false, message: `no symbol "${name}" in the guest image`, reason: 'failed' });
        continue;
      }
      code.push({ id, kind: 'function', addresses: [address] });
      result.push({ id, verified: true, instructionReference: hex(address) });
    }
    this.breakpoints.setCode('function', code);
    this.breakpoints.setWatch(emulator, 'function', watches);
    this.applyCodeBreakpoints();
    const views = new Map<number, DebugProtocol.Breakpoint>();
    for (const b of result) if (b.id !== undefined) views.set(b.id, b);
    for (const w of watches) views.set(w.id, Breakpoints.view(w));
    return { breakpoints: [...views.values()].sort((a, b) => (a.id ?? 0) - (b.id ?? 0)) };
  }

  private setInstructionBreakpoints(
    args: DebugProtocol.SetInstructionBreakpointsArguments,
  ): DebugProtocol.SetInstructionBreakpointsResponse['body'] {
    const result: DebugProtocol.Breakpoint[] = [];
    const code: CodeBreakpoint[] = [];
    for (const bp of args.breakpoints) {
      const id = this.breakpoints.newId();
      let address: number;
      try {
        address = parseMemoryReference(bp.instructionReference, bp.offset ?? 0).address;
      } catch (e) {
        result.push({ id, verified: false, message: (e as Error).message, reason: 'failed' });
        continue;
      }
      code.push({ id, kind: 'instruction', addresses: [address] });
      result.push({ id, verified: true, instructionReference: hex(address) });
    }
    this.breakpoints.setCode('instruction', code);
    this.applyCodeBreakpoints();
    return { breakpoints: result };
  }

  private setExceptionBreakpoints(
    args: DebugProtocol.SetExceptionBreakpointsArguments,
  ): DebugProtocol.SetExceptionBreakpointsResponse['body'] {
    const filters = this.breakpoints.exceptionFilters;
    filters.clear();
    this.breakpoints.exceptionVectors = undefined;
    const known = new Set([...EXCEPTION_FILTERS.map((f) => f.filter), ...Object.keys(FILTER_VECTORS)]);
    const all = [...args.filters, ...(args.filterOptions ?? []).map((o) => o.filterId)];
    for (const f of all) {
      if (!known.has(f)) throw invalidArgument(`unknown exception filter "${f}"`);
      filters.add(f);
    }
    const condition = args.filterOptions?.find((o) => o.filterId === 'all')?.condition?.trim();
    if (condition) this.breakpoints.exceptionVectors = parseVectorList(condition);
    this.applyExceptionFilters();
    return { breakpoints: all.map(() => ({ verified: true })) };
  }

  private dataBreakpointInfo(
    args: DebugProtocol.DataBreakpointInfoArguments,
  ): DebugProtocol.DataBreakpointInfoResponse['body'] {
    const accessTypes: DebugProtocol.DataBreakpointAccessType[] = ['read', 'write', 'readWrite'];
    const none = (description: string): DebugProtocol.DataBreakpointInfoResponse['body'] => ({
      dataId: null,
      description,
    });
    if (args.asAddress) {
      const portMatch = /^\s*port\s+(0x[0-9a-f]+|\d+)\s*$/i.exec(args.name);
      const bytes = args.bytes ?? 4;
      if (portMatch) {
        const port = Number(portMatch[1]);
        return {
          dataId: `pio:${hex(port, 16)}:${bytes}`,
          description: `port ${hex(port, 16)} (${bytes} bytes)`,
          accessTypes,
        };
      }
      const ref = parseMemoryReference(args.name);
      let physical = ref.address;
      if (!ref.physical) {
        const translated = this.emulator.machine.cpu.mmu.debugTranslate(ref.address);
        if (translated === undefined) return none(`${formatReference(ref)} is not mapped`);
        physical = translated;
      }
      return {
        dataId: `mmio:${hex(physical)}:${bytes}`,
        description: `${hex(physical)} (${bytes} bytes)`,
        accessTypes,
      };
    }
    if (args.variablesReference !== undefined && args.variablesReference !== 0) {
      const children = this.handles.get(args.variablesReference);
      const node = children?.().find((n) => n.name === args.name);
      if (!node) return none(`no variable "${args.name}"`);
      if (node.dataId === undefined) return none('only device registers (in the Devices scope) can be watched');
      return { dataId: `reg:${node.dataId}`, description: node.dataId, accessTypes, canPersist: true };
    }
    const register = this.findDeviceRegister(args.name);
    if (register && !register.register.internal) {
      const name = `${register.device.description.name}.${register.register.name}`;
      return { dataId: `reg:${name}`, description: name, accessTypes, canPersist: true };
    }
    return none(`"${args.name}" is not a device register`);
  }

  private setDataBreakpoints(
    args: DebugProtocol.SetDataBreakpointsArguments,
  ): DebugProtocol.SetDataBreakpointsResponse['body'] {
    const emulator = this.emulator;
    const watches: WatchBreakpoint[] = [];
    const failed: DebugProtocol.Breakpoint[] = [];
    for (const bp of args.breakpoints) {
      const id = this.breakpoints.newId();
      const direction = bp.accessType === 'read' ? 'read' : bp.accessType === 'write' ? 'write' : 'access';
      const spec = parseDataId(bp.dataId, direction, bp.condition);
      if (!spec) {
        failed.push({ id, verified: false, message: `unknown data breakpoint id "${bp.dataId}"`, reason: 'failed' });
        continue;
      }
      watches.push({ id, kind: 'data', spec, watchpointId: undefined, message: undefined });
    }
    this.breakpoints.setWatch(emulator, 'data', watches);
    const views = [...failed, ...watches.map((w) => Breakpoints.view(w))];
    return { breakpoints: views.sort((a, b) => (a.id ?? 0) - (b.id ?? 0)) };
  }

  // ---- state ------------------------------------------------------------------------------------------------------

  private sourceFor(location: SourceLocation | undefined): DebugProtocol.Source | undefined {
    if (!location) return undefined;
    let path = this.sourcePaths.get(location.file);
    if (!this.sourcePaths.has(location.file)) {
      path = undefined;
      if (isAbsolute(location.file)) path = existsSync(location.file) ? location.file : undefined;
      else {
        // The compiler recorded paths relative to the build directory: look for them from the image's folder up.
        for (let dir = this.sourceBase; ; dir = dirname(dir)) {
          const candidate = join(dir, location.file);
          if (existsSync(candidate)) {
            path = candidate;
            break;
          }
          if (dirname(dir) === dir) break;
        }
      }
      this.sourcePaths.set(location.file, path);
    }
    // A source the client cannot open would leave the frame unselectable in VS Code (its `source` request fails):
    // without the file, the frame has no source and the client shows the disassembly instead.
    return path ? { name: basename(path), path } : undefined;
  }

  private stackTrace(args: DebugProtocol.StackTraceArguments): DebugProtocol.StackTraceResponse['body'] {
    const emulator = this.requireStopped();
    const machine = emulator.machine;
    const cpu = machine.cpu;
    const frames: DebugProtocol.StackFrame[] = [];
    const listingContext = this.listingContext(emulator);
    const frame = (id: number, address: number, lookupAddress: number): DebugProtocol.StackFrame => {
      const symbol = emulator.symbolAt(address);
      const name = symbol ? symbolText(symbol) : hex(address);
      const location = this.lines?.lookup(lookupAddress);
      const source = this.sourceFor(location);
      const instructionPointerReference = hex(address);
      if (source?.path && location) {
        const column = Math.max(1, location.column);
        return { id, name, line: location.line, column, source, instructionPointerReference };
      }
      // No source file: the frame shows its place in a disassembly listing, so VS Code focuses it after a stop.
      const listed = this.listings.locate(address, listingContext);
      if (!listed) return { id, name, line: 0, column: 0, instructionPointerReference };
      const listingSource = this.listingSource(listed.listing);
      return { id, name, line: listed.line, column: 1, source: listingSource, instructionPointerReference };
    };
    frames.push(frame(1, cpu.linearIp, cpu.linearIp));
    const max = Math.min(64, (args.startFrame ?? 0) + (args.levels || 64));
    let ebp = cpu.regs[5] >>> 0;
    const ssBase = cpu.seg[2].base >>> 0;
    for (let depth = 1; depth < max && ebp !== 0; depth++) {
      const linear = (ssBase + ebp) >>> 0;
      const savedEbp = readLinearValue(machine, linear, 4);
      const ret = readLinearValue(machine, (linear + 4) >>> 0, 4);
      if (savedEbp === undefined || ret === undefined || ret === 0n) break;
      const retAddress = (Number(ret) + (cpu.seg[1].base >>> 0)) >>> 0;
      if (emulator.plan.symbols.length > 0 && !emulator.symbolAt(retAddress)) break;
      frames.push(frame(depth + 1, retAddress, retAddress - 1));
      const next = Number(savedEbp);
      if (next <= ebp) break;
      ebp = next;
    }
    const start = args.startFrame ?? 0;
    const levels = args.levels || frames.length;
    return { stackFrames: frames.slice(start, start + levels), totalFrames: frames.length };
  }

  private listingContext(emulator: Emulator): ListingContext {
    const machine = emulator.machine;
    const cpu = machine.cpu;
    return {
      read: codeReader(machine, false),
      bitness: codeBitness(cpu),
      symbolAt: (address) => emulator.symbolAt(address),
      functionAt: (address) => emulator.functionAt(address),
      sourceLineAt: (address) => {
        const location = this.lines?.lookup(address);
        return location ? `${basename(location.file)}:${location.line}` : undefined;
      },
    };
  }

  /**
   * The path is a display hint only (the content comes from the `source` request), but VS Code names breakpoints
   * by their URI's path, and a bare name without a leading slash showed as "." in its Breakpoints view.
   */
  private listingSource(listing: { name: string; reference: number }): DebugProtocol.Source & {
    name: string;
    path: string;
    sourceReference: number;
  } {
    return {
      name: listing.name,
      path: `/${listing.name}`,
      sourceReference: listing.reference,
      origin: 'disassembly of guest memory',
    };
  }

  private listing(args: CustomRequestArgs<'mmiodbg/listing'>): CustomRequestResult<'mmiodbg/listing'> {
    const emulator = this.requireStopped();
    const address = args.address;
    if (!Number.isInteger(address) || address < 0 || address > 0xffffffff) {
      throw invalidArgument(`address ${String(address)} is outside the 32-bit address space`);
    }
    const listed = this.listings.locate(address, this.listingContext(emulator));
    if (!listed) throw new SessionError(ErrorCode.Unmapped, `no instruction can be read at ${hex(address)}`);
    return { source: this.listingSource(listed.listing), line: listed.line };
  }

  private source(args: DebugProtocol.SourceArguments): DebugProtocol.SourceResponse['body'] {
    const reference = args.source?.sourceReference ?? args.sourceReference;
    const listing = this.listings.get(reference);
    if (!listing) {
      throw invalidArgument(
        `source reference ${reference} is unknown: disassembly listings of an earlier run are gone; stop again to get a new one`,
      );
    }
    return { content: listing.text, mimeType: LISTING_MIME_TYPE };
  }

  private scopes(): DebugProtocol.ScopesResponse['body'] {
    const emulator = this.requireStopped();
    const cpu = emulator.machine.cpu;
    const registers = this.handles.add(() => registersScope(cpu, (a) => this.symbolize(a)));
    const devices = this.handles.add(() => devicesScope(emulator.machine));
    return {
      scopes: [
        { name: 'Registers', presentationHint: 'registers', variablesReference: registers, expensive: false },
        { name: 'Devices', variablesReference: devices, expensive: false },
      ],
    };
  }

  private symbolize(address: number): string | undefined {
    const s = this.controller?.emulator.symbolAt(address);
    return s ? symbolText(s) : undefined;
  }

  private toVariable(node: VarNode): DebugProtocol.Variable {
    const children = node.children;
    return {
      name: node.name,
      value: node.value(),
      ...(node.type !== undefined ? { type: node.type } : {}),
      variablesReference: children ? this.handles.add(() => children.call(node)) : 0,
      ...(node.evaluateName !== undefined ? { evaluateName: node.evaluateName } : {}),
      ...(node.memoryReference !== undefined ? { memoryReference: node.memoryReference } : {}),
      ...(node.set ? {} : { presentationHint: { attributes: ['readOnly'] } }),
    };
  }

  private variables(args: DebugProtocol.VariablesArguments): DebugProtocol.VariablesResponse['body'] {
    this.requireStopped();
    const children = this.handles.get(args.variablesReference);
    // VS Code keeps showing the previous stop's tree for a moment after a new stop: a row expanded then asks for
    // a reference of that stop. Not worth a notification; the tree is replaced right after.
    if (!children) {
      const message = `variables reference ${args.variablesReference} is stale or unknown`;
      throw new SessionError(ErrorCode.InvalidArgument, message, false);
    }
    let nodes = children();
    if (args.start !== undefined || args.count !== undefined) {
      const start = args.start ?? 0;
      nodes = nodes.slice(start, args.count ? start + args.count : undefined);
    }
    return { variables: nodes.map((n) => this.toVariable(n)) };
  }

  private setVariable(args: DebugProtocol.SetVariableArguments): DebugProtocol.SetVariableResponse['body'] {
    const emulator = this.requireStopped();
    const children = this.handles.get(args.variablesReference);
    if (!children) throw invalidArgument(`variables reference ${args.variablesReference} is stale or unknown`);
    const node = children().find((n) => n.name === args.name);
    if (!node) throw invalidArgument(`no variable "${args.name}" here`);
    if (!node.set) throw new SessionError(ErrorCode.ReadOnly, node.readOnlyReason ?? `${args.name} cannot be changed`);
    const value = evaluateExpression(args.value, this.evalEnvironment(emulator)).value;
    node.set(value);
    const v = this.toVariable(node);
    // A field's register, the register's other views and the Peripherals view changed too.
    this.valuesChanged();
    return { value: v.value, variablesReference: v.variablesReference };
  }

  private findDeviceRegister(
    path: string,
  ):
    | { device: InspectableDevice; register: import('../core/regs/describe').RegisterDescription; field?: string }
    | undefined {
    const [deviceName, registerName, fieldName, ...rest] = path.split('.');
    if (registerName === undefined || rest.length > 0) return undefined;
    const device = this.controller?.emulator.machine.findDevice(deviceName);
    if (!device) return undefined;
    const register = findRegister(device.description, registerName);
    if (!register) return undefined;
    return { device, register, ...(fieldName !== undefined ? { field: fieldName } : {}) };
  }

  private evalEnvironment(emulator: Emulator): EvalEnvironment {
    const machine = emulator.machine;
    return {
      cpuRegister: (name) => {
        const [reg, bit] = name.split('.');
        const access = cpuRegister(machine.cpu, reg);
        if (!access) return undefined;
        if (bit === undefined) return { value: access.get(), bits: access.bits };
        const parent = registersScope(machine.cpu, () => undefined).find((n) => n.evaluateName === reg.toLowerCase());
        const child = parent?.children?.().find((c) => c.name.toUpperCase() === bit.toUpperCase());
        if (!child) return undefined;
        return { value: BigInt(child.value().split(' ')[0]), bits: 32 };
      },
      deviceName: (path) => {
        const found = this.findDeviceRegister(path);
        if (!found) {
          const [d, r, f] = path.split('.');
          if (r !== undefined && machine.findDevice(d)) {
            const dev = machine.findDevice(d);
            if (dev && !findRegister(dev.description, r)) throw invalidArgument(`device ${d} has no register ${r}`);
            if (f !== undefined) throw invalidArgument(`${d}.${r} has no field ${f}`);
          }
          return undefined;
        }
        const value = found.device.peekRegister(found.register);
        const name = `${found.device.description.name}.${found.register.name}`;
        if (found.field === undefined) return { value, bits: found.register.width, register: name };
        const field = findField(found.register, found.field);
        if (!field) throw invalidArgument(`${name} has no field ${found.field}`);
        return { value: getField(value, field), bits: Math.max(8, field.msb - field.lsb + 1) };
      },
      readMemory: (address, size, physical) => {
        const bytes = readMemory(machine, { physical, address }, size);
        if (bytes.length < size) return undefined;
        let v = 0n;
        for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
        return v;
      },
    };
  }

  private evaluate(args: DebugProtocol.EvaluateArguments): DebugProtocol.EvaluateResponse['body'] {
    const emulator = this.requireStopped();
    const expression = args.expression.trim();
    if (args.context === 'hover' && !/^[\w.$]+$/.test(expression)) throw invalidArgument('hover shows names only');
    const dump = args.context === 'repl' ? MEMORY_DUMP.exec(expression) : null;
    if (dump) return this.memoryDump(emulator, dump[1], dump[2] !== undefined, dump[3]);
    const result: EvalValue = evaluateExpression(expression, this.evalEnvironment(emulator));
    if (result.register !== undefined) {
      const found = this.findDeviceRegister(result.register);
      if (found) {
        const node = deviceRegisterNode(found.device, found.register);
        const children = node.children;
        return {
          result: `${formatHex(result.value, found.register.width)} (${decodeFields(found.register, result.value)})`,
          variablesReference: children ? this.handles.add(() => children.call(node)) : 0,
          ...(node.memoryReference !== undefined ? { memoryReference: node.memoryReference } : {}),
        };
      }
    }
    const parts = expression.split('.');
    if (parts.length === 3) {
      const found = this.findDeviceRegister(expression);
      const field = found && found.field !== undefined ? findField(found.register, found.field) : undefined;
      if (found && field) {
        return { result: fieldText(field, found.device.peekRegister(found.register)), variablesReference: 0 };
      }
    }
    const width = Math.max(8, Math.min(64, result.bits));
    return { result: `${formatHex(result.value, width)} (${result.value})`, variablesReference: 0 };
  }

  /** `x/LENGTH [phys] ADDRESS` in the Debug Console: a hex dump read on the debugger's path (no device effects). */
  private memoryDump(
    emulator: Emulator,
    lengthText: string | undefined,
    physical: boolean,
    addressText: string,
  ): DebugProtocol.EvaluateResponse['body'] {
    const length = lengthText === undefined ? MEMORY_DUMP_DEFAULT : Number(lengthText);
    if (!Number.isInteger(length) || length <= 0 || length > MEMORY_DUMP_MAX) {
      throw invalidArgument(`x/${lengthText ?? ''}: the length is a byte count from 1 to ${MEMORY_DUMP_MAX}`);
    }
    const value = evaluateExpression(addressText, this.evalEnvironment(emulator)).value;
    if (value < 0n || value > 0xffffffffn) throw invalidArgument(`address ${addressText} is outside 4 GiB`);
    const ref = { physical, address: Number(value) };
    const bytes = readMemory(emulator.machine, ref, length);
    const requested = Math.min(length, 0x1_0000_0000 - ref.address);
    let result = hexDump(ref.address, bytes, requested);
    if (bytes.length < requested) {
      const at = (ref.address + bytes.length) >>> 0;
      result += `\n(${hex(at)} and on: not mapped by the guest's page tables)`;
    }
    return { result, variablesReference: 0, memoryReference: formatReference(ref) };
  }

  private disassemble(args: DebugProtocol.DisassembleArguments): DebugProtocol.DisassembleResponse['body'] {
    const emulator = this.requireStopped();
    const machine = emulator.machine;
    const cpu = machine.cpu;
    const ref = parseMemoryReference(args.memoryReference, args.offset ?? 0);
    const bitness = codeBitness(cpu);
    const read = codeReader(machine, ref.physical);
    const count = Math.max(0, Math.min(args.instructionCount, 4096));
    const list = disassemble(read, ref.address, args.instructionOffset ?? 0, count, bitness, (a) =>
      emulator.symbolAt(a),
    );
    let lastLocation: string | undefined;
    const instructions = list.map((d): DebugProtocol.DisassembledInstruction => {
      const address = d.address < 0 || d.address > 0xffffffff ? hex(0) : hex(d.address);
      if (d.text === undefined) {
        return {
          address,
          instruction: '??',
          presentationHint: 'invalid',
          ...(d.bytes.length ? { instructionBytes: bytesText(d.bytes) } : {}),
        };
      }
      const symbol = emulator.symbolAt(d.address);
      const location = ref.physical ? undefined : this.lines?.lookup(d.address);
      const source = this.sourceFor(location);
      const key = location ? `${location.file}:${location.line}` : undefined;
      const showLocation = key !== undefined && key !== lastLocation && source?.path !== undefined;
      lastLocation = key;
      return {
        address,
        instructionBytes: bytesText(d.bytes),
        instruction: d.comment ? `${d.text}  ; ${d.comment}` : d.text,
        ...(symbol && symbol.offset === 0 ? { symbol: symbol.name } : {}),
        ...(showLocation && location && source ? { location: source, line: location.line } : {}),
      };
    });
    return { instructions };
  }

  private readMemory(args: DebugProtocol.ReadMemoryArguments): DebugProtocol.ReadMemoryResponse['body'] {
    const emulator = this.emulator;
    const ref = parseMemoryReference(args.memoryReference, args.offset ?? 0);
    const count = Math.max(0, Math.min(args.count, 16 * 1024 * 1024));
    const bytes = readMemory(emulator.machine, ref, count);
    return {
      address: formatReference(ref),
      data: Buffer.from(bytes).toString('base64'),
      ...(bytes.length < count ? { unreadableBytes: count - bytes.length } : {}),
    };
  }

  private writeMemory(args: DebugProtocol.WriteMemoryArguments): DebugProtocol.WriteMemoryResponse['body'] {
    const emulator = this.emulator;
    const ref = parseMemoryReference(args.memoryReference, args.offset ?? 0);
    const bytes = new Uint8Array(Buffer.from(args.data, 'base64'));
    const written = writeMemory(emulator.machine, ref, bytes);
    if (written < bytes.length && !args.allowPartial) {
      throw new SessionError(
        ErrorCode.Unmapped,
        `only ${written} of ${bytes.length} bytes at ${formatReference(ref)} are RAM`,
      );
    }
    return { bytesWritten: written };
  }

  // ---- custom requests -------------------------------------------------------------------------------------------

  private devices(args: CustomRequestArgs<'mmiodbg/devices'>): CustomRequestResult<'mmiodbg/devices'> {
    const machine = this.emulator.machine;
    const list = args.device !== undefined ? [machine.findDevice(args.device)] : machine.devices;
    if (list.some((d) => d === undefined)) throw invalidArgument(`no device "${args.device}"`);
    return { devices: (list as InspectableDevice[]).map(deviceView) };
  }

  private writeRegister(
    args: CustomRequestArgs<'mmiodbg/writeRegister'>,
  ): CustomRequestResult<'mmiodbg/writeRegister'> {
    const machine = this.emulator.machine;
    const device = machine.findDevice(args.device);
    if (!device) throw invalidArgument(`no device "${args.device}"`);
    const register = findRegister(device.description, args.register);
    if (!register) throw invalidArgument(`device ${args.device} has no register "${args.register}"`);
    let value: bigint;
    try {
      value = BigInt(args.value);
    } catch {
      throw invalidArgument(`"${args.value}" is not a number`);
    }
    if (args.field !== undefined) {
      const field = findField(register, args.field);
      if (!field) throw invalidArgument(`${args.device}.${register.name} has no field "${args.field}"`);
      if (args.path === 'debugger' && (field.access === 'RO' || field.access === 'RSVD')) {
        throw new SessionError(
          ErrorCode.ReadOnly,
          `${args.device}.${register.name}.${field.name} is read-only (${field.access})`,
        );
      }
      value = setField(device.peekRegister(register), field, value);
    }
    device.pokeRegister(
      register,
      value & ((1n << BigInt(register.width)) - 1n),
      args.path === 'guest' ? 'guest' : 'debugger',
    );
    this.valuesChanged();
    return { register: registerView(register, device.peekRegister(register)) };
  }

  private trace(args: CustomRequestArgs<'mmiodbg/trace'>): CustomRequestResult<'mmiodbg/trace'> {
    const emulator = this.emulator;
    const trace = emulator.trace;
    if (!trace) return { records: [], first: 0, total: 0 };
    const count = Math.max(0, Math.min(args.count, 10_000));
    const records = trace.query(args.from ?? trace.first, count, args.device);
    return { records: records.map((r) => traceView(emulator.machine, r)), first: trace.first, total: trace.total };
  }

  private hookText(args: CustomRequestArgs<'mmiodbg/hookText'>): CustomRequestResult<'mmiodbg/hookText'> {
    if (typeof args.file !== 'string' || typeof args.text !== 'string')
      throw invalidArgument('hookText needs "file" and "text"');
    return this.loadHook(args.file, args.text);
  }

  private hooks(): CustomRequestResult<'mmiodbg/hooks'> {
    return { hooks: this.emulator.hooks.listHooks().map(hookView) };
  }

  private serialInput(args: CustomRequestArgs<'mmiodbg/serialInput'>): CustomRequestResult<'mmiodbg/serialInput'> {
    this.emulator.machine.uart.receive(new TextEncoder().encode(args.text));
    return {};
  }

  private decode(args: CustomRequestArgs<'mmiodbg/decode'>): CustomRequestResult<'mmiodbg/decode'> {
    const found = this.findDeviceRegister(args.register);
    if (!found || found.field !== undefined)
      throw invalidArgument(`"${args.register}" is not a device register (e.g. hpet.GCAP_ID)`);
    let value: bigint;
    try {
      value = BigInt(args.value);
    } catch {
      throw invalidArgument(`"${args.value}" is not a number`);
    }
    return { register: registerView(found.register, value & ((1n << BigInt(found.register.width)) - 1n)) };
  }
}

function symbolText(s: { name: string; offset: number }): string {
  return s.offset === 0 ? s.name : `${s.name}+0x${s.offset.toString(16)}`;
}

function bytesText(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Custom request names, for clients that want to check they talk to a matching adapter. */
export const CUSTOM_REQUESTS: readonly CustomRequestName[] = [
  'mmiodbg/devices',
  'mmiodbg/writeRegister',
  'mmiodbg/trace',
  'mmiodbg/hookText',
  'mmiodbg/hooks',
  'mmiodbg/serialInput',
  'mmiodbg/decode',
];
