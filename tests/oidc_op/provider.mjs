// A test OpenID provider built on panva's oidc-provider, for the portal's integration and e2e tests.
//
// Environment:
//   OP_PORT        port to listen on (127.0.0.1), required
//   OP_ISSUER      issuer URL, default http://127.0.0.1:$OP_PORT
//   OP_CLIENTS     JSON array of client metadata (client_id, client_secret, redirect_uris, ...)
//   OP_ACR_VALUES  JSON array of acr values, default ["urn:dvc:loa:1","urn:dvc:loa:2"];
//                  "urn:dvc:loa:unknown" is always added so that a refusal of unknown acr can be tested.
//
// Plain http on 127.0.0.1, logs to stderr, exits on SIGTERM/SIGINT. Demo citizens come from accounts.json.

import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const UNKNOWN_ACR = 'urn:dvc:loa:unknown';

function log(...parts) {
  console.error(`[oidc-op ${new Date().toISOString()}]`, ...parts);
}

function jsonEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  try {
    return JSON.parse(raw);
  } catch (err) {
    log(`${name} is not valid JSON: ${err.message}`);
    process.exit(2);
  }
}

const port = Number(process.env.OP_PORT);
if (!Number.isInteger(port) || port <= 0) {
  log('OP_PORT must be set to a port number');
  process.exit(2);
}
const issuer = process.env.OP_ISSUER || `http://127.0.0.1:${port}`;
const clients = jsonEnv('OP_CLIENTS', []).map((client) => ({
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...client,
}));
const acrValues = [...jsonEnv('OP_ACR_VALUES', ['urn:dvc:loa:1', 'urn:dvc:loa:2'])];
if (!acrValues.includes(UNKNOWN_ACR)) acrValues.push(UNKNOWN_ACR);

const accounts = new Map(
  JSON.parse(readFileSync(new URL('./accounts.json', import.meta.url), 'utf8')).map((a) => [a.sub, a]),
);

// ---- keys: one RS256 signing key per start ----
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };

// ---- HTML helpers ----
function esc(value) {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} — OP thử nghiệm</title>
<style>body{font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}label{display:block;margin-top:1rem;font-weight:bold}select,button{font-size:1rem;margin-top:.25rem}button{margin-top:1.5rem;margin-right:.5rem}.error{color:#a00}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

function loginPage(uid, params, { error, account, acr } = {}) {
  const requestedAcr = String(params.acr_values || '').split(' ').filter(Boolean)[0];
  const selectedAcr = acr || (acrValues.includes(requestedAcr) ? requestedAcr : acrValues[0]);
  const selectedAccount = account || [...accounts.keys()][0];
  const accountOptions = [...accounts.values()]
    .map((a) => `<option value="${esc(a.sub)}"${a.sub === selectedAccount ? ' selected' : ''}>${esc(a.name)} — CCCD ${esc(a.cccd)}</option>`)
    .join('\n');
  const acrOptions = acrValues
    .map((v) => `<option value="${esc(v)}"${v === selectedAcr ? ' selected' : ''}>${esc(v)}</option>`)
    .join('\n');
  return page('Đăng nhập', `
<h1>Đăng nhập bằng định danh điện tử (thử nghiệm)</h1>
<p>Ứng dụng <strong>${esc(params.client_id)}</strong> yêu cầu đăng nhập.</p>
${error ? `<p class="error" role="alert" id="login-error">${esc(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login">
<label for="account">Tài khoản công dân</label>
<select id="account" name="account">
${accountOptions}
</select>
<label for="acr">Mức độ xác thực (acr)</label>
<select id="acr" name="acr">
${acrOptions}
</select>
<button type="submit" id="login-submit">Đăng nhập</button>
</form>
<form id="abort-form" method="post" action="/interaction/${esc(uid)}/abort">
<button type="submit" id="login-cancel">Hủy</button>
</form>`);
}

// ---- accounts ----
async function findAccount(_ctx, sub) {
  const account = accounts.get(sub);
  if (!account) return undefined;
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        name: account.name,
        birthdate: account.birthdate,
        cccd: account.cccd,
        email: account.email,
        email_verified: true,
        phone_number: account.phone_number,
        phone_number_verified: true,
        address: { formatted: account.address, country: 'VN' },
      };
    },
  };
}

// ---- provider ----
const configuration = {
  clients,
  jwks: { keys: [signingKey] },
  findAccount,
  acrValues,
  claims: {
    acr: null,
    auth_time: null,
    sid: null,
    iss: null,
    openid: ['sub'],
    profile: ['name', 'birthdate', 'cccd'],
    email: ['email', 'email_verified'],
    phone: ['phone_number', 'phone_number_verified'],
    address: ['address'],
  },
  // The portal reads the citizen's profile from the id_token: put scope claims in it, not only in userinfo.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: {
    // Browser cookies ignore ports: keep the OP's names apart from the portal's on 127.0.0.1.
    names: { session: 'op_session', interaction: 'op_interaction', resume: 'op_interaction_resume' },
    keys: [crypto.randomBytes(32).toString('base64url')],
  },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        // Auto-submits (logout=yes) with JavaScript; without it the button does the same.
        const withConfirm = form.replace(
          '</form>',
          '<input type="hidden" name="logout" value="yes"/><button type="submit" id="logout-confirm">Đăng xuất</button></form>',
        );
        ctx.type = 'html';
        ctx.body = page('Đăng xuất', `
<h1>Đăng xuất khỏi nhà cung cấp định danh</h1>
${withConfirm}
<script>document.getElementById('op.logoutForm').submit();</script>`);
      },
      async postLogoutSuccessSource(ctx) {
        ctx.type = 'html';
        ctx.body = page('Đã đăng xuất', '<h1>Đã đăng xuất</h1><p id="logout-done">Bạn đã đăng xuất khỏi nhà cung cấp định danh.</p>');
      },
    },
  },
  interactions: {
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  async renderError(ctx, out, error) {
    log('error page:', out.error, out.error_description || '', error?.message || '');
    ctx.type = 'html';
    ctx.body = page('Lỗi', `<h1>Lỗi</h1>
<p id="error">${esc(out.error)}</p>
<p id="error-description">${esc(out.error_description)}</p>`);
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    Interaction: 3600,
    Session: 24 * 3600,
    Grant: 24 * 3600,
  },
  clientBasedCORS: () => true,
};

const provider = new Provider(issuer, configuration);

for (const event of ['server_error', 'authorization.error', 'grant.error', 'end_session.error', 'userinfo.error']) {
  provider.on(event, (_ctx, err) => {
    log(`${event}:`, err?.name, err?.message, err?.error_description || '', err?.cause?.message || '');
  });
}

// ---- interactions (our own pages instead of devInteractions) ----
async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

async function autoConsent(req, res, details) {
  const { prompt: { details: missing }, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  const consent = details.grantId ? {} : { grantId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

async function handleInteraction(req, res, url) {
  const match = /^\/interaction\/([^/]+)(?:\/(login|abort))?$/.exec(url.pathname);
  if (!match) return send(res, 404, page('Không tìm thấy', '<h1>Không tìm thấy</h1>'));
  const [, uid, action] = match;
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, page('Lỗi', '<h1>Phiên tương tác không khớp</h1>'));
  const promptName = details.prompt.name;

  if (req.method === 'GET' && !action) {
    if (promptName === 'login') return send(res, 200, loginPage(uid, details.params));
    if (promptName === 'consent') return autoConsent(req, res, details);
    return send(res, 400, page('Lỗi', `<h1>Lời nhắc không hỗ trợ: ${esc(promptName)}</h1>`));
  }
  if (req.method === 'POST' && action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'Người dùng đã hủy đăng nhập',
    }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === 'login') {
    if (promptName !== 'login') return send(res, 400, page('Lỗi', '<h1>Không chờ đăng nhập</h1>'));
    const form = await readForm(req);
    const account = form.get('account') || '';
    const acr = form.get('acr') || '';
    let error;
    if (!accounts.has(account)) error = 'Tài khoản không tồn tại.';
    else if (!acrValues.includes(acr)) error = 'Mức độ xác thực không hợp lệ.';
    if (error) return send(res, 400, loginPage(uid, details.params, { error, account, acr }));
    log(`login ${account} acr=${acr} client=${details.params.client_id}`);
    return provider.interactionFinished(req, res, {
      login: { accountId: account, acr, amr: ['pwd'] },
    }, { mergeWithLastSubmission: false });
  }
  res.setHeader('Allow', 'GET, POST');
  return send(res, 405, page('Lỗi', '<h1>Phương thức không được hỗ trợ</h1>'));
}

const providerCallback = provider.callback();

const server = http.createServer((req, res) => {
  const url = new URL(req.url, issuer);
  log(req.method, url.pathname.length > 200 ? `${url.pathname.slice(0, 200)}…` : url.pathname);
  if (url.pathname.startsWith('/interaction/')) {
    handleInteraction(req, res, url).catch((err) => {
      log('interaction error:', err?.name, err?.message);
      if (!res.headersSent) {
        send(res, 400, page('Lỗi', `<h1>Lỗi tương tác</h1><p id="error">${esc(err?.message)}</p>`));
      } else {
        res.end();
      }
    });
    return;
  }
  providerCallback(req, res);
});

server.listen(port, '127.0.0.1', () => {
  log(`listening on 127.0.0.1:${port}, issuer ${issuer}, clients ${clients.map((c) => c.client_id).join(', ')}, acr ${acrValues.join(' ')}`);
});

function shutdown(signal) {
  log(`${signal}: stopping`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
