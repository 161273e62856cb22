/**
 * Follows the mmiodbg debug sessions: which one is active, and whether its guest is stopped. The state comes
 * from the DAP traffic itself (a debug adapter tracker), so the views know when reading device state is allowed.
 */
import * as vscode from 'vscode';
import { DEBUG_TYPE } from './dap';

export type RunState = 'running' | 'stopped' | 'none';

export class SessionTracker implements vscode.Disposable {
  private readonly states = new Map<string, RunState>();
  private readonly changed = new vscode.EventEmitter<vscode.DebugSession | undefined>();
  private readonly disposables: vscode.Disposable[] = [];
  /** Fires when the active mmiodbg session changes or its guest stops or resumes. */
  readonly onDidChange = this.changed.event;

  constructor() {
    this.disposables.push(
      this.changed,
      vscode.debug.registerDebugAdapterTrackerFactory(DEBUG_TYPE, {
        createDebugAdapterTracker: (session) => ({
          onDidSendMessage: (message: { type?: string; event?: string }) => {
            if (message.type !== 'event') return;
            if (message.event === 'stopped') this.set(session, 'stopped');
            else if (message.event === 'continued') this.set(session, 'running');
            else if (message.event === 'terminated' || message.event === 'exited') this.set(session, 'none');
          },
          onWillReceiveMessage: (message: { type?: string; command?: string }) => {
            if (message.type !== 'request') return;
            const resumes = ['continue', 'next', 'stepIn', 'stepOut', 'stepBack', 'reverseContinue'];
            if (message.command && resumes.includes(message.command)) this.set(session, 'running');
          },
          onExit: () => this.set(session, 'none'),
        }),
      }),
      vscode.debug.onDidStartDebugSession((s) => {
        if (s.type === DEBUG_TYPE) this.set(s, 'running');
      }),
      vscode.debug.onDidTerminateDebugSession((s) => {
        this.states.delete(s.id);
        this.changed.fire(s);
      }),
      vscode.debug.onDidChangeActiveDebugSession((s) => this.changed.fire(s)),
    );
  }

  /** The active debug session when it is an mmiodbg one. */
  get session(): vscode.DebugSession | undefined {
    const s = vscode.debug.activeDebugSession;
    return s?.type === DEBUG_TYPE ? s : undefined;
  }

  state(session = this.session): RunState {
    return session ? (this.states.get(session.id) ?? 'none') : 'none';
  }

  /** The active session when its guest is stopped. */
  get stoppedSession(): vscode.DebugSession | undefined {
    const s = this.session;
    return s && this.state(s) === 'stopped' ? s : undefined;
  }

  private set(session: vscode.DebugSession, state: RunState): void {
    if (this.states.get(session.id) === state) return;
    this.states.set(session.id, state);
    this.changed.fire(session);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
