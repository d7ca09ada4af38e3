// Contributing from a browser tab: the Contribute page runs our engine on Chromium's software
// WebGPU in a Web Worker and serves a real job through /api/v2, whose text equals, token for
// token, what the native engine (potluck-worker on lavapipe) gives for the same greedy request.
// A trusted native potluck-worker then checks the tab's result by scoring it (another device:
// the tolerance for numbers that differ between devices holds), which releases its kudos.
// Without WebGPU the page says so and loads nothing.
//
//   POTLUCK_WORKER_BIN     the native potluck-worker, to run the same request directly
//   POTLUCK_BROWSER_MODEL  the model file the server offers browsers (its --browser-model)
//   POTLUCK_BROWSER_MODEL_NAME  its name there (default tiny-llama)
//   POTLUCK_TRUSTED_KEY    an account the operator trusts, whose native worker checks the tab
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  api, artifacts, assertClean, base, launch, openPage, register, skip, trustedKey, visit,
} from './browser.mjs';

const workerBin = process.env.POTLUCK_WORKER_BIN;
const modelFile = process.env.POTLUCK_BROWSER_MODEL;
const modelName = process.env.POTLUCK_BROWSER_MODEL_NAME ?? 'tiny-llama';
const needs = skip || (!workerBin && 'POTLUCK_WORKER_BIN is not set') ||
  (!modelFile && 'POTLUCK_BROWSER_MODEL is not set') || (!trustedKey && 'POTLUCK_TRUSTED_KEY is not set');
// The browser's engine is a debug build in the default suite: loading and the warm-up take a while.
const READY = 300_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// The page's contribution phase, as its `data-phase` says.
const phaseOf = (page) => page.locator('#contribution-phase').getAttribute('data-phase');

async function waitForPhase(page, phase, timeout = 60_000) {
  await page.locator(`#contribution-phase[data-phase="${phase}"]`).waitFor({ timeout }).catch(async (err) => {
    const shown = await page.locator('#contribution').innerText().catch(() => '(nothing)');
    throw new Error(`never reached "${phase}"; the page shows: ${shown}`, { cause: err });
  });
}

/// Requests for the model file and the worker's bundle, as the browser sends them (a dedicated
/// worker's requests are the page's in Playwright).
function recordRequests(page) {
  const seen = [];
  page.on('request', (req) => {
    const path = new URL(req.url()).pathname;
    if (path.startsWith('/models/') || path.startsWith('/pkg/worker') || path.startsWith('/pkg/browser_worker')) {
      seen.push(path);
    }
  });
  return seen;
}

/// A text request through the API, waited for; the finished generation.
async function generate(key, prompt, params) {
  const { id } = await api('POST', '/generate/text/async', {
    key,
    body: { prompt, params, models: [modelName], trusted_workers: false },
  });
  for (let i = 0; i < 600; i++) {
    const status = await api('GET', `/generate/text/status/${id}`);
    if (status.done) return status.generations[0];
    if (status.faulted) throw new Error(`the request faulted: ${JSON.stringify(status)}`);
    await sleep(500);
  }
  throw new Error('the request was not done in 5 minutes');
}

test('contributing from a browser tab', { skip: needs, timeout: 900_000 }, async (t) => {
  const browser = await launch({ webgpu: true });
  const context = await browser.newContext();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  t.after(() => browser.close());
  const requester = await register('e2e-contribute-requester');
  const prompt = 'The volunteers in the browser';
  // Short, so that SmolLM2 on software WebGPU (under 1 token/s) is given the job too.
  const params = { max_length: 16, max_context_length: 512, temperature: 0, rep_pen: 1 };
  let visitorKey;
  let workerName;

  await t.test('a visitor registers, starts, and the tab serves a job like the native engine', async () => {
    const page = await openPage(context);
    const requests = recordRequests(page);
    await visit(page, '/contribute');
    assert.equal(await page.locator('#browser-model').innerText(), modelName);
    assert.match(await page.locator('#model-size').innerText(), /MB$/);
    assert.deepEqual(requests, [], 'nothing is downloaded before Start');
    const start = page.locator('#start-contributing');
    assert.ok(await start.isDisabled(), 'no account yet');

    await page.locator('#register-contributor').click();
    const name = page.locator('#contributor-name');
    await name.waitFor();
    visitorKey = await page.locator('#contributor-apikey').innerText();
    assert.equal((await api('GET', '/find_user', { key: visitorKey })).username, await name.innerText());
    assert.equal(await page.evaluate(() => JSON.parse(localStorage.getItem('potluck.contributor')).apikey), visitorKey);

    await start.click();
    await waitForPhase(page, 'serving', READY);
    assert.equal(await page.locator('#model-source').innerText(), 'downloaded');
    assert.equal(requests.filter((p) => p.startsWith('/models/')).length, 1, 'the model is fetched once');

    // The server knows the tab as an untrusted browser worker.
    workerName = await page.evaluate(() => localStorage.getItem('potluck.worker-name'));
    const workers = await api('GET', '/workers?type=text');
    const worker = workers.find((w) => w.name === workerName);
    assert.ok(worker, `${workerName} is among the workers`);
    assert.equal(worker.browser, true);
    assert.equal(worker.trusted, false);
    assert.deepEqual(worker.models, [modelName]);
    assert.match(worker.bridge_agent, /^potluck-browser:/);

    const generation = await generate(requester.apikey, prompt, params);
    assert.equal(generation.worker_name, workerName);
    const { stdout: native } = await promisify(execFile)(workerBin, [
      'generate', '--model', modelFile, '--model-name', modelName, '--max-context-length', '2048',
      '--prompt', prompt, '--params', JSON.stringify(params), '--seed', '1',
    ], { timeout: 120_000 });
    assert.ok(native.length > 0, 'the native engine wrote something');
    assert.equal(generation.text, native, 'the browser wrote what the native engine writes');
    console.log(`# the browser and the native engine both wrote ${JSON.stringify(native)}`);

    await page.locator('#jobs-served', { hasText: '1' }).waitFor({ timeout: 10_000 });
    assert.ok(Number(await page.locator('#kudos-earned').innerText()) > 0, 'the page shows kudos earned');
    // A browser tab is never trusted: what it earns is held until a check verifies it.
    const visitor = await api('GET', '/find_user', { key: visitorKey });
    assert.ok(visitor.evaluating_kudos > 0, "the visitor's account earned held kudos");
    assert.equal(visitor.kudos, 0);
    // A trusted native worker scores the tab's result on lavapipe; it passes, and releases the
    // kudos (the e2e server releases after one passed check).
    const checker = spawn(workerBin, [
      '--server', base, '--api-key', trustedKey, '--name', `e2e-native-checker-${process.pid}`,
      '--model', modelFile, '--model-name', modelName, '--max-context-length', '512', '--no-status',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let checkerLog = '';
    checker.stderr.on('data', (chunk) => { checkerLog += chunk; });
    try {
      let tab;
      for (let i = 0; i < 600; i++) {
        tab = (await api('GET', '/workers?type=text')).find((w) => w.name === workerName);
        if (tab.checks_passed + tab.checks_failed > 0) break;
        await sleep(500);
      }
      assert.deepEqual([tab.checks_passed, tab.checks_failed], [1, 0], `the check: ${checkerLog.slice(-2000)}`);
      const verified = await api('GET', '/find_user', { key: visitorKey });
      // Released, and topped up to the pseudonymous floor of 14 kudos when below it.
      assert.equal(verified.kudos, Math.max(visitor.evaluating_kudos, 14), 'the check released the held kudos');
      assert.equal(verified.evaluating_kudos, 0);
    } finally {
      checker.kill();
    }
    await mkdir(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'contribute-serving.png'), fullPage: true });
    const speed = await page.locator('#tokens-per-second').innerText();
    const warmUp = await page.locator('#warm-up-speed').innerText();
    console.log(`# ${modelName} in the browser: ${speed} tokens/s on the job, ${warmUp} decoding at the warm-up`);

    // Hidden, the tab pauses (the visitor's setting, on by default); shown again, it resumes.
    const setHidden = (hidden) =>
      page.evaluate((hidden) => {
        Object.defineProperty(document, 'hidden', { value: hidden, configurable: true });
        document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
      }, hidden);
    await setHidden(true);
    await waitForPhase(page, 'paused');
    await setHidden(false);
    await waitForPhase(page, 'serving');

    // Pause keeps the model; resume serves again; stop ends it.
    await page.locator('#pause-contributing').click();
    await waitForPhase(page, 'paused');
    await page.locator('#pause-contributing', { hasText: 'Resume' }).click();
    await waitForPhase(page, 'serving');
    await page.locator('#stop-contributing').click();
    await waitForPhase(page, 'stopped');
    assert.ok(await start.isEnabled(), 'it can start again');
    assertClean(page);
    await page.close();
  });

  await t.test('a second visit starts from the cache, with the key kept', async () => {
    const page = await openPage(context);
    const requests = recordRequests(page);
    await visit(page, '/contribute');
    await page.locator('#contributor-name').waitFor();
    await page.locator('#start-contributing').click();
    await waitForPhase(page, 'serving', READY);
    assert.equal(await page.locator('#model-source').innerText(), "taken from this browser's cache");
    assert.deepEqual(requests.filter((p) => p.startsWith('/models/')), [], 'no download');
    assert.equal(await page.evaluate(() => localStorage.getItem('potluck.worker-name')), workerName, 'the same worker');
    await page.locator('#stop-contributing').click();
    await waitForPhase(page, 'stopped');
    assertClean(page);
    await page.close();
  });
});

test('a browser without WebGPU is told so and starts nothing', { skip: needs, timeout: 120_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const page = await openPage(await browser.newContext());
  const requests = recordRequests(page);
  await visit(page, '/contribute');
  const message = page.locator('#webgpu-missing');
  await message.waitFor();
  assert.match(await message.innerText(), /WebGPU/);
  await page.locator('#register-contributor').click();
  await page.locator('#contributor-name').waitFor();
  assert.ok(await page.locator('#start-contributing').isDisabled(), 'Start stays off');
  assert.deepEqual(requests, [], 'neither the worker nor the model is loaded');
  assertClean(page);
});
