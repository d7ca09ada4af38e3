// Sign-in through an OpenID Connect provider in a real browser: the button on the login page,
// the provider's own login and consent pages (the local `oidc-provider` that scripts/test.sh
// starts, end2end/oidc/provider.mjs), back to a new account that is signed in, then what only a
// linked account may do: rename itself and get an API key. No cookie before the visitor chose to
// sign in; the sign-in's own cookie is gone afterwards.
//
//   POTLUCK_OIDC_PROVIDER  the provider's id on the server under test (scripts/test.sh: local)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { api, artifacts, base, launch, openPage, skip, visit } from './browser.mjs';

const provider = process.env.POTLUCK_OIDC_PROVIDER;
const SUBJECT = `e2e-grace-${process.pid}`;

test('sign-in through a provider', { skip: skip || (!provider && 'POTLUCK_OIDC_PROVIDER is not set'), timeout: 120_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const context = await browser.newContext();
  const page = await openPage(context);

  await visit(page, '/login');
  const button = page.locator(`#login-with-${provider}`);
  assert.equal(await button.innerText(), 'Sign in with Local ID');
  assert.deepEqual(await context.cookies(), [], 'no cookie before signing in');
  assert.deepEqual(page.problems(), { errors: [], failed: [], foreign: [] });

  // The provider's pages: any login name and password, then consent.
  await button.click();
  await page.locator('input[name="login"]').waitFor();
  assert.notEqual(new URL(page.url()).origin, new URL(base).origin, 'at the provider');
  await page.locator('input[name="login"]').fill(SUBJECT);
  await page.locator('input[name="password"]').fill('anything');
  await page.locator('button[type="submit"]').click();
  await page.locator('button[type="submit"]', { hasText: /Continue/i }).click();

  // Back: a new account, signed in (the Strict session cookie was sent on arrival).
  await page.waitForURL(`${base}/account?welcome`);
  await page.locator('.app[data-hydrated="true"]').waitFor();
  await page.locator('#welcome').waitFor();
  // From here on, our pages again: what the provider's test pages logged is theirs.
  const theirs = page.problems().errors.length;
  assert.match(await page.locator('h1').innerText(), /^Local ID user#\d+$/);
  assert.match(await page.locator('#linked-provider').innerText(), /You sign in with Local ID/);
  const cookies = (await context.cookies()).filter((c) => c.domain === '127.0.0.1' && c.name.startsWith('potluck'));
  assert.deepEqual(cookies.map((c) => c.name), ['potluck_session'], 'the sign-in cookie is gone');

  // Rename: the page and the header follow.
  const name = `Grace ${process.pid}`;
  await page.locator('#new-username').fill(name);
  await page.locator('#rename').click();
  await page.locator('h1', { hasText: new RegExp(`^${name}#\\d+$`) }).waitFor();
  await page.locator('#account-link', { hasText: name }).waitFor();

  // A key for AI Horde clients, shown once; it is this account's.
  await page.locator('#reset-key').click();
  const key = (await page.locator('#apikey').innerText()).trim();
  await mkdir(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'account-linked.png'), fullPage: true });
  const me = await api('GET', '/find_user', { key });
  assert.match(me.username, new RegExp(`^${name}#\\d+$`));
  // The browser is still signed in after its key changed.
  await visit(page, '/account');
  await page.locator('h1', { hasText: name }).waitFor();

  // The provider's test pages ask for web fonts, which fail offline; ours ask for nothing else.
  const { errors, failed } = page.problems();
  assert.deepEqual({ errors: errors.slice(theirs), failed: failed.filter((f) => f.includes(base)) }, { errors: [], failed: [] });
});
