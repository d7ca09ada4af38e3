// A real OpenID Connect provider for the tests of sign-in: the certified `oidc-provider`
// package on loopback, with its development login and consent pages (any login name and
// password sign in; the login name becomes the subject). The ID token carries e-mail and name
// claims too, so that the tests can check that Potluck keeps none of them.
//
// Usage: node end2end/oidc/provider.mjs [PORT]   (default 0: any free port)
// Prints "oidc provider listening on http://127.0.0.1:PORT" once it accepts connections.
// Its one client is CLIENT_ID / CLIENT_SECRET below, and it accepts any redirect URI of the
// form http://127.0.0.1:PORT/auth/ID/callback (the Potluck under test runs on a free port).
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

export const CLIENT_ID = 'potluck-test';
export const CLIENT_SECRET = 'potluck-test-secret';
/// What the provider knows of everyone, and Potluck must not keep.
export const profile = (sub) => ({ sub, email: `${sub}@mail.example`, name: `Person ${sub}` });

const REDIRECT = /^http:\/\/127\.0\.0\.1:\d+\/auth\/[a-z0-9-]+\/callback$/;

export async function startProvider(port = 0) {
  const server = createServer();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: ['http://127.0.0.1/auth/local/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    claims: { openid: ['sub', 'email', 'name'] },
    // Scope claims in the ID token itself, not only at the userinfo endpoint.
    conformIdTokenClaims: false,
    findAccount: (ctx, sub) => ({ accountId: sub, claims: () => profile(sub) }),
    // Fixed keys would need a file; the provider makes a signing key at start.
  });
  // The Potluck under test listens on a port chosen at its start.
  provider.Client.prototype.redirectUriAllowed = (uri) => REDIRECT.test(uri);
  server.on('request', provider.callback());
  return { issuer, close: () => new Promise((resolve) => server.close(resolve)) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { issuer } = await startProvider(Number(process.argv[2] ?? 0));
  console.log(`oidc provider listening on ${issuer}`);
}
