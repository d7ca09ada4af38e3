// The moderators' page in a real browser: a moderator signs in, switches a mode on and off,
// looks up an account whose profane name is a sign of suspicion, flags it, resets its
// suspicion, pauses its worker and sends it a message, adds and deletes a prompt filter, times
// an address out and lifts it, and finds it all in the moderation log. Anyone else is told the
// page is for moderators.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, assertClean, base, launch, openPage, register, skip, trustedKey, visit } from './browser.mjs';

const MODEL = `e2e/moderation-${process.pid}`;

test('the moderators\' page', { skip: skip || (!trustedKey && 'POTLUCK_TRUSTED_KEY is not set'), timeout: 120_000 }, async (t) => {
  const browser = await launch();
  t.after(async () => {
    await api('PUT', '/status/modes', { key: trustedKey, body: { invite_only_mode: false } });
    await browser.close();
  });
  const shady = await register('e2e-shithead');
  const workerName = `e2e-shady-box-${process.pid}`;
  await api('POST', '/generate/text/pop', {
    key: shady.apikey,
    body: { name: workerName, models: [MODEL], max_length: 64, max_context_length: 1024 },
  });

  // Nobody but a moderator gets the page.
  const stranger = await openPage(await browser.newContext());
  await visit(stranger, '/moderation');
  assert.match(await stranger.locator('main').innerText(), /This page is for moderators/);
  assert.equal(await stranger.locator('#review-form').count(), 0);

  const page = await openPage(await browser.newContext());
  await visit(page, '/login');
  await page.getByLabel('API key').fill(trustedKey);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${base}/account`);
  await page.locator('#moderation-link').click();
  await page.waitForURL(`${base}/moderation`);

  // A mode, on and off.
  const inviteOnly = page.locator('[data-mode="invite_only"]');
  await inviteOnly.getByRole('button', { name: 'Turn on' }).click();
  await inviteOnly.locator('strong', { hasText: 'on' }).waitFor();
  assert.equal((await api('GET', '/status/modes')).invite_only_mode, true);
  await inviteOnly.getByRole('button', { name: 'Turn off' }).click();
  await inviteOnly.locator('strong', { hasText: 'off' }).waitFor();

  // The account, looked up: its profane name is one sign.
  await page.getByLabel('Account (name#number)').fill(shady.username);
  await page.getByRole('button', { name: 'Look up' }).click();
  const reviewed = page.locator('#reviewed');
  await reviewed.locator('h3', { hasText: shady.username }).waitFor();
  assert.equal(await page.locator('#reviewed-suspicion').innerText(), '1');
  assert.match(await page.locator('#suspicions [data-reason="7"]').innerText(), /Profanity in the username/);
  assert.match(page.url(), /\?user=/);

  await reviewed.getByRole('button', { name: 'Flag' }).click();
  await page.locator('#reviewed-state', { hasText: /^Flagged/ }).waitFor();
  await reviewed.getByRole('button', { name: 'Reset suspicion' }).click();
  await page.locator('#reviewed-suspicion', { hasText: '0' }).waitFor();
  assert.equal(await page.locator('#suspicions tbody tr').count(), 0);
  const details = await api('GET', `/users/${shady.id}`, { key: trustedKey });
  assert.equal(details.flagged, true);
  assert.equal(details.suspicious, 0);

  // Its worker: paused, and told why.
  const row = page.locator(`#reviewed-workers [data-worker="${workerName}"]`);
  await row.getByRole('button', { name: 'Pause' }).click();
  await row.getByRole('button', { name: 'Paused: lift' }).waitFor();
  await row.getByLabel('Message').fill('Please choose another name.');
  await row.getByRole('button', { name: 'Send' }).click();
  await page.locator('#message-sent').waitFor();
  const worker = await api('GET', `/workers/name/${workerName}`, { key: trustedKey });
  assert.equal(worker.paused, true);
  assert.deepEqual(worker.messages.map((m) => m.message), ['Please choose another name.']);

  // A prompt filter, added and deleted.
  const pattern = `\\bkid${process.pid}\\b`;
  await page.getByLabel('Pattern (regular expression)').fill(pattern);
  await page.getByLabel('Description').fill('e2e');
  await page.getByRole('button', { name: 'Add filter' }).click();
  const filter = page.locator('#filters tbody tr', { hasText: pattern });
  await filter.waitFor();
  await filter.getByRole('button', { name: 'Delete' }).click();
  await filter.waitFor({ state: 'detached' });

  // An address timeout, and lifted.
  const timeouts = page.locator('#timeouts tbody tr');
  const before = await timeouts.count();
  await page.locator('#ipaddr').fill('198.51.100.7');
  await page.locator('#hours').fill('1');
  await page.getByRole('button', { name: 'Time out' }).click();
  await page.waitForFunction((n) => document.querySelectorAll('#timeouts tbody tr').length === n + 1, before);
  await page.locator('#lift-ipaddr').fill('198.51.100.7');
  await page.locator('#lift-timeout').click();
  await page.waitForFunction((n) => document.querySelectorAll('#timeouts tbody tr').length === n, before);

  // All of it is in the moderation log.
  const log = await page.locator('#moderation-log').innerText();
  for (const action of ['modes set', 'account changed', 'worker changed', 'worker message sent', 'filter added', 'filter deleted', 'address timeout', 'address timeout lifted']) {
    assert.ok(log.includes(action), `the log shows "${action}":\n${log}`);
  }
  assertClean(page);
  assertClean(stranger);
});
