/**
 * The MMIO Trace webview's page, without VS Code: the panel fills in webview URIs, the benchmark and the tests
 * serve the same page from a local HTTP server, so the script runs in the document it runs in inside VS Code.
 */
export interface TraceHtmlOptions {
  /** URI of dist/trace.js as the page loads it. */
  readonly script: string;
  /** URI of media/trace.css as the page loads it. */
  readonly style: string;
  /** Origin(s) the Content-Security-Policy allows styles from (`webview.cspSource` in VS Code). */
  readonly cspSource: string;
  /** Nonce of the one script the page may run. */
  readonly nonce: string;
}

export function newNonce(): string {
  return [...Array<number>(16)].map(() => Math.floor(Math.random() * 36).toString(36)).join('');
}

export function traceHtml({ script, style, cspSource, nonce }: TraceHtmlOptions): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspSource}; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style}">
<title>MMIO Trace</title>
</head>
<body>
<div id="toolbar">
  <select id="device" title="Device"><option value="">all devices</option></select>
  <select id="direction" title="Direction"><option value="">read + write</option><option value="r">reads</option><option value="w">writes</option></select>
  <input id="text" type="search" placeholder="Filter: register, field, value, hook…" title="Text filter">
  <label title="Keep the newest row in view"><input id="follow" type="checkbox" checked> follow</label>
  <button id="clear" title="Hide the rows received so far">Clear</button>
  <span id="status"></span>
</div>
<div id="header" class="row"><span>time (ns)</span><span>EIP</span><span>dir</span><span>device.register</span><span>value</span><span>hooks</span><span>decoded fields</span></div>
<div id="viewport"><div id="spacer"></div><div id="rows"></div></div>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
}
