/**
 * DAP latency, measured with DebugClient against the bundled adapter (dist/adapter.js): launch to the stop on
 * entry, and the stepIn round trip including the refresh a client does after each stop (stackTrace, scopes,
 * variables of Registers). Target: under 5 ms median.
 */
import { join } from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';

export interface DapBenchResult {
  readonly launchToStopMs: number;
  readonly stepMedianMs: number;
  readonly stepP90Ms: number;
  readonly steps: number;
}

const ROOT = join(__dirname, '..');

export async function benchDap(
  steps = 50,
  program = join(ROOT, 'guests', 'hello', 'hello.elf'),
): Promise<DapBenchResult> {
  const dc = new DebugClient('node', join(ROOT, 'dist', 'adapter.js'), 'mmiodbg');
  await dc.start();
  try {
    const t0 = performance.now();
    await Promise.all([
      dc.configurationSequence(),
      dc.launch({ program, stopOnEntry: true }),
      dc.waitForEvent('stopped'),
    ]);
    const launchToStopMs = performance.now() - t0;
    const times: number[] = [];
    for (let i = 0; i < steps; i++) {
      const start = performance.now();
      await Promise.all([dc.stepInRequest({ threadId: 1, granularity: 'instruction' }), dc.waitForEvent('stopped')]);
      const trace = await dc.stackTraceRequest({ threadId: 1 });
      const scopes = await dc.scopesRequest({ frameId: trace.body.stackFrames[0].id });
      await dc.variablesRequest({ variablesReference: scopes.body.scopes[0].variablesReference });
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    return {
      launchToStopMs,
      stepMedianMs: times[Math.floor(times.length / 2)],
      stepP90Ms: times[Math.floor(times.length * 0.9)],
      steps,
    };
  } finally {
    await dc.stop();
  }
}

if (process.argv[1] && /bench[\\/]dap\.ts$/.test(process.argv[1])) {
  void benchDap().then((r) => console.log(r));
}
