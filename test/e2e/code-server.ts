/**
 * Runs the real VS Code workbench for the end-to-end test: code-server (installed by scripts/e2e-setup.sh into
 * .cache/code-server/) with a fresh profile in a temporary folder, driven by Debian's Chromium through
 * playwright-core. Every folder the server or the browser writes to lives under the run folder.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS } from '../support/chromium';

export { CHROMIUM };

/** Installs code-server when needed; returns its entry script, or why it cannot run here. */
export function codeServerEntry(): { entry: string } | { unavailable: string } {
  if (!existsSync(CHROMIUM))
    return { unavailable: `${CHROMIUM} not found (Debian package chromium; run scripts/setup.sh)` };
  const r = spawnSync('bash', ['scripts/e2e-setup.sh'], { encoding: 'utf8', timeout: 600_000 });
  const entry = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !existsSync(entry)) {
    return { unavailable: `code-server could not be installed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` };
  }
  return { entry };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export class CodeServer {
  private server: ChildProcess | undefined;
  private browser: BrowserContext | undefined;
  readonly log: string[] = [];
  private readonly env: NodeJS.ProcessEnv;
  private readonly dirs: { userData: string; extensions: string; config: string };

  constructor(
    private readonly entry: string,
    private readonly runDir: string,
  ) {
    const tmp = join(runDir, 'tmp');
    for (const d of ['tmp', 'xdg-config', 'xdg-data', 'xdg-cache', 'home', 'user-data/User', 'extensions', 'browser'])
      mkdirSync(join(runDir, d), { recursive: true });
    this.env = {
      ...process.env,
      TMPDIR: tmp,
      HOME: join(runDir, 'home'),
      XDG_CONFIG_HOME: join(runDir, 'xdg-config'),
      XDG_DATA_HOME: join(runDir, 'xdg-data'),
      XDG_CACHE_HOME: join(runDir, 'xdg-cache'),
    };
    this.dirs = {
      userData: join(runDir, 'user-data'),
      extensions: join(runDir, 'extensions'),
      config: join(runDir, 'config.yaml'),
    };
    writeFileSync(this.dirs.config, 'auth: none\ncert: false\n');
    writeFileSync(
      join(this.dirs.userData, 'User', 'settings.json'),
      JSON.stringify(
        {
          'workbench.startupEditor': 'none',
          'workbench.tips.enabled': false,
          'workbench.enableExperiments': false,
          'security.workspace.trust.enabled': false,
          'telemetry.telemetryLevel': 'off',
          'extensions.autoCheckUpdates': false,
          'extensions.autoUpdate': false,
          'update.mode': 'none',
          'editor.autoClosingBrackets': 'never',
          'editor.autoIndent': 'none',
          'editor.formatOnType': false,
          'debug.internalConsoleOptions': 'neverOpen',
          'window.commandCenter': false,
        },
        null,
        2,
      ),
    );
  }

  private args(): string[] {
    return [
      '--user-data-dir',
      this.dirs.userData,
      '--extensions-dir',
      this.dirs.extensions,
      '--config',
      this.dirs.config,
    ];
  }

  installExtension(vsix: string): void {
    const r = spawnSync(process.execPath, [this.entry, ...this.args(), '--install-extension', vsix], {
      env: this.env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (r.status !== 0) throw new Error(`--install-extension failed:\n${r.stdout}\n${r.stderr}`);
  }

  /** Starts the server in its own process group and opens the workbench on `folder`. */
  async open(folder: string): Promise<Page> {
    const port = await freePort();
    this.server = spawn(
      process.execPath,
      [
        this.entry,
        ...this.args(),
        '--bind-addr',
        `127.0.0.1:${port}`,
        '--auth',
        'none',
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
      ],
      { env: this.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (chunk: Buffer): void => {
      this.log.push(chunk.toString());
    };
    this.server.stdout?.on('data', keep);
    this.server.stderr?.on('data', keep);
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const r = await fetch(`${base}/healthz`);
        if (r.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`code-server did not start:\n${this.log.join('')}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    this.browser = await chromium.launchPersistentContext(join(this.runDir, 'browser'), {
      executablePath: CHROMIUM,
      viewport: { width: 1500, height: 940 },
      headless: true,
      args: CHROMIUM_ARGS,
      env: this.env,
    });
    const page = this.browser.pages()[0] ?? (await this.browser.newPage());
    await page.goto(`${base}/?folder=${encodeURIComponent(folder)}`);
    return page;
  }

  async close(): Promise<void> {
    await this.browser?.close().catch(() => undefined);
    const pid = this.server?.pid;
    if (pid !== undefined) {
      // The server keeps extension hosts and debug adapters alive for hours: end its whole process group.
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Runs a command through the palette (F1), reopening it until contributions have arrived. */
export async function runCommand(page: Page, title: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(`>${title}`);
    // The row whose label is exactly the title (a keybinding may follow it), not one that merely contains it.
    const escaped = title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const row = page
      .locator('.quick-input-list .monaco-list-row', {
        has: page.locator('.label-name', { hasText: new RegExp(`^\\s*${escaped}\\s*$`) }),
      })
      .first();
    try {
      await row.waitFor({ state: 'visible', timeout: 3_000 });
      await row.click();
      return;
    } catch {
      await page.keyboard.press('Escape');
      if (Date.now() > deadline) throw new Error(`command not found in the palette: ${title}`);
      await page.waitForTimeout(1_000);
    }
  }
}
