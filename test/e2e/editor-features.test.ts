/**
 * The extension's editor and view features in a real VS Code (code-server 4.100.3 + Chromium), beyond the
 * release walk-through: the hook language (diagnostics as you type, completion, hovers that decode registers and
 * numbers, go to definition), and, while the hpet-probe guest is paused, the Peripherals view (values, Set
 * Value..., Break on Write / Break on Access), the Hooks view and status bar hit counts, and register decoding in
 * the editor (inline values, hovers, "Decode Value as Register..."), and hooks sent while typing
 * (mmiodbg.hooks.liveUpdate). Screenshots go to test-results/e2e/editor-*.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { CodeServer, codeServerEntry, runCommand } from './code-server';
import {
  clearShots,
  contextMenuAction,
  cursorAt,
  expandPane,
  goToLine,
  hoverText,
  openFile,
  pane,
  shot,
  SHOTS,
  treeRow,
  waitInside,
  makeHpetProbeWorkspace,
  openWithExtension,
} from './workbench';

/** A hook file for the language features; its line numbers are used below. */
const EDIT_HOOK = `# Editor features of the hook language.
device mydev at 0xfe000000 size 0x1000 "My device" {
    register CTRL at 0x0 width 32 rw "control register" {
        field EN [0] rw "enable"
        field MODE [3:1] "mode"
    }
}

on write mydev.CTRL {
    value.MODE = 2
}

on read hpet.GCAP_ID {
    value = 0x80868301
    handled
}
`;
const LINES = {
  register: 3, // `    register CTRL ...`: CTRL at column 14
  device: 2, // `device mydev ...`: mydev at column 8
  mydevHook: 9, // `on write mydev.CTRL {`: mydev at column 10, CTRL at 16
  gcapHook: 13, // `on read hpet.GCAP_ID {`: GCAP_ID at column 14
  number: 14, // `    value = 0x80868301`: the number at column 13
  end: 17,
};

/** The hook file of the launch configuration: it only counts the guest's GCAP_ID reads. */
const SESSION_HOOK = `# Counts the guest's GCAP_ID reads.
on read hpet.GCAP_ID {
    emulate
}
`;

/** Text with runs of white space (table cells, line breaks) as single spaces. */
function flat(text: string): string {
  return text.replace(/\s+/g, ' ');
}

/** Shows the editor hover at the cursor (Show or Focus Hover) and waits until it contains `expected`. */
async function hoverAtCursor(page: Page, expected: RegExp): Promise<string> {
  const deadline = Date.now() + 20_000;
  let text = '';
  for (;;) {
    await page.keyboard.press('Control+K');
    await page.keyboard.press('Control+I');
    const hover = page.locator('.monaco-editor .monaco-hover:visible').first();
    await hover.waitFor({ timeout: 5_000 }).catch(() => undefined);
    // The hover fills in as its providers answer.
    for (let i = 0; i < 10; i++) {
      text = flat(await hoverText(page));
      if (expected.test(text)) return text;
      await page.waitForTimeout(200);
    }
    if (Date.now() > deadline) throw new Error(`the hover does not match ${String(expected)}: ${text}`);
    await page.keyboard.press('Escape');
  }
}

async function closeHover(page: Page): Promise<void> {
  await page.keyboard.press('Escape');
  await page.locator('.monaco-editor .monaco-hover:visible').waitFor({ state: 'hidden', timeout: 5_000 });
}

/** The Problems panel's rows (opened from the status bar's problems item). */
async function problems(page: Page): Promise<Locator> {
  const panel = page.locator('.markers-panel');
  if (!(await panel.isVisible())) await page.locator('#status\\.problems').click();
  await panel.waitFor({ timeout: 10_000 });
  return panel.locator('.monaco-list-row');
}

/** Texts of the `after` decorations (inline values) shown in the active editor. */
async function inlineValues(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    const editor = document.querySelector('.editor-group-container.active .monaco-editor .view-lines');
    for (const el of editor?.querySelectorAll('span') ?? []) {
      const content = getComputedStyle(el, '::after').content;
      if (content && content !== 'none' && content !== 'normal') out.push(content.replace(/^"|"$/g, ''));
    }
    return out;
  });
}

/** Waits for a row in a tree by its label, expanding nothing. */
async function rowWithLabel(page: Page, tree: Locator, label: RegExp, level: number): Promise<Locator> {
  const row = await treeRow(page, tree, label, level);
  await row.waitFor({ timeout: 15_000 });
  return row;
}

/** `label description` of a tree row, as the row shows them side by side. */
async function rowText(row: Locator): Promise<string> {
  const label = await row.locator('.label-name').first().innerText();
  const description = await row
    .locator('.label-description')
    .first()
    .innerText({ timeout: 1_000 })
    .catch(() => '');
  return flat(`${label} ${description}`).trim();
}

async function expandRow(row: Locator, expanded = true): Promise<void> {
  if ((await row.getAttribute('aria-expanded')) === String(!expanded)) await row.click();
}

const setup = codeServerEntry();

void describe('editor features in a real VS Code', { timeout: 300_000 }, () => {
  void it(
    'hook language, Peripherals and Hooks views, and register decoding while paused',
    { skip: 'unavailable' in setup ? setup.unavailable : false, timeout: 300_000 },
    async (t) => {
      if (!('entry' in setup)) return;
      clearShots('editor-');
      const runDir = mkdtempSync(join(tmpdir(), 'mmiodbg-e2e-editor-'));
      const workspace = join(runDir, 'workspace');
      makeHpetProbeWorkspace(workspace, { 'edit.mmh': EDIT_HOOK, 'hooks.mmh': SESSION_HOOK });
      // Typing in a hook file during a session sends it, without saving (section 5).
      writeFileSync(
        join(workspace, '.vscode', 'settings.json'),
        JSON.stringify({
          'mmiodbg.hooks.liveUpdate': true,
          'mmiodbg.hooks.liveUpdateDelay': 300,
          'files.autoSave': 'off',
        }),
      );
      const server = new CodeServer(setup.entry, runDir);
      let current: Page | undefined;
      try {
        const page = await openWithExtension(server, runDir, workspace, (p) => (current = p));
        await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'edit.mmh' }).click();
        const editor = page.locator('.editor-group-container.active .monaco-editor').first();
        await editor.locator('.view-lines', { hasText: 'Editor features of the hook language' }).waitFor();

        // ---- 1. The hook language ---------------------------------------------------------------------------
        // Diagnostics as you type: a misspelt device gets a squiggle and a Problems entry with the checker's
        // message; fixing the name removes both.
        await goToLine(page, LINES.end, 1);
        await page.keyboard.type('on write hpte.GEN_CONF { emulate }');
        const squiggle = editor.locator('.squiggly-error');
        await squiggle.first().waitFor({ timeout: 30_000 });
        const rows = await problems(page);
        const message = "unknown device 'hpte' (did you mean hpet?)";
        await rows.filter({ hasText: message }).first().waitFor({ timeout: 10_000 });
        await shot(page, 'editor-01-diagnostic');
        await goToLine(page, LINES.end, 10);
        for (let i = 0; i < 4; i++) await page.keyboard.press('Shift+ArrowRight');
        await page.keyboard.type('hpet');
        await squiggle.first().waitFor({ state: 'detached', timeout: 15_000 });
        await rows.filter({ hasText: message }).first().waitFor({ state: 'detached', timeout: 10_000 });
        assert.equal(await editor.locator('.squiggly-error, .squiggly-warning').count(), 0);
        await shot(page, 'editor-02-diagnostic-fixed');

        // Completion after `hpet.` lists the HPET registers; accepting one completes the name.
        await page.keyboard.press('Escape');
        await page.keyboard.press('End');
        await page.keyboard.press('Enter');
        await page.keyboard.type('on read hpet.');
        const suggest = page.locator('.editor-widget.suggest-widget');
        const gcapItem = suggest.locator('.monaco-list-row', { hasText: /^\s*GCAP_ID/ }).first();
        await gcapItem.waitFor({ timeout: 20_000 });
        await suggest.locator('.monaco-list-row', { hasText: 'GEN_CONF' }).first().waitFor();
        await shot(page, 'editor-03-completion');
        await page.keyboard.type('GCA');
        await suggest.locator('.monaco-list-row.focused', { hasText: 'GCAP_ID' }).waitFor({ timeout: 10_000 });
        await page.keyboard.press('Enter');
        await editor.locator('.view-line', { hasText: /^on\sread\shpet\.GCAP_ID$/ }).waitFor({ timeout: 10_000 });
        // Take the two typed lines away again: the file is as it was, with no diagnostics.
        await goToLine(page, LINES.end, 1);
        await page.keyboard.press('Shift+ArrowDown');
        await page.keyboard.press('Shift+End');
        await page.keyboard.press('Delete');
        await editor.locator('.view-line', { hasText: 'GEN_CONF' }).waitFor({ state: 'detached', timeout: 10_000 });

        // Hover on a register name: its documentation, address, access and the fields' bit ranges.
        await goToLine(page, LINES.gcapHook, 16);
        const registerHover = await hoverAtCursor(page, /hpet\.GCAP_ID.*NUM_TIM_CAP/);
        assert.match(registerHover, /hpet\.GCAP_ID — 64-bit, RO, 0xfed00000/);
        assert.match(registerHover, /General capabilities and ID\./);
        assert.match(registerHover, /NUM_TIM_CAP \[12:8\] RO Index of the last timer/);
        await shot(page, 'editor-04-hover-register');
        await closeHover(page);

        // Hover on a number in a GCAP_ID hook: the number decoded as GCAP_ID.
        await goToLine(page, LINES.number, 15);
        const numberHover = await hoverAtCursor(page, /VENDOR_ID/);
        assert.match(numberHover, /2156299009 = 0x80868301/);
        assert.match(numberHover, /REV_ID \[7:0\] 1 /);
        assert.match(numberHover, /NUM_TIM_CAP \[12:8\] 3 4 timers/);
        assert.match(numberHover, /COUNT_SIZE_CAP \[13\] 0 32-bit/);
        assert.match(numberHover, /LEG_RT_CAP \[15\] 1 /);
        assert.match(numberHover, /VENDOR_ID \[31:16\] 0x8086/);
        await shot(page, 'editor-05-hover-number');
        await closeHover(page);

        // Go to Definition (F12) of a declared register and device.
        await goToLine(page, LINES.mydevHook, 17);
        await page.keyboard.press('F12');
        await cursorAt(page, LINES.register, 14);
        await shot(page, 'editor-06-definition');
        await goToLine(page, LINES.mydevHook, 11);
        await page.keyboard.press('F12');
        await cursorAt(page, LINES.device, 8);

        if (!existsSync('dist/adapter.js')) {
          t.skip('stopped before F5: the debug adapter (dist/adapter.js) is not built');
          return;
        }

        // ---- 2. Paused: the Peripherals view --------------------------------------------------------------
        await runCommand(page, 'View: Hide Panel');
        await page.locator('.activitybar .action-label[aria-label^="Run and Debug"]').click();
        await page
          .locator('.start-debug-action-item select option', { hasText: 'hpet-probe' })
          .waitFor({ state: 'attached', timeout: 60_000 });
        // F5 (Start Debugging from launch.json, stopOnEntry); pressed again if no session started.
        for (let i = 0; ; i++) {
          await page.keyboard.press('F5');
          const started = await page
            .locator('.debug-toolbar')
            .waitFor({ timeout: 20_000 })
            .then(() => true)
            .catch(() => false);
          if (started) break;
          if (i === 2) throw new Error('F5 started no debug session');
        }
        const callStackHeader = pane(page, 'Call Stack').locator('.pane-header');
        await callStackHeader.filter({ hasText: /Paused on entry/i }).waitFor({ timeout: 60_000 });
        await expandPane(page, 'Watch', false);
        await expandPane(page, 'Variables', false);
        await expandPane(page, 'Breakpoints', false);
        await expandPane(page, 'Call Stack', false);
        await expandPane(page, 'Peripherals', true);
        const peripherals = pane(page, 'Peripherals');
        const hpetRow = await rowWithLabel(page, peripherals, /^\s*hpet\s*$/, 1);
        await expandRow(hpetRow);
        const gcapRow = await rowWithLabel(page, peripherals, /^\s*GCAP_ID\s*$/, 2);
        await expandRow(gcapRow);
        const numTimRow = await rowWithLabel(page, peripherals, /^\s*NUM_TIM_CAP \[12:8\]/, 3);
        assert.match(await rowText(numTimRow), /NUM_TIM_CAP \[12:8\] 3 \(4 timers\)/);
        assert.match(await rowText(gcapRow), /GCAP_ID 0x[0-9a-f]{8}80868301/);
        await shot(page, 'editor-07-peripherals');
        await expandRow(gcapRow, false);

        // Set Value... on a writable field: GEN_CONF.LEG_RT_CNF from 0 to 1.
        const genConfRow = await rowWithLabel(page, peripherals, /^\s*GEN_CONF\s*$/, 2);
        await expandRow(genConfRow);
        const legRow = await rowWithLabel(page, peripherals, /^\s*LEG_RT_CNF \[1\]/, 3);
        assert.match(await rowText(legRow), /^LEG_RT_CNF \[1\] 0$/);
        await contextMenuAction(page, legRow, 'Set Value...');
        const input = page.locator('.quick-input-widget input');
        await input.waitFor({ state: 'visible', timeout: 10_000 });
        await input.fill('1');
        await page.keyboard.press('Enter');
        await input.waitFor({ state: 'hidden', timeout: 10_000 });
        await legRow.locator('.label-description', { hasText: /^\s*1\s*$/ }).waitFor({ timeout: 10_000 });
        await genConfRow.locator('.label-description', { hasText: /^\s*0x0+2\s*$/ }).waitFor({ timeout: 10_000 });
        await shot(page, 'editor-08-set-value');

        // Set Value in the Variables view (Devices › hpet › GEN_CONF › ENABLE_CNF): the Peripherals view follows.
        await expandPane(page, 'Variables', true);
        const variables = pane(page, 'Variables');
        const variableRow = (level: number, name: string): Locator =>
          variables
            .locator(`.monaco-list-row[aria-level="${level}"]`, { hasText: new RegExp(`^\\s*${name}\\b`) })
            .first();
        const cpuScope = variableRow(1, 'Registers');
        await cpuScope.waitFor({ timeout: 15_000 });
        await expandRow(cpuScope, false);
        for (const [level, name] of [
          [1, 'Devices'],
          [2, 'hpet'],
          [3, 'GEN_CONF'],
        ] as const) {
          const row = variableRow(level, name);
          await row.waitFor({ timeout: 15_000 });
          await expandRow(row);
        }
        const enableVariable = variableRow(4, 'ENABLE_CNF');
        await enableVariable.waitFor({ timeout: 15_000 });
        await contextMenuAction(page, enableVariable, 'Set Value');
        await variables.locator('.monaco-inputbox input').waitFor({ timeout: 10_000 });
        await page.keyboard.type('1');
        await page.keyboard.press('Enter');
        await enableVariable.filter({ hasText: /=\s*1 \(running\)/ }).waitFor({ timeout: 10_000 });
        const enableRow = await rowWithLabel(page, peripherals, /^\s*ENABLE_CNF \[0\]/, 3);
        await enableRow
          .locator('.label-description', { hasText: /^\s*1 \(running\)\s*$/ })
          .waitFor({ timeout: 10_000 });
        await genConfRow.locator('.label-description', { hasText: /^\s*0x0+3\s*$/ }).waitFor({ timeout: 10_000 });
        await shot(page, 'editor-08b-set-variable');
        await expandPane(page, 'Variables', false);

        // Break on Write (GEN_CONF) and Break on Access (T0_CONF_CAP) from the context menu: both show in the
        // Breakpoints view.
        await contextMenuAction(page, genConfRow, 'Break on Write');
        const t0Row = await rowWithLabel(page, peripherals, /^\s*T0_CONF_CAP\s*$/, 2);
        await contextMenuAction(page, t0Row, 'Break on Access');
        // Expanded before the Peripherals view collapses, the Breakpoints view gets its room.
        await expandPane(page, 'Breakpoints', true);
        await expandPane(page, 'Peripherals', false);
        const breakpoints = pane(page, 'Breakpoints');
        const body = breakpoints.locator('.pane-body');
        for (const name of ['write hpet.GEN_CONF', 'access hpet.T0_CONF_CAP']) {
          const row = breakpoints.locator('.monaco-list-row', { hasText: name });
          await row.waitFor({ timeout: 10_000 });
          await waitInside(row, body);
        }
        await shot(page, 'editor-09-breakpoints');

        // ---- 3. The Hooks view and the status bar: state and hit count ------------------------------------
        await expandPane(page, 'Hooks', true);
        const hooks = pane(page, 'Hooks');
        const hookRow = hooks.locator('.monaco-list-row[aria-level="2"]', { hasText: 'GCAP_ID' }).first();
        await hookRow.filter({ hasText: /active · 0 hits/ }).waitFor({ timeout: 15_000 });
        const status = page.locator('.statusbar-item', { hasText: /hooks: \d+ active, \d+ hits/ }).first();
        await status.filter({ hasText: 'hooks: 1 active, 0 hits' }).waitFor({ timeout: 10_000 });
        // Continue: the guest reads GCAP_ID (both halves go through the hook) before timer 0's configuration.
        // (A collapsed Call Stack view does not update the stop reason in its header: expand it.)
        await expandPane(page, 'Breakpoints', false);
        await expandPane(page, 'Call Stack', true);
        await runCommand(page, 'Debug: Continue');
        await callStackHeader.filter({ hasText: /hpet\.T0_CONF_CAP/ }).waitFor({ timeout: 60_000 });
        await hookRow.filter({ hasText: /active · 2 hits/ }).waitFor({ timeout: 15_000 });
        await status.filter({ hasText: 'hooks: 1 active, 2 hits' }).waitFor({ timeout: 10_000 });
        await shot(page, 'editor-10-hook-hits');

        // ---- 4. Decoding in the editor while paused ---------------------------------------------------------
        // The hook's register shows its current value, decoded, at the end of the hook's first line.
        await openFile(page, 'hooks.mmh');
        const deadline = Date.now() + 15_000;
        let values: string[] = [];
        while (!values.some((v) => v.includes('NUM_TIM_CAP=3 (4 timers)')) && Date.now() < deadline) {
          await page.waitForTimeout(250);
          values = await inlineValues(page);
        }
        assert.ok(
          values.some((v) => /^GCAP_ID = 0x[0-9a-f]{8}80868301 .*NUM_TIM_CAP=3 \(4 timers\)/.test(v)),
          `inline values: ${JSON.stringify(values)}`,
        );
        // A hover on the register shows the current value too.
        await goToLine(page, 2, 16);
        const currentHover = await hoverAtCursor(page, /current value/);
        assert.match(currentHover, /hpet\.GCAP_ID = 0x[0-9a-f]{8}80868301/);
        assert.match(currentHover, /NUM_TIM_CAP \[12:8\] 3 4 timers/);
        // While the guest is stopped, the current value comes before the register's documentation.
        assert.ok(
          currentHover.indexOf('current value') < currentHover.indexOf('General capabilities'),
          `hover: ${currentHover}`,
        );
        await shot(page, 'editor-11-inline-value');
        await closeHover(page);

        // "Decode Value as Register..." on a selected number.
        await openFile(page, 'edit.mmh');
        await goToLine(page, LINES.number, 13);
        await page.keyboard.press('Shift+End');
        await runCommand(page, 'mmiodbg: Decode Value as Register...');
        const pick = page.locator('.quick-input-widget input');
        await pick.waitFor({ state: 'visible', timeout: 10_000 });
        await pick.fill('hpet.GCAP_ID');
        await page
          .locator('.quick-input-list .monaco-list-row.focused', {
            has: page.locator('.label-name', { hasText: /^\s*hpet\.GCAP_ID\s*$/ }),
          })
          .waitFor({ timeout: 10_000 });
        await page.keyboard.press('Enter');
        const toast = page.locator('.notification-toast', { hasText: 'hpet.GCAP_ID = ' }).first();
        await toast.waitFor({ timeout: 15_000 });
        const decoded = flat(await toast.innerText());
        assert.match(
          decoded,
          /hpet\.GCAP_ID = 0x0*80868301: REV_ID=1, NUM_TIM_CAP=3 \(4 timers\), COUNT_SIZE_CAP=0 \(32-bit\)/,
        );
        assert.match(decoded, /LEG_RT_CAP=1/);
        assert.match(decoded, /VENDOR_ID=0x8086/);
        // The "mmiodbg Decode" output channel lists the fields one per line.
        const output = page.locator('.output-view .view-lines', { hasText: 'NUM_TIM_CAP' }).first();
        await output.waitFor({ timeout: 10_000 });
        assert.match(
          flat(await output.innerText()),
          /NUM_TIM_CAP \[12:8\] 3 \(4 timers\) COUNT_SIZE_CAP \[13\] 0 \(32-bit\)/,
        );
        await shot(page, 'editor-12-decode-command');

        // ---- 5. Live update while typing (mmiodbg.hooks.liveUpdate): no save needed -------------------------
        await openFile(page, 'hooks.mmh');
        await page.keyboard.press('Control+End');
        await page.keyboard.insertText('on read hpet.GEN_CONF {\n    emulate\n}\n');
        await hooks
          .locator('.monaco-list-row[aria-level="2"]', { hasText: /read hpet\.GEN_CONF.*active/ })
          .first()
          .waitFor({ timeout: 20_000 });
        await status.filter({ hasText: /hooks: 2 active/ }).waitFor({ timeout: 10_000 });
        // The text reached the guest without a save: the file on disk is unchanged.
        assert.equal(readFileSync(join(workspace, 'hooks.mmh'), 'utf8'), SESSION_HOOK);
        await shot(page, 'editor-13-live-typing');
      } catch (e) {
        if (current) await shot(current, 'editor-99-failure').catch(() => undefined);
        writeFileSync(join(SHOTS, 'editor-code-server.log'), server.log.join(''));
        // The server may not have written logs yet (a failure while packing or installing).
        const logs = join(runDir, 'user-data', 'logs');
        if (existsSync(logs)) cpSync(logs, join(SHOTS, 'editor-logs'), { recursive: true });
        throw e;
      } finally {
        await server.close();
        rmSync(runDir, { recursive: true, force: true });
      }
    },
  );
});
