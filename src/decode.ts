/**
 * Register decoding in the editor: the "Decode Value as Register..." command (through the debug adapter when a
 * session runs, else through the language server), and, while the guest is stopped, the current value of each
 * hooked register shown at the end of its hook's first line and in hovers.
 */
import * as vscode from 'vscode';
import type { DeviceView, RegisterView } from '../adapter/session/protocol';
import { customRequest, errorMessage } from './dap';
import type { HookLanguageClient } from './languageClient';
import { HOOK_LANGUAGE } from './languageClient';
import type { PeripheralsProvider } from './peripherals';
import { bitRange, shortValue, summarizeFields } from './peripherals';
import type { SessionTracker } from './session';

const HOOK_HEADER = /^\s*on\s+[a-z|\s]+?\s([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)/;
const QUALIFIED = /\b([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\b/g;

export function findRegisterView(
  devices: readonly DeviceView[],
  device: string,
  register: string,
): RegisterView | undefined {
  const d = devices.find((x) => x.name.toLowerCase() === device.toLowerCase());
  return d?.registers.find((r) => r.name.toLowerCase() === register.toLowerCase());
}

export function decodedMarkdown(qualified: string, r: RegisterView): vscode.MarkdownString {
  const lines = [
    `**${qualified}** = \`${r.value}\``,
    '',
    '| field | bits | value | meaning |',
    '| --- | --- | --- | --- |',
    ...r.fields
      .filter((f) => f.access !== 'RSVD')
      .map((f) => `| ${f.name} | ${bitRange(f)} | ${shortValue(f.value)} | ${f.meaning ?? ''} |`),
  ];
  return new vscode.MarkdownString(lines.join('\n'));
}

export class EditorDecoding implements vscode.HoverProvider, vscode.Disposable {
  private readonly decoration = vscode.window.createTextEditorDecorationType({
    after: { margin: '0 0 0 2em', color: new vscode.ThemeColor('editorCodeLens.foreground'), fontStyle: 'italic' },
    isWholeLine: false,
  });
  private readonly disposables: vscode.Disposable[] = [];
  private readonly output: vscode.OutputChannel;

  constructor(
    private readonly sessions: SessionTracker,
    private readonly peripherals: PeripheralsProvider,
    private readonly language: HookLanguageClient,
  ) {
    this.output = vscode.window.createOutputChannel('mmiodbg Decode');
    this.disposables.push(
      this.decoration,
      this.output,
      vscode.commands.registerCommand('mmiodbg.decodeValue', () => this.decodeCommand()),
      peripherals.onDidChangeTreeData(() => this.decorateAll()),
      vscode.window.onDidChangeVisibleTextEditors(() => this.decorateAll()),
      vscode.workspace.onDidChangeTextDocument((e) => {
        for (const editor of vscode.window.visibleTextEditors)
          if (editor.document === e.document) this.decorate(editor);
      }),
    );
  }

  /**
   * Registers the current-value hover. VS Code shows the hover of the provider registered last first: the
   * extension calls this once the language server (whose hover documents the register) has registered its own,
   * so that while the guest is stopped the current value comes before the documentation.
   */
  registerHoverProvider(): vscode.Disposable {
    const registration = vscode.languages.registerHoverProvider({ language: HOOK_LANGUAGE }, this);
    this.disposables.push(registration);
    return registration;
  }

  private currentDevices(): readonly DeviceView[] | undefined {
    return this.sessions.stoppedSession && !this.peripherals.isStale ? this.peripherals.lastDevices : undefined;
  }

  private decorateAll(): void {
    for (const editor of vscode.window.visibleTextEditors) this.decorate(editor);
  }

  private decorate(editor: vscode.TextEditor): void {
    if (editor.document.languageId !== HOOK_LANGUAGE) return;
    const devices = this.currentDevices();
    if (!devices) {
      editor.setDecorations(this.decoration, []);
      return;
    }
    const options: vscode.DecorationOptions[] = [];
    for (let line = 0; line < editor.document.lineCount; line++) {
      const text = editor.document.lineAt(line).text;
      const m = HOOK_HEADER.exec(text);
      if (!m) continue;
      const r = findRegisterView(devices, m[1], m[2]);
      if (!r) continue;
      const end = editor.document.lineAt(line).range.end;
      options.push({
        range: new vscode.Range(end, end),
        renderOptions: { after: { contentText: `${r.name} = ${r.value}  ${summarizeFields(r)}` } },
      });
    }
    editor.setDecorations(this.decoration, options);
  }

  /** While stopped: the current value of a `device.REGISTER` under the cursor, decoded. */
  provideHover(document: vscode.TextDocument, position: vscode.Position): vscode.Hover | undefined {
    const devices = this.currentDevices();
    if (!devices) return undefined;
    const line = document.lineAt(position.line).text;
    for (const m of line.matchAll(QUALIFIED)) {
      const start = m.index;
      const end = start + m[0].length;
      if (position.character < start || position.character > end) continue;
      const r = findRegisterView(devices, m[1], m[2]);
      if (!r) return undefined;
      const md = decodedMarkdown(`${m[1]}.${r.name}`, r);
      md.appendMarkdown('\n\n_current value (guest stopped, read without side effects)_');
      return new vscode.Hover(md, new vscode.Range(position.line, start, position.line, end));
    }
    return undefined;
  }

  private async registerNames(): Promise<string[]> {
    const devices = this.peripherals.lastDevices;
    if (devices.length) return devices.flatMap((d) => d.registers.map((r) => `${d.name}.${r.name}`));
    if (this.language.running) {
      const { registers } = await this.language.request('mmiodbg/registers', {});
      return registers.map((r) => r.qualifiedName);
    }
    return [];
  }

  private async decodeCommand(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const selected = editor ? editor.document.getText(editor.selection).trim() : '';
    const wordRange = editor && !selected ? editor.document.getWordRangeAtPosition(editor.selection.active) : undefined;
    const initial = selected || (wordRange && editor ? editor.document.getText(wordRange) : '');
    const value = /^(0x[0-9a-f_]+|0b[01_]+|[0-9_]+)$/i.test(initial)
      ? initial
      : await vscode.window.showInputBox({
          title: 'Decode value',
          prompt: 'Number to decode (0x hex, 0b binary or decimal)',
        });
    if (!value) return;
    const names = await this.registerNames();
    const register = names.length
      ? await vscode.window.showQuickPick(names, { title: `Decode ${value} as register`, matchOnDescription: true })
      : await vscode.window.showInputBox({
          title: `Decode ${value} as register`,
          prompt: 'Register, e.g. hpet.GCAP_ID',
        });
    if (!register) return;
    try {
      const decoded = await this.decode(register, value);
      const text = `${register} = ${decoded.value}: ${summarizeFields(decoded)}`;
      this.output.appendLine(text);
      for (const f of decoded.fields)
        if (f.access !== 'RSVD')
          this.output.appendLine(
            `  ${f.name.padEnd(20)} ${bitRange(f).padEnd(8)} ${shortValue(f.value)}${f.meaning ? ` (${f.meaning})` : ''}`,
          );
      this.output.show(true);
      void vscode.window.showInformationMessage(text);
    } catch (e) {
      void vscode.window.showErrorMessage(`mmiodbg: cannot decode: ${errorMessage(e)}`);
    }
  }

  private async decode(register: string, value: string): Promise<RegisterView> {
    const hex = '0x' + BigInt(value.replace(/_/g, '')).toString(16);
    const session = this.sessions.session;
    if (session) {
      try {
        return (await customRequest(session, 'mmiodbg/decode', { register, value: hex })).register;
      } catch {
        // Fall back to the language server's descriptions.
      }
    }
    const result = await this.language.request('mmiodbg/decodeValue', { register, value: hex });
    if ('error' in result) throw new Error(result.error);
    return result.register;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
