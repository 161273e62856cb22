/** Starts the hook-language server (dist/server.js) and offers its custom requests, typed. */
import * as vscode from 'vscode';
import type { LanguageClientOptions, ServerOptions } from 'vscode-languageclient/node';
import { LanguageClient, TransportKind } from 'vscode-languageclient/node';
import type {
  HookServerInitializationOptions,
  HookServerParams,
  HookServerRequestName,
  HookServerResult,
} from '../adapter/hooks/server/protocol';

export const HOOK_LANGUAGE = 'mmiohook';

export class HookLanguageClient implements vscode.Disposable {
  private client: LanguageClient | undefined;

  constructor(private readonly context: vscode.ExtensionContext) {}

  async start(): Promise<void> {
    if (!vscode.workspace.getConfiguration('mmiodbg').get<boolean>('languageServer.enabled', true)) return;
    const module = this.context.asAbsolutePath('dist/server.js');
    const serverOptions: ServerOptions = {
      run: { module, transport: TransportKind.ipc },
      debug: { module, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6019'] } },
    };
    const initializationOptions: HookServerInitializationOptions = {};
    const hpet = launchHpetModel();
    if (hpet !== undefined) initializationOptions.hpet = hpet;
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ language: HOOK_LANGUAGE }],
      initializationOptions,
      // Devices declared in hook files that are not open count too: the server hears when those files change.
      synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher('**/*.mmh') },
    };
    this.client = new LanguageClient('mmiodbg.hooks', 'mmiodbg hook language', serverOptions, clientOptions);
    await this.client.start();
  }

  async request<K extends HookServerRequestName>(name: K, params: HookServerParams<K>): Promise<HookServerResult<K>> {
    if (!this.client) throw new Error('the hook language server is not running');
    return this.client.sendRequest<HookServerResult<K>>(name, params);
  }

  get running(): boolean {
    return this.client?.isRunning() ?? false;
  }

  dispose(): void {
    void this.client?.stop();
  }
}

/**
 * The HPET model of the workspace's first mmiodbg launch configuration that names one (a preset or key=value
 * text), so that hovers and completion describe the HPET the guest will see.
 */
function launchHpetModel(): string | undefined {
  const configurations = vscode.workspace.getConfiguration('launch').get<unknown[]>('configurations') ?? [];
  for (const c of configurations) {
    if (typeof c !== 'object' || c === null) continue;
    const { type, hpet } = c as { type?: unknown; hpet?: unknown };
    if (type === 'mmiodbg' && typeof hpet === 'string') return hpet;
  }
  return undefined;
}
