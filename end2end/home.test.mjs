// The home page in a real browser: server-rendered figures, no cookies, no third-party requests,
// and hydration (the wasm takes over and refreshes the figures by itself).
//
//   POTLUCK_URL=http://127.0.0.1:8080 node --test end2end/
//
// Needs a running server whose site root holds the built frontend (scripts/build-frontend.sh),
// Debian's Chromium (apt-get install chromium) and `npm ci` in end2end/. Never downloads a browser.
// Every test file here shares end2end/browser.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClean, base, launch, openPage, skip, visit } from './browser.mjs';

const STATS = ['text-workers', 'image-workers', 'text-jobs', 'image-jobs'];

test('home page', { skip, timeout: 90_000 }, async (t) => {
  await t.test('the server-rendered HTML holds the figures and sets no cookie', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('set-cookie'), null, 'the home page must not set a cookie');
    const html = await res.text();
    for (const id of STATS) {
      assert.match(html, new RegExp(`<dd id="${id}"[^>]*>\\d+</dd>`), `figure #${id} in the HTML`);
    }
    assert.match(html, /Models being served|No models are being served/);
    assert.match(html, /<time id="figures-updated" datetime="[^"]+"/);
    for (const link of ['/generate/text', '/generate/image', '/contribute', '/api/swagger.json']) {
      assert.ok(html.includes(`href="${link}"`), `link to ${link}`);
    }
  });

  await t.test('in the browser it hydrates, refreshes, and stays private', async () => {
    const browser = await launch();
    try {
      const context = await browser.newContext();
      const page = await openPage(context);
      // Waits for the wasm to hydrate the page (effects only run in the browser).
      await visit(page, '/');
      await page.locator('section.figures').waitFor();

      const updated = page.locator('#figures-updated');
      const first = await updated.getAttribute('datetime');
      // The hydrated page fetches new figures every 10 s through the server function; the
      // snapshot time it shows then changes without a reload.
      await page.waitForFunction(
        (before) => document.querySelector('#figures-updated')?.getAttribute('datetime') !== before,
        first,
        { timeout: 25_000, polling: 500 },
      );
      for (const id of STATS) {
        assert.match(await page.locator(`#${id}`).innerText(), /^\d+$/, `#${id} after refresh`);
      }

      assert.deepEqual(await context.cookies(), [], 'no cookie was set');
      assert.equal(await page.evaluate(() => document.cookie), '');
      // No third-party or failed request, no console error.
      assertClean(page);
    } finally {
      await browser.close();
    }
  });
});
