// A full-page screenshot of every page, in the light and the dark theme (the system setting
// decides), with real content: a generated text, a gallery, a signed-in account with a worker;
// and a few on a phone's screen.
// They go to $POTLUCK_ARTIFACTS (default end2end/artifacts) as <page>-<theme>.png, for people to
// look at; the test checks that both themes render and differ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  api, artifacts, assertClean, base, launch, openPage, register, screenshot, skip, startImageWorker,
  startTextWorker, visit,
} from './browser.mjs';

const TEXT_MODEL = `e2e/screens-${process.pid}`;
const IMAGE_MODEL = `e2e-screens-image-${process.pid}`;
const PAGES = {
  home: '/',
  models: '/models',
  workers: '/workers',
  status: '/status',
  privacy: '/privacy',
  contribute: '/contribute',
  register: '/register',
  login: '/login',
  'not-found': '/no-such-page',
};

test('screenshots of every page, light and dark', { skip, timeout: 240_000 }, async (t) => {
  const owner = await register('e2e-screens');
  const text = await startTextWorker({
    key: owner.apikey,
    name: `e2e-screens-text-${process.pid}`,
    model: TEXT_MODEL,
    answer: () =>
      'The keeper climbed the spiral stairs each evening, trimmed the wick and watched the ships ' +
      'pass safely by. Nobody thanked him, and that was how he knew the light was working.',
  });
  const image = await startImageWorker({ key: owner.apikey, name: `e2e-screens-image-${process.pid}`, model: IMAGE_MODEL });
  // Some history for the account page.
  await api('POST', '/generate/text/async', {
    body: { prompt: 'Warm up', models: [TEXT_MODEL], params: { max_length: 16, max_context_length: 1024 } },
  });
  const browser = await launch();
  t.after(async () => {
    await browser.close();
    await text.stop();
    await image.stop();
  });

  for (const colorScheme of ['light', 'dark']) {
    await t.test(colorScheme, async () => {
      const context = await browser.newContext({ colorScheme, viewport: { width: 1200, height: 800 } });
      const page = await openPage(context, { allowStatus: [404] });
      for (const [name, path] of Object.entries(PAGES)) {
        await visit(page, path);
        await screenshot(page, `${name}-${colorScheme}`);
      }

      await visit(page, '/generate/text');
      await page.getByLabel('Prompt').fill('Tell me a story about a lighthouse.');
      await page.locator('select[name="form[model]"]').selectOption(TEXT_MODEL);
      await page.locator('summary', { hasText: 'Advanced' }).click();
      await page.getByRole('button', { name: 'Generate' }).click();
      await page.locator('#result-text').waitFor({ timeout: 30_000 });
      await screenshot(page, `generate-text-${colorScheme}`);

      await visit(page, '/generate/image');
      await page.getByLabel('Prompt', { exact: true }).fill('A lighthouse at dusk');
      await page.locator('select[name="form[model]"]').selectOption(IMAGE_MODEL);
      await page.getByLabel('Images').fill('2');
      await page.getByRole('button', { name: 'Generate' }).click();
      await page.waitForFunction(() => {
        const images = [...document.querySelectorAll('.gallery img')];
        return images.length === 2 && images.every((img) => img.complete && img.naturalWidth > 0);
      }, null, { timeout: 30_000 });
      await screenshot(page, `generate-image-${colorScheme}`);

      await visit(page, '/login');
      await page.getByLabel('API key').fill(owner.apikey);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.locator('#my-workers').waitFor();
      await screenshot(page, `account-${colorScheme}`);

      // The themes follow the system setting.
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const [r, g, b] = background.match(/\d+/g).map(Number);
      const light = r + g + b > 3 * 128;
      assert.equal(light, colorScheme === 'light', `${colorScheme} theme, background ${background}`);
      assertClean(page);
      await context.close();
    });
  }

  await t.test('on a phone', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const page = await openPage(context);
    for (const [name, path] of [['home', '/'], ['generate-text', '/generate/text'], ['status', '/status']]) {
      await visit(page, path);
      // Nothing wider than the screen: tables scroll inside their box.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${path} is ${overflow} px wider than the phone`);
      await screenshot(page, `${name}-phone`);
    }
    assertClean(page);
    await context.close();
  });

  const [light, dark] = await Promise.all(
    ['light', 'dark'].map((scheme) => readFile(join(artifacts, `home-${scheme}.png`))),
  );
  assert.ok(!light.equals(dark), 'the two themes look different');
  console.log(`screenshots in ${artifacts}`);
});
