// Measures how fast the home page becomes interactive in headless Chromium, and how big the
// wasm bundle is. Not a test: a measurement to run against a release build.
//
//   scripts/build-frontend.sh --release && cargo build --release -p server
//   target/release/potluck --listen 127.0.0.1:8081 --database-url sqlite:///tmp/m.db &
//   POTLUCK_URL=http://127.0.0.1:8081 node end2end/measure-home.mjs [loads]
//
// Each load is a fresh browser context (empty cache). "Interactive" is the moment the wasm has
// hydrated the page (`.app[data-hydrated="true"]`, set by the first effect), measured from the
// start of the navigation. Two network profiles: this machine's loopback, and Lighthouse's
// mobile one (150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up, CPU 4× slower).
import { gzipSync } from 'node:zlib';
import { base, launch } from './browser.mjs';

if (!base) {
  console.error('POTLUCK_URL is not set');
  process.exit(2);
}
const loads = Number(process.argv[2] ?? 10);

const PROFILES = {
  loopback: null,
  'mobile (150 ms, 1.6 Mbit/s, CPU/4)': {
    network: { offline: false, latency: 150, downloadThroughput: 1.6e6 / 8, uploadThroughput: 750e3 / 8 },
    cpu: 4,
  },
};

async function wasmSizes() {
  const raw = Buffer.from(await (await fetch(`${base}/pkg/potluck_bg.wasm`, { headers: { 'accept-encoding': 'identity' } })).arrayBuffer());
  const js = Buffer.from(await (await fetch(`${base}/pkg/potluck.js`, { headers: { 'accept-encoding': 'identity' } })).arrayBuffer());
  return { wasm: raw.length, wasmGzip: gzipSync(raw, { level: 9 }).length, js: js.length, jsGzip: gzipSync(js, { level: 9 }).length };
}

async function loadOnce(browser, profile) {
  const context = await browser.newContext();
  const page = await context.newPage();
  if (profile) {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', profile.network);
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: profile.cpu });
  }
  // Records when the hydrated flag flips, on the page's own clock.
  await page.addInitScript(() => {
    new MutationObserver((_, observer) => {
      if (document.querySelector('.app[data-hydrated="true"]')) {
        window.__interactive = performance.now();
        observer.disconnect();
      }
    }).observe(document, { attributes: true, subtree: true, attributeFilter: ['data-hydrated'] });
  });
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await page.waitForFunction(() => window.__interactive !== undefined, null, { timeout: 120_000 });
  const timings = await page.evaluate(() => {
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    return { interactive: window.__interactive, firstPaint: paint?.startTime ?? NaN };
  });
  await context.close();
  return timings;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

const sizes = await wasmSizes();
console.log(`wasm: ${sizes.wasm} bytes, ${sizes.wasmGzip} gzipped; glue JS: ${sizes.js} bytes, ${sizes.jsGzip} gzipped`);
const browser = await launch();
try {
  for (const [name, profile] of Object.entries(PROFILES)) {
    // One load first to warm the server, not the browser (each context starts cold).
    await loadOnce(browser, profile);
    const runs = [];
    for (let i = 0; i < loads; i++) runs.push(await loadOnce(browser, profile));
    const interactive = runs.map((r) => r.interactive);
    const paint = runs.map((r) => r.firstPaint);
    console.log(
      `${name}: first contentful paint p50 ${median(paint).toFixed(0)} ms; ` +
        `interactive p50 ${median(interactive).toFixed(0)} ms, max ${Math.max(...interactive).toFixed(0)} ms (${loads} loads)`,
    );
  }
} finally {
  await browser.close();
}
