// The dashboard in a real browser: Debian's chromium driven by
// playwright-core (admin/ui/node_modules), against a running kurierd
// that tests/integration/test_dashboard.sh started. Everything it needs
// comes from the environment:
//   KR_ADMIN, KR_TOKEN, KR_LMTP  the stack's ports and admin token
//   KR_USER, KR_SHARD            a test user and its shard (drained here)
//   KR_LOAD_USERS                space-separated users the load writes to
//   KR_STOP_NODE                 a shell command stopping KR_SHARD's node
//   KR_SHOT                      where the screenshot under load goes
// Prints "ok - ..." per step; exits 1 with "FAIL - ..." at the first
// failure. Every wait and every loop is bounded.
import { createRequire } from 'node:module';
import { execSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../admin/ui/package.json'));
const { chromium } = require('playwright-core');

const env = (k) => {
  const v = process.env[k];
  if (v === undefined || v === '') fail('environment variable ' + k + ' not set');
  return v;
};
function fail(msg) {
  console.error('FAIL - ' + msg);
  process.exit(1);
}
const ok = (msg) => console.log('ok - ' + msg);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const ADMIN = Number(env('KR_ADMIN'));
const TOKEN = env('KR_TOKEN');
const LMTP = Number(env('KR_LMTP'));
const USER = env('KR_USER');
const SHARD = Number(env('KR_SHARD'));
const LOAD_USERS = env('KR_LOAD_USERS').split(/\s+/).filter(Boolean);
const STOP_NODE = env('KR_STOP_NODE');
const SHOT = env('KR_SHOT');
const BASE = 'http://127.0.0.1:' + ADMIN;

// ---- LMTP (RFC 2033) -----------------------------------------------------
// One session on its own connection: a reader of whole replies (the
// line without '-' after the code), each within 10 s.
function lmtpSession() {
  return new Promise((resolve, reject) => {
    const sock = net.connect(LMTP, '127.0.0.1');
    let buf = '';
    let waiter = null;
    let lines = [];
    const pump = () => {
      let i;
      while (waiter && (i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        lines.push(line);
        if (line.length < 4 || line[3] !== '-') {
          const w = waiter;
          waiter = null;
          clearTimeout(w.timer);
          const all = lines;
          lines = [];
          w.resolve(all.join('\n'));
        }
      }
    };
    const reply = () => new Promise((res, rej) => {
      waiter = { resolve: res, timer: setTimeout(() => rej(new Error('LMTP reply timed out')), 10000) };
      pump();
    });
    sock.setEncoding('latin1');
    sock.on('data', (d) => { buf += d; pump(); });
    sock.on('error', (e) => { if (waiter) { clearTimeout(waiter.timer); waiter = null; } reject(e); });
    sock.once('connect', () => resolve({
      async cmd(line) { sock.write(line + '\r\n'); return reply(); },
      greeting: reply(),
      close() { sock.end('QUIT\r\n'); sock.destroy(); },
    }));
  });
}

// Delivers one message to rcpt; resolves to the reply that decided it:
// the RCPT reply when not 250, else the reply after the data.
async function deliver(rcpt, subject) {
  const s = await lmtpSession();
  try {
    const g = await s.greeting;
    if (!g.startsWith('220')) return g;
    await s.cmd('LHLO dashboard.test');
    let r = await s.cmd('MAIL FROM:<load@ext.test>');
    if (!r.startsWith('250')) return r;
    r = await s.cmd('RCPT TO:<' + rcpt + '>');
    if (!r.startsWith('250')) return r;
    r = await s.cmd('DATA');
    if (!r.startsWith('354')) return r;
    return await s.cmd('From: <load@ext.test>\r\nTo: <' + rcpt + '>\r\nSubject: ' + subject +
      '\r\nMessage-ID: <' + Date.now() + '.' + Math.random() + '@ext.test>\r\n\r\n' +
      'A message of the dashboard test.\r\n.');
  } finally {
    s.close();
  }
}

// Retries a delivery until its reply matches want (a RegExp), at most
// limitMs; resolves to { reply, ms }.
async function deliverUntil(rcpt, want, limitMs) {
  const t0 = Date.now();
  let reply = '';
  while (Date.now() - t0 < limitMs) {
    try {
      reply = await deliver(rcpt, 'dashboard probe');
    } catch (e) {
      reply = 'error: ' + e.message;
    }
    if (want.test(reply)) return { reply, ms: Date.now() - t0 };
    await sleep(200);
  }
  fail('delivery to ' + rcpt + ' never answered ' + want + ' within ' + limitMs + ' ms; last: ' + reply);
  return null;
}

// A bounded load: `conns` loops, together at most `count` messages and
// `limitMs` of time. Resolves to the counts of 250 and other replies.
async function load(count, conns, limitMs, pauseMs) {
  const t0 = Date.now();
  let sent = 0;
  const res = { ok: 0, other: 0, last: '' };
  const loop = async () => {
    while (sent < count && Date.now() - t0 < limitMs) {
      const rcpt = LOAD_USERS[sent % LOAD_USERS.length];
      sent++;
      try {
        const r = await deliver(rcpt, 'load ' + sent);
        if (r.startsWith('250')) res.ok++; else { res.other++; res.last = r; }
      } catch (e) {
        res.other++;
        res.last = e.message;
      }
      await sleep(pauseMs);
    }
  };
  await Promise.all(Array.from({ length: conns }, loop));
  return res;
}

// ---- admin HTTP without a browser -----------------------------------------
function post(urlPath, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: ADMIN, path: urlPath, method: 'POST',
      headers: Object.assign({ 'Content-Length': '0' }, headers), timeout: 10000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

// ---- the page ----------------------------------------------------------------
// Polls fn every 100 ms until it is true, at most limitMs; resolves to
// the time it took. On a timeout, detail() (optional) says what was seen.
async function waitFor(what, limitMs, fn, detail) {
  const t0 = Date.now();
  while (Date.now() - t0 < limitMs) {
    if (await fn()) return Date.now() - t0;
    await sleep(100);
  }
  fail('timed out after ' + limitMs + ' ms waiting for: ' + what + (detail ? ' (' + (await detail()) + ')' : ''));
  return -1;
}
const actionStatus = (page) => async () => 'action status: ' + (await page.locator('#action-status').textContent());

// The whole page in one viewport: a full-page capture would paint the
// sticky header where the page was scrolled, over a table.
async function shot(page, path) {
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: 1600, height: Math.min(height, 6000) });
  await page.screenshot({ path });
  await page.setViewportSize({ width: 1600, height: 1300 });
}

const rowSel = (shard) => '#nodes tr[data-shard="' + shard + '"]';

async function main() {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const watchdog = setTimeout(() => fail('the whole browser test took over 240 s'), 240000);
  try {
    const context = await browser.newContext({ viewport: { width: 1600, height: 1300 } });
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' || /Content.Security.Policy/i.test(m.text())) problems.push('console: ' + m.text());
    });
    page.on('dialog', (d) => d.accept());

    // 1. The token in the URL becomes an HttpOnly cookie and leaves the URL.
    await page.goto(BASE + '/?token=' + encodeURIComponent(TOKEN));
    if (page.url() !== BASE + '/') fail('after the token redirect the URL is ' + page.url());
    const cookie = (await context.cookies(BASE)).find((c) => c.name === 'kurier_admin');
    if (!cookie) fail('no kurier_admin cookie after the redirect');
    if (!cookie.httpOnly) fail('the kurier_admin cookie is not HttpOnly');
    if (cookie.sameSite !== 'Strict') fail('the cookie is SameSite=' + cookie.sameSite);
    if ((await page.evaluate(() => document.cookie)).includes('kurier_admin')) fail('the page script sees the cookie');
    ok('/?token= redirected to / (token gone from the URL); cookie HttpOnly, SameSite=Strict');

    // 2. One row per shard, filled by the first polls.
    await waitFor('20 shard rows', 10000, async () =>
      (await page.evaluate(() => new Set(Array.from(document.querySelectorAll('#nodes tr[data-shard]'),
        (tr) => tr.dataset.shard)).size)) === 20);
    const polls0 = await page.evaluate(() => window.krDash.polls);
    ok('20 shard rows (after ' + polls0 + ' polls)');

    // 3. A bounded LMTP load moves the messages chart.
    // About 100 msg/s for about 8 s: long enough to be seen on the charts.
    const loadRun = load(800, 4, 12000, 30);
    const moved = await waitFor('the messages/s series above 0', 20000, () => page.evaluate(() => {
      const s = window.krDash.series.lmtp_msgs;
      return s.slice(-10).some((v) => v > 0);
    }));
    await sleep(4000); // a few more points on the charts, the load still on
    await shot(page, SHOT);
    writeFileSync(SHOT.replace(/\.png$/, '-snapshot.json'),
      JSON.stringify(await page.evaluate(() => window.krDash.snapshot), null, 1));
    const done = await loadRun;
    if (done.ok === 0) fail('the load delivered nothing; last reply: ' + done.last);
    const peak = await page.evaluate(() => Math.max(...window.krDash.series.lmtp_msgs.filter((v) => v !== null)));
    ok('load of ' + (done.ok + done.other) + ' messages (' + done.ok + ' delivered): the msg/s series moved within ' +
      moved + ' ms, peak ' + peak.toFixed(1) + ' msg/s; screenshot ' + SHOT);

    // 4. Drain from the page: its users get 451 4.3.0; undrain: delivered.
    const row = page.locator(rowSel(SHARD)).first();
    await row.locator('button.drain').click();
    const tDrain = await waitFor('shard ' + SHARD + ' row draining', 5000, async () =>
      (await row.getAttribute('data-state')) === 'draining', actionStatus(page));
    const status = await page.locator('#action-status').textContent();
    if (!/ok/.test(status)) fail('the drain action shows: ' + status);
    const refused = await deliverUntil(USER, /^451 4\.3\.0/m, 5000);
    ok('Drain clicked: row draining after ' + tDrain + ' ms ("' + status.trim() + '"); delivery to ' + USER +
      ' answered "' + refused.reply.split('\n').pop() + '" within ' + refused.ms + ' ms');
    await row.locator('button.undrain').click();
    await waitFor('shard ' + SHARD + ' row up again', 5000, async () => (await row.getAttribute('data-state')) === 'up',
      actionStatus(page));
    const accepted = await deliverUntil(USER, /^250/m, 5000);
    ok('Undrain clicked: row up; delivery accepted within ' + accepted.ms + ' ms');

    // 5. A POST with the cookie but without (or with a foreign) Origin is refused.
    const jar = { Cookie: 'kurier_admin=' + cookie.value, Host: '127.0.0.1:' + ADMIN };
    const noOrigin = await post('/api/nodes/' + SHARD + '/drain', jar);
    if (noOrigin.status !== 403) fail('POST with cookie, no Origin: ' + noOrigin.status + ' ' + noOrigin.body);
    const foreign = await post('/api/nodes/' + SHARD + '/drain', Object.assign({ Origin: 'http://evil.test' }, jar));
    if (foreign.status !== 403) fail('POST with cookie, foreign Origin: ' + foreign.status + ' ' + foreign.body);
    await sleep(1500);
    if ((await row.getAttribute('data-state')) !== 'up') fail('a refused POST drained the shard');
    ok('POST with the cookie: no Origin 403, foreign Origin 403, shard still up');

    // 6. The shard's PostgreSQL node stops: its row turns red within 5 s.
    const t0 = Date.now();
    execSync(STOP_NODE, { stdio: 'inherit', shell: '/bin/bash', timeout: 30000 });
    const stopMs = Date.now() - t0;
    const tDown = await waitFor('shard ' + SHARD + ' row red', 5000, async () =>
      /\brow-down\b/.test((await row.getAttribute('class')) || ''));
    const bg = await row.locator('td').first().evaluate((td) => getComputedStyle(td).backgroundColor);
    const m = bg.match(/rgba?\((\d+), (\d+), (\d+)/);
    if (!m || !(Number(m[1]) > Number(m[2]) + 20 && Number(m[1]) > Number(m[3]) + 20)) fail('the down row is not red: ' + bg);
    const health = await page.locator('#health').textContent();
    await shot(page, SHOT.replace(/\.png$/, '-down.png'));
    ok('node of shard ' + SHARD + ' stopped (' + stopMs + ' ms): row red (' + bg + ') after ' + tDown +
      ' ms; health "' + health + '"');

    if (problems.length) fail('the page logged: ' + problems.join(' | '));
    ok('no script errors and no CSP violations');
  } finally {
    clearTimeout(watchdog);
    await browser.close();
  }
}

main().catch((e) => fail(e.stack || String(e)));
