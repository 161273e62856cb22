/**
 * Opens the instruction of an MMIO trace row (its EIP).
 *
 * VS Code's Disassembly view (1.100) shows the focused stack frame only: `debug.action.openDisassemblyView` takes
 * no address, the view loads around `focusedStackFrame.instructionPointerReference` when it opens and follows the
 * focused frame, and its `goToInstructionAndOffset` is reached only from the Breakpoints view for instruction
 * breakpoints, which the extension API cannot create (microsoft/vscode, src/vs/workbench/contrib/debug/browser/
 * disassemblyView.ts, debugEditorActions.ts, breakpointsView.ts). So when the row's EIP is the stopped guest's
 * current instruction, the top frame is focused and the Disassembly view opens there; for any other EIP a
 * read-only listing from the adapter's `disassemble` response opens beside the editor, centred on the EIP.
 *
 * Focusing the top frame takes the call-stack commands: after a data breakpoint VS Code focuses the thread but no
 * frame when the frames have no source (`Thread.getTopStackFrame` in common/debugModel.ts skips them unless the
 * stop was an instruction breakpoint or an instruction step), and `callStackTop` focuses that same undefined
 * frame. `callStackBottom` focuses the outermost frame whatever its source, and `callStackUp` walks to the top.
 */
import * as vscode from 'vscode';
import { errorMessage } from '../dap';
import type { ListedInstruction } from './listing';
import { hex32, listingText } from './listing';

export const LISTING_SCHEME = 'mmiodbg-disassembly';

export class InstructionRevealer implements vscode.TextDocumentContentProvider, vscode.Disposable {
  /** Listing texts by URI, kept while VS Code may ask for them. */
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [];

  constructor() {
    this.disposables.push(
      this.changed,
      vscode.workspace.registerTextDocumentContentProvider(LISTING_SCHEME, this),
      vscode.workspace.onDidCloseTextDocument((doc) => {
        if (doc.uri.scheme === LISTING_SCHEME) this.texts.delete(doc.uri.toString());
      }),
    );
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return (
      this.texts.get(uri.toString()) ?? `; ${uri.path.slice(1)}: no listing (the trace row was not clicked here)\n`
    );
  }

  async reveal(session: vscode.DebugSession | undefined, eip: number, seq?: number): Promise<void> {
    const hex = hex32(eip);
    if (!session) {
      void vscode.window.showInformationMessage(`mmiodbg: EIP ${hex} (no session to disassemble)`);
      return;
    }
    try {
      const current = await currentInstruction(session);
      if (current?.ip === eip && (await focusFrame(session, current.frameId, current.frames))) {
        await vscode.commands.executeCommand('debug.action.openDisassemblyView');
        return;
      }
      const response = (await session.customRequest('disassemble', {
        memoryReference: hex,
        instructionOffset: -8,
        instructionCount: 32,
        resolveSymbols: true,
      })) as { instructions?: ListedInstruction[] };
      const { text, line } = listingText(eip, response.instructions ?? [], {
        ...(seq !== undefined ? { seq } : {}),
        ...(current ? { current: current.ip } : {}),
      });
      const uri = vscode.Uri.from({ scheme: LISTING_SCHEME, path: `/EIP ${hex}`, query: session.id });
      this.texts.set(uri.toString(), text);
      this.changed.fire(uri);
      const doc = await vscode.workspace.openTextDocument(uri);
      const editor = await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
      if (line >= 0) {
        editor.selection = new vscode.Selection(line, 0, line, 0);
        editor.revealRange(new vscode.Range(line, 0, line, 0), vscode.TextEditorRevealType.InCenter);
      }
    } catch (e) {
      void vscode.window.showErrorMessage(`mmiodbg: cannot disassemble at ${hex}: ${errorMessage(e)}`);
    }
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}

/** The stopped guest's instruction pointer (top frame of the thread in focus), or undefined when it runs. */
async function currentInstruction(
  session: vscode.DebugSession,
): Promise<{ ip: number; frameId: number; frames: number } | undefined> {
  const item = vscode.debug.activeStackItem;
  if (!item || item.session.id !== session.id) return undefined;
  try {
    const trace = (await session.customRequest('stackTrace', {
      threadId: item.threadId,
      startFrame: 0,
      levels: 1,
    })) as {
      stackFrames?: { id: number; instructionPointerReference?: string }[];
      totalFrames?: number;
    };
    const top = trace.stackFrames?.[0];
    if (top?.instructionPointerReference === undefined) return undefined;
    return { ip: Number(top.instructionPointerReference), frameId: top.id, frames: trace.totalFrames ?? 1 };
  } catch {
    // Not stopped.
    return undefined;
  }
}

/** Focuses frame `frameId` (the top one) of the thread in focus; false when VS Code did not get there. */
async function focusFrame(session: vscode.DebugSession, frameId: number, frames: number): Promise<boolean> {
  const focused = (): boolean => {
    const item = vscode.debug.activeStackItem;
    return item instanceof vscode.DebugStackFrame && item.session.id === session.id && item.frameId === frameId;
  };
  if (focused()) return true;
  await runAndSettle('workbench.action.debug.callStackBottom');
  for (let i = 0; i < Math.min(frames, 64) && !focused(); i++) await runAndSettle('workbench.action.debug.callStackUp');
  return focused();
}

/** Runs a call-stack command and waits until the focused stack item changed (or a second passed). */
async function runAndSettle(command: string): Promise<void> {
  let done: (() => void) | undefined;
  const changed = new Promise<void>((resolve) => (done = resolve));
  const listener = vscode.debug.onDidChangeActiveStackItem(() => done?.());
  const timer = setTimeout(() => done?.(), 1000);
  try {
    await vscode.commands.executeCommand(command);
    await changed;
  } finally {
    clearTimeout(timer);
    listener.dispose();
  }
}
