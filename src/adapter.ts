/** Starts the debug adapter and fills in launch configurations. */
import * as vscode from 'vscode';
import type { LaunchArguments } from '../adapter/session/protocol';
import { DEBUG_TYPE } from './dap';

type LaunchConfiguration = vscode.DebugConfiguration & Partial<LaunchArguments>;

/** Runs `dist/adapter.js` with the extension host's own Node (Electron in node mode), over stdio. */
export class AdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  constructor(private readonly context: vscode.ExtensionContext) {}

  createDebugAdapterDescriptor(): vscode.DebugAdapterDescriptor {
    const adapter = this.context.asAbsolutePath('dist/adapter.js');
    return new vscode.DebugAdapterExecutable(process.execPath, [adapter], {
      env: { ELECTRON_RUN_AS_NODE: '1' },
    });
  }
}

export class ConfigurationProvider implements vscode.DebugConfigurationProvider {
  async provideDebugConfigurations(folder: vscode.WorkspaceFolder | undefined): Promise<vscode.DebugConfiguration[]> {
    const program = await findGuest(folder);
    const hooks = await vscode.workspace.findFiles(
      folder ? new vscode.RelativePattern(folder, '**/*.mmh') : '**/*.mmh',
      '**/node_modules/**',
      10,
    );
    return [
      {
        type: DEBUG_TYPE,
        request: 'launch',
        name: 'Run guest (mmiodbg)',
        program: program ? workspacePath(program, folder) : '${workspaceFolder}/guest.elf',
        hooks: hooks.map((h) => workspacePath(h, folder)),
        stopOnEntry: false,
      },
    ];
  }

  /** F5 without a launch.json: run the first guest image of the workspace with its hook files. */
  async resolveDebugConfiguration(
    folder: vscode.WorkspaceFolder | undefined,
    config: LaunchConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined> {
    if (!config.type && !config.request && !config.name) {
      const [generated] = await this.provideDebugConfigurations(folder);
      if (generated) Object.assign(config, generated);
    }
    if (!config.program) {
      await vscode.window.showErrorMessage('mmiodbg: the launch configuration needs a "program" (a guest image).');
      return undefined;
    }
    return config;
  }
}

async function findGuest(folder: vscode.WorkspaceFolder | undefined): Promise<vscode.Uri | undefined> {
  const pattern = folder ? new vscode.RelativePattern(folder, '**/*.{elf,bin}') : '**/*.{elf,bin}';
  const [first] = await vscode.workspace.findFiles(pattern, '**/node_modules/**', 1);
  return first;
}

function workspacePath(uri: vscode.Uri, folder: vscode.WorkspaceFolder | undefined): string {
  if (!folder) return uri.fsPath;
  const relative = vscode.workspace.asRelativePath(uri, false);
  return '${workspaceFolder}/' + relative;
}
