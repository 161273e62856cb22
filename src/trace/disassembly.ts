/**
 * Opens the instruction of an MMIO trace row (its EIP).
 *
 * VS Code's Disassembly view (1.100) shows the focused stack frame only: `debug.action.openDisassemblyView` takes
 * no address, the view loads around `focusedStackFrame.instructionPointerReference` when it opens and follows the
 * focused frame, and its `goToInstructionAndOffset` is reached only from the Breakpoints view for instruction
 * breakpoints, which the extension API cannot create (microsoft/vscode, src/vs/workbench/contrib/debug/browser/
 * disassemblyView.ts, debugEditorActions.ts, breakpointsView.ts). So when the row's EIP is the stopped guest's
 * current instruction, the top frame is focused and the Disassembly view opens there. Any other EIP opens the
 * adapter's disassembly listing that shows it (the same kind of listing a stack frame without a source file
 * opens, served by the adapter as a DAP source), beside the editor, with the row's instruction selected; its
 * gutter takes breakpoints.
 */
import * as vscode from 'vscode';
import { customRequest, errorMessage } from '../dap';

function hex32(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

/**
 * The URI VS Code gives a DAP source that has a sourceReference (scheme `debug`, the source's path, and the
 * session and reference in the query): its content comes from the session's `source` request.
 */
export function debugSourceUri(sessionId: string, source: { path: string; sourceReference: number }): vscode.Uri {
  return vscode.Uri.from({
    scheme: 'debug',
    path: source.path,
    query: `session=${encodeURIComponent(sessionId)}&ref=${source.sourceReference}`,
  });
}

export class InstructionRevealer {
  async reveal(session: vscode.DebugSession | undefined, eip: number): Promise<void> {
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
      const { source, line } = await customRequest(session, 'mmiodbg/listing', { address: eip });
      const doc = await vscode.workspace.openTextDocument(debugSourceUri(session.id, source));
      const editor = await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
      const at = new vscode.Range(line - 1, 0, line - 1, doc.lineAt(line - 1).text.length);
      editor.selection = new vscode.Selection(at.start, at.end);
      editor.revealRange(at, vscode.TextEditorRevealType.InCenter);
    } catch (e) {
      void vscode.window.showErrorMessage(`mmiodbg: cannot disassemble at ${hex}: ${errorMessage(e)}`);
    }
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
