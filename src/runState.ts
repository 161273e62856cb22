/**
 * The run state of an mmiodbg session's guest as the extension follows it, apart from VS Code so that it can be
 * tested without it.
 */
export type RunState = 'running' | 'stopped' | 'none';

/**
 * What the extension learns about a session: VS Code announced it (`started`), the adapter sent a `stopped` or
 * `continued` event, VS Code sent a request that resumes the guest, or the session or its adapter ended.
 */
export type RunSignal = 'started' | 'stopped' | 'continued' | 'resuming' | 'ended';

/**
 * The state after a signal. VS Code announces a session (onDidStartDebugSession) only once its launch request has
 * been answered, and a guest launched with stopOnEntry has often stopped by then: the announcement keeps a state
 * the adapter's own events have already set.
 */
export function nextRunState(current: RunState | undefined, signal: RunSignal): RunState {
  switch (signal) {
    case 'started':
      return current ?? 'running';
    case 'stopped':
      return 'stopped';
    case 'continued':
    case 'resuming':
      return 'running';
    case 'ended':
      return 'none';
  }
}
