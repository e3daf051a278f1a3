/**
 * The `vnet bundle` page: loads the bundle's network (its generated module is compiled into
 * app.js, the weights and samples are files next to index.html), shows a summary, and certifies
 * a bundled sample or a dropped image with the method the visitor picks, through the very code
 * `vnet verify` runs in Node (verifiable.ts, evaluate.ts, the generated module and the runtime).
 * It re-checks certificate files (recheck.ts). On load it certifies the first sample at the
 * spec's first test ε with IBP. `window.vnetPage` exposes the same operations to tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BarController, BarElement, CategoryScale, Chart, LinearScale, Tooltip } from 'chart.js';
import { MANIFEST_ID, type BundleManifest } from '../bundle/manifest.js';
import type { BoundMethod, LineStrategy } from '../ir/ir.js';
import { paramsFromBytes } from '../runtime/io/safetensors-codec.js';
import type { GeneratedModule } from '../runtime/module.js';
import { BOUND_METHODS, LINE_STRATEGIES } from '../semantics/recipe.js';
import { evaluate, type Verifiable } from '../verify/evaluate.js';
import {
  describeRejection,
  parseCertificates,
  recheckCertificates,
  type RecheckReport,
} from '../verify/recheck.js';
import { predict, verdict, type VerdictReason } from '../verify/verdict.js';
import { evalOptions, verifiable } from '../verify/verifiable.js';
import { startPageBackend, type BackendChoice, type PageBackend } from './backend.js';
import { decodeImage, imageShape, inputToPixels, pixelsToInput, type ImageShape } from './image.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip);

const METHOD_LABEL: Readonly<Record<BoundMethod, string>> = {
  ibp: 'IBP',
  'crown-ibp': 'CROWN-IBP',
  lbp: 'LBP',
  'crown-lbp': 'CROWN-LBP',
  crown: 'CROWN (full; where it fits in memory)',
};

/** What the page shows for one input, also returned to tests. */
export interface CertifyResult {
  readonly source: string;
  readonly eps: number;
  readonly method: BoundMethod;
  readonly lines: LineStrategy;
  /** The true label of a bundled sample; a dropped image is certified around its prediction. */
  readonly label: number | null;
  readonly prediction: number;
  readonly verified: boolean;
  readonly reason: VerdictReason | 'refused';
  readonly marginClasses: readonly number[];
  readonly marginLower: readonly (number | null)[];
  /** Seconds of the bound computation (the evaluation loop's own timer). */
  readonly seconds: number;
  readonly refused?: string;
}

export interface CertifyRequest {
  /** A bundled sample (position in the bundle), or… */
  readonly sample?: number;
  /** …a raw input in the internal layout. */
  readonly input?: readonly number[] | Float32Array;
  readonly eps: number;
  readonly method: BoundMethod;
  readonly lines?: LineStrategy;
}

/** The test hook (`window.vnetPage`). */
export interface PageApi {
  readonly ready: Promise<void>;
  backend?: PageBackend;
  /** performance.now() marks (ms since navigation): loaded, first result shown. */
  readonly timings: Record<string, number>;
  lastResult?: CertifyResult;
  /** The raw input of the image currently selected (bundled sample or dropped image). */
  currentInput(): number[];
  certify(r: CertifyRequest): Promise<CertifyResult>;
  recheck(text?: string, name?: string): Promise<RecheckReport>;
  error?: string;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page: element #${id} missing`);
  return e as T;
};

/** A macrotask, so that the browser paints status and progress before synchronous tensor work. */
const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** Reads a file next to index.html (XMLHttpRequest: it also reads file:// where the browser allows). */
function readFile(name: string, type: 'arraybuffer' | 'text'): Promise<ArrayBuffer | string> {
  const url = new URL(name, document.baseURI).href;
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('GET', url, true);
    xhr.responseType = type;
    const fail = (): void => {
      const local = location.protocol === 'file:';
      reject(
        new Error(
          local
            ? `could not read ${name}: this browser does not let a page opened from file:// read the files next to it. ` +
                'Serve the folder with any static file server (e.g. `python3 -m http.server` in it) and open it over http, ' +
                'or allow file access (Chromium: --allow-file-access-from-files).'
            : `could not read ${name} (HTTP ${xhr.status || 'error'}): is it in the folder next to index.html?`,
        ),
      );
    };
    xhr.onload = () =>
      xhr.status === 200 || (xhr.status === 0 && xhr.response) ? resolve(xhr.response) : fail();
    xhr.onerror = fail;
    xhr.send();
  });
}

const fmtNum = (v: number): string =>
  Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4);

function fact(dl: HTMLElement, k: string, v: string, title?: string): void {
  const dt = document.createElement('dt');
  dt.textContent = k;
  const dd = document.createElement('dd');
  dd.textContent = v;
  if (title) dd.title = title;
  dl.append(dt, dd);
}

function paint(
  canvas: HTMLCanvasElement,
  x: ArrayLike<number>,
  shape: ImageShape,
  domain: readonly [number, number],
): void {
  const [H, W] = shape;
  canvas.width = W;
  canvas.height = H;
  const g = canvas.getContext('2d')!;
  g.putImageData(new ImageData(inputToPixels(x, shape, domain), W, H), 0, 0);
}

/** Starts the page for the bundle's generated module. */
export function startPage(mod: GeneratedModule): PageApi {
  const timings: Record<string, number> = {};
  let resolveReady!: () => void;
  let rejectReady!: (e: unknown) => void;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  const api: PageApi = {
    ready,
    timings,
    currentInput: () => [],
    certify: () => Promise.reject(new Error('page not ready')),
    recheck: () => Promise.reject(new Error('page not ready')),
  };
  (window as unknown as { vnetPage: PageApi }).vnetPage = api;
  run(mod, api).then(resolveReady, (e: unknown) => {
    const msg = (e as Error).message ?? String(e);
    api.error = msg;
    const s = document.getElementById('status');
    if (s) {
      s.textContent = msg;
      s.className = 'error';
    }
    const v = document.getElementById('verdict');
    if (v) v.textContent = 'could not start';
    rejectReady(e);
  });
  ready.catch(() => undefined);
  return api;
}

async function run(mod: GeneratedModule, api: PageApi): Promise<void> {
  const meta = mod.meta;
  const manifest = JSON.parse($(MANIFEST_ID).textContent ?? '') as BundleManifest;
  const status = $('status');
  const setStatus = (s: string, error = false): void => {
    status.textContent = s;
    status.className = error ? 'error' : '';
  };

  // summary: from the compiled module
  const facts = $('facts');
  const kinds = new Map<string, number>();
  for (const L of meta.layers) kinds.set(L.kind, (kinds.get(L.kind) ?? 0) + 1);
  fact(facts, 'network', meta.name);
  fact(facts, 'spec', manifest.specFile);
  fact(facts, 'spec hash', `${meta.specHash.slice(0, 16)}…`, meta.specHash);
  fact(
    facts,
    'layers',
    `${meta.layers.length} (${[...kinds].map(([k, n]) => `${n} ${k}`).join(', ')})`,
    meta.layers
      .map((L) => `${L.name}: ${L.kind} [${L.inShape.join('×')}] → [${L.outShape.join('×')}]`)
      .join('\n'),
  );
  fact(facts, 'parameters', meta.paramCount.toLocaleString('en-US'));
  fact(facts, 'input', `${meta.input.shape.join('×')}, domain [${meta.input.domain.join(', ')}]`);
  fact(facts, 'classes', String(meta.classes));
  fact(facts, 'test ε', meta.threat ? meta.threat.testEps.join(', ') : '— (no threat block)');
  fact(
    facts,
    'weights',
    `${manifest.weights.file} (sha256 ${manifest.weights.sha256.slice(0, 12)}…)`,
    manifest.weights.sha256,
  );
  if (manifest.specHash !== meta.specHash)
    throw new Error(
      `this bundle is inconsistent: its manifest names spec hash ${manifest.specHash}, app.js holds ${meta.specHash}`,
    );

  const className = (j: number): string => manifest.classNames[j] ?? `class ${j}`;
  const shape = meta.inputCfg.shape;
  const img = imageShape(shape);
  const per = shape.reduce((a, b) => a * b, 1);
  const domain = meta.inputCfg.domain;

  setStatus('reading the weights and samples…');
  const [weights, samplesBuf, certText] = await Promise.all([
    readFile(manifest.weights.file, 'arraybuffer') as Promise<ArrayBuffer>,
    readFile(manifest.samples.file, 'arraybuffer') as Promise<ArrayBuffer>,
    manifest.certificates
      ? (readFile(manifest.certificates.file, 'text') as Promise<string>)
      : Promise.resolve(undefined),
  ]);
  const samples = new Float32Array(samplesBuf);
  if (samples.length !== manifest.samples.count * per)
    throw new Error(
      `${manifest.samples.file} holds ${samples.length} values, expected ${manifest.samples.count} samples of ${per}`,
    );

  setStatus('starting the backend…');
  const choice = (new URLSearchParams(location.search).get('backend') ?? 'auto') as BackendChoice;
  if (!['auto', 'webgpu', 'wasm'].includes(choice))
    throw new Error(`?backend=${choice}: expected auto, webgpu or wasm`);
  const backend = await startPageBackend(choice, document.baseURI);
  api.backend = backend;
  $('backend').textContent = backend.detail;
  const params = paramsFromBytes(new Uint8Array(weights), manifest.weights.file, meta);
  const net: Verifiable = verifiable(mod, params, evalOptions(meta));
  api.timings['loaded'] = performance.now();

  // controls; without a threat block ε starts at 1% of the input domain's width
  // (0.01 for an unbounded domain)
  const width = domain[1] - domain[0];
  const defaultEps =
    meta.threat?.testEps[0] ?? (Number.isFinite(width) ? Number((0.01 * width).toPrecision(6)) : 0.01);
  const epsIn = $<HTMLInputElement>('eps');
  epsIn.value = String(defaultEps);
  const methodSel = $<HTMLSelectElement>('method');
  for (const m of BOUND_METHODS) methodSel.add(new Option(METHOD_LABEL[m], m, m === 'ibp', m === 'ibp'));
  const linesSel = $<HTMLSelectElement>('lines');
  for (const l of LINE_STRATEGIES)
    linesSel.add(new Option(l, l, l === meta.verify.lines, l === meta.verify.lines));
  const runBtn = $<HTMLButtonElement>('run');
  const busyButtons = (): HTMLButtonElement[] =>
    [runBtn, document.getElementById('recheck')].filter(
      (b): b is HTMLButtonElement => b instanceof HTMLButtonElement,
    );
  let busy = false;
  const exclusive = async <T>(f: () => Promise<T>): Promise<T> => {
    while (busy) await new Promise((r) => setTimeout(r, 20));
    busy = true;
    busyButtons().forEach((b) => (b.disabled = true));
    try {
      return await f();
    } finally {
      busy = false;
      busyButtons().forEach((b) => (b.disabled = false));
    }
  };

  // the current input
  // no bundled samples (a spec without a train block): the centre of the input domain (0 where unbounded)
  const centre = (): typeof current => ({
    x: new Float32Array(per).fill(Number.isFinite(domain[1] - domain[0]) ? (domain[0] + domain[1]) / 2 : 0),
    label: null,
    source: 'centre of the input domain',
    index: 0,
  });
  let current: { x: Float32Array; label: number | null; source: string; index: number } =
    manifest.samples.count > 0
      ? {
          x: samples.slice(0, per),
          label: manifest.samples.labels[0] ?? null,
          source: `sample ${manifest.samples.indices[0]}`,
          index: manifest.samples.indices[0] ?? 0,
        }
      : centre();
  api.currentInput = () => Array.from(current.x);
  const sampleAt = (p: number): typeof current => {
    if (!(Number.isInteger(p) && p >= 0 && p < manifest.samples.count))
      throw new Error(`sample ${p} is not bundled (0…${manifest.samples.count - 1})`);
    return {
      x: samples.slice(p * per, (p + 1) * per),
      label: manifest.samples.labels[p]!,
      source: `${manifest.samples.dataset} ${manifest.samples.split} sample ${manifest.samples.indices[p]}`,
      index: manifest.samples.indices[p]!,
    };
  };
  const pickers = $('samples');
  const selectPicker = (p: number): void =>
    Array.from(pickers.children).forEach((b, i) => b.classList.toggle('sel', i === p));
  for (let p = 0; p < manifest.samples.pickable; p++) {
    const b = document.createElement('button');
    b.title = `${manifest.samples.dataset} ${manifest.samples.split} sample ${manifest.samples.indices[p]}: ${className(manifest.samples.labels[p]!)}`;
    if (img) {
      const c = document.createElement('canvas');
      paint(c, samples.subarray(p * per, (p + 1) * per), img, domain);
      b.append(c);
    } else {
      b.className = 'text';
      b.textContent = `#${manifest.samples.indices[p]}`;
    }
    b.addEventListener('click', () => {
      current = sampleAt(p);
      selectPicker(p);
      void certifyFromControls();
    });
    pickers.append(b);
  }
  selectPicker(0);

  // dropped images
  const drop = $('drop');
  const imageFile = $<HTMLInputElement>('image-file');
  const invert = $<HTMLInputElement>('invert');
  if (img) $('drop-hint').textContent = `resized to ${img[1]}×${img[0]}, ${img[2] === 1 ? 'grey' : 'RGB'}`;
  else {
    drop.textContent =
      manifest.samples.count > 0
        ? `This network's input is a vector of ${per} values, not an image: pick a bundled sample.`
        : `This network's input is a vector of ${per} values, not an image, and its spec has no train block (no data set): the page certifies the centre of the input domain.`;
    invert.disabled = true;
  }
  const useImage = async (f: File): Promise<void> => {
    if (!img) return;
    try {
      const rgba = await decodeImage(f, img, invert.checked);
      current = {
        x: pixelsToInput(rgba, img, domain, invert.checked),
        label: null,
        source: f.name,
        index: 0,
      };
      selectPicker(-1);
      await certifyFromControls();
    } catch (e) {
      setStatus((e as Error).message, true);
    }
  };
  drop.addEventListener('click', () => img && imageFile.click());
  drop.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && img && imageFile.click());
  imageFile.addEventListener('change', () => imageFile.files?.[0] && void useImage(imageFile.files[0]));
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f) void useImage(f);
  });

  // the result view
  let chart: Chart<'bar'> | undefined;
  const show = (r: CertifyResult): void => {
    if (img) paint($<HTMLCanvasElement>('preview'), current.x, img, domain);
    else $('preview').hidden = true;
    const v = $('verdict');
    const why: Record<CertifyResult['reason'], string> = {
      verified: `verified at ε = ${r.eps}`,
      misclassified: 'not verified: misclassified',
      'non-finite': 'not verified: non-finite bounds',
      margin: `not verified at ε = ${r.eps}`,
      refused: `${METHOD_LABEL[r.method]} refused`,
    };
    v.textContent = why[r.reason];
    v.className = r.verified ? 'ok' : 'bad';
    $('prediction').textContent =
      `prediction: ${className(r.prediction)}` +
      (r.label !== null
        ? ` · label: ${className(r.label)}`
        : ' · (no label: certified around its prediction)');
    $('result-facts').textContent = r.refused
      ? r.refused
      : `${r.source} · ${METHOD_LABEL[r.method].replace(/ \(.*/, '')}, ${r.lines} lines · bounds in ${(r.seconds * 1000).toFixed(1)} ms`;
    const labels = r.marginClasses.map((j) => `vs ${className(j)}`);
    const values = r.marginLower.map((x) => x ?? NaN);
    const colors = values.map((x) => (x > 0 ? '#1a7f37' : '#c62828'));
    if (!chart) {
      chart = new Chart($<HTMLCanvasElement>('chart'), {
        type: 'bar',
        data: { labels, datasets: [{ label: 'margin lower bound', data: values, backgroundColor: colors }] },
        options: {
          animation: false,
          maintainAspectRatio: false,
          plugins: { tooltip: { callbacks: { label: (c) => `lower bound ${fmtNum(Number(c.raw))}` } } },
          scales: { y: { title: { display: true, text: 'certified margin lower bound' } } },
        },
      });
    } else {
      chart.data.labels = labels;
      chart.data.datasets[0]!.data = values;
      chart.data.datasets[0]!.backgroundColor = colors;
      chart.update();
    }
  };

  const certifyInput = async (
    x: Float32Array,
    label: number | null,
    index: number,
    source: string,
    eps: number,
    method: BoundMethod,
    lines: LineStrategy,
  ): Promise<CertifyResult> => {
    if (!(eps >= 0)) throw new Error(`ε must be a number ≥ 0, got ${eps}`);
    let y = label;
    if (y === null) {
      const logits = tf.tidy(() => net.logits(tf.tensor(x, [1, ...shape])));
      y = predict(await logits.data());
      logits.dispose();
      if (y < 0) throw new Error('the logits of this input are not finite');
    }
    const rep = await evaluate(
      net,
      { x, labels: [y], indices: [index] },
      {
        eps: [eps],
        methods: [method],
        lines: [lines],
        batch: 1,
        pgd: { steps: 0, restarts: 0, seed: 0 },
        pgdStep: () => 0,
        certificates: true,
      },
    );
    const row = rep.rows[0]!;
    const c = rep.certificates[0];
    if (row.refused !== undefined || !c)
      return {
        source,
        eps,
        method,
        lines,
        label,
        prediction: y,
        verified: false,
        reason: 'refused',
        marginClasses: [],
        marginLower: [],
        seconds: row.seconds,
        refused: row.refused ?? 'no result',
      };
    const lower = c.marginLower.map((v) => v ?? NaN);
    return {
      source,
      eps,
      method,
      lines,
      label,
      prediction: c.prediction,
      verified: c.verified,
      reason: verdict(lower, c.prediction === y).reason,
      marginClasses: c.marginClasses,
      marginLower: c.marginLower,
      seconds: row.seconds,
    };
  };

  const certify = (r: CertifyRequest): Promise<CertifyResult> =>
    exclusive(async () => {
      if (r.sample !== undefined) {
        current = sampleAt(r.sample);
        selectPicker(r.sample < manifest.samples.pickable ? r.sample : -1);
      } else if (r.input !== undefined) {
        if (r.input.length !== per) throw new Error(`input has ${r.input.length} values, expected ${per}`);
        current = { x: Float32Array.from(r.input), label: null, source: 'input', index: 0 };
        selectPicker(-1);
      }
      const lines = r.lines ?? meta.verify.lines;
      setStatus(`computing ${METHOD_LABEL[r.method].replace(/ \(.*/, '')} bounds…`);
      $('progress').hidden = false;
      ($('progress') as HTMLProgressElement).removeAttribute('value');
      await pause();
      try {
        const res = await certifyInput(
          current.x,
          current.label,
          current.index,
          current.source,
          r.eps,
          r.method,
          lines,
        );
        api.lastResult = res;
        show(res);
        setStatus('');
        return res;
      } catch (e) {
        setStatus((e as Error).message, true);
        throw e;
      } finally {
        $('progress').hidden = true;
      }
    });
  api.certify = certify;
  const certifyFromControls = (): Promise<CertifyResult | undefined> =>
    certify({
      eps: Number(epsIn.value),
      method: methodSel.value as BoundMethod,
      lines: linesSel.value as LineStrategy,
    }).catch(() => undefined);
  runBtn.addEventListener('click', () => void certifyFromControls());

  // certificates
  const recheck = (text: string, name: string): Promise<RecheckReport> =>
    exclusive(async () => {
      const out = $('recheck-result');
      const list = $('recheck-list');
      const bar = $<HTMLProgressElement>('recheck-progress');
      list.replaceChildren();
      out.className = '';
      out.textContent = `re-checking ${name}…`;
      bar.hidden = false;
      bar.value = 0;
      await pause();
      const parsed = parseCertificates(text, meta.classes);
      const rep = await recheckCertificates(
        net,
        { x: samples, labels: manifest.samples.labels, indices: manifest.samples.indices },
        parsed,
        {
          onProgress: (done, total) => {
            bar.max = total;
            bar.value = done;
            out.textContent = `re-checking ${name}: ${done} of ${total} bound computations…`;
          },
          pause,
        },
      );
      bar.hidden = true;
      const ok = rep.total > 0 && rep.confirmed === rep.total;
      out.className = ok ? 'ok' : 'bad';
      out.dataset['confirmed'] = String(rep.confirmed);
      out.dataset['total'] = String(rep.total);
      out.textContent = ok
        ? `${name}: all ${rep.total} certificates confirmed (recomputed here in ${rep.seconds.toFixed(1)} s; PGD outcomes are not re-checked).`
        : rep.total === 0
          ? `${name}: rejected, it holds no certificates.`
          : `${name}: rejected. ${rep.confirmed} of ${rep.total} certificates confirmed, ${rep.rejected.length} do not hold:`;
      for (const r of rep.rejected.slice(0, 100)) {
        const li = document.createElement('li');
        li.textContent = describeRejection(r);
        list.append(li);
      }
      if (rep.rejected.length > 100) {
        const li = document.createElement('li');
        li.textContent = `… and ${rep.rejected.length - 100} more`;
        list.append(li);
      }
      return rep;
    });
  api.recheck = (text?: string, name?: string) => {
    if (text === undefined && certText === undefined)
      return Promise.reject(new Error('no certificate file bundled'));
    return recheck(
      text ?? certText!,
      name ?? (text === undefined ? manifest.certificates!.name : 'certificates'),
    );
  };
  document
    .getElementById('recheck')
    ?.addEventListener('click', () => void api.recheck().catch(() => undefined));
  const certFile = $<HTMLInputElement>('cert-file');
  certFile.addEventListener('change', () => {
    const f = certFile.files?.[0];
    if (f)
      void f
        .text()
        .then((t) => api.recheck(t, f.name))
        .catch(() => undefined);
  });

  // a result without a click: the first sample at the first test ε with IBP
  const first = await certify({
    ...(manifest.samples.count > 0 ? { sample: 0 } : {}),
    eps: defaultEps,
    method: 'ibp',
    lines: meta.verify.lines,
  });
  api.timings['firstResult'] = performance.now();
  api.timings['firstBoundMs'] = first.seconds * 1000;
  document.body.dataset['ready'] = 'true';
}
