/**
 * Follows the mmiodbg debug sessions: which one is active, and whether its guest is stopped. The state comes
 * from the DAP traffic itself (a debug adapter tracker), so the views know when reading device state is allowed.
 */
import * as vscode from 'vscode';
import { DEBUG_TYPE } from './dap';
import type { RunSignal, RunState } from './runState';
import { nextRunState } from './runState';

export type { RunState };

export class SessionTracker implements vscode.Disposable {
  private readonly states = new Map<string, RunState>();
  private readonly changed = new vscode.EventEmitter<vscode.DebugSession | undefined>();
  private readonly disposables: vscode.Disposable[] = [];
  /**
   * Fires when the active mmiodbg session changes, its guest stops or resumes, or VS Code changed the stopped
   * guest's state (Set Value in the Variables view), so that views showing device state read it again.
   */
  readonly onDidChange = this.changed.event;

  constructor() {
    this.disposables.push(
      this.changed,
      vscode.debug.registerDebugAdapterTrackerFactory(DEBUG_TYPE, {
        createDebugAdapterTracker: (session) => ({
          onDidSendMessage: (message: { type?: string; event?: string; command?: string; success?: boolean }) => {
            if (message.type === 'response' && message.command === 'setVariable' && message.success) {
              this.changed.fire(session);
              return;
            }
            if (message.type !== 'event') return;
            if (message.event === 'stopped') this.signal(session, 'stopped');
            else if (message.event === 'continued') this.signal(session, 'continued');
            else if (message.event === 'terminated' || message.event === 'exited') this.signal(session, 'ended');
          },
          onWillReceiveMessage: (message: { type?: string; command?: string }) => {
            if (message.type !== 'request') return;
            const resumes = ['continue', 'next', 'stepIn', 'stepOut', 'stepBack', 'reverseContinue'];
            if (message.command && resumes.includes(message.command)) this.signal(session, 'resuming');
          },
          onExit: () => this.signal(session, 'ended'),
        }),
      }),
      vscode.debug.onDidStartDebugSession((s) => {
        // Views refresh on this even when the guest has already stopped (stopOnEntry).
        if (s.type === DEBUG_TYPE && !this.signal(s, 'started')) this.changed.fire(s);
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

  /** Applies a signal; fires onDidChange and returns true when the state changed. */
  private signal(session: vscode.DebugSession, signal: RunSignal): boolean {
    const state = nextRunState(this.states.get(session.id), signal);
    if (this.states.get(session.id) === state) return false;
    this.states.set(session.id, state);
    this.changed.fire(session);
    return true;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
