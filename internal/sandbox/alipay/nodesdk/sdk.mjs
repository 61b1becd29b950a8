// Drives a hutong sandbox with Ant Group's official Node.js SDK
// (alipay-sdk, pinned in package.json), unchanged: its gateway and endpoint
// options point it at the sandbox, and it checks every signature itself.
// Both protocols run the same lifecycle — precreate, the buyer pays, the
// signed notification, query, refund, refund query — and the same failures:
// a request signed with a key the sandbox does not know, a trade that does
// not exist, an answer altered on the way.
//
// Run by TestOfficialNodeSDK (../nodesdk_test.go), which starts the sandbox
// and passes, in the environment:
//
//   HUTONG_SANDBOX_URL             the sandbox, e.g. http://127.0.0.1:8090
//   HUTONG_TAMPER_URL              a proxy to it that alters signed answers
//   HUTONG_ALIPAY_APP_ID           credentials.json's alipay.app_id
//   HUTONG_ALIPAY_APP_PRIVATE_KEY  alipay.app_private_key (PKCS #8 PEM)
//   HUTONG_ALIPAY_PUBLIC_KEY       alipay.alipay_public_key
//   TZ=Asia/Shanghai               gateway.do reads timestamp as Beijing
//                                  time, and the SDK writes local time
//
// It prints one line per step with its time, and exits 1 at the first
// failure.

import http from 'node:http';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { AlipaySdk, AlipayRequestError } from 'alipay-sdk';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

const base = env('HUTONG_SANDBOX_URL');
const tamperBase = env('HUTONG_TAMPER_URL');
const appId = env('HUTONG_ALIPAY_APP_ID');
const privateKey = env('HUTONG_ALIPAY_APP_PRIVATE_KEY');
const alipayPublicKey = env('HUTONG_ALIPAY_PUBLIC_KEY');
if (process.env.TZ !== 'Asia/Shanghai') {
  throw new Error('run with TZ=Asia/Shanghai: the SDK writes gateway.do timestamps in local time');
}

// An SDK whose gateway.do and v3 endpoint are url.
function sdkAt(url, key = privateKey) {
  return new AlipaySdk({
    appId,
    privateKey: key,
    keyType: 'PKCS8', // the sandbox's keys are PKCS #8 ("PRIVATE KEY")
    alipayPublicKey,
    gateway: `${url}/gateway.do`,
    endpoint: url,
    timeout: 10000,
  });
}

const sdk = sdkAt(base);
const strangerKey = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs8', format: 'pem' });
const stranger = sdkAt(base, strangerKey);
const tampered = sdkAt(tamperBase);
const signed = { validateSign: true };

// The merchant's notify_url: every notification is checked with the SDK's
// checkNotifySignV2 and answered "success" only when it verifies.
const notifications = [];
const server = http.createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', chunk => { body += chunk; });
  req.on('end', () => {
    const form = Object.fromEntries(new URLSearchParams(body));
    const verified = sdk.checkNotifySignV2(form);
    notifications.push({ form, verified });
    res.end(verified ? 'success' : 'fail');
  });
});
await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));
const notifyUrl = `http://127.0.0.1:${server.address().port}/notify/alipay`;

async function waitNotification(outTradeNo, check) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const n = notifications.find(x => x.form.out_trade_no === outTradeNo && check(x.form));
    if (n) return n;
    if (Date.now() > deadline) {
      throw new Error(`no notification for ${outTradeNo}; got ${JSON.stringify(notifications.map(x => x.form.out_trade_no))}`);
    }
    await new Promise(resolve => setTimeout(resolve, 20));
  }
}

// helper calls the sandbox's test-helper API, as a scripted buyer does.
async function helper(method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json();
  assert.equal(res.status, 200, `${method} ${path}: ${JSON.stringify(data)}`);
  return data;
}
const payAsBuyer = code => helper('POST', '/sandbox/v1/pay', { wallet: 'alipay', code });

function outTradeNo(prefix) {
  return `${prefix}${Date.now()}${randomUUID().slice(0, 8)}`.replaceAll('-', '');
}

// curlError runs a v3 call that must fail and returns its AlipayRequestError.
async function curlError(client, method, path, options) {
  try {
    const r = await client.curl(method, path, options);
    throw new Error(`${method} ${path} succeeded: ${JSON.stringify(r.data)}`);
  } catch (err) {
    if (!(err instanceof AlipayRequestError)) throw err;
    return err;
  }
}

let failed = false;
async function step(name, fn) {
  const start = process.hrtime.bigint();
  try {
    await fn();
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    console.log(`ok ${name} ${ms.toFixed(1)}ms`);
  } catch (err) {
    failed = true;
    console.log(`FAIL ${name}: ${err.stack ?? err}`);
    throw err;
  }
}

const today = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Asia/Shanghai' }).format(new Date());

try {
  // gateway.do through sdk.exec, every answer's sign checked.
  const classicNo = outTradeNo('N');
  let classicQR;
  await step('classic precreate', async () => {
    const r = await sdk.exec('alipay.trade.precreate', {
      notify_url: notifyUrl,
      bizContent: { out_trade_no: classicNo, total_amount: '0.01', subject: '豆浆油条' },
    }, signed);
    assert.equal(r.code, '10000', JSON.stringify(r));
    assert.match(r.qrCode, /^https:\/\/qr\.alipay\.com\/bax/);
    classicQR = r.qrCode;
  });
  await step('classic pay and notification', async () => {
    const paid = await payAsBuyer(classicQR);
    assert.equal(paid.amount, 1);
    const n = await waitNotification(classicNo, f => f.trade_status === 'TRADE_SUCCESS');
    assert.equal(n.verified, true, 'checkNotifySignV2 refused a genuine notification');
    assert.equal(n.form.total_amount, '0.01');
    assert.equal(sdk.checkNotifySignV2({ ...n.form, total_amount: '100.00' }), false, 'an altered notification verified');
  });
  await step('classic query', async () => {
    const r = await sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: classicNo } }, signed);
    assert.equal(r.tradeStatus, 'TRADE_SUCCESS', JSON.stringify(r));
    assert.equal(r.totalAmount, '0.01');
  });
  await step('classic refund', async () => {
    const r = await sdk.exec('alipay.trade.refund', {
      bizContent: { out_trade_no: classicNo, refund_amount: '0.01', out_request_no: 'R1' },
    }, signed);
    assert.equal(r.code, '10000', JSON.stringify(r));
    assert.equal(r.fundChange, 'Y');
  });
  await step('classic refund query', async () => {
    const r = await sdk.exec('alipay.trade.fastpay.refund.query', {
      bizContent: { out_trade_no: classicNo, out_request_no: 'R1' },
    }, signed);
    assert.equal(r.refundStatus, 'REFUND_SUCCESS', JSON.stringify(r));
    assert.equal(r.refundAmount, '0.01');
  });
  await step('classic refusal of a wrong key is signed and verified', async () => {
    const r = await stranger.exec('alipay.trade.query', { bizContent: { out_trade_no: classicNo } }, signed);
    assert.equal(r.code, '40002', JSON.stringify(r));
    assert.equal(r.subCode, 'isv.invalid-signature');
  });
  await step('classic unknown trade', async () => {
    const r = await sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: 'NO_SUCH_TRADE' } }, signed);
    assert.equal(r.code, '40004', JSON.stringify(r));
    assert.equal(r.subCode, 'ACQ.TRADE_NOT_EXIST');
  });
  await step('classic answer altered on the way is refused', async () => {
    await assert.rejects(
      tampered.exec('alipay.trade.query', { bizContent: { out_trade_no: classicNo } }, signed),
      err => err instanceof AlipayRequestError && /验签失败/.test(err.message),
    );
  });
  await step('classic unknown app_id is answered unsigned', async () => {
    const other = new AlipaySdk({ ...sdk.config, appId: '2021000000000000', privateKey, keyType: 'PKCS8' });
    const r = await other.exec('alipay.trade.query', { bizContent: { out_trade_no: classicNo } });
    assert.equal(r.subCode, 'isv.invalid-app-id', JSON.stringify(r));
    // With no app there is no key to sign with: an SDK checking signatures
    // cannot verify the refusal, as with the real gateway. This SDK fails
    // on the missing sign with a TypeError from node:crypto, not an
    // AlipayRequestError: what it makes of any unsigned refusal.
    await assert.rejects(
      other.exec('alipay.trade.query', { bizContent: { out_trade_no: classicNo } }, signed),
      err => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE',
    );
  });

  // OpenAPI v3 through sdk.curl: JSON, the Authorization header, answers
  // signed in headers.
  const v3No = outTradeNo('V');
  let v3QR;
  await step('v3 precreate', async () => {
    const r = await sdk.curl('POST', '/v3/alipay/trade/precreate', {
      body: { out_trade_no: v3No, total_amount: '0.02', subject: '煎饼果子', notify_url: notifyUrl },
    });
    assert.equal(r.responseHttpStatus, 200);
    assert.equal(r.data.out_trade_no, v3No);
    v3QR = r.data.qr_code;
    assert.match(v3QR, /^https:\/\/qr\.alipay\.com\/bax/);
  });
  await step('v3 pay and notification', async () => {
    const paid = await payAsBuyer(v3QR);
    assert.equal(paid.amount, 2);
    const n = await waitNotification(v3No, f => f.trade_status === 'TRADE_SUCCESS' && !f.refund_fee);
    assert.equal(n.verified, true, 'checkNotifySignV2 refused a genuine notification');
    assert.equal(n.form.total_amount, '0.02');
  });
  await step('v3 query', async () => {
    const r = await sdk.curl('POST', '/v3/alipay/trade/query', { body: { out_trade_no: v3No } });
    assert.equal(r.data.trade_status, 'TRADE_SUCCESS', JSON.stringify(r.data));
    assert.equal(r.data.total_amount, '0.02');
  });
  await step('the v3 trade over gateway.do', async () => {
    const r = await sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: v3No } }, signed);
    assert.equal(r.tradeStatus, 'TRADE_SUCCESS', JSON.stringify(r));
  });
  await step('v3 partial refund and its notification', async () => {
    const r = await sdk.curl('POST', '/v3/alipay/trade/refund', {
      body: { out_trade_no: v3No, refund_amount: '0.01', out_request_no: 'R1' },
    });
    assert.equal(r.data.fund_change, 'Y', JSON.stringify(r.data));
    assert.equal(r.data.refund_fee, '0.01');
    const n = await waitNotification(v3No, f => f.refund_fee === '0.01');
    assert.equal(n.verified, true);
    assert.equal(n.form.out_biz_no, 'R1');
  });
  await step('v3 refund query', async () => {
    const r = await sdk.curl('POST', '/v3/alipay/trade/fastpay/refund/query', {
      body: { out_trade_no: v3No, out_request_no: 'R1' },
    });
    assert.equal(r.data.refund_status, 'REFUND_SUCCESS', JSON.stringify(r.data));
    assert.equal(r.data.refund_amount, '0.01');
  });
  await step('v3 close of a paid trade is refused', async () => {
    const err = await curlError(sdk, 'POST', '/v3/alipay/trade/close', { body: { out_trade_no: v3No } });
    assert.equal(err.code, 'ACQ.TRADE_STATUS_ERROR', err.message);
    assert.equal(err.responseHttpStatus, 400);
  });
  await step('v3 bill download URL (GET with a query)', async () => {
    const r = await sdk.curl('GET', '/v3/alipay/data/dataservice/bill/downloadurl/query', {
      query: { bill_type: 'trade', bill_date: today },
    });
    assert.match(r.data.bill_download_url, /\/sandbox\/alipay\/bill\?/);
    const bill = await fetch(r.data.bill_download_url);
    assert.equal(bill.status, 200);
    assert.equal(bill.headers.get('content-type'), 'application/zip');
  });
  await step('v3 create and cancel', async () => {
    const users = await helper('GET', '/sandbox/v1/users');
    const no = outTradeNo('C');
    const r = await sdk.curl('POST', '/v3/alipay/trade/create', {
      body: { out_trade_no: no, total_amount: '0.03', subject: '小程序订单', buyer_id: users.data[0].alipay_buyer_id },
    });
    const paid = await payAsBuyer(r.data.trade_no);
    assert.equal(paid.amount, 3);
    const c = await sdk.curl('POST', '/v3/alipay/trade/cancel', { body: { out_trade_no: no } });
    assert.equal(c.data.action, 'refund', JSON.stringify(c.data));
  });
  await step('v3 for an authorizing merchant (alipay-app-auth-token)', async () => {
    const merchants = await helper('GET', '/sandbox/v1/alipay/merchants');
    const seller = merchants.data.find(m => m.app_id !== appId) ?? merchants.data[1];
    const { app_auth_code: code } = await helper('POST', '/sandbox/v1/alipay/app_auth_codes', { merchant: seller.pid });
    const tok = await sdk.exec('alipay.open.auth.token.app', {
      bizContent: { grant_type: 'authorization_code', code },
    }, signed);
    assert.equal(tok.code, '10000', JSON.stringify(tok));
    const no = outTradeNo('M');
    const r = await sdk.curl('POST', '/v3/alipay/trade/precreate', {
      body: { out_trade_no: no, total_amount: '0.04', subject: '代商家收款' },
      appAuthToken: tok.appAuthToken,
    });
    const paid = await payAsBuyer(r.data.qr_code);
    assert.equal(paid.seller_id, seller.pid);
  });
  await step('v3 refusal of a wrong key', async () => {
    const err = await curlError(stranger, 'POST', '/v3/alipay/trade/query', { body: { out_trade_no: v3No } });
    assert.equal(err.code, 'invalid-signature', err.message);
    assert.equal(err.responseHttpStatus, 401);
  });
  await step('v3 unknown trade', async () => {
    const err = await curlError(sdk, 'POST', '/v3/alipay/trade/query', { body: { out_trade_no: 'NO_SUCH_TRADE' } });
    assert.equal(err.code, 'ACQ.TRADE_NOT_EXIST', err.message);
    assert.equal(err.responseHttpStatus, 400);
  });
  await step('v3 answer altered on the way is refused', async () => {
    const err = await curlError(tampered, 'POST', '/v3/alipay/trade/query', { body: { out_trade_no: v3No } });
    assert.equal(err.code, 'response-signature-verify-error', err.message);
  });
} catch {
  // step() has said what failed.
} finally {
  server.close();
}
process.exit(failed ? 1 : 0);
