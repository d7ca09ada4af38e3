// An account in a real browser: register and copy the key shown once, log out, log in with it,
// watch the kudos change when one's worker (run by the test through the worker API) does a job
// (held at first, released when a trusted worker's check passes), pause that worker, give kudos
// away, lend them through a shared key, try to make a team, and read a moderator's message for
// the worker. The session cookie exists only while logged in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  api, assertClean, base, heldOf, kudosOf, launch, openPage, passCheck, register, skip,
  startTextWorker, trustedKey, visit,
} from './browser.mjs';

const MODEL = `e2e/account-${process.pid}`;
const NAME = `e2e-alice-${process.pid}`;

test('an account', { skip: skip || (!trustedKey && 'POTLUCK_TRUSTED_KEY is not set'), timeout: 180_000 }, async (t) => {
  const browser = await launch();
  const context = await browser.newContext();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  let worker;
  t.after(async () => {
    await worker?.stop();
    await browser.close();
  });
  // A wrong key (401), an impossible transfer (400) and a team an untrusted account may not
  // make (403) are refused on purpose.
  const page = await openPage(context, { allowStatus: [400, 401, 403] });

  // Register: the key is shown once, copied with the button.
  await visit(page, '/register');
  await page.getByLabel('Name').fill(NAME);
  await page.getByRole('button', { name: 'Register' }).click();
  const key = (await page.locator('#apikey').innerText()).trim();
  assert.match(key, /^[A-Za-z0-9_-]{20,}$/);
  assert.match(await page.locator('#new-key').innerText(), /shown only this once/);
  await page.getByRole('button', { name: 'Copy the key' }).click();
  await page.getByRole('button', { name: 'Copied' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);

  // Registering signed the browser in, with a cookie that scripts cannot read.
  const [cookie] = await context.cookies();
  assert.equal(cookie?.name, 'potluck_session');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(await page.evaluate(() => document.cookie), '');
  await visit(page, '/account');
  assert.match(await page.locator('h1').innerText(), new RegExp(`^${NAME}#\\d+$`));
  const alias = await page.locator('h1').innerText();

  // Log out: the session ends and the cookie goes.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.locator('#log-in-link').waitFor();
  assert.deepEqual(await context.cookies(), [], 'logging out removes the cookie');
  await visit(page, '/account');
  assert.match(await page.locator('main').innerText(), /You are not logged in/);

  // A wrong key is refused next to the field; the right one signs in.
  await visit(page, '/login');
  await page.getByLabel('API key').fill('not-a-key-of-anyone');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('[id="apikey-error"]', { hasText: /No user matching/ }).waitFor();
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(`${base}/account`);
  await page.locator('h1', { hasText: alias }).waitFor();
  assert.equal(await page.locator('#kudos').innerText(), '0');
  assert.match(await page.locator('#account-link').innerText(), / 0 kudos$/);

  // Alice's worker, started through the API with her key, does a job for someone else.
  worker = await startTextWorker({ key, name: `e2e-alice-box-${process.pid}`, model: MODEL, answer: () => 'Done.' });
  const { id } = await api('POST', '/generate/text/async', {
    body: { prompt: 'Hello', models: [MODEL], params: { max_length: 32, max_context_length: 1024 } },
  });
  for (let i = 0; i < 100 && !(await api('GET', `/generate/text/status/${id}`)).done; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  // Her worker is not trusted: its reward is held until a check verifies its work.
  const held = await heldOf(key);
  assert.ok(held > 0, `the worker earned held kudos (${held})`);
  assert.equal(await kudosOf(key), 0);
  await visit(page, '/account');
  assert.equal(Number(await page.locator('#held-kudos').innerText()), held, 'the page shows the held kudos');
  await page.locator('#held-why').waitFor();
  const history = page.locator('#history tbody tr');
  assert.match(await history.first().innerText(), /Earned by a worker \(held\)\s+\+/);
  // A trusted worker checks her result; it passes, and the reward is hers to spend (a
  // balance below the pseudonymous floor of 14 kudos is topped up to it, as the AI Horde does).
  await passCheck({ name: `e2e-checker-${process.pid}`, model: MODEL });
  const earned = await kudosOf(key);
  assert.equal(earned, Math.max(held, 14), 'the check released the held reward');
  assert.equal(await heldOf(key), 0);
  await visit(page, '/account');
  assert.equal(Number(await page.locator('#kudos').innerText()), earned, 'the page shows the new balance');
  // textContent joins the cells with nothing between them.
  await page.locator('#history tbody tr', { hasText: /Verified: released\+/ }).waitFor();
  const row = page.locator(`#my-workers tr[data-worker="e2e-alice-box-${process.pid}"]`);
  assert.match(await row.innerText(), new RegExp(`${MODEL.replace('/', '\\/')}\\s+1\\s+1 / 0\\s+online`));

  // Maintenance on and off, from the account page.
  await row.getByRole('button', { name: 'Pause (maintenance)' }).click();
  await row.getByRole('button', { name: /In maintenance/ }).waitFor();
  const [workerId] = (await api('GET', '/find_user', { key })).worker_ids;
  assert.equal((await api('GET', `/workers/${workerId}`)).maintenance_mode, true);
  await row.getByRole('button', { name: /In maintenance/ }).click();
  await row.getByRole('button', { name: 'Pause (maintenance)' }).waitFor();
  assert.equal((await api('GET', `/workers/${workerId}`)).maintenance_mode, false);

  // Give one kudos to Bob: kudos above her floor, which an administrator grants her first.
  const { id: aliceId } = await api('GET', '/find_user', { key });
  await api('PUT', `/users/${aliceId}`, { key: trustedKey, body: { kudos: 20 } });
  const bob = await register('e2e-bob');
  await page.getByLabel('To (name#number)').fill(bob.username);
  await page.getByLabel('Kudos', { exact: true }).fill('1');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('#transfer-done', { hasText: 'Sent 1 kudos.' }).waitFor();
  // Bob's 1 kudos is topped up to his floor.
  assert.equal(await kudosOf(bob.apikey), 14);
  const left = Math.round((earned + 20 - 1) * 100) / 100;
  await page.locator('#kudos', { hasText: String(left) }).waitFor();
  assert.match(await history.first().innerText(), /Given to account #\d+\s+-1/);

  // Asking for more than one has is refused next to the amount.
  await page.getByLabel('Kudos', { exact: true }).fill('1000000');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('#transfer-form .form-problem, [id="amount-error"]').first().waitFor();
  assert.equal(await kudosOf(bob.apikey), 14, 'nothing moved');

  // A shared key lends her kudos: made on the page, shown once, listed, usable, deleted.
  const keyForm = page.locator('#shared-key-form');
  await keyForm.getByLabel('Name').fill('for-bob');
  await keyForm.getByLabel('Kudos it may spend (-1: no limit)').fill('10');
  await page.getByRole('button', { name: 'Create a key' }).click();
  const sharedKey = (await page.locator('#new-shared-key code').innerText()).trim();
  assert.equal((await api('GET', `/sharedkeys/${sharedKey}`)).kudos, 10);
  const keyRow = page.locator('#shared-keys tbody tr', { hasText: 'for-bob' });
  assert.match(await keyRow.innerText(), /for-bob\s+10\s+0\s+never/);
  assert.equal((await api('GET', '/find_user', { key: sharedKey })).username, `${alias} (Shared Key: for-bob)`);
  await keyRow.getByRole('button', { name: 'Delete' }).click();
  await keyRow.waitFor({ state: 'detached' });

  // Teams are for trusted accounts: hers is refused next to the form.
  await page.getByLabel('Team name').fill(`e2e-team-${process.pid}`);
  await page.getByRole('button', { name: 'Create a team' }).click();
  await page.locator('#team-form .form-problem', { hasText: /trusted/ }).waitFor();
  assert.equal(await page.locator('#teams tbody tr').count(), 0);

  // A moderator's message for her worker shows on her page.
  await api('POST', '/workers/messages', {
    key: trustedKey, body: { worker_id: workerId, message: 'Please update your worker.' },
  });
  await visit(page, '/account');
  await page.locator('#worker-messages', { hasText: 'Please update your worker.' }).waitFor();
  assertClean(page);
});
