// The Tern console: signs in with an API token (kept in sessionStorage, sent as the bearer
// token) and draws every page from the JSON API. User data (names, keys, values) only ever
// enters the page as text nodes or attribute values, never parsed as HTML.
'use strict';

const TOKEN_KEY = 'tern.apiToken';
const SVG_NS = 'http://www.w3.org/2000/svg';
// Most keys one SCAN round asks for, and most SCAN calls one "Scan" click makes.
const SCAN_COUNT = 100;
const SCAN_CALLS = 10;
// Most items of a collection shown in the key browser.
const VALUE_ITEMS = 100;

// ---- DOM helpers

/** An element with attributes (`class`, `id`, `data-*`, …) and children (strings become text). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function view() { return document.getElementById('view'); }

function show(...children) {
  view().replaceChildren();
  append(view(), children);
}

function showError(message) {
  const box = document.getElementById('error');
  box.textContent = message || '';
  box.hidden = !message;
}

function link(path, text) {
  return el('a', { href: path, 'data-nav': true }, text);
}

function fieldTable(rows) {
  return el('table', { class: 'fields' }, rows.map(([name, value]) => el('tr', {}, el('th', {}, name), el('td', {}, value))));
}

function table(headings, rows, attrs) {
  return el('table', attrs || {},
    el('thead', {}, el('tr', {}, headings.map((h) => el('th', {}, h)))),
    el('tbody', {}, rows.map((cells) => el('tr', {}, cells.map((c) => el('td', {}, c))))));
}

function statusText(status) {
  return el('span', { class: status === 'ready' ? 'status-ready' : 'status-other' }, status);
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = Number(n) || 0;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return (unit === 0 ? String(value) : value.toFixed(1)) + ' ' + units[unit];
}

function count(n) { return (Number(n) || 0).toLocaleString('en-US'); }

function dollars(micros) { return '$' + ((Number(micros) || 0) / 1e6).toFixed(2); }

function date(seconds) { return new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'; }

// ---- API

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function api(method, path, body) {
  const init = { method, headers: { Authorization: 'Bearer ' + token() } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { error: text }; }
  if (!response.ok) {
    const message = (data && data.error) || response.statusText;
    if (response.status === 401) {
      signOut('The API token was refused: ' + message);
    }
    throw new ApiError(message, response.status);
  }
  return data;
}

// ---- sign in and out

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  document.getElementById('nav').hidden = true;
  document.getElementById('org-name').textContent = '';
  view().replaceChildren();
  document.getElementById('sign-in').hidden = false;
  document.getElementById('token').value = '';
  showError(message);
}

async function signIn(given) {
  sessionStorage.setItem(TOKEN_KEY, given);
  try {
    const orgs = await api('GET', '/v1/orgs');
    document.getElementById('org-name').textContent = orgs.map((o) => o.name).join(', ');
  } catch (e) {
    if (e.status !== 401) signOut('Cannot sign in: ' + e.message);
    return;
  }
  document.getElementById('sign-in').hidden = true;
  document.getElementById('nav').hidden = false;
  showError('');
  await route();
}

// ---- routing: /console, /console/redis/NAME, /console/kafka[/NAME], /console/usage

function navigate(path) {
  history.pushState(null, '', path);
  route();
}

async function route() {
  if (!token()) { signOut(''); return; }
  const parts = location.pathname.replace(/\/+$/, '').split('/').slice(2).map(decodeURIComponent);
  showError('');
  show(el('p', { class: 'muted' }, 'Loading…'));
  try {
    if (parts[0] === 'redis' && parts[1]) await databasePage(parts[1]);
    else if (parts[0] === 'kafka' && parts[1]) await clusterPage(parts[1]);
    else if (parts[0] === 'kafka') await homePage('kafka');
    else if (parts[0] === 'usage') await usagePage();
    else await homePage('redis');
  } catch (e) {
    if (e.status !== 401) { show(); showError(e.message); }
  }
}

// ---- the home page: databases, clusters, notifications

async function homePage(focus) {
  const [databases, clusters, notifications] = await Promise.all([
    api('GET', '/v1/databases'), api('GET', '/v1/kafka/clusters'), api('GET', '/v1/notifications'),
  ]);
  const dbSection = el('section', { id: 'databases' }, el('h1', {}, 'Redis databases'),
    databases.length === 0
      ? el('p', { class: 'muted' }, 'No databases yet: tern redis create')
      : table(['Name', 'Plan', 'Eviction', 'Primary region', 'Read regions', 'Status'], databases.map((d) => [
        link('/console/redis/' + encodeURIComponent(d.name), d.name), d.plan, d.eviction ? 'on' : 'off',
        d.primary_region, d.read_regions.join(', ') || 'None', statusText(primaryStatus(d.regions)),
      ]), { id: 'database-list' }));
  const kafkaSection = el('section', { id: 'clusters' }, el('h1', {}, 'Kafka clusters'),
    clusters.length === 0
      ? el('p', { class: 'muted' }, 'No Kafka clusters yet: tern kafka create')
      : table(['Name', 'Plan', 'Region', 'Replica regions', 'Status'], clusters.map((c) => [
        link('/console/kafka/' + encodeURIComponent(c.name), c.name), c.plan, c.primary_region,
        c.replica_regions.join(', ') || 'None', statusText(c.status),
      ]), { id: 'cluster-list' }));
  const sections = focus === 'kafka' ? [kafkaSection, dbSection] : [dbSection, kafkaSection];
  show(sections, notificationsSection(notifications));
}

function primaryStatus(regions) {
  const primary = regions.find((r) => r.role === 'primary');
  return primary ? primary.status : 'pending';
}

function notificationsSection(notifications) {
  return el('section', { id: 'notifications' }, el('h2', {}, 'Notifications'),
    notifications.length === 0
      ? el('p', { class: 'muted' }, 'None.')
      : el('ul', { class: 'notifications' }, notifications.map((n) => el('li', {}, el('span', { class: 'muted' }, date(n.created_at)), ' ', n.message))));
}

// ---- secrets: hidden until revealed, copyable

/** `shown(true)` is the full text, `shown(false)` the text with the secret masked. */
function secretField(id, shown, copyText) {
  let revealed = false;
  const text = el('code', { id }, shown(false));
  const toggle = el('button', { type: 'button', id: id + '-reveal' }, 'Reveal');
  toggle.addEventListener('click', () => {
    revealed = !revealed;
    text.textContent = shown(revealed);
    toggle.textContent = revealed ? 'Hide' : 'Reveal';
  });
  const copy = el('button', { type: 'button', id: id + '-copy' }, 'Copy');
  copy.addEventListener('click', () => copyToClipboard(copyText, copy));
  return el('span', { class: 'secret' }, text, toggle, copy);
}

async function copyToClipboard(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch (_) {
    button.textContent = 'Copy failed';
  }
  setTimeout(() => { button.textContent = 'Copy'; }, 1500);
}

const MASK = '••••••••';

// ---- a database

async function databasePage(name) {
  const d = await api('GET', '/v1/databases/' + encodeURIComponent(name));
  const url = d.url
    ? secretField('connection-string', (on) => on ? d.url : d.url.replace(':' + d.password + '@', ':' + MASK + '@'), d.url)
    : el('span', { class: 'muted' }, 'not placed on a node yet');
  const usage = d.usage
    ? count(d.usage.billable_commands_today) + ' billable and ' + count(d.usage.free_commands_today) + ' free commands today, ' +
      bytes(d.usage.data_bytes) + ' of data, ' + count(d.usage.connections) + ' connections'
    : 'no usage reported yet';
  const charts = el('div', { class: 'charts', id: 'usage-charts' }, el('p', { class: 'muted' }, 'Loading usage…'));
  show(
    el('h1', {}, 'Database ', el('span', { class: 'mono' }, d.name)),
    el('section', { class: 'card' }, fieldTable([
      ['ID', el('span', { class: 'mono' }, d.id)],
      ['Connection string', url],
      ['Password', secretField('password', (on) => on ? d.password : MASK, d.password)],
      ['Plan', d.plan],
      ['Eviction', d.eviction ? 'on (keys are evicted at the plan\'s size)' : 'off (writes are refused at the plan\'s size)'],
      ['Primary region', d.primary_region],
      ['Read regions', d.read_regions.join(', ') || 'None'],
      ['Today', usage],
      ['Created', date(d.created_at)],
    ])),
    el('h2', {}, 'Regions'),
    table(['Region', 'Role', 'Status', 'Endpoint'], d.regions.map((r) => [r.region, r.role, statusText(r.status), r.endpoint || '—']), { id: 'regions' }),
    el('h2', {}, 'Command'),
    commandBox(d.name),
    el('h2', {}, 'Keys'),
    keyBrowser(d.name),
    el('h2', {}, 'Usage this month'),
    charts,
  );
  fillUsageCharts(d.name, charts, redisCharts);
}

// ---- the command box

/** Splits a command line like redis-cli: spaces separate, quotes group, backslash escapes in "…". */
function splitArgs(line) {
  const args = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i])) i += 1;
    if (i >= line.length) break;
    let arg = '';
    while (i < line.length && !/\s/.test(line[i])) {
      const quote = line[i];
      if (quote === '"' || quote === "'") {
        i += 1;
        while (i < line.length && line[i] !== quote) {
          if (quote === '"' && line[i] === '\\' && i + 1 < line.length) {
            i += 1;
            arg += ({ n: '\n', r: '\r', t: '\t' })[line[i]] || line[i];
          } else {
            arg += line[i];
          }
          i += 1;
        }
        if (i >= line.length) throw new Error('unbalanced quotes');
        i += 1;
      } else {
        arg += line[i];
        i += 1;
      }
    }
    args.push(arg);
  }
  return args;
}

/** A reply as redis-cli prints it. */
function formatReply(reply, indent) {
  const pad = indent || '';
  if (reply === null) return '(nil)';
  if (typeof reply === 'number') return '(integer) ' + reply;
  if (typeof reply === 'string') return JSON.stringify(reply);
  if (Array.isArray(reply)) {
    if (reply.length === 0) return '(empty array)';
    const width = String(reply.length).length;
    return reply.map((item, i) => {
      const label = String(i + 1).padStart(width, ' ') + ') ';
      const inner = formatReply(item, pad + ' '.repeat(label.length));
      return (i === 0 ? '' : pad) + label + inner;
    }).join('\n');
  }
  if (reply && typeof reply.error === 'string') return '(error) ' + reply.error;
  return JSON.stringify(reply);
}

async function runCommand(database, args) {
  const out = await api('POST', '/v1/databases/' + encodeURIComponent(database) + '/command', args);
  return out.reply;
}

function commandBox(database) {
  const input = el('input', { id: 'command-input', placeholder: 'GET key', autocomplete: 'off', spellcheck: 'false' });
  const output = el('pre', { id: 'command-output' });
  const form = el('form', { class: 'inline', id: 'command-form' }, el('span', { class: 'mono' }, '>'), input,
    el('button', { type: 'submit', id: 'command-run' }, 'Run'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const line = input.value;
    let text;
    try {
      const args = splitArgs(line);
      if (args.length === 0) return;
      text = formatReply(await runCommand(database, args));
      input.value = '';
    } catch (e) {
      if (e.status === 401) return;
      text = '(refused) ' + e.message;
    }
    const entry = el('div', { class: 'command-entry' }, '> ' + line, '\n', text);
    output.prepend(entry, '\n');
  });
  return el('div', { class: 'card' }, form,
    el('p', { class: 'muted' }, 'Runs one command on the database\'s primary node (metered like any other). Blocking and subscribe commands are refused.'),
    output);
}

// ---- the key browser

function keyBrowser(database) {
  const pattern = el('input', { id: 'key-pattern', value: '*', autocomplete: 'off', spellcheck: 'false' });
  const list = el('ul', { class: 'keys', id: 'keys' });
  const more = el('button', { type: 'button', id: 'keys-more', hidden: true }, 'More');
  const detail = el('div', { id: 'key-detail' }, el('p', { class: 'muted' }, 'Choose a key.'));
  let cursor = '0';

  async function scan(fresh) {
    if (fresh) { cursor = '0'; list.replaceChildren(); }
    let found = 0;
    try {
      for (let call = 0; call < SCAN_CALLS; call += 1) {
        const [next, keys] = await runCommand(database, ['SCAN', cursor, 'MATCH', pattern.value || '*', 'COUNT', String(SCAN_COUNT)]);
        cursor = next;
        for (const key of keys) {
          list.appendChild(el('li', {}, el('button', { type: 'button', class: 'key', onclick: () => showKey(database, key, detail) }, key)));
        }
        found += keys.length;
        if (cursor === '0' || found >= SCAN_COUNT) break;
      }
    } catch (e) {
      detail.replaceChildren(el('p', { class: 'status-other' }, e.message));
    }
    more.hidden = cursor === '0';
    if (list.childElementCount === 0) list.appendChild(el('li', { class: 'muted' }, 'No keys match.'));
  }

  const form = el('form', { class: 'inline', id: 'key-form' }, 'Pattern', pattern, el('button', { type: 'submit', id: 'key-scan' }, 'Scan'));
  form.addEventListener('submit', (event) => { event.preventDefault(); scan(true); });
  more.addEventListener('click', () => scan(false));
  return el('div', { class: 'card' }, form, el('div', { class: 'browser' }, el('div', {}, list, more), detail));
}

/** The command reading (a bounded part of) a value of `type`. */
function valueCommand(type, key) {
  const last = String(VALUE_ITEMS - 1);
  switch (type) {
    case 'string': return ['GETRANGE', key, '0', '65535'];
    case 'list': return ['LRANGE', key, '0', last];
    case 'set': return ['SSCAN', key, '0', 'COUNT', String(VALUE_ITEMS)];
    case 'hash': return ['HSCAN', key, '0', 'COUNT', String(VALUE_ITEMS)];
    case 'zset': return ['ZRANGE', key, '0', last, 'WITHSCORES'];
    case 'stream': return ['XRANGE', key, '-', '+', 'COUNT', String(VALUE_ITEMS)];
    default: return null;
  }
}

function ttlText(ms) {
  if (ms === -1) return 'none';
  if (ms === -2) return 'the key no longer exists';
  return (ms / 1000).toFixed(1) + ' s';
}

async function showKey(database, key, detail) {
  detail.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
  try {
    const type = await runCommand(database, ['TYPE', key]);
    const ttl = await runCommand(database, ['PTTL', key]);
    const command = valueCommand(type, key);
    const read = command ? await runCommand(database, command) : null;
    // SSCAN and HSCAN answer [cursor, items]: show the items.
    const value = command && command[0].endsWith('SCAN') && Array.isArray(read) ? read[1] : read;
    detail.replaceChildren(fieldTable([
      ['Key', el('code', { id: 'key-name' }, key)],
      ['Type', el('span', { id: 'key-type' }, type)],
      ['TTL', el('span', { id: 'key-ttl' }, ttlText(ttl))],
    ]), el('pre', { id: 'key-value' }, command ? formatReply(value) : '(not shown for type ' + type + ')'));
  } catch (e) {
    detail.replaceChildren(el('p', { class: 'status-other' }, e.message));
  }
}

// ---- usage charts (inline SVG)

/** A bar chart of `series` (each `{label, values, class}`), stacked, over `labels` (days). */
function barChart(id, labels, series, format) {
  const width = 360;
  const height = 160;
  const left = 56;
  const bottom = 20;
  const top = 8;
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (Number(s.values[i]) || 0), 0));
  const max = Math.max(1, ...totals);
  const chart = svg('svg', { class: 'chart', id, viewBox: `0 0 ${width} ${height}`, role: 'img' });
  chart.appendChild(svg('title', {}, series.map((s) => s.label).join(', ')));
  chart.appendChild(svg('line', { class: 'axis', x1: left, y1: height - bottom, x2: width, y2: height - bottom }));
  chart.appendChild(svg('text', { x: left - 4, y: top + 8, 'text-anchor': 'end' }, format(max)));
  chart.appendChild(svg('text', { x: left - 4, y: height - bottom, 'text-anchor': 'end' }, '0'));
  const slot = (width - left) / Math.max(1, labels.length);
  labels.forEach((label, i) => {
    let y = height - bottom;
    for (const s of series) {
      const value = Number(s.values[i]) || 0;
      const h = (value / max) * (height - bottom - top);
      y -= h;
      const bar = svg('rect', { class: s.class, x: left + i * slot + 1, y, width: Math.max(1, slot - 2), height: h });
      bar.appendChild(svg('title', {}, `${label} ${s.label}: ${format(value)}`));
      chart.appendChild(bar);
    }
    if (labels.length <= 10 || i % Math.ceil(labels.length / 6) === 0) {
      chart.appendChild(svg('text', { x: left + i * slot + slot / 2, y: height - 6, 'text-anchor': 'middle' }, label.slice(5)));
    }
  });
  if (labels.length === 0) {
    chart.appendChild(svg('text', { x: (width + left) / 2, y: height / 2, 'text-anchor': 'middle' }, 'no usage reported yet this month'));
  }
  return chart;
}

function chartBox(caption, chart) {
  return el('figure', { class: 'chart-box' }, el('figcaption', {}, caption), chart);
}

function redisCharts(days) {
  const labels = days.map((d) => d.date);
  return [
    chartBox('Commands per day (billable, free)', barChart('chart-commands', labels, [
      { label: 'billable', values: days.map((d) => d.billable_commands), class: 'bar' },
      { label: 'free', values: days.map((d) => d.free_commands), class: 'bar2' },
    ], count)),
    chartBox('Bandwidth per day (in, out)', barChart('chart-bandwidth', labels, [
      { label: 'in', values: days.map((d) => d.bytes_in), class: 'bar' },
      { label: 'out', values: days.map((d) => d.bytes_out), class: 'bar2' },
    ], bytes)),
    chartBox('Data size (daily peak)', barChart('chart-data-size', labels, [
      { label: 'peak', values: days.map((d) => d.peak_data_bytes), class: 'bar' },
    ], bytes)),
  ];
}

function kafkaCharts(days) {
  const labels = days.map((d) => d.date);
  return [
    chartBox('Messages per day (produced, consumed)', barChart('chart-messages', labels, [
      { label: 'produced', values: days.map((d) => d.messages_produced), class: 'bar' },
      { label: 'consumed', values: days.map((d) => d.messages_consumed), class: 'bar2' },
    ], count)),
    chartBox('Bandwidth per day (produced, consumed)', barChart('chart-kafka-bytes', labels, [
      { label: 'produced', values: days.map((d) => d.bytes_produced), class: 'bar' },
      { label: 'consumed', values: days.map((d) => d.bytes_consumed), class: 'bar2' },
    ], bytes)),
  ];
}

async function fillUsageCharts(name, box, charts) {
  try {
    const usage = await api('GET', '/v1/usage?name=' + encodeURIComponent(name));
    const resource = usage.resources[0];
    box.replaceChildren(...charts(resource ? resource.days : []));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'status-other' }, e.message));
  }
}

// ---- a Kafka cluster

async function clusterPage(name) {
  const c = await api('GET', '/v1/kafka/clusters/' + encodeURIComponent(name));
  const usage = c.usage
    ? count(c.usage.messages_produced_today) + ' messages produced and ' + count(c.usage.messages_consumed_today) + ' consumed today'
    : 'no usage reported yet';
  const charts = el('div', { class: 'charts', id: 'usage-charts' }, el('p', { class: 'muted' }, 'Loading usage…'));
  const topics = el('div', { id: 'topics' }, el('p', { class: 'muted' }, 'Loading topics…'));
  const messages = el('div', { id: 'messages' });
  show(
    el('h1', {}, 'Kafka cluster ', el('span', { class: 'mono' }, c.name)),
    el('section', { class: 'card' }, fieldTable([
      ['ID', el('span', { class: 'mono' }, c.id)],
      ['Status', statusText(c.status)],
      ['Bootstrap endpoint', c.endpoint ? el('code', { id: 'endpoint' }, c.endpoint) : el('span', { class: 'muted' }, 'not placed on a node yet')],
      ['Plan', c.plan],
      ['Primary region', c.primary_region],
      ['Replica regions', c.replica_regions.join(', ') || 'None'],
      ['Today', usage],
      ['Created', date(c.created_at)],
    ])),
    el('h2', {}, 'Regions'),
    table(['Region', 'Role', 'Status', 'Endpoint'], c.regions.map((r) => [r.region, r.role, statusText(r.status), r.endpoint || '—'])),
    el('h2', {}, 'Credentials (SASL PLAIN or SCRAM-SHA-256/512)'),
    table(['User name', 'Password', 'Access', 'Scope'], c.credentials.map((k, i) => [
      el('code', {}, k.username), secretField('credential-' + i, (on) => on ? k.password : MASK, k.password),
      k.access, scopeText(k.scope),
    ]), { id: 'credentials' }),
    el('h2', {}, 'Topics'),
    topics,
    messages,
    el('h2', {}, 'Usage this month'),
    charts,
  );
  fillUsageCharts(c.name, charts, kafkaCharts);
  fillTopics(c.name, topics, messages);
}

function clusterPath(name) { return '/v1/kafka/clusters/' + encodeURIComponent(name); }

async function fillTopics(name, box, messages) {
  try {
    const topics = await api('GET', clusterPath(name) + '/topics');
    const show = (topic) => el('button', { type: 'button', class: 'show-messages', 'data-topic': topic, onclick: () => fillMessages(name, topic, messages) }, 'Recent messages');
    box.replaceChildren(topics.length === 0
      ? el('p', { class: 'muted' }, 'No topics yet.')
      : table(['Topic', 'Partitions', ''], topics.map((t) => [el('code', {}, t.name), String(t.partitions), show(t.name)]), { id: 'topic-list' }));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'status-other' }, e.message));
  }
}

async function fillMessages(name, topic, box) {
  box.replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
  try {
    const messages = await api('GET', clusterPath(name) + '/topics/' + encodeURIComponent(topic) + '/messages');
    box.replaceChildren(el('h2', {}, 'Recent messages of ', el('code', {}, topic)),
      messages.length === 0
        ? el('p', { class: 'muted' }, 'No messages (compressed batches are not shown).')
        : table(['Partition', 'Offset', 'Time', 'Key', 'Value'], messages.map((m) => [
          String(m.partition), String(m.offset), new Date(m.timestamp_ms).toISOString(),
          el('code', {}, m.key === null ? '(null)' : m.key), el('code', {}, m.value === null ? '(null)' : m.value),
        ]), { id: 'message-list' }));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'status-other' }, e.message));
  }
}

function scopeText(scope) {
  if (!scope || scope.kind === 'all') return 'all topics';
  return scope.kind + ' ' + scope.value;
}

// ---- usage and the bill

async function usagePage() {
  const [usage, notifications] = await Promise.all([api('GET', '/v1/usage'), api('GET', '/v1/notifications')]);
  const sections = usage.resources.map((r) => el('section', {},
    el('h2', {}, (r.kind === 'kafka' ? 'Kafka cluster ' : 'Database ') + r.name, ' ', el('span', { class: 'muted' }, '(' + r.plan + ')')),
    el('div', { class: 'charts' }, r.kind === 'kafka' ? kafkaCharts(r.days) : redisCharts(r.days))));
  show(
    el('h1', {}, 'Usage, ', usage.month),
    el('h2', {}, 'Bill so far'),
    usage.bill.length === 0
      ? el('p', { class: 'muted' }, 'Nothing billed this month.')
      : table(['Resource', 'Plan', 'Line', 'Amount'], usage.bill.map((l) => [l.name, l.plan, l.description, dollars(l.amount_micros)]), { id: 'bill' }),
    el('p', {}, 'Total: ', el('strong', { id: 'bill-total' }, dollars(usage.total_micros))),
    sections,
    notificationsSection(notifications),
  );
}

// ---- start

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('sign-in-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const given = document.getElementById('token').value.trim();
    if (given) signIn(given);
  });
  document.getElementById('sign-out').addEventListener('click', () => {
    signOut('');
    history.pushState(null, '', '/console');
  });
  document.addEventListener('click', (event) => {
    const a = event.target.closest('a[data-nav]');
    if (!a || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    navigate(a.getAttribute('href'));
  });
  window.addEventListener('popstate', route);
  if (token()) signIn(token()); else signOut('');
});
