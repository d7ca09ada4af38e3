// What the browser tests share: the server under test, Debian's Chromium, a page that records
// what went wrong in it, the AI Horde API, and workers that the tests run through that API.
//
//   POTLUCK_URL        the server under test (required; the tests skip without it)
//   CHROMIUM_PATH      the browser (default /usr/bin/chromium); never downloaded
//   POTLUCK_ARTIFACTS  where screenshots go (default: end2end/artifacts)
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, crc32 } from 'node:zlib';
import { chromium } from 'playwright-core';

export const base = process.env.POTLUCK_URL?.replace(/\/+$/, '');
export const skip = !base && 'POTLUCK_URL is not set';
export const artifacts =
  process.env.POTLUCK_ARTIFACTS ?? join(dirname(fileURLToPath(import.meta.url)), 'artifacts');

/// Debian's Chromium, headless. `webgpu` turns on its software WebGPU (SwiftShader), which
/// headless Chromium offers only behind `--enable-unsafe-webgpu`.
export const launch = ({ webgpu = false } = {}) =>
  chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...(webgpu ? ['--enable-unsafe-webgpu'] : []),
    ],
  });

/// A page that records console errors, uncaught exceptions, failed responses and requests to
/// other origins; `problems()` lists them. `allowStatus` lists statuses a test expects (the 400
/// of a refused form).
export async function openPage(context, { allowStatus = [] } = {}) {
  const page = await context.newPage();
  const errors = [];
  const failed = [];
  const foreign = [];
  const origin = new URL(base).origin;
  page.on('console', (msg) => {
    // Chromium logs every 4xx answer as a console error; those are checked below.
    if (msg.type() === 'error' && !/status of \d{3}/.test(msg.text())) errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(String(err)));
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (url.origin !== origin && url.protocol !== 'data:' && url.protocol !== 'blob:') foreign.push(req.url());
  });
  page.on('response', (res) => {
    if (res.status() >= 400 && !allowStatus.includes(res.status())) failed.push(`${res.status()} ${res.url()}`);
  });
  page.problems = () => ({ errors, failed, foreign });
  return page;
}

/// Asserts that nothing went wrong in the page.
export function assertClean(page) {
  assert.deepEqual(page.problems(), { errors: [], failed: [], foreign: [] });
}

/// Goes to `path` and waits until the wasm has hydrated the page.
export async function visit(page, path) {
  await page.goto(`${base}${path}`, { waitUntil: 'load' });
  await page
    .locator('.app[data-hydrated="true"]')
    .waitFor({ timeout: 30_000 })
    .catch((err) => {
      throw new Error(`${path} did not hydrate: ${JSON.stringify(page.problems())}`, { cause: err });
    });
}

/// The AI Horde API: the status and the parsed answer.
async function call(method, path, { key, body } = {}) {
  const res = await fetch(`${base}/api/v2${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(key ? { apikey: key } : {}) },
    body: body && JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

/// The AI Horde API: the parsed answer, which must be a success.
export async function api(method, path, options) {
  const { status, json } = await call(method, path, options);
  assert.ok(status < 300, `${method} ${path}: ${status} ${JSON.stringify(json)}`);
  return json;
}

/// A worker's pop: the job, or no job while the worker is in maintenance (as a real worker
/// does, it keeps asking until its owner lifts it).
async function popJob(path, key, body) {
  const { status, json } = await call('POST', path, { key, body });
  if (status === 403 && json.rc === 'WorkerMaintenance') return {};
  assert.ok(status < 300, `POST ${path}: ${status} ${JSON.stringify(json)}`);
  return json;
}

export async function register(name) {
  return api('POST', '/register', { body: { username: `${name}-${process.pid}` } });
}

export async function kudosOf(key) {
  return (await api('GET', '/find_user', { key })).kudos;
}

/// Kudos an account's workers earned that wait for verification.
export async function heldOf(key) {
  return (await api('GET', '/find_user', { key })).evaluating_kudos;
}

/// The key of an account the operator made trusted, a moderator and an admin for the tests
/// (`scripts/test.sh` makes it with `potluck admin create-user --trusted --moderator --admin`
/// and passes it as POTLUCK_TRUSTED_KEY).
export const trustedKey = process.env.POTLUCK_TRUSTED_KEY;

/// Checks one result of a worker serving `model`, as a trusted scoring worker named `name` of
/// the trusted account: pops until it is given the check (a plain job it is given meanwhile it
/// answers), then submits scores that find every token within the request's limits.
export async function passCheck({ name, model }) {
  const pop = () =>
    popJob('/generate/text/pop', trustedKey, {
      name, models: [model], max_length: 512, max_context_length: 4096, can_score: true,
      bridge_agent: 'end2end:1',
    });
  for (let i = 0; i < 100; i++) {
    const job = await pop();
    if (job.score_check) {
      const token = { token: 1, rank: 0, logprob: -1, entropy: 2, nll_variance: 1, greedy_margin: 0 };
      const scores = { tokens: 'reported', text_matches: true, greedy: false, scores: [token, token] };
      return api('POST', '/generate/text/submit', { key: trustedKey, body: { id: job.id, scores } });
    }
    if (job.id) {
      await api('POST', '/generate/text/submit', { key: trustedKey, body: { id: job.id, generation: 'x' } });
    } else {
      await sleep(100);
    }
  }
  assert.fail(`no check of a ${model} result came`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// A text worker run by the test through the worker API: it pops jobs for `model` and answers
/// each with `answer(prompt)` until stopped. Resolves once the worker is online. With
/// `streamEvery` (ms) it first sends the answer word by word as progress, as a streaming worker
/// does when the job asks for it.
export async function startTextWorker({ key, name, model, answer, streamEvery }) {
  const pop = () =>
    popJob('/generate/text/pop', key, {
      name, models: [model], max_length: 512, max_context_length: 4096, bridge_agent: 'end2end:1',
    });
  return startWorker(pop, async (job) => {
    const text = answer(job.payload.prompt);
    if (streamEvery && job.payload.potluck_stream) {
      const words = text.match(/\S+\s*/g) ?? [];
      let offset = 0;
      // The first words at once, likely before the page has subscribed (it must get them
      // all the same), then one every `streamEvery` ms.
      for (const [i, word] of words.entries()) {
        await api('POST', '/generate/text/progress', { key, body: { id: job.id, text: word, offset } });
        offset += Buffer.byteLength(word);
        if (i >= 2) await sleep(streamEvery);
      }
    }
    await api('POST', '/generate/text/submit', { key, body: { id: job.id, generation: text, state: 'ok' } });
  });
}

/// An image worker run by the test: it answers each job with a gradient of the asked size.
export async function startImageWorker({ key, name, model }) {
  const pop = () =>
    popJob('/generate/pop', key, { name, models: [model], max_pixels: 1024 * 1024, bridge_agent: 'end2end:1' });
  return startWorker(pop, (job) =>
    api('POST', '/generate/submit', {
      key,
      body: {
        id: job.id,
        generation: gradientPng(job.payload.width, job.payload.height).toString('base64'),
        seed: Number(job.payload.seed ?? 0),
        state: 'ok',
      },
    }),
  );
}

async function startWorker(pop, answer) {
  // The first pop creates the worker and makes it (and its model) visible.
  const first = await pop();
  let stopped = false;
  const done = [];
  const loop = (async () => {
    for (let job = first; !stopped; job = await pop()) {
      if (job.id) {
        await answer(job);
        done.push(job);
      } else {
        await sleep(100);
      }
    }
  })();
  // A failure ends the loop; stop() reports it, and nothing is left unhandled meanwhile.
  const failure = loop.then(() => null, (err) => err);
  return {
    done,
    async stop() {
      stopped = true;
      const err = await failure;
      if (err) throw err;
    },
  };
}

/// A PNG of `width` × `height` pixels shading from blue to orange.
export function gradientPng(width, height) {
  const row = (y) => {
    const line = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x++) {
      const t = (x + y) / (width + height);
      line.set([Math.round(40 + 215 * t), Math.round(90 + 60 * t), Math.round(200 - 170 * t)], 1 + x * 3);
    }
    return line;
  };
  const raw = Buffer.concat(Array.from({ length: height }, (_, y) => row(y)));
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/// Saves a full-page screenshot as `<artifacts>/<name>.png`.
export async function screenshot(page, name) {
  await mkdir(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}
