/**
 * The MMIO Trace view's host side: pages records from the adapter (`mmiodbg/trace`) after each
 * `mmiodbg/traceAppended` event, throttled, and sends them to the webview one batch at a time; the next batch
 * waits for the webview's acknowledgement, so a busy webview slows the transfer instead of queueing messages.
 */
import * as vscode from 'vscode';
import { customRequest, DEBUG_TYPE, errorMessage, isCustomEvent } from '../dap';
import type { SessionTracker } from '../session';
import { InstructionRevealer } from './disassembly';
import { newNonce, traceHtml } from './html';
import type { HostMessage, WebviewMessage } from './messages';
import { isWebviewMessage } from './messages';

const BATCH = 4000;
const THROTTLE_MS = 250;
const DEFAULT_MAX_RECORDS = 200_000;

export class TraceController implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private ready = false;
  private nextSeq: number | undefined;
  private knownTotal = 0;
  private awaitingAck: number | undefined;
  private batch = 0;
  private timer: NodeJS.Timeout | undefined;
  private fetching = false;
  private sessionId: string | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly instructions = new InstructionRevealer();

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly sessions: SessionTracker,
  ) {
    this.disposables.push(
      vscode.window.registerWebviewViewProvider('mmiodbg.trace', this, {
        webviewOptions: { retainContextWhenHidden: true },
      }),
      vscode.commands.registerCommand('mmiodbg.showTrace', () => vscode.commands.executeCommand('mmiodbg.trace.focus')),
      vscode.debug.onDidStartDebugSession((s) => {
        if (s.type !== DEBUG_TYPE) return;
        this.sessionId = s.id;
        this.restart('Session started; waiting for device accesses…');
      }),
      vscode.debug.onDidReceiveDebugSessionCustomEvent((e) => {
        if (!isCustomEvent(e, 'mmiodbg/traceAppended')) return;
        this.knownTotal = Math.max(this.knownTotal, e.body.total);
        this.schedule();
      }),
      sessions.onDidChange(() => {
        if (sessions.stoppedSession) this.schedule();
      }),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    const media = vscode.Uri.joinPath(this.context.extensionUri, 'media');
    const dist = vscode.Uri.joinPath(this.context.extensionUri, 'dist');
    view.webview.options = { enableScripts: true, localResourceRoots: [media, dist] };
    view.webview.html = this.html(view.webview);
    view.webview.onDidReceiveMessage((m: unknown) => this.receive(m), undefined, this.disposables);
    view.onDidDispose(() => {
      this.view = undefined;
      this.ready = false;
    });
  }

  private restart(status: string): void {
    this.nextSeq = undefined;
    this.knownTotal = 0;
    this.awaitingAck = undefined;
    this.reset(status);
    this.schedule();
  }

  private receive(message: unknown): void {
    if (!isWebviewMessage(message)) return;
    const m: WebviewMessage = message;
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.restart(this.sessions.session ? 'Loading trace…' : 'No mmiodbg session.');
        break;
      case 'ack':
        if (m.batch === this.awaitingAck) {
          this.awaitingAck = undefined;
          this.schedule(0);
        }
        break;
      case 'reveal':
        void this.instructions.reveal(this.sessions.session, m.eip);
        break;
      case 'clear':
        // Rows before the current end stay hidden; new ones keep coming.
        this.reset('Cleared.');
        break;
    }
  }

  /** Tells the webview to forget its rows, and how many it may keep (`mmiodbg.trace.maxRecords`). */
  private reset(status: string): void {
    const max = vscode.workspace.getConfiguration('mmiodbg').get<number>('trace.maxRecords', DEFAULT_MAX_RECORDS);
    this.post({ type: 'reset', status, maxRecords: Math.max(1000, Math.floor(max) || DEFAULT_MAX_RECORDS) });
  }

  private post(message: HostMessage): void {
    if (this.view && this.ready) void this.view.webview.postMessage(message);
  }

  private schedule(delay = THROTTLE_MS): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.pump();
    }, delay);
  }

  private async pump(): Promise<void> {
    const session = this.sessions.session;
    if (!session || !this.view || !this.ready) return;
    if (session.id !== this.sessionId) {
      // The extension may activate after the session started (it activates on debugging), so the session is
      // adopted here rather than only in onDidStartDebugSession.
      this.sessionId = session.id;
      this.nextSeq = undefined;
      this.knownTotal = 0;
      this.awaitingAck = undefined;
      this.reset('Loading trace…');
    }
    if (this.fetching || this.awaitingAck !== undefined) return;
    this.fetching = true;
    try {
      const page = await customRequest(session, 'mmiodbg/trace', {
        ...(this.nextSeq !== undefined ? { from: this.nextSeq } : {}),
        count: BATCH,
      });
      this.knownTotal = Math.max(this.knownTotal, page.total);
      if (page.records.length === 0) return;
      const last = page.records[page.records.length - 1];
      this.nextSeq = last.seq + 1;
      this.awaitingAck = ++this.batch;
      this.post({ type: 'append', batch: this.batch, records: page.records, total: page.total });
    } catch (e) {
      this.post({ type: 'status', text: `Trace unavailable: ${errorMessage(e)}` });
    } finally {
      this.fetching = false;
    }
  }

  private html(webview: vscode.Webview): string {
    const script = webview.asWebviewUri(vscode.Uri.joinPath(this.context.extensionUri, 'dist', 'trace.js'));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(this.context.extensionUri, 'media', 'trace.css'));
    return traceHtml({
      script: script.toString(),
      style: style.toString(),
      cspSource: webview.cspSource,
      nonce: newNonce(),
    });
  }

  dispose(): void {
    clearTimeout(this.timer);
    for (const d of this.disposables) d.dispose();
  }
}
