/**
 * Hosts the real MMIO Trace webview script (dist/trace.js, built from media/trace.ts) in headless Chromium with
 * playwright-core, for the benchmark and the tests: a local HTTP server serves the panel's own page
 * (src/trace/html.ts) with dist/trace.js and media/trace.css, and test/support/trace-webview-page.ts, injected
 * before the page's script, plays VS Code and the extension (see there).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { newNonce, traceHtml } from '../../src/trace/html';
import type { WebviewMessage } from '../../src/trace/messages';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium';
import type { FilterResult, LoadResult, RowView, ScrollResult } from './trace-webview-page';

export { CHROMIUM, CHROMIUM_ARGS };

/** Why the webview cannot be hosted here, or undefined when it can. */
export function traceWebviewUnavailable(root: string): string | undefined {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} not found (Debian package chromium; run scripts/setup.sh)`;
  if (!existsSync(join(root, 'dist', 'trace.js'))) return 'dist/trace.js not built (node scripts/build.mjs)';
  return undefined;
}

/**
 * playwright-core is loaded at run time rather than imported: the benchmark runs as an esbuild bundle, and
 * playwright-core does not work bundled (it reads its own package.json).
 */
function playwright(): typeof import('playwright-core') {
  return createRequire(__filename)('playwright-core') as typeof import('playwright-core');
}

function pageScript(root: string): string {
  const r = buildSync({
    entryPoints: [join(root, 'test', 'support', 'trace-webview-page.ts')],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    logLevel: 'warning',
  });
  return r.outputFiles[0].text;
}

export interface MainThreadTimes {
  /** All tasks (script, style, layout, paint, ...). */
  readonly taskMs: number;
  readonly scriptMs: number;
  readonly styleMs: number;
  readonly layoutMs: number;
}

export class TraceWebview {
  private constructor(
    readonly page: Page,
    private readonly context: BrowserContext,
    private readonly cdp: CDPSession,
    private readonly server: Server,
    private readonly dir: string,
  ) {}

  /** Opens the webview page in a fresh headless Chromium profile; `height` is the viewport height in px. */
  static async open(root: string, size = { width: 1200, height: 800 }): Promise<TraceWebview> {
    const files: Record<string, { type: string; body: Buffer }> = {
      '/dist/trace.js': { type: 'text/javascript', body: readFileSync(join(root, 'dist', 'trace.js')) },
      '/media/trace.css': { type: 'text/css', body: readFileSync(join(root, 'media', 'trace.css')) },
    };
    const server = createServer((req, res) => {
      const origin = `http://${req.headers.host ?? ''}`;
      const file =
        req.url === '/'
          ? {
              type: 'text/html',
              body: Buffer.from(
                traceHtml({
                  script: `${origin}/dist/trace.js`,
                  style: `${origin}/media/trace.css`,
                  cspSource: origin,
                  nonce: newNonce(),
                }),
              ),
            }
          : files[req.url ?? ''];
      if (!file) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const dir = mkdtempSync(join(tmpdir(), 'mmiodbg-trace-webview-'));
    for (const d of ['profile', 'home', 'xdg-config', 'xdg-cache']) mkdirSync(join(dir, d));
    let context: BrowserContext | undefined;
    try {
      context = await playwright().chromium.launchPersistentContext(join(dir, 'profile'), {
        executablePath: CHROMIUM,
        headless: true,
        viewport: size,
        args: CHROMIUM_ARGS,
        env: {
          ...process.env,
          HOME: join(dir, 'home'),
          XDG_CONFIG_HOME: join(dir, 'xdg-config'),
          XDG_CACHE_HOME: join(dir, 'xdg-cache'),
        },
      });
      await context.addInitScript({ content: pageScript(root) });
      const page = context.pages()[0] ?? (await context.newPage());
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForFunction('document.getElementById("status") !== null');
      if (errors.length) throw new Error(`the webview page failed: ${errors.join('; ')}`);
      const cdp = await context.newCDPSession(page);
      await cdp.send('Performance.enable');
      return new TraceWebview(page, context, cdp, server, dir);
    } catch (e) {
      await context?.close().catch(() => undefined);
      server.close();
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  private call<T>(expression: string): Promise<T> {
    return this.page.evaluate<T>(`window.traceHost.${expression}`);
  }

  /** Sends `count` more records in batches as the extension does; `reset` first forgets the rows shown. */
  load(count: number, options: { batch?: number; reset?: boolean; maxRecords?: number } = {}): Promise<LoadResult> {
    const max = options.maxRecords === undefined ? 'undefined' : String(options.maxRecords);
    return this.call(`load(${count}, ${options.batch ?? 4000}, ${options.reset ?? true}, ${max})`);
  }

  startFrames(): Promise<void> {
    return this.call('startFrames()');
  }

  stopFrames(): Promise<number[]> {
    return this.call('stopFrames()');
  }

  scrollThrough(frames: number): Promise<ScrollResult> {
    return this.call(`scrollThrough(${frames})`);
  }

  scrollTo(where: 'top' | 'bottom' | number): Promise<void> {
    return this.call(`scrollTo(${JSON.stringify(where)})`);
  }

  rows(): Promise<RowView[]> {
    return this.call('rows()');
  }

  setFilter(control: 'device' | 'direction' | 'text', value: string): Promise<FilterResult> {
    return this.call(`setFilter(${JSON.stringify(control)}, ${JSON.stringify(value)})`);
  }

  status(): Promise<string> {
    return this.call('status()');
  }

  /** Clicks the displayed row of record `seq` with the mouse; returns its tooltip, shown on the way. */
  async clickRow(seq: number): Promise<string | null> {
    const row = this.page.locator(`#rows .row[data-seq="${seq}"]:visible`).first();
    await row.click();
    return row.getAttribute('title');
  }

  posted(): Promise<WebviewMessage[]> {
    return this.call('posted()');
  }

  /** Row elements in the table, displayed or not. */
  rowElements(): Promise<number> {
    return this.call('rowElements()');
  }

  domElements(): Promise<number> {
    return this.call('domElements()');
  }

  /** Main-thread time the page has spent so far, in ms (Chromium's Performance domain). */
  async mainThread(): Promise<MainThreadTimes> {
    const { metrics } = await this.cdp.send('Performance.getMetrics');
    const get = (name: string): number => (metrics.find((m) => m.name === name)?.value ?? 0) * 1000;
    return {
      taskMs: get('TaskDuration'),
      scriptMs: get('ScriptDuration'),
      styleMs: get('RecalcStyleDuration'),
      layoutMs: get('LayoutDuration'),
    };
  }

  /** JS heap in use after a full garbage collection, in bytes. */
  async heapUsed(): Promise<number> {
    await this.cdp.send('HeapProfiler.collectGarbage');
    const { usedSize } = await this.cdp.send('Runtime.getHeapUsage');
    return usedSize;
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => undefined);
    await new Promise((resolve) => this.server.close(resolve));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
