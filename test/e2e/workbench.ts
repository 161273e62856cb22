/**
 * Helpers for driving the VS Code workbench in the end-to-end tests: view panes, trees, files, the editor's
 * cursor, context menus and screenshots. Everything waits for what the user would see, never for a fixed time.
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { packVsix } from '../support/vsix';
import type { CodeServer } from './code-server';

/**
 * A workspace with the hpet-probe guest, hook files (name → text) and a launch.json that debugs the guest with
 * `hooks.mmh`, stopped on entry.
 */
export function makeHpetProbeWorkspace(dir: string, hookFiles: Record<string, string>): void {
  mkdirSync(join(dir, '.vscode'), { recursive: true });
  copyFileSync('guests/hpet-probe/hpet-probe.elf', join(dir, 'hpet-probe.elf'));
  for (const [name, text] of Object.entries(hookFiles)) writeFileSync(join(dir, name), text);
  const configuration = {
    type: 'mmiodbg',
    request: 'launch',
    name: 'hpet-probe',
    program: '${workspaceFolder}/hpet-probe.elf',
    hooks: ['${workspaceFolder}/hooks.mmh'],
    stopOnEntry: true,
  };
  writeFileSync(
    join(dir, '.vscode', 'launch.json'),
    JSON.stringify({ version: '0.2.0', configurations: [configuration] }, null, 2),
  );
}

/**
 * Packs the .vsix, installs it into the server's fresh profile and opens `workspace` (the hpet-probe one): ready
 * once the Explorer shows the guest image. The page is handed to `onPage` as soon as it exists, so that a
 * failure while waiting can still be photographed.
 */
export async function openWithExtension(
  server: CodeServer,
  runDir: string,
  workspace: string,
  onPage: (page: Page) => void,
): Promise<Page> {
  const vsix = join(runDir, 'mmiodbg.vsix');
  packVsix(vsix);
  server.installExtension(vsix);
  const page = await server.open(workspace);
  onPage(page);
  await page
    .locator('.explorer-folders-view .monaco-list-row', { hasText: 'hpet-probe.elf' })
    .waitFor({ timeout: 60_000 });
  return page;
}

/** Screenshots of the end-to-end tests. */
export const SHOTS = resolve('test-results/e2e');

/**
 * Removes the earlier screenshots and logs of one test from SHOTS, and only those: the end-to-end test files run
 * side by side and share the folder.
 */
export function clearShots(prefix: string): void {
  mkdirSync(SHOTS, { recursive: true });
  for (const name of readdirSync(SHOTS))
    if (name.startsWith(prefix)) rmSync(join(SHOTS, name), { recursive: true, force: true });
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A view pane of the side bar (or panel) by the start of its title. */
export function pane(page: Page, title: string): Locator {
  return page.locator('.pane', { has: page.locator('.pane-header', { hasText: new RegExp(`^\\s*${title}`, 'i') }) });
}

/** Expands (or collapses) a view pane of the side bar by clicking its header. */
export async function expandPane(page: Page, title: string, expanded: boolean): Promise<void> {
  const header = pane(page, title).locator('.pane-header').first();
  await header.waitFor({ timeout: 30_000 });
  if ((await header.getAttribute('aria-expanded')) !== String(expanded)) await header.click();
}

/** Opens a workspace file through Quick Open (the palette without its `>`). */
export async function openFile(page: Page, name: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(name);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().click({ timeout: 15_000 });
  await page.locator('.tabs-container .tab.active', { hasText: name }).waitFor({ timeout: 10_000 });
}

/**
 * The row of a tree whose label matches (a string matches the whole label), scrolling the tree with the mouse
 * wheel from the top until it is rendered. The row may still be missing when the tree does not have it.
 */
export async function treeRow(page: Page, tree: Locator, label: string | RegExp, level: number): Promise<Locator> {
  const name = typeof label === 'string' ? new RegExp(`^\\s*${escapeRegExp(label)}\\s*$`) : label;
  const row = tree
    .locator(`.monaco-list-row[aria-level="${level}"]`, { has: page.locator('.label-name', { hasText: name }) })
    .first();
  const list = tree.locator('.monaco-list').first();
  await list.locator('.monaco-list-row').first().waitFor({ timeout: 30_000 });
  if (!(await row.count())) {
    // From the top of the tree down.
    await list.hover();
    await page.mouse.wheel(0, -100_000);
  }
  for (let i = 0; i < 40 && !(await row.count()); i++) {
    await list.hover();
    await page.mouse.wheel(0, 60);
    await page.waitForTimeout(150);
  }
  return row;
}

/** Opens a row's context menu and runs one of its actions; returns once the menu has closed. */
export async function contextMenuAction(
  page: Page,
  row: Locator,
  action: string,
  beforeClick?: () => Promise<void>,
): Promise<void> {
  await row.click({ button: 'right' });
  const menuItem = page
    .locator('.context-view .action-item', {
      has: page.locator('.action-label', { hasText: new RegExp(`^\\s*${escapeRegExp(action)}\\s*$`) }),
    })
    .first();
  await menuItem.waitFor({ timeout: 10_000 });
  if (beforeClick) await beforeClick();
  // A click right after the menu opened can go unseen: click until the menu closes.
  for (let i = 0; i < 5 && (await menuItem.isVisible()); i++) {
    await page.waitForTimeout(300);
    await menuItem.click().catch(() => undefined);
  }
}

/** Moves the cursor of the active editor to a 1-based line and column through Go to Line (`:line:column`). */
export async function goToLine(page: Page, line: number, column: number): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(`:${line}:${column}`);
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden', timeout: 10_000 });
  await cursorAt(page, line, column);
}

/** Waits until the status bar shows the cursor of the active editor at a 1-based line and column. */
export async function cursorAt(page: Page, line: number, column: number, timeout = 10_000): Promise<void> {
  await page
    .locator('.statusbar-item', { hasText: new RegExp(`^\\s*Ln ${line}, Col ${column}\\b`) })
    .first()
    .waitFor({ timeout });
}

/** The text of the visible editor hover (empty when none shows). */
export async function hoverText(page: Page): Promise<string> {
  return (
    await page
      .locator('.monaco-editor .monaco-hover:visible')
      .allInnerTexts()
      .catch(() => [])
  ).join('\n');
}

/** Waits until `item` lies entirely inside `container` (a small view pane clips the rows it has rendered). */
export async function waitInside(item: Locator, container: Locator, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const inner = await item.boundingBox().catch(() => null);
    const outer = await container.boundingBox().catch(() => null);
    if (inner && outer && inner.y >= outer.y - 0.5 && inner.y + inner.height <= outer.y + outer.height + 0.5) return;
    if (Date.now() > deadline) throw new Error(`not entirely in view: ${String(item)}`);
    await item.page().waitForTimeout(200);
  }
}
