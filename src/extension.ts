/** mmiodbg's VS Code extension: debug adapter wiring, hook language client and the register-level views. */
import * as vscode from 'vscode';
import { AdapterFactory, ConfigurationProvider } from './adapter';
import { customRequest, DEBUG_TYPE, errorMessage } from './dap';
import { EditorDecoding } from './decode';
import { HooksController } from './hooks';
import { HookLanguageClient } from './languageClient';
import { PeripheralsProvider } from './peripherals';
import { SessionTracker } from './session';
import { TraceController } from './trace/panel';

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const sessions = new SessionTracker();
  const language = new HookLanguageClient(context);
  const peripherals = new PeripheralsProvider(sessions);
  const decoding = new EditorDecoding(sessions, peripherals, language);
  context.subscriptions.push(
    sessions,
    language,
    peripherals,
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new AdapterFactory(context)),
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, new ConfigurationProvider()),
    vscode.debug.registerDebugConfigurationProvider(
      DEBUG_TYPE,
      new ConfigurationProvider(),
      vscode.DebugConfigurationProviderTriggerKind.Dynamic,
    ),
    new HooksController(sessions),
    decoding,
    new TraceController(context, sessions),
    vscode.commands.registerCommand('mmiodbg.serialInput', async () => {
      const session = sessions.session;
      if (!session) return;
      const text = await vscode.window.showInputBox({
        title: 'Send to COM1',
        prompt: 'Text for the guest (\\n for Enter)',
      });
      if (text === undefined) return;
      await customRequest(session, 'mmiodbg/serialInput', { text: text.replace(/\\n/g, '\n') });
    }),
  );
  try {
    await language.start();
  } catch (e) {
    void vscode.window.showWarningMessage(`mmiodbg: the hook language server did not start: ${errorMessage(e)}`);
  }
  decoding.registerHoverProvider();
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
