// Generating as an anonymous visitor, in a real browser, with workers that the test runs through
// the worker API: text (and no cookie afterwards), with a style, images in a gallery, and the
// API's errors next to the fields they concern, with and without JavaScript.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, assertClean, base, launch, openPage, register, skip, startImageWorker, startTextWorker,
  trustedKey, visit,
} from './browser.mjs';

const TEXT_MODEL = `e2e/text-${process.pid}`;
const IMAGE_MODEL = `e2e-image-${process.pid}`;
const answer = (prompt) => `Answer to: ${prompt.slice(0, 40)}`;

test('generating', { skip, timeout: 180_000 }, async (t) => {
  const owner = await register('e2e-generate-owner');
  const textWorker = await startTextWorker({ key: owner.apikey, name: `e2e-text-box-${process.pid}`, model: TEXT_MODEL, answer });
  const imageWorker = await startImageWorker({ key: owner.apikey, name: `e2e-image-box-${process.pid}`, model: IMAGE_MODEL });
  const browser = await launch();
  t.after(async () => {
    await browser.close();
    await textWorker.stop();
    await imageWorker.stop();
  });

  await t.test('an anonymous visitor gets text, and no cookie', async () => {
    const context = await browser.newContext();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    const page = await openPage(context);
    await visit(page, '/generate/text');
    const prompt = 'Tell me about potlucks';
    await page.getByLabel('Prompt').fill(prompt);
    // The chooser lists the worker's model with its worker count.
    const model = page.locator('select[name="form[model]"]');
    assert.match(await model.locator(`option[value="${TEXT_MODEL}"]`).innerText(), /1 worker/);
    await model.selectOption(TEXT_MODEL);
    // The counts refresh every 10 s; the choice stays.
    await page.waitForResponse((res) => res.url().endsWith('/_leptos/text_models'), { timeout: 15_000 });
    await page.waitForTimeout(200);
    assert.equal(await model.inputValue(), TEXT_MODEL, 'the chosen model survives a refresh');
    await page.locator('summary', { hasText: 'Advanced' }).click();
    await page.getByLabel('Maximum length (tokens)').fill('64');
    await page.getByRole('button', { name: 'Generate' }).click();

    const result = page.locator('#result-text');
    await result.waitFor({ timeout: 30_000 });
    assert.equal(await result.innerText(), answer(prompt));
    assert.match(page.url(), /\/generate\/text\?request=[0-9a-f-]{36}$/);
    assert.equal(textWorker.done.length, 1);
    assert.equal(textWorker.done[0].payload.max_length, 64, 'the advanced setting reached the worker');

    await page.locator('#copy-result').click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), answer(prompt));

    // Retry sends the same form again: a second request, a second answer.
    const first = page.url();
    await page.getByRole('button', { name: 'Retry' }).click();
    await page.waitForURL((url) => url.href !== first, { timeout: 10_000 });
    await result.waitFor({ timeout: 30_000 });
    assert.equal(await result.innerText(), answer(prompt));
    assert.equal(textWorker.done.length, 2, 'the retry was a second job');

    // Every public page, and still no cookie.
    for (const path of ['/', '/generate/image', '/models', '/workers', '/status', '/privacy', '/contribute', '/login', '/register']) {
      await visit(page, path);
    }
    assert.deepEqual(await context.cookies(), [], 'an anonymous visitor holds no cookie');
    assertClean(page);
    await context.close();
  });

  await t.test('a style brings its template and model', { skip: !trustedKey && 'POTLUCK_TRUSTED_KEY is not set' }, async () => {
    const name = `e2e-pirate-${process.pid}`;
    await api('POST', '/styles/text', {
      key: trustedKey,
      body: { name, prompt: 'Arr! {p}', params: { max_length: 32 }, models: [TEXT_MODEL] },
    });
    const page = await openPage(await browser.newContext());
    await visit(page, '/generate/text');
    const style = page.locator('select[name="form[style]"]');
    await style.locator('option', { hasText: name }).waitFor({ state: 'attached' });
    await style.selectOption({ label: name });
    await page.getByLabel('Prompt').fill('where is the treasure');
    const before = textWorker.done.length;
    await page.getByRole('button', { name: 'Generate' }).click();
    await page.locator('#result-text').waitFor({ timeout: 30_000 });
    const job = textWorker.done[before];
    assert.equal(job.payload.prompt, 'Arr! where is the treasure', 'the style wrapped the prompt');
    assert.equal(job.payload.max_length, 32, "the style's settings reached the worker");
    assertClean(page);
  });

  await t.test('the text shows as the worker writes it', async () => {
    const model = `e2e/streaming-${process.pid}`;
    const story = 'The keeper lit the lamp, and the ships found their way home through the storm.';
    const streaming = await startTextWorker({
      key: owner.apikey, name: `e2e-stream-box-${process.pid}`, model, answer: () => story, streamEvery: 300,
    });
    try {
      const context = await browser.newContext();
      const page = await openPage(context);
      await visit(page, '/generate/text');
      await page.getByLabel('Prompt').fill('A story, please');
      await page.locator('select[name="form[model]"]').selectOption(model);
      await page.getByRole('button', { name: 'Generate' }).click();
      // Part of the text, before the result is in.
      const written = page.locator('#written-text');
      await written.filter({ hasText: /^The keeper lit/ }).waitFor({ timeout: 30_000 });
      const partial = await written.innerText();
      assert.ok(story.startsWith(partial) && partial.length < story.length, `a beginning: ${partial}`);
      assert.equal(await page.locator('#result-text').count(), 0, 'shown before the result came');
      await page.locator('#result-text').waitFor({ timeout: 30_000 });
      assert.equal(await page.locator('#result-text').innerText(), story);
      assertClean(page);
      await context.close();
    } finally {
      await streaming.stop();
    }
  });

  await t.test('images arrive in a gallery with a download link', async () => {
    const context = await browser.newContext();
    const page = await openPage(context);
    await visit(page, '/generate/image');
    await page.getByLabel('Prompt', { exact: true }).fill('A lighthouse at dusk');
    await page.getByLabel('Negative prompt').fill('fog');
    await page.locator('select[name="form[model]"]').selectOption(IMAGE_MODEL);
    await page.getByLabel('Width (pixels)').fill('256');
    await page.getByLabel('Height (pixels)').fill('128');
    await page.getByRole('button', { name: 'Generate' }).click();

    const image = page.locator('.gallery img');
    await image.waitFor({ timeout: 30_000 });
    await page.waitForFunction(() => document.querySelector('.gallery img')?.naturalWidth > 0);
    assert.deepEqual(
      await image.evaluate((img) => [img.naturalWidth, img.naturalHeight]),
      [256, 128],
      'the worker drew the asked size and the page shows it',
    );
    const download = page.locator('.gallery a[download]');
    assert.equal(await download.getAttribute('href'), await image.getAttribute('src'));
    const [job] = imageWorker.done;
    assert.equal(job.payload.prompt, 'A lighthouse at dusk ### fog', 'the negative prompt went after ###');
    assert.deepEqual(await context.cookies(), []);
    assertClean(page);
    await context.close();
  });

  await t.test("bad input shows the API's message next to the field", async () => {
    const context = await browser.newContext();
    const page = await openPage(context, { allowStatus: [400] });
    await visit(page, '/generate/text');
    await page.getByRole('button', { name: 'Generate' }).click();
    const promptError = page.locator('[id="form[prompt]-error"]');
    await assertText(promptError, /prompt/i);
    assert.equal(await page.locator('.field.invalid textarea').count(), 1, 'the prompt field is marked');

    await visit(page, '/generate/image');
    await page.getByLabel('Prompt', { exact: true }).fill('A lighthouse');
    await page.getByLabel('Width (pixels)').fill('5000');
    await page.getByRole('button', { name: 'Generate' }).click();
    await assertText(page.locator('[id="form[width]-error"]'), /multiple of 64 between 64 and 3072/);
    assert.equal(await page.locator('[id="form[height]-error"]').innerText(), '', 'only the width is wrong');
    assert.deepEqual(page.problems().errors, []);
    await context.close();
  });

  await t.test('without JavaScript the forms work and show their errors too', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${base}/generate/image`);
    await page.getByLabel('Prompt', { exact: true }).fill('A lighthouse');
    await page.getByLabel('Height (pixels)').fill('100');
    await page.getByRole('button', { name: 'Generate' }).click();
    await page.waitForURL(/__err=/);
    await assertText(page.locator('[id="form[height]-error"]'), /multiple of 64/);

    await page.goto(`${base}/generate/text`);
    await page.getByLabel('Prompt').fill('Without scripts');
    await page.locator('select[name="form[model]"]').selectOption(TEXT_MODEL);
    await page.getByRole('button', { name: 'Generate' }).click();
    await page.waitForURL(/request=/);
    // The page reloads itself every few seconds until the answer is there.
    await page.locator('#result-text').waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#result-text').innerText(), answer('Without scripts'));
    assert.deepEqual(await context.cookies(), []);
    await context.close();
  });
});

async function assertText(locator, pattern) {
  await locator.filter({ hasText: pattern }).waitFor({ timeout: 10_000 }).catch(async (err) => {
    throw new Error(`expected ${pattern}, found ${JSON.stringify(await locator.innerText().catch(() => null))}`, { cause: err });
  });
}
