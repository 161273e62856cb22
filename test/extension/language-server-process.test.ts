/**
 * The bundled hook-language server (dist/server.js) spoken to over LSP, as VS Code's client does: a device
 * declared in a hook file on disk is known in an open one, and Go to Definition leads to that file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { StreamMessageReader, StreamMessageWriter, createMessageConnection } from 'vscode-jsonrpc/node';
import type { MessageConnection } from 'vscode-jsonrpc/node';

const DEVICES = `device mydev at 0xfe000000 size 0x1000 "My device" {
    register CTRL at 0x0 width 32 rw "control" {
        field EN [0] rw "enable"
    }
}
`;
const USES = `on write mydev.CTRL {
    value.EN = 1
}
`;

interface PublishedDiagnostics {
  uri: string;
  diagnostics: { message: string }[];
}

void describe('hook language server process', () => {
  void it(
    'checks an open file against devices declared in the workspace, and goes to their declaration',
    { timeout: 60_000 },
    async () => {
      const root = mkdtempSync(join(tmpdir(), 'mmiodbg-lsp-'));
      mkdirSync(join(root, 'hooks'));
      writeFileSync(join(root, 'hooks', 'devices.mmh'), DEVICES);
      const usesUri = pathToFileURL(join(root, 'uses.mmh')).href;
      const devicesUri = pathToFileURL(join(root, 'hooks', 'devices.mmh')).href;
      const server = spawn(process.execPath, ['dist/server.js', '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
      const connection: MessageConnection = createMessageConnection(
        new StreamMessageReader(server.stdout),
        new StreamMessageWriter(server.stdin),
      );
      const published: PublishedDiagnostics[] = [];
      const waiters: (() => void)[] = [];
      connection.onNotification('textDocument/publishDiagnostics', (p: PublishedDiagnostics) => {
        published.push(p);
        for (const w of waiters.splice(0)) w();
      });
      const diagnosticsOf = async (uri: string, count: number): Promise<PublishedDiagnostics> => {
        while (published.filter((p) => p.uri === uri).length < count) await new Promise<void>((r) => waiters.push(r));
        return published.filter((p) => p.uri === uri)[count - 1];
      };
      connection.listen();
      try {
        await connection.sendRequest('initialize', {
          processId: process.pid,
          rootUri: pathToFileURL(root).href,
          capabilities: {},
          workspaceFolders: [{ uri: pathToFileURL(root).href, name: 'w' }],
        });
        await connection.sendNotification('initialized', {});
        await connection.sendNotification('textDocument/didOpen', {
          textDocument: { uri: usesUri, languageId: 'mmiohook', version: 1, text: USES },
        });
        assert.deepEqual((await diagnosticsOf(usesUri, 1)).diagnostics, []);

        const definition = await connection.sendRequest<{
          uri: string;
          range: { start: { line: number; character: number } };
        }>('textDocument/definition', {
          textDocument: { uri: usesUri },
          position: { line: 0, character: USES.indexOf('CTRL') + 1 },
        });
        assert.equal(definition.uri, devicesUri);
        assert.deepEqual(definition.range.start, { line: 1, character: DEVICES.split('\n')[1].indexOf('CTRL') });

        // The declaring file is opened and its device renamed: the other file is checked again.
        await connection.sendNotification('textDocument/didOpen', {
          textDocument: { uri: devicesUri, languageId: 'mmiohook', version: 1, text: DEVICES },
        });
        const before = published.filter((p) => p.uri === usesUri).length;
        await connection.sendNotification('textDocument/didChange', {
          textDocument: { uri: devicesUri, version: 2 },
          contentChanges: [{ text: DEVICES.replace('mydev', 'otherdev') }],
        });
        const rechecked = await diagnosticsOf(usesUri, before + 1);
        assert.match(rechecked.diagnostics[0]?.message ?? '', /unknown device 'mydev'/);
      } finally {
        connection.dispose();
        server.kill();
      }
    },
  );
});

void describe('hook language server process: the HPET of the launch configuration', () => {
  void it('checks hook files against the HPET model it was started with', { timeout: 60_000 }, async () => {
    const text = 'on read hpet.T3_CONF_CAP {\n    emulate\n}\n';
    const diagnosticsWith = async (hpet: string | undefined): Promise<string[]> => {
      const server = spawn(process.execPath, ['dist/server.js', '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
      const connection = createMessageConnection(
        new StreamMessageReader(server.stdout),
        new StreamMessageWriter(server.stdin),
      );
      const published = new Promise<PublishedDiagnostics>((resolve) =>
        connection.onNotification('textDocument/publishDiagnostics', resolve),
      );
      connection.listen();
      try {
        await connection.sendRequest('initialize', {
          processId: process.pid,
          rootUri: null,
          capabilities: {},
          initializationOptions: hpet === undefined ? {} : { hpet },
        });
        await connection.sendNotification('initialized', {});
        await connection.sendNotification('textDocument/didOpen', {
          textDocument: { uri: 'untitled:t3.mmh', languageId: 'mmiohook', version: 1, text },
        });
        return (await published).diagnostics.map((d) => d.message);
      } finally {
        connection.dispose();
        server.kill();
      }
    };
    // The default (ich) HPET has 4 timers; with 3, timer 3's registers do not exist.
    assert.deepEqual(await diagnosticsWith(undefined), []);
    const three = await diagnosticsWith('timers=3');
    assert.equal(three.length, 1);
    assert.match(three[0], /T3_CONF_CAP/);
  });
});
