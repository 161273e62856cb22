/**
 * Language server for hook files (.mmh) over stdio/IPC: diagnostics as you type, completion, hover with
 * register decoding, go to definition. The logic lives in `features.ts`; this file only speaks LSP.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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
import {
  completionsAt,
  decodeRegister,
  definitionAt,
  diagnosticsFor,
  HookDocument,
  hoverAt,
  referenceAt,
} from './features';
import { HookWorkspace } from './workspace';
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

/** Hook files under a folder, skipping hidden folders and node_modules; at most `limit` of them. */
function findHookFiles(folder: string, limit = 500, depth = 8): string[] {
  const found: string[] = [];
  const visit = (dir: string, level: number): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (found.length >= limit) return;
      if (entry.isDirectory()) {
        if (level < depth && !entry.name.startsWith('.') && entry.name !== 'node_modules')
          visit(join(dir, entry.name), level + 1);
      } else if (entry.isFile() && entry.name.endsWith('.mmh')) found.push(join(dir, entry.name));
    }
  };
  visit(folder, 0);
  return found;
}

function readText(uri: string): string | undefined {
  try {
    return readFileSync(fileURLToPath(uri), 'utf8');
  } catch {
    return undefined;
  }
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
  let workspace = new HookWorkspace([]);
  const analysed = new Map<string, { version: number; generation: number; doc: HookDocument }>();

  const analyse = (document: TextDocument): HookDocument => {
    const cached = analysed.get(document.uri);
    if (cached?.version === document.version && cached.generation === workspace.generation) return cached.doc;
    const doc = new HookDocument(document.getText(), workspace.devicesFor(document.uri));
    analysed.set(document.uri, { version: document.version, generation: workspace.generation, doc });
    return doc;
  };

  const validate = (document: TextDocument): void => {
    const diagnostics = diagnosticsFor(document.getText(), workspace.devicesFor(document.uri)).map((d) => ({
      severity: d.severity === 'error' ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
      message: d.message,
      source: 'mmiodbg',
      range: {
        start: document.positionAt(d.range.start.offset),
        end: document.positionAt(Math.max(d.range.end.offset, d.range.start.offset + 1)),
      },
    }));
    void connection.sendDiagnostics({ uri: document.uri, version: document.version, diagnostics });
  };

  /** After a change to what some file declares, the other open files are checked again. */
  const declarationsChanged = (except: string): void => {
    for (const document of documents.all()) if (document.uri !== except) validate(document);
  };

  connection.onInitialize((params: InitializeParams): InitializeResult => {
    const options = (params.initializationOptions ?? {}) as HookServerInitializationOptions;
    workspace = new HookWorkspace(machineDevices(options.hpet));
    for (const folder of params.workspaceFolders ?? []) {
      if (!folder.uri.startsWith('file:')) continue;
      for (const path of findHookFiles(fileURLToPath(folder.uri))) {
        const text = readText(pathToFileURL(path).href);
        if (text !== undefined) workspace.set(pathToFileURL(path).href, text, false);
      }
    }
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
    const changed = workspace.set(document.uri, document.getText(), true);
    validate(document);
    if (changed) declarationsChanged(document.uri);
  });
  documents.onDidClose(({ document }) => {
    analysed.delete(document.uri);
    void connection.sendDiagnostics({ uri: document.uri, diagnostics: [] });
    // Back to the copy on disk, if there is one.
    workspace.delete(document.uri);
    const text = readText(document.uri);
    if (text !== undefined) workspace.set(document.uri, text, false);
    declarationsChanged(document.uri);
  });
  connection.onDidChangeWatchedFiles(({ changes }) => {
    let changed = false;
    for (const change of changes) {
      if (workspace.isOpen(change.uri)) continue;
      const text = readText(change.uri);
      changed = (text === undefined ? workspace.delete(change.uri) : workspace.set(change.uri, text, false)) || changed;
    }
    if (changed) declarationsChanged('');
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
    const doc = analyse(document);
    const offset = document.offsetAt(position);
    const target = definitionAt(doc, offset);
    if (target) {
      return {
        uri: document.uri,
        range: { start: document.positionAt(target.start), end: document.positionAt(target.end) },
      };
    }
    const reference = referenceAt(doc, offset);
    const elsewhere = reference && workspace.declarationElsewhere(document.uri, reference.device, reference.register);
    if (!elsewhere) return null;
    const other = TextDocument.create(elsewhere.uri, 'mmiohook', 0, elsewhere.text);
    return {
      uri: elsewhere.uri,
      range: { start: other.positionAt(elsewhere.start), end: other.positionAt(elsewhere.end) },
    };
  });

  const allDevices = (): DeviceDescription[] => workspace.allDevices();

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
