// The OpenID provider the sign-on tests talk to: npm `oidc-provider` (a certified OpenID
// Provider implementation) with its development login form, on 127.0.0.1:$PORT.
//
// Besides the honest client `medclaim`, four clients answer with a deliberately broken ID
// token (re-signed after the change) so the relying party's checks can be tested against a
// real token endpoint: `medclaim-wrong-aud`, `medclaim-wrong-nonce`, `medclaim-expired`,
// `medclaim-wrong-key` (signed by a key the JWKS does not publish).
//
// Environment: PORT, REDIRECT_URI (our /auth/oidc/callback).
import Provider from 'oidc-provider';
import * as jose from 'jose';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const redirect = process.env.REDIRECT_URI;

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
const other = await jose.generateKeyPair('RS256', { extractable: true });

const broken = {
  'medclaim-wrong-aud': (c) => ({ ...c, aud: 'someone-else' }),
  'medclaim-wrong-nonce': (c) => ({ ...c, nonce: 'not-the-nonce-we-were-given' }),
  'medclaim-expired': (c) => ({ ...c, iat: c.iat - 7200, exp: c.iat - 3600 }),
  'medclaim-wrong-key': (c) => c,
};
const ids = ['medclaim', ...Object.keys(broken)];

const provider = new Provider(issuer, {
  clients: ids.map((id) => ({
    client_id: id,
    client_secret: `secret-${id}`,
    redirect_uris: redirect.split(' '),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks: { keys: [jwk] },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, preferred_username: id, name: `Student ${id}` }),
  }),
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'] },
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['medclaim-test-cookie-key'] },
});

provider.use(async (ctx, next) => {
  await next();
  const client = ctx.oidc?.client?.clientId;
  if (ctx.path !== '/token' || ctx.status !== 200 || !broken[client] || !ctx.body?.id_token) return;
  const claims = broken[client](jose.decodeJwt(ctx.body.id_token));
  const key = client === 'medclaim-wrong-key' ? other.privateKey : privateKey;
  ctx.body = {
    ...ctx.body,
    id_token: await new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(key),
  };
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
