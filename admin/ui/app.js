/* The kurier dashboard (SPEC.md §3.3): polls GET /api/snapshot every
 * second, keeps at most 15 minutes of history for the uPlot charts and
 * renders the tables. No framework, nothing fetched from elsewhere, no
 * HTML built from data (textContent only). The state is exposed as
 * window.krDash for the browser test (tests/browser/dashboard.mjs). */
'use strict';

(function () {
  const POLL_MS = 1000;
  const POLL_TIMEOUT_MS = 5000;
  const ACTION_TIMEOUT_MS = 35000;
  const STALE_MS = 3500;
  const HISTORY_MAX = 900;
  const SERIES = ['lmtp_msgs', 'lmtp_errors', 'deliveries', 'rpc_calls',
    'rpc_errors', 'lmtp_p50_ms', 'lmtp_p99_ms', 'rpc_p50_ms', 'rpc_p99_ms',
    'spam', 'ham', 'rejected', 'cache_hit_rate'];

  const COLORS = {
    blue: '#58a6ff', green: '#3fb950', amber: '#d29922', red: '#f85149',
    violet: '#bc8cff', cyan: '#39c5cf', grey: '#8b949e', orange: '#f0883e',
  };

  /* Charts: which series, how labelled, in what unit. scale multiplies
   * the stored value (hit rate 0..1 shown as %). */
  const CHARTS = [
    { id: 'chart-msgs', unit: 'msg/s', lines: [
      { key: 'lmtp_msgs', label: 'messages', color: COLORS.blue },
      { key: 'deliveries', label: 'deliveries', color: COLORS.green, dash: [6, 4] }] },
    { id: 'chart-rpc', unit: 'calls/s', lines: [
      { key: 'rpc_calls', label: 'RPC calls', color: COLORS.violet }] },
    { id: 'chart-errors', unit: 'errors/s', lines: [
      { key: 'lmtp_errors', label: 'LMTP', color: COLORS.orange },
      { key: 'rpc_errors', label: 'RPC', color: COLORS.red }] },
    { id: 'chart-latency', unit: 'ms', lines: [
      { key: 'lmtp_p50_ms', label: 'LMTP p50', color: COLORS.blue },
      { key: 'lmtp_p99_ms', label: 'LMTP p99', color: COLORS.cyan, dash: [6, 4] },
      { key: 'rpc_p50_ms', label: 'RPC p50', color: COLORS.violet },
      { key: 'rpc_p99_ms', label: 'RPC p99', color: COLORS.orange, dash: [6, 4] }] },
    { id: 'chart-spam', unit: 'msg/s', lines: [
      { key: 'ham', label: 'ham', color: COLORS.green },
      { key: 'spam', label: 'spam', color: COLORS.amber },
      { key: 'rejected', label: 'rejected', color: COLORS.red }] },
    { id: 'chart-cache', unit: '%', lines: [
      { key: 'cache_hit_rate', label: 'hit rate', color: COLORS.cyan, scale: 100 }],
      range: [0, 100] },
  ];

  const dash = {
    series: { t: [] },       /* t: epoch ms; one array per SERIES key */
    snapshot: null,          /* the last good /api/snapshot */
    polls: 0, failures: 0,
    lastOk: 0, lastError: null,
    charts: [],
  };
  for (const k of SERIES) dash.series[k] = [];
  window.krDash = dash;

  const $ = (id) => document.getElementById(id);

  /* ---- formatting ---------------------------------------------------- */
  function num(v) { return typeof v === 'number' && Number.isFinite(v); }
  function fmtRate(v) {
    if (!num(v)) return '–';
    if (v === 0) return '0';
    if (v < 10) return v.toFixed(2);
    if (v < 100) return v.toFixed(1);
    return Math.round(v).toLocaleString('en-US');
  }
  function fmtMs(v) {
    if (!num(v)) return '–';
    if (v < 1) return v.toFixed(2);
    if (v < 100) return v.toFixed(1);
    return Math.round(v).toLocaleString('en-US');
  }
  function fmtInt(v) { return num(v) ? Math.round(v).toLocaleString('en-US') : '–'; }
  function fmtPct(v) { return num(v) ? (v * 100).toFixed(1) + ' %' : '–'; }
  function fmtMiB(v) { return num(v) ? (v / 1048576).toFixed(1) : '–'; }
  function fmtBytes(v) {
    if (!num(v)) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(v) : v.toFixed(1)) + ' ' + units[i];
  }
  /* "3 m 12 s", "2 h 5 m", "4 d 3 h": the two largest units. */
  function fmtDuration(s) {
    if (!num(s) || s < 0) return '–';
    s = Math.floor(s);
    const parts = [[86400, 'd'], [3600, 'h'], [60, 'm'], [1, 's']];
    const out = [];
    for (const [n, u] of parts) {
      if (s >= n || (u === 's' && out.length === 0)) {
        out.push(Math.floor(s / n) + ' ' + u);
        s %= n;
      }
      if (out.length === 2) break;
      if (out.length === 1 && s === 0) break;
    }
    return out.join(' ');
  }
  function pad(n) { return String(n).padStart(2, '0'); }
  function fmtTime(ms) {
    if (!num(ms)) return '–';
    const d = new Date(ms);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function fmtDateTime(ms) {
    if (!num(ms)) return '–';
    const d = new Date(ms);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) +
      ' ' + fmtTime(ms);
  }
  function str(v) { return v === null || v === undefined ? '–' : String(v); }

  /* ---- DOM helpers ---------------------------------------------------- */
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function setText(e, text) {
    if (e.textContent !== text) e.textContent = text;
  }
  /* A cell that make() filled (buttons), left alone by updates. */
  const KEEP = Object.freeze({});
  function badge(text, kind) {
    return { badge: text, kind: kind };
  }
  /* One cell's value: a string, or {badge, kind}; writes only changes
   * (a table redrawn every second must not flicker nor lose a hover). */
  function setCell(td, v) {
    if (v === KEEP) return;
    if (v !== null && typeof v === 'object' && 'badge' in v) {
      let b = td.firstElementChild;
      if (!b) { td.textContent = ''; b = td.appendChild(el('span')); }
      const cls = 'badge badge-' + v.kind;
      if (b.className !== cls) b.className = cls;
      setText(b, v.badge);
      return;
    }
    setText(td, str(v));
  }
  /* Keeps tbody's rows in the order of items, one per key, reusing rows:
   * make(tr, item) builds extra parts once (buttons), cells(item) gives
   * the cell values, rowClass(item) the row's class. */
  function syncRows(tbody, items, spec) {
    const old = new Map();
    for (const tr of Array.from(tbody.rows)) old.set(tr.dataset.key, tr);
    let prev = null;
    for (const item of items) {
      const key = String(spec.key(item));
      let tr = old.get(key);
      const values = spec.cells(item);
      if (!tr) {
        tr = el('tr');
        tr.dataset.key = key;
        for (let i = 0; i < values.length; i++) tr.appendChild(el('td', spec.cls ? spec.cls[i] : ''));
        if (spec.make) spec.make(tr, item);
      }
      old.delete(key);
      values.forEach((v, i) => setCell(tr.cells[i], v));
      const rc = spec.rowClass ? spec.rowClass(item) : '';
      if (tr.className !== rc) tr.className = rc;
      if (spec.update) spec.update(tr, item);
      const next = prev ? prev.nextSibling : tbody.firstChild;
      if (next !== tr) tbody.insertBefore(tr, next);
      prev = tr;
    }
    for (const tr of old.values()) tr.remove();
  }
  function emptyRow(tbody, cols, text) {
    if (tbody.rows.length === 1 && tbody.rows[0].dataset.key === '') return;
    tbody.textContent = '';
    const tr = el('tr', 'empty');
    tr.dataset.key = '';
    const td = el('td', '', text);
    td.colSpan = cols;
    tr.appendChild(td);
    tbody.appendChild(tr);
  }
  function table(id, cols, items, spec, emptyText) {
    const tbody = $(id);
    if (!items || items.length === 0) {
      emptyRow(tbody, cols, emptyText || 'none');
      return;
    }
    if (tbody.rows.length === 1 && tbody.rows[0].dataset.key === '') tbody.textContent = '';
    syncRows(tbody, items, spec);
  }

  /* ---- charts ---------------------------------------------------------- */
  const AXIS = { stroke: '#9aa4b2', grid: { stroke: '#283041', width: 1 },
    ticks: { stroke: '#283041', width: 1 }, font: '11px system-ui, sans-serif' };

  function chartData(def) {
    const t = dash.series.t.map((ms) => ms / 1000);
    const data = [t];
    for (const l of def.lines) {
      const src = dash.series[l.key];
      const k = l.scale || 1;
      data.push(src.map((v) => (num(v) ? v * k : null)));
    }
    return data;
  }
  function chartSize(fig) {
    const plot = fig.querySelector('.plot');
    return { width: Math.max(200, plot.clientWidth), height: 170 };
  }
  function makeChart(def) {
    const fig = $(def.id);
    const size = chartSize(fig);
    const unit = def.unit;
    const fmt = (v) => (num(v) ? (unit === 'ms' ? fmtMs(v) : fmtRate(v)) + ' ' + unit : '–');
    /* Without the cursor on the chart the legend shows the latest
     * values: the figures an operator glances at. */
    const latest = (u, si, idx) => (idx === null || idx === undefined
      ? u.data[si][u.data[si].length - 1] : u.data[si][idx]);
    const series = [{ label: 'time', value: (u, v, si, idx) => {
      const t = latest(u, 0, idx);
      return num(t) ? fmtTime(t * 1000) : '–';
    } }];
    for (const l of def.lines) {
      series.push({
        label: l.label, stroke: l.color, width: 1.5, dash: l.dash,
        points: { show: false }, spanGaps: false,
        value: (u, v, si, idx) => fmt(latest(u, si, idx)),
      });
    }
    const opts = {
      width: size.width, height: size.height, series: series,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true }, y: def.range
        ? { range: def.range }
        : { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [Object.assign({}, AXIS, { values: (u, vals) => vals.map((v) => {
        const d = new Date(v * 1000);
        return pad(d.getHours()) + ':' + pad(d.getMinutes()) + (d.getSeconds() ? ':' + pad(d.getSeconds()) : '');
      }) }),
        Object.assign({}, AXIS, { size: 55, values: (u, vals) => vals.map((v) => fmtRate(v)) })],
    };
    /* global uPlot */
    const chart = new uPlot(opts, chartData(def), fig.querySelector('.plot'));
    dash.charts.push({ def: def, chart: chart, fig: fig });
  }
  function initCharts() {
    if (typeof uPlot === 'undefined') return;
    for (const def of CHARTS) makeChart(def);
    let pending = false;
    window.addEventListener('resize', () => {
      if (pending) return;
      pending = true;
      window.requestAnimationFrame(() => {
        pending = false;
        for (const c of dash.charts) c.chart.setSize(chartSize(c.fig));
      });
    });
  }
  function drawCharts() {
    for (const c of dash.charts) c.chart.setData(chartData(c.def));
  }

  /* Appends the points newer than the last kept, keeps HISTORY_MAX. */
  function addHistory(h) {
    if (!h || !Array.isArray(h.t)) return;
    const s = dash.series;
    const last = s.t.length ? s.t[s.t.length - 1] : -Infinity;
    const src = h.series || {};
    for (let i = 0; i < h.t.length; i++) {
      if (!(h.t[i] > last)) continue;
      s.t.push(h.t[i]);
      for (const k of SERIES) {
        const a = src[k];
        s[k].push(Array.isArray(a) && num(a[i]) ? a[i] : null);
      }
    }
    const extra = s.t.length - HISTORY_MAX;
    if (extra > 0) {
      s.t.splice(0, extra);
      for (const k of SERIES) s[k].splice(0, extra);
    }
  }

  /* ---- header ------------------------------------------------------------- */
  function renderHeader(snap) {
    const o = snap.overview || {};
    setText($('host'), str(o.host));
    const h = $('health');
    const health = o.health || 'unknown';
    const cls = 'health health-' + health;
    if (h.className !== cls) h.className = cls;
    setText(h, health);
    setText($('uptime'), fmtDuration(o.uptime_s));
    const as = o.antispam || {};
    setText($('generation'), as.enabled === false ? 'antispam off' : str(as.generation));
    const w = o.workers || {};
    setText($('workers-sum'), str(w.serving) + ' / ' + str(w.total) + ' serving' +
      (w.restarts ? ', ' + w.restarts + ' restarts' : ''));
    const n = o.nodes || {};
    setText($('nodes-sum'), str(n.up) + ' up, ' + str(n.down) + ' down, ' +
      str(n.draining) + ' draining');
    setText($('version'), str(o.version));
    setText($('updated'), fmtTime(o.now_ms));
    const probs = Array.isArray(o.problems) ? o.problems : [];
    const ul = $('problems');
    ul.hidden = probs.length === 0;
    const texts = probs.map(String);
    if (Array.from(ul.children).map((li) => li.textContent).join('\n') !== texts.join('\n')) {
      ul.textContent = '';
      for (const p of texts) ul.appendChild(el('li', '', p));
    }
    document.title = (health === 'ok' ? '' : '[' + health + '] ') + 'kurier ' + str(o.host);
  }

  /* ---- tables --------------------------------------------------------- */
  const STATE_KIND = { up: 'ok', down: 'down', draining: 'warn', closed: 'ok', open: 'down',
    serving: 'ok', starting: 'warn', free: 'muted', active: 'ok', retiring: 'warn',
    ok: 'ok', degraded: 'warn', unhealthy: 'down' };
  function stateBadge(s) { return badge(str(s), STATE_KIND[s] || 'muted'); }

  function renderHosts(doc) {
    const hosts = (doc && doc.hosts) || [];
    table('hosts', 10, hosts, {
      key: (x) => x.name,
      cls: ['', '', '', 'num', 'num', 'num', '', '', '', 'error-cell'],
      rowClass: (x) => (x.up ? '' : 'row-down'),
      cells: (x) => {
        const r = x.rates || {}, w = x.workers || {}, n = x.nodes || {};
        const err = num(r.lmtp_errors) || num(r.rpc_errors)
          ? (r.lmtp_errors || 0) + (r.rpc_errors || 0) : null;
        return [x.name + (x.self ? ' (this)' : ''), badge(x.up ? 'up' : 'down', x.up ? 'ok' : 'down'),
          x.health ? stateBadge(x.health) : '–', fmtRate(r.lmtp_msgs), fmtRate(r.rpc_calls),
          fmtRate(err), x.workers ? str(w.serving) + ' / ' + str(w.total) : '–',
          x.nodes ? str(n.up) + ' / ' + str(n.down) + ' / ' + str(n.draining) : '–',
          fmtTime(x.checked_ms), str(x.error)];
      },
    }, 'no hosts');
  }

  function renderNodes(doc) {
    const nodes = (doc && doc.nodes) || [];
    const down = nodes.filter((x) => x.state === 'down').length;
    setText($('nodes-count'), nodes.length + ' nodes' + (down ? ', ' + down + ' down' : ''));
    table('nodes', 13, nodes, {
      key: (x) => x.shard + '/' + x.node,
      cls: ['num', '', 'addr', '', '', 'num', 'num', 'num', 'num', 'num', 'num', 'num', 'act'],
      rowClass: (x) => 'node row-' + (x.state || 'unknown') +
        (x.circuit === 'open' && x.state !== 'down' ? ' row-circuit' : ''),
      cells: (x) => {
        const p = x.pool || {}, l = x.latency_ms || {};
        return [String(x.shard), str(x.node), str(x.host) + (x.port ? ':' + x.port : ''),
          stateBadge(x.state), stateBadge(x.circuit),
          str(p.busy) + ' / ' + str(p.idle) + ' / ' + str(p.waiting),
          fmtMs(l.p50), fmtMs(l.p99), fmtInt(x.queries), fmtInt(x.errors),
          fmtRate(x.errors_rate), fmtInt(x.users), KEEP];
      },
      make: (tr, x) => {
        tr.dataset.shard = String(x.shard);
        tr.dataset.node = String(x.node);
        if (x.role === 'replica') return;
        const td = tr.cells[12];
        const drain = el('button', 'action drain', 'Drain');
        drain.type = 'button';
        drain.addEventListener('click', () => nodeAction(x.shard, 'drain'));
        const undrain = el('button', 'action undrain', 'Undrain');
        undrain.type = 'button';
        undrain.addEventListener('click', () => nodeAction(x.shard, 'undrain'));
        td.appendChild(drain);
        td.appendChild(undrain);
      },
      update: (tr, x) => {
        tr.dataset.state = String(x.state);
        const d = tr.querySelector('.drain'), u = tr.querySelector('.undrain');
        if (d) d.hidden = x.state === 'draining';
        if (u) u.hidden = x.state !== 'draining';
      },
    }, 'no nodes');
  }

  function renderWorkers(doc) {
    doc = doc || {};
    const list = (doc.workers || []).slice();
    for (const r of doc.restarting || []) {
      list.push({ index: r.index, pid: null, state: 'restarting', restarts: r.restarts,
        backoff_ms: r.backoff_ms, restart_in_ms: r.restart_in_ms });
    }
    list.sort((a, b) => a.index - b.index || (a.pid || 0) - (b.pid || 0));
    const c = doc.cycle || {};
    setText($('workers-health'), (doc.health ? doc.health : '') +
      (num(doc.restarts_recent) && doc.restarts_recent ? ', ' + doc.restarts_recent + ' recent restarts' : '') +
      (c.active ? ', cycling ' + c.done + ' / ' + c.total : ''));
    $('cycle').disabled = !!c.active;
    table('workers', 8, list, {
      key: (x) => x.index + '/' + (x.pid || 'r'),
      cls: ['num', 'num', '', 'num', 'num', 'num', 'num', ''],
      rowClass: (x) => (x.state === 'restarting' ? 'row-down' : ''),
      cells: (x) => [String(x.index), str(x.pid),
        badge(str(x.state), x.state === 'restarting' ? 'down' : STATE_KIND[x.state] || 'muted'),
        fmtDuration(x.uptime_s), fmtInt(x.requests), fmtMiB(x.rss_bytes), fmtInt(x.restarts),
        x.backoff_ms ? fmtDuration(x.backoff_ms / 1000) +
          (num(x.restart_in_ms) ? ' (restart in ' + fmtDuration(x.restart_in_ms / 1000) + ')' : '') : '–'],
    }, 'no workers');
  }

  function renderCache(doc) {
    doc = doc || {};
    const rows = [{ index: 'all', bytes: doc.bytes, max_bytes: doc.max_bytes, hits: doc.hits,
      misses: doc.misses, evictions: doc.evictions, hit_rate: doc.hit_rate, total: true }];
    for (const w of doc.workers || []) {
      const n = (w.hits || 0) + (w.misses || 0);
      rows.push(Object.assign({}, w, { hit_rate: n ? w.hits / n : null }));
    }
    table('cache', 6, doc.bytes === undefined ? [] : rows, {
      key: (x) => x.index,
      cls: ['', 'num', 'num', 'num', 'num', 'num'],
      rowClass: (x) => (x.total ? 'total' : ''),
      cells: (x) => [x.total ? 'all' : 'worker ' + x.index + (x.pid ? ' (pid ' + x.pid + ')' : ''),
        fmtBytes(x.bytes) + (num(x.max_bytes) ? ' of ' + fmtBytes(x.max_bytes) : ''),
        fmtPct(x.hit_rate), fmtInt(x.hits), fmtInt(x.misses), fmtInt(x.evictions)],
    }, 'no cache data');
  }

  function renderFilters(doc) {
    doc = doc || {};
    setText($('filters-enabled'), doc.enabled === false ? 'antispam off' : doc.enabled ? 'antispam on' : '');
    const e = $('filters-error');
    e.hidden = !doc.last_error;
    setText(e, doc.last_error ? 'last load error: ' + doc.last_error : '');
    table('filters', 6, doc.generations || [], {
      key: (x) => x.id,
      cls: ['num', '', '', 'num', '', ''],
      cells: (x) => [String(x.id),
        (x.modules || []).map((m) => m.name + '@' + m.version).join(', ') || '–',
        fmtDateTime(x.loaded_at_ms), fmtInt(x.in_flight), stateBadge(x.state),
        (x.workers || []).join(', ') || '–'],
    }, 'no filter generations');
  }

  function renderErrors(doc) {
    const list = ((doc && doc.errors) || []).slice(0, 100);
    table('errors', 5, list, {
      key: (x) => x.ts_ms + '|' + x.line,
      cls: ['', '', '', '', 'line'],
      rowClass: (x) => 'level-' + x.level,
      cells: (x) => [fmtTime(x.ts_ms), badge(str(x.level), x.level === 'error' ? 'down' : 'warn'),
        str(x.proc), str(x.event), str(x.line)],
      make: (tr, x) => { tr.cells[4].title = str(x.line); },
    }, 'no recent errors');
  }

  function renderActions(doc) {
    const list = ((doc && doc.actions) || []).slice(0, 50);
    table('actions', 6, list, {
      key: (x) => x.ts_ms + '|' + x.action + '|' + x.target + '|' + x.result,
      cls: ['', '', '', '', '', ''],
      cells: (x) => [fmtDateTime(x.ts_ms), str(x.action), str(x.target), str(x.who), str(x.peer),
        badge(str(x.result), x.result === 'ok' ? 'ok' : 'down')],
    }, 'no actions yet');
  }

  function render(snap) {
    renderHeader(snap);
    renderHosts(snap.hosts);
    renderNodes(snap.nodes);
    renderWorkers(snap.workers);
    renderCache(snap.cache);
    renderFilters(snap.filters);
    renderErrors(snap.errors);
    renderActions(snap.actions);
  }

  /* ---- staleness ------------------------------------------------------- */
  function renderStale() {
    const b = $('stale');
    const age = Date.now() - dash.lastOk;
    const stale = dash.lastOk === 0 ? dash.failures > 0 : age > STALE_MS;
    b.hidden = !stale;
    document.body.classList.toggle('is-stale', stale);
    if (!stale) return;
    const since = dash.lastOk ? 'last update ' + fmtDuration(age / 1000) + ' ago' : 'no data yet';
    setText(b, 'STALE: ' + since + ' (' + str(dash.lastError) + ')');
  }

  /* ---- polling ---------------------------------------------------------- */
  async function fetchJson(url, opts, timeoutMs) {
    const ctl = new AbortController();
    const timer = window.setTimeout(() => ctl.abort(), timeoutMs || POLL_TIMEOUT_MS);
    try {
      const r = await fetch(url, Object.assign({ credentials: 'same-origin', cache: 'no-store',
        signal: ctl.signal }, opts || {}));
      const text = await r.text();
      let body = null;
      try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
      return { status: r.status, ok: r.ok, body: body, text: text };
    } finally {
      window.clearTimeout(timer);
    }
  }

  async function poll() {
    const t = dash.series.t;
    const since = t.length ? t[t.length - 1] : 0;
    try {
      const r = await fetchJson('/api/snapshot?since=' + since);
      if (r.status === 401) {
        /* The cookie ended (expired, or a new token): / shows the form. */
        window.location.assign('/');
        throw new Error('signed out');
      }
      if (!r.ok || !r.body) throw new Error('HTTP ' + r.status);
      dash.snapshot = r.body;
      dash.polls++;
      dash.lastOk = Date.now();
      dash.lastError = null;
      addHistory(r.body.history);
      render(r.body);
      drawCharts();
    } catch (e) {
      dash.failures++;
      dash.lastError = e.name === 'AbortError' ? 'timed out' : e.message;
    }
    renderStale();
  }

  let timer = null;
  function schedule(ms) {
    window.clearTimeout(timer);
    timer = window.setTimeout(async () => {
      const start = Date.now();
      await poll();
      schedule(Math.max(100, POLL_MS - (Date.now() - start)));
    }, ms);
  }

  /* ---- actions --------------------------------------------------------- */
  function showAction(text, kind) {
    const b = $('action-status');
    b.hidden = false;
    b.className = 'banner action-status action-' + kind;
    setText(b, fmtTime(Date.now()) + '  ' + text);
  }

  async function post(what, url) {
    showAction(what + ': …', 'pending');
    try {
      /* A reload waits for every worker, up to 30 s. */
      const r = await fetchJson(url, { method: 'POST' }, ACTION_TIMEOUT_MS);
      const b = r.body || {};
      let detail = '';
      if (b.error) detail = String(b.error);
      else if (b.state) detail = 'state ' + b.state;
      else if (b.cycle) detail = 'cycling ' + b.cycle.done + ' / ' + b.cycle.total;
      else if (b.generation !== undefined) detail = 'generation ' + b.generation;
      if (!detail) detail = r.text.trim().slice(0, 200);
      showAction(what + ': ' + (r.ok ? 'ok' : 'HTTP ' + r.status) + (detail ? ' (' + detail + ')' : ''),
        r.ok ? 'ok' : 'error');
    } catch (e) {
      showAction(what + ': failed (' + (e.name === 'AbortError' ? 'timed out' : e.message) + ')', 'error');
    }
    schedule(0);
  }

  function nodeAction(shard, verb) {
    if (verb === 'drain' && !window.confirm('Drain shard ' + shard +
        '? Its users get temporary errors until it is undrained.')) return;
    post(verb + ' shard ' + shard, '/api/nodes/' + encodeURIComponent(shard) + '/' + verb);
  }

  function init() {
    initCharts();
    $('cycle').addEventListener('click', () => {
      if (!window.confirm('Restart every worker, one at a time?')) return;
      post('cycle workers', '/api/workers/cycle');
    });
    $('reload').addEventListener('click', () => post('reload', '/api/reload'));
    window.setInterval(renderStale, 1000);
    schedule(0);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
