/**
 * Language server for hook files (.mmh) over stdio/IPC: diagnostics as you type, completion, hover with
 * register decoding, go to definition. The logic lives in `features.ts`; this file only speaks LSP.
 */
import type { Connection, Hover, InitializeParams, InitializeResult } from 'vscode-languageserver/node';
import {
  CompletionItemKind,
  createConnection,
  DiagnosticSeverity,
  InsertTextFormat,
  MarkupKind,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { hpetPreset, parseHpetOption } from '../../core/devices/hpet';
import type { HpetConfig } from '../../core/devices/hpet';
import { PcMachine } from '../../core/machine/pc';
import type { DeviceDescription } from '../../core/regs/describe';
import type { Completion } from './features';
import { completionsAt, decodeRegister, definitionAt, diagnosticsFor, HookDocument, hoverAt } from './features';
import type {
  HookServerInitializationOptions,
  HookServerParams,
  HookServerRequestName,
  HookServerResult,
  RegisterSummary,
} from './protocol';

const COMPLETION_KINDS: Record<Completion['kind'], CompletionItemKind> = {
  device: CompletionItemKind.Module,
  register: CompletionItemKind.Class,
  field: CompletionItemKind.Field,
  keyword: CompletionItemKind.Keyword,
  variable: CompletionItemKind.Variable,
  method: CompletionItemKind.Method,
  snippet: CompletionItemKind.Snippet,
};

function machineDevices(hpet: string | undefined): DeviceDescription[] {
  let config: HpetConfig = hpetPreset('ich');
  if (hpet !== undefined) {
    try {
      config = parseHpetOption(hpet);
    } catch {
      // Keep the default model; the debug adapter reports a bad launch configuration.
    }
  }
  return new PcMachine({ memoryMiB: 2, hpet: config }).deviceDescriptions();
}

function onRequest<K extends HookServerRequestName>(
  connection: Connection,
  name: K,
  handler: (params: HookServerParams<K>) => HookServerResult<K>,
): void {
  connection.onRequest(name, (params: HookServerParams<K>) => handler(params));
}

function main(): void {
  const connection = createConnection(ProposedFeatures.all);
  const documents = new TextDocuments(TextDocument);
  let devices: DeviceDescription[] = [];
  const analysed = new Map<string, { version: number; doc: HookDocument }>();

  const analyse = (document: TextDocument): HookDocument => {
    const cached = analysed.get(document.uri);
    if (cached?.version === document.version) return cached.doc;
    const doc = new HookDocument(document.getText(), devices);
    analysed.set(document.uri, { version: document.version, doc });
    return doc;
  };

  connection.onInitialize((params: InitializeParams): InitializeResult => {
    const options = (params.initializationOptions ?? {}) as HookServerInitializationOptions;
    devices = machineDevices(options.hpet);
    return {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        completionProvider: { triggerCharacters: ['.', ' ', '|'] },
        hoverProvider: true,
        definitionProvider: true,
      },
      serverInfo: { name: 'mmiodbg hook language server' },
    };
  });

  documents.onDidChangeContent(({ document }) => {
    const diagnostics = diagnosticsFor(document.getText(), devices).map((d) => ({
      severity: d.severity === 'error' ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
      message: d.message,
      source: 'mmiodbg',
      range: {
        start: document.positionAt(d.range.start.offset),
        end: document.positionAt(Math.max(d.range.end.offset, d.range.start.offset + 1)),
      },
    }));
    void connection.sendDiagnostics({ uri: document.uri, version: document.version, diagnostics });
  });
  documents.onDidClose(({ document }) => {
    analysed.delete(document.uri);
    void connection.sendDiagnostics({ uri: document.uri, diagnostics: [] });
  });

  connection.onCompletion(({ textDocument, position }) => {
    const document = documents.get(textDocument.uri);
    if (!document) return [];
    return completionsAt(analyse(document), document.offsetAt(position)).map((c) => ({
      label: c.label,
      kind: COMPLETION_KINDS[c.kind],
      ...(c.detail !== undefined ? { detail: c.detail } : {}),
      ...(c.documentation !== undefined ? { documentation: c.documentation } : {}),
      ...(c.insertSnippet !== undefined
        ? { insertText: c.insertSnippet, insertTextFormat: InsertTextFormat.Snippet }
        : {}),
    }));
  });

  connection.onHover(({ textDocument, position }): Hover | null => {
    const document = documents.get(textDocument.uri);
    if (!document) return null;
    const hover = hoverAt(analyse(document), document.offsetAt(position));
    if (!hover) return null;
    return {
      contents: { kind: MarkupKind.Markdown, value: hover.markdown },
      range: { start: document.positionAt(hover.start), end: document.positionAt(hover.end) },
    };
  });

  connection.onDefinition(({ textDocument, position }) => {
    const document = documents.get(textDocument.uri);
    if (!document) return null;
    const target = definitionAt(analyse(document), document.offsetAt(position));
    if (!target) return null;
    return {
      uri: document.uri,
      range: { start: document.positionAt(target.start), end: document.positionAt(target.end) },
    };
  });

  const allDevices = (): DeviceDescription[] => {
    const byName = new Map(devices.map((d) => [d.name.toLowerCase(), d]));
    for (const document of documents.all())
      for (const d of analyse(document).declaredDevices) byName.set(d.name.toLowerCase(), d);
    return [...byName.values()];
  };

  onRequest(connection, 'mmiodbg/registers', () => {
    const registers: RegisterSummary[] = [];
    for (const d of allDevices())
      for (const r of d.registers)
        registers.push({ qualifiedName: `${d.name}.${r.name}`, device: d.name, width: r.width, doc: r.doc });
    return { registers };
  });

  onRequest(connection, 'mmiodbg/decodeValue', ({ register, value }) => {
    const [deviceName, registerName] = register.split('.');
    const device = allDevices().find((d) => d.name.toLowerCase() === deviceName?.toLowerCase());
    const found = device?.registers.find((r) => r.name.toLowerCase() === registerName?.toLowerCase());
    if (!found) return { error: `unknown register ${register}` };
    let number: bigint;
    try {
      number = BigInt(value.trim().replace(/_/g, ''));
    } catch {
      return { error: `not a number: ${value}` };
    }
    return { register: decodeRegister(found, number & ((1n << BigInt(found.width)) - 1n)) };
  });

  documents.listen(connection);
  connection.listen();
}

main();
