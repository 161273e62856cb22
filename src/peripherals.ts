/**
 * The Peripherals view: devices → registers → fields with their values, read without side effects while the
 * guest is stopped. Registers and fields can be edited; the context menu adds MMIO breakpoints that show in
 * VS Code's Breakpoints view (function breakpoints named `read hpet.GCAP_ID`, see MMIO_FUNCTION_BREAKPOINT).
 */
import * as vscode from 'vscode';
import type { DeviceView, FieldView, RegisterView } from '../adapter/session/protocol';
import { customRequest, errorMessage } from './dap';
import type { SessionTracker } from './session';

type Node =
  | { kind: 'device'; device: DeviceView }
  | { kind: 'register'; device: DeviceView; register: RegisterView }
  | { kind: 'field'; device: DeviceView; register: RegisterView; field: FieldView };

const WRITABLE = /^(RW|WO|W1C|W1S)$/;

export function bitRange(f: { lsb: number; msb: number }): string {
  return f.msb === f.lsb ? `[${f.lsb}]` : `[${f.msb}:${f.lsb}]`;
}

/** `NUM_TIM_CAP=3 (4 timers), COUNT_SIZE_CAP=0 (32-bit), ...` from a register view. */
export function summarizeFields(register: RegisterView): string {
  return register.fields
    .filter((f) => f.access !== 'RSVD')
    .map((f) => `${f.name}=${shortValue(f.value)}${f.meaning ? ` (${f.meaning})` : ''}`)
    .join(', ');
}

/** A field value as the views show it: decimal below 10, else the hex string. */
export function shortValue(hex: string): string {
  const v = BigInt(hex);
  return v < 10n ? v.toString() : hex;
}

export function functionBreakpointName(
  direction: 'read' | 'write' | 'access',
  device: string,
  register?: string,
): string {
  return register ? `${direction} ${device}.${register}` : `${direction} ${device}`;
}

export class PeripheralsProvider implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private devices: DeviceView[] = [];
  private stale = true;
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<Node>;
  private readonly disposables: vscode.Disposable[] = [];
  private refreshing: Promise<void> | undefined;

  constructor(private readonly sessions: SessionTracker) {
    this.view = vscode.window.createTreeView('mmiodbg.peripherals', { treeDataProvider: this, showCollapseAll: true });
    this.disposables.push(
      this.view,
      this.changed,
      sessions.onDidChange(() => void this.refresh()),
      vscode.commands.registerCommand('mmiodbg.peripherals.refresh', () => this.refresh()),
      vscode.commands.registerCommand('mmiodbg.peripherals.breakOnRead', (n?: Node) => this.addBreakpoint('read', n)),
      vscode.commands.registerCommand('mmiodbg.peripherals.breakOnWrite', (n?: Node) => this.addBreakpoint('write', n)),
      vscode.commands.registerCommand('mmiodbg.peripherals.breakOnAccess', (n?: Node) =>
        this.addBreakpoint('access', n),
      ),
      vscode.commands.registerCommand('mmiodbg.peripherals.setValue', (n?: Node) => this.setValue(n)),
      vscode.commands.registerCommand('mmiodbg.peripherals.copyValue', (n?: Node) => this.copyValue(n)),
    );
    this.updateMessage();
  }

  /** Devices as last read (for decorations and hovers in hook files). */
  get lastDevices(): readonly DeviceView[] {
    return this.devices;
  }

  get isStale(): boolean {
    return this.stale;
  }

  refresh(): Promise<void> {
    this.refreshing ??= this.load().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async load(): Promise<void> {
    const session = this.sessions.stoppedSession;
    if (!this.sessions.session) {
      this.devices = [];
      this.stale = true;
    } else if (session) {
      try {
        this.devices = (await customRequest(session, 'mmiodbg/devices', {})).devices;
        this.stale = false;
      } catch (e) {
        this.stale = true;
        this.view.message = `Cannot read devices: ${errorMessage(e)}`;
        this.changed.fire(undefined);
        return;
      }
    } else {
      this.stale = true;
    }
    this.updateMessage();
    this.changed.fire(undefined);
  }

  private updateMessage(): void {
    if (!this.sessions.session) this.view.message = 'Start an mmiodbg session to see the guest\u2019s devices.';
    else if (this.devices.length === 0) this.view.message = 'Pause the guest to read its device registers.';
    else if (this.stale) this.view.message = 'The guest is running: values are from the last stop.';
    else this.view.message = undefined;
  }

  getChildren(node?: Node): Node[] {
    if (!node) return this.devices.map((device) => ({ kind: 'device', device }));
    if (node.kind === 'device')
      return node.device.registers.map((register) => ({ kind: 'register', device: node.device, register }));
    if (node.kind === 'register')
      return node.register.fields
        .filter((f) => f.access !== 'RSVD')
        .map((field) => ({ kind: 'field', device: node.device, register: node.register, field }));
    return [];
  }

  getTreeItem(node: Node): vscode.TreeItem {
    const None = vscode.TreeItemCollapsibleState.None;
    const Collapsed = vscode.TreeItemCollapsibleState.Collapsed;
    if (node.kind === 'device') {
      const d = node.device;
      const item = new vscode.TreeItem(d.name, Collapsed);
      item.id = `device:${d.name}`;
      item.description = `${d.title} @ ${d.space === 'pio' ? 'port ' : ''}0x${d.base.toString(16)}`;
      item.contextValue = 'device';
      item.iconPath = new vscode.ThemeIcon('circuit-board');
      return item;
    }
    if (node.kind === 'register') {
      const r = node.register;
      const item = new vscode.TreeItem(r.name, r.fields.length ? Collapsed : None);
      item.id = `register:${node.device.name}.${r.name}`;
      item.description = r.value;
      const tooltip = new vscode.MarkdownString(
        `**${node.device.name}.${r.name}** = \`${r.value}\` (${r.width}-bit ${r.access}, +0x${r.offset.toString(16)})\n\n${r.doc}\n\n${summarizeFields(r)}`,
      );
      item.tooltip = tooltip;
      item.contextValue =
        WRITABLE.test(r.access) || r.fields.some((f) => WRITABLE.test(f.access)) ? 'register.writable' : 'register';
      item.iconPath = new vscode.ThemeIcon('symbol-variable');
      return item;
    }
    const f = node.field;
    const item = new vscode.TreeItem(`${f.name} ${bitRange(f)}`, None);
    item.id = `field:${node.device.name}.${node.register.name}.${f.name}`;
    item.description = `${shortValue(f.value)}${f.meaning ? ` (${f.meaning})` : ''}`;
    item.tooltip = new vscode.MarkdownString(
      `**${node.register.name}.${f.name}** ${bitRange(f)} ${f.access}\n\n${f.doc}`,
    );
    item.contextValue = WRITABLE.test(f.access) ? 'field.writable' : 'field';
    item.iconPath = new vscode.ThemeIcon('symbol-field');
    return item;
  }

  private selected(node: Node | undefined): Node | undefined {
    return node ?? this.view.selection[0];
  }

  private async addBreakpoint(direction: 'read' | 'write' | 'access', node?: Node): Promise<void> {
    const n = this.selected(node);
    if (!n) return;
    const register = n.kind === 'device' ? undefined : n.register.name;
    const name = functionBreakpointName(direction, n.device.name, register);
    const exists = vscode.debug.breakpoints.some(
      (b) => b instanceof vscode.FunctionBreakpoint && b.functionName === name,
    );
    if (!exists) vscode.debug.addBreakpoints([new vscode.FunctionBreakpoint(name)]);
    void vscode.window.setStatusBarMessage(`mmiodbg: breakpoint on ${name}`, 3000);
  }

  private async setValue(node?: Node): Promise<void> {
    const n = this.selected(node);
    if (!n || n.kind === 'device') return;
    const session = this.sessions.stoppedSession;
    if (!session) {
      void vscode.window.showWarningMessage('mmiodbg: pause the guest to change a register.');
      return;
    }
    const field = n.kind === 'field' ? n.field : undefined;
    const target = field ? `${n.device.name}.${n.register.name}.${field.name}` : `${n.device.name}.${n.register.name}`;
    const width = field ? field.msb - field.lsb + 1 : n.register.width;
    const input = await vscode.window.showInputBox({
      title: `Set ${target}`,
      prompt: `New value (${width} bits; decimal, 0x hex or 0b binary). Written without device side effects.`,
      value: field ? field.value : n.register.value,
      validateInput: (text) => {
        try {
          const v = BigInt(text.trim().replace(/_/g, ''));
          return v < 0n || v >= 1n << BigInt(width) ? `the value must fit in ${width} bits` : undefined;
        } catch {
          return 'not a number';
        }
      },
    });
    if (input === undefined) return;
    try {
      const value = '0x' + BigInt(input.trim().replace(/_/g, '')).toString(16);
      const { register } = await customRequest(session, 'mmiodbg/writeRegister', {
        device: n.device.name,
        register: n.register.name,
        ...(field ? { field: field.name } : {}),
        value,
        path: 'debugger',
      });
      const device = this.devices.find((d) => d.name === n.device.name);
      if (device) device.registers = device.registers.map((r) => (r.name === register.name ? register : r));
      this.changed.fire(undefined);
    } catch (e) {
      void vscode.window.showErrorMessage(`mmiodbg: cannot write ${target}: ${errorMessage(e)}`);
    }
  }

  private async copyValue(node?: Node): Promise<void> {
    const n = this.selected(node);
    if (!n || n.kind === 'device') return;
    await vscode.env.clipboard.writeText(n.kind === 'field' ? n.field.value : n.register.value);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
