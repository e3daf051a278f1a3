/**
 * index.html of a `vnet bundle` site: the page's skeleton and style, the manifest as inline JSON,
 * and app.js as a classic script (so that the page also opens from file://, where browsers refuse
 * module scripts). Every text from the user (network name, file names) is escaped; the page
 * script fills in the rest with textContent only.
 */
import { escapeHtml, scriptJson } from '../verify/report-html.js';
import { BUNDLE_FILES, MANIFEST_ID, type BundleManifest } from './manifest.js';

const STYLE = `
:root { --ok: #1a7f37; --bad: #c62828; --muted: #5f6368; --line: #dadce0; --bg: #f8f9fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #202124; background: var(--bg); }
header { padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
header h1 { font-size: 19px; margin: 0; }
header .sub { color: var(--muted); }
#backend { margin-left: auto; font-size: 12px; padding: 3px 9px; border-radius: 12px; background: #e8f0fe; color: #174ea6; }
main { display: grid; grid-template-columns: minmax(300px, 360px) 1fr; gap: 16px; padding: 16px 24px; max-width: 1280px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
section h2 { font-size: 14px; margin: 0 0 10px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.col { display: flex; flex-direction: column; gap: 16px; min-width: 0; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 3px 12px; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; }
code { font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
#samples { display: flex; flex-wrap: wrap; gap: 6px; }
#samples button { padding: 2px; border: 2px solid transparent; background: #000; border-radius: 4px; cursor: pointer; line-height: 0; }
#samples button.sel { border-color: #1a73e8; }
#samples button.text { background: #fff; color: #202124; line-height: 1.4; padding: 4px 8px; border-color: var(--line); }
#samples canvas { width: 42px; height: 42px; image-rendering: pixelated; }
#drop { margin-top: 10px; border: 2px dashed var(--line); border-radius: 8px; padding: 14px; text-align: center; color: var(--muted); cursor: pointer; }
#drop.over { border-color: #1a73e8; background: #e8f0fe; }
.controls { display: grid; grid-template-columns: auto 1fr; gap: 8px 12px; align-items: center; }
.controls input, .controls select { font: inherit; padding: 4px 6px; width: 100%; min-width: 0; }
button.primary { font: inherit; padding: 6px 16px; background: #1a73e8; color: #fff; border: 0; border-radius: 4px; cursor: pointer; }
button.primary:disabled { background: #9aa0a6; cursor: default; }
button.secondary { font: inherit; padding: 5px 12px; background: #fff; border: 1px solid var(--line); border-radius: 4px; cursor: pointer; }
#result-head { display: flex; gap: 18px; align-items: center; flex-wrap: wrap; }
#preview { width: 112px; height: 112px; image-rendering: pixelated; border-radius: 4px; background: #000; }
#verdict { font-size: 22px; font-weight: 600; }
#verdict.ok { color: var(--ok); } #verdict.bad { color: var(--bad); }
#result-facts { color: var(--muted); }
#chart-box { position: relative; height: 300px; margin-top: 12px; }
#status { color: var(--muted); min-height: 1.4em; }
#status.error, .error { color: var(--bad); white-space: pre-wrap; }
progress { width: 100%; height: 10px; }
#recheck-result.ok { color: var(--ok); font-weight: 600; } #recheck-result.bad { color: var(--bad); font-weight: 600; }
#recheck-list { margin: 6px 0 0; padding-left: 18px; max-height: 220px; overflow: auto; }
#recheck-list li { overflow-wrap: anywhere; }
.hint { color: var(--muted); font-size: 12px; }
@media (max-width: 760px) { main { grid-template-columns: 1fr; padding: 12px; } }
`;

/** The page for a bundle with this manifest. */
export function renderIndexHtml(m: BundleManifest): string {
  const title = `vnet: ${m.network}`;
  const certs = m.certificates
    ? `<section id="certs">
  <h2>Certificates</h2>
  <p>Re-check <code>${escapeHtml(m.certificates.name)}</code> (${m.certificates.lines} certificates) on this machine.</p>
  <p><button class="secondary" id="recheck">Re-check the bundled certificates</button></p>
  <p class="hint">Or check another file written by <code>vnet verify --certificates</code> for bundled samples: <input type="file" id="cert-file" accept=".jsonl,.json,.txt,application/json"></p>
  <progress id="recheck-progress" max="1" value="0" hidden></progress>
  <div id="recheck-result" role="status"></div>
  <ol id="recheck-list"></ol>
</section>`
    : `<section id="certs">
  <h2>Certificates</h2>
  <p class="hint">No certificate file was bundled (<code>vnet bundle --certificates C.jsonl</code>). Check a file written by <code>vnet verify --certificates</code> for bundled samples: <input type="file" id="cert-file" accept=".jsonl,.json,.txt,application/json"></p>
  <progress id="recheck-progress" max="1" value="0" hidden></progress>
  <div id="recheck-result" role="status"></div>
  <ol id="recheck-list"></ol>
</section>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self' 'unsafe-eval' 'wasm-unsafe-eval' blob:; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' blob: data:">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1 id="title">${escapeHtml(title)}</h1>
  <span class="sub">certified robustness, computed in this browser by vnet ${escapeHtml(m.vnetVersion)}</span>
  <span id="backend">starting…</span>
</header>
<main>
<div class="col">
  <section id="summary"><h2>Network</h2><dl id="facts"></dl></section>
  <section id="input">
    <h2>Input</h2>
    <div id="samples" aria-label="bundled test samples"></div>
    <div id="drop" tabindex="0">Drop a PNG or JPEG here, or click to choose one<br><span class="hint" id="drop-hint"></span>
      <input type="file" id="image-file" accept="image/png,image/jpeg" hidden></div>
    <label class="hint"><input type="checkbox" id="invert"> invert (dark object on a light background)</label>
  </section>
  <section id="settings">
    <h2>Bound</h2>
    <div class="controls">
      <label for="eps">ε (L∞)</label><input id="eps" type="number" min="0" step="any">
      <label for="method">method</label><select id="method"></select>
      <label for="lines">lines</label><select id="lines"></select>
      <span></span><button class="primary" id="run">Certify</button>
    </div>
  </section>
</div>
<div class="col">
  <section id="result">
    <h2>Result</h2>
    <div id="result-head">
      <canvas id="preview" width="28" height="28"></canvas>
      <div><div id="verdict">…</div><div id="prediction"></div><div id="result-facts"></div></div>
    </div>
    <div id="chart-box"><canvas id="chart" aria-label="margin lower bounds per class"></canvas></div>
    <p class="hint">Bars: certified lower bounds of the margin z<sub>y</sub> − z<sub>j</sub> against each other class j over the ε-ball. All above 0: no input in the ball changes the prediction.</p>
    <div id="status" role="status"></div>
    <progress id="progress" max="1" value="0" hidden></progress>
  </section>
  ${certs}
</div>
</main>
<script type="application/json" id="${MANIFEST_ID}">${scriptJson(m)}</script>
<script src="${BUNDLE_FILES.app}"></script>
</body>
</html>
`;
}
