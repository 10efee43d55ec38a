// The pages: overview, jobs, job, tasks of a stage. Each has a title, an optional head
// rendered once per visit (filters), and a body re-read on every refresh: body() returns
// { sig, node } and the shell replaces the page only when sig (the data read) changed.
import { get, put, patch, post, del, query } from './api.js';
import { confirmAction, navigate, refreshNow, showNotice } from './app.js';
import { h, num, when, duration, badge, priorityBadge, bar, json, shortId } from './util.js';

const JOB_STATUSES = ['PENDING', 'IN_PROGRESS', 'PAUSED', 'COMPLETED', 'FAILED', 'ABORTED', 'CREATED'];
const PRIORITIES = ['VERY_HIGH', 'HIGH', 'MEDIUM', 'LOW', 'VERY_LOW'];
const TASK_STATUSES = ['PENDING', 'IN_PROGRESS', 'RETRIED', 'COMPLETED', 'FAILED', 'CREATED'];
const FINAL = new Set(['COMPLETED', 'FAILED', 'ABORTED']);
const JOBS_PAGE = 25;
const TASKS_PAGE = 50;

const enc = encodeURIComponent;
const jobUrl = (id) => `/ui/jobs/${enc(id)}`;
const tasksUrl = (stageId) => `/ui/stages/${enc(stageId)}/tasks`;
const pageOf = (q) => Math.max(1, parseInt(q.get('page') || '1', 10) || 1);

// How a list page is asked for: a page reached through Next carries the list's cursor (a
// keyset read, as fast on page 400 as on page 1); a page number alone (a shared link,
// Previous) is an offset.
const paging = (q, size) => (q.get('cursor')
  ? { limit: size, cursor: q.get('cursor') }
  : { page: pageOf(q), page_size: size });

function table(headers, rows, empty) {
  if (rows.length === 0) return h('p', { class: 'empty card' }, empty);
  return h('table', {},
    h('thead', {}, h('tr', {}, headers.map(([label, cls]) => h('th', { class: cls, scope: 'col' }, label)))),
    h('tbody', {}, rows));
}

// Previous and Next; `next` is the X-Next-Cursor of this page (null on the last page).
function pager(base, q, page, next) {
  const hasNext = next !== null;
  const link = (p, label, disabled) => {
    const nq = new URLSearchParams(q);
    if (p > 1) nq.set('page', p); else nq.delete('page');
    if (p > page && next) nq.set('cursor', next); else nq.delete('cursor');
    const s = nq.toString();
    return h('a', { href: `${base}${s ? `?${s}` : ''}`, 'aria-disabled': disabled ? 'true' : null,
      tabindex: disabled ? '-1' : null, rel: label === 'Next' ? 'next' : 'prev', id: `pager-${label.toLowerCase()}` }, label);
  };
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    link(page - 1, 'Previous', page <= 1), h('span', { class: 'muted' }, `Page ${num(page)}`), link(page + 1, 'Next', !hasNext));
}

function summaryBar(s) {
  const total = s.total || 0;
  const done = s.completed || 0;
  return bar([['ok', done], ['bad', s.failed || 0], ['run', s.inProgress || 0], ['warn', s.retried || 0]], total,
    `${num(done)} / ${num(total)}`);
}

// ---- Overview ----

// Per-minute counts as a small line chart (inline SVG: attributes only, no style, so the
// CSP allows it), oldest minute first.
function sparkline(values, label) {
  const NS = 'http://www.w3.org/2000/svg';
  const w = 120;
  const hgt = 24;
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(hgt - 1 - ((hgt - 2) * v) / max).toFixed(1)}`);
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
  svg.setAttribute('width', String(w));
  svg.setAttribute('height', String(hgt));
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const line = document.createElementNS(NS, 'polyline');
  line.setAttribute('points', points.join(' '));
  svg.append(line);
  const title = document.createElementNS(NS, 'title');
  title.textContent = label;
  svg.append(title);
  return svg;
}

// A request the overview can do without (an older jobnikd): null instead of an error.
const optional = (path) => get(path).then(({ data }) => data, () => null);

// Seconds without a heartbeat after which an instance is flagged stale (two beats missed;
// the API says gone after a minute).
const STALE_SECONDS = 25;

function instancesPanel(instances) {
  if (!instances) return null;
  const list = instances.instances;
  const leader = list.find((i) => i.sweeperLeader);
  const sweepTitle = (s) => `${s.durationMs} ms: ${num(s.tasksFailed)} stale task(s) failed, ` +
    `${num(s.idempotencyKeysExpired)} idempotency key(s) expired, ${num(s.jobsPruned)} job(s) pruned`;
  return [
    h('h2', {}, 'Instances'),
    h('p', { id: 'sweeper-leader' }, leader
      ? ['Sweeper leader: ', h('span', { class: 'mono' }, `${leader.host} (pid ${leader.pid})`), '; last sweep ',
        leader.lastSweep ? h('span', { title: sweepTitle(leader.lastSweep) }, when(leader.lastSweep.at)) : 'not yet']
      : h('span', { class: 'muted' }, 'No sweeper leader.')),
    table([['Instance'], ['Listen'], ['Version'], ['Started'], ['Last seen'], ['Sweeper'], ['Last sweep']],
      list.map((i) => {
        const age = (Date.now() - new Date(i.seenAt).getTime()) / 1000;
        const state = i.gone ? 'gone' : age > STALE_SECONDS ? 'stale' : null;
        return h('tr', { 'data-instance': i.id, class: state ? `instance-${state}` : null },
          h('td', { title: i.id }, h('span', { class: 'mono' }, `${i.host} (pid ${i.pid})`), ' ',
            state ? h('span', { class: `badge ${state === 'gone' ? 's-FAILED' : 's-PAUSED'}` }, state) : null),
          h('td', { class: 'mono' }, i.listen), h('td', {}, i.version), h('td', {}, when(i.startedAt)),
          h('td', {}, when(i.seenAt)),
          h('td', {}, i.sweeperLeader ? h('span', { class: 'badge s-COMPLETED leader' }, 'leader') : ''),
          h('td', i.lastSweep ? { title: sweepTitle(i.lastSweep) } : {}, i.lastSweep ? when(i.lastSweep.at) : '—'));
      }),
      'No instance registered.'),
  ];
}

const overview = {
  nav: 'overview',
  title: () => 'Overview',
  head: () => h('h1', {}, 'Overview'),
  async body() {
    const [{ data }, throughput, instances] = await Promise.all([get('/v1/queues'),
      optional('/v1/throughput?minutes=60'), optional('/v1/instances')]);
    const types = data.stageTypes;
    const totals = types.reduce((t, x) => ({ pending: t.pending + x.pending, inProgress: t.inProgress + x.inProgress,
      retried: t.retried + x.retried }), { pending: 0, inProgress: 0, retried: 0 });
    // Every type with unfinished work or finished work in the last hour, by name.
    const done = new Map((throughput?.stageTypes || []).map((t) => [t.stageType, t]));
    const rows = new Map(types.map((t) => [t.stageType, t]));
    for (const name of done.keys()) {
      if (!rows.has(name)) rows.set(name, { stageType: name, pending: 0, inProgress: 0, retried: 0, oldestPendingSeconds: null });
    }
    const names = [...rows.keys()].sort();
    const zeros = new Array(throughput?.minutes || 60).fill(0);
    // Tasks per minute over the last 5 minutes (the current one included).
    const rate = (perMinute) => perMinute.slice(-5).reduce((a, b) => a + b, 0) / Math.min(5, perMinute.length);
    const node = h('div', {},
      h('h2', {}, 'Unfinished jobs'),
      h('div', { class: 'cards', id: 'job-counts' }, ['PENDING', 'IN_PROGRESS', 'PAUSED', 'CREATED'].map((status) => [status, data.jobs[status] ?? 0]).map(([status, n]) =>
        h('a', { class: 'card', href: `/ui/jobs?status=${status}`, 'data-status': status },
          h('div', { class: 'n' }, num(n)), h('div', { class: 'l' }, badge(status))))),
      h('h2', {}, 'Tasks by stage type'),
      h('div', { class: 'cards' },
        [['pending', totals.pending], ['in progress', totals.inProgress], ['retried', totals.retried]].map(([l, n]) =>
          h('div', { class: 'card' }, h('div', { class: 'n' }, num(n)), h('div', { class: 'l' }, l)))),
      h('p'),
      table([['Stage type'], ['Pending', 'num'], ['In progress', 'num'], ['Retried (delayed)', 'num'],
        ['Oldest pending', 'num'], ['Failed (1 h)', 'num'], ['Completed (1 h)', 'num'], ['Tasks/min', 'num'],
        ['Completed per minute, last hour']],
      names.map((name) => {
        const t = rows.get(name);
        const d = done.get(name);
        const perMinute = d ? d.completedPerMinute : zeros;
        return h('tr', { 'data-type': t.stageType },
          h('td', {}, h('span', { class: 'mono' }, t.stageType)), h('td', { class: 'num' }, num(t.pending)),
          h('td', { class: 'num' }, num(t.inProgress)), h('td', { class: 'num' }, num(t.retried)),
          h('td', { class: 'num', title: t.oldestPendingSeconds === null ? 'no claimable pending task' :
            `${num(Math.round(t.oldestPendingSeconds))} s` }, duration(t.oldestPendingSeconds)),
          h('td', { class: 'num failed-hour' }, throughput ? num(d ? d.failed : 0) : '—'),
          h('td', { class: 'num completed-hour' }, throughput ? num(d ? d.completed : 0) : '—'),
          h('td', { class: 'num rate', title: 'completed per minute, average of the last 5 minutes' },
            throughput ? num(Math.round(rate(perMinute) * 10) / 10) : '—'),
          h('td', {}, throughput ? sparkline(perMinute, `${num(d ? d.completed : 0)} completed in the last hour`) : '—'));
      }),
      'No unfinished work, and none finished in the last hour.'),
      h('p', { class: 'muted' }, 'Finished counts are up to one instance heartbeat behind (10 s by default).'),
      instancesPanel(instances));
    // The relative times move on their own: a change of the instances' seenAt alone does
    // not count as new data.
    const sig = { data, throughput, instances: instances?.instances.map((i) => ({ ...i, seenAt: undefined, gone: i.gone })) };
    return { sig: JSON.stringify(sig), node };
  },
};

// ---- Jobs ----

const jobs = {
  nav: 'jobs',
  title: () => 'Jobs',
  head({ query: q }) {
    const field = (label, control) => h('label', {}, label, control);
    const select = (name, values) => h('select', { name, id: `filter-${name}` }, h('option', { value: '' }, 'any'),
      values.map((v) => h('option', { value: v, selected: q.get(name) === v }, v.replace('_', ' ').toLowerCase())));
    const form = h('form', { class: 'filters', role: 'search', action: '/ui/jobs', method: 'get',
      onsubmit(e) {
        e.preventDefault();
        const nq = new URLSearchParams();
        for (const [k, v] of new FormData(form)) if (v) nq.set(k, v);
        const s = nq.toString();
        navigate(`/ui/jobs${s ? `?${s}` : ''}`);
      } },
    field('Name', h('input', { type: 'search', name: 'search', id: 'filter-search', value: q.get('search') || '',
      size: 18, maxlength: 50, placeholder: 'contains…' })),
    field('Status', select('status', JOB_STATUSES)),
    field('Priority', select('priority', PRIORITIES)),
    field('Created from', h('input', { type: 'date', name: 'from', id: 'filter-from', value: q.get('from') || '' })),
    field('to', h('input', { type: 'date', name: 'to', id: 'filter-to', value: q.get('to') || '' })),
    h('button', { class: 'primary', type: 'submit' }, 'Filter'),
    h('a', { href: '/ui/jobs' }, 'Clear'));
    return h('div', {}, h('h1', {}, 'Jobs'), form);
  },
  async body({ query: q }) {
    const page = pageOf(q);
    const { data, headers } = await get(`/v1/jobs${query({ name_contains: q.get('search'), status: q.get('status'),
      priority: q.get('priority'), from_date: q.get('from'), end_date: q.get('to'), ...paging(q, JOBS_PAGE) })}`);
    const next = headers.get('X-Next-Cursor');
    const rows = data.map((j) => h('tr', { 'data-job': j.id },
      h('td', {}, h('a', { href: jobUrl(j.id) }, j.name), h('div', { class: 'mono muted' }, shortId(j.id))),
      h('td', {}, badge(j.status)), h('td', {}, priorityBadge(j.priority)),
      h('td', {}, bar([['ok', j.percentage]], 100, `${j.percentage}%`)),
      h('td', {}, when(j.creationTime)), h('td', {}, when(j.updateTime))));
    const node = h('div', {},
      table([['Name'], ['Status'], ['Priority'], ['Progress'], ['Created'], ['Updated']], rows,
        page > 1 ? 'No jobs on this page.' : 'No jobs match.'),
      pager('/ui/jobs', q, page, next));
    return { sig: JSON.stringify([data, next]), node };
  },
};

// ---- Job ----

async function act(question, verb, fn, done) {
  if (!(await confirmAction(question, verb))) return;
  try {
    await fn();
    showNotice(`${verb}: done.`, true);
    if (done) done(); else refreshNow();
  } catch (e) {
    showNotice(`${verb} failed: ${e.message}`);
    refreshNow();
  }
}

function jobActions(job) {
  const s = job.status;
  const path = `/v1/jobs/${enc(job.id)}`;
  const button = (id, label, enabled, question, fn, cls, done) => h('button', { id, class: cls, disabled: !enabled,
    title: enabled ? null : `not allowed while the job is ${s}`, onclick: () => act(question, label, fn, done) }, label);
  const prio = h('select', { id: 'priority-select', 'aria-label': 'New priority', disabled: FINAL.has(s) },
    PRIORITIES.map((p) => h('option', { value: p, selected: p === job.priority }, p.replace('_', ' ').toLowerCase())));
  return h('div', { class: 'actions', role: 'toolbar', 'aria-label': 'Job actions' },
    button('action-pause', 'Pause', ['CREATED', 'PENDING', 'IN_PROGRESS'].includes(s),
      `Pause job “${job.name}”? Its tasks will not be handed out until it is resumed.`,
      () => put(`${path}/status`, { status: 'PAUSED' })),
    button('action-resume', 'Resume', s === 'PAUSED', `Resume job “${job.name}”?`,
      () => put(`${path}/status`, { status: 'PENDING' })),
    button('action-abort', 'Abort', !FINAL.has(s), `Abort job “${job.name}” for good, with its unfinished stages?`,
      () => put(`${path}/status`, { status: 'ABORTED' }), 'danger'),
    button('action-retry', 'Retry', s === 'FAILED', `Re-run the failed work of job “${job.name}”?`,
      () => post(`${path}/retry`)),
    prio,
    h('button', { id: 'action-priority', disabled: FINAL.has(s), onclick: () => {
      const p = prio.value;
      if (p === job.priority) { showNotice(`The job already has priority ${p}.`); return; }
      act(`Change the priority of job “${job.name}” to ${p}?`, 'Set priority', () => patch(`${path}/priority`, { priority: p }));
    } }, 'Set priority'),
    button('action-delete', 'Delete', FINAL.has(s), `Delete job “${job.name}” with its stages, tasks and events?`,
      () => del(path), 'danger', () => navigate('/ui/jobs')));
}

const job = {
  nav: 'jobs',
  title: () => 'Job',
  follows: ({ id }) => id,  // the job whose stream says when to re-read the page
  async body({ id }) {
    const [{ data: j }, events] = await Promise.all([
      get(`/v1/jobs/${enc(id)}?should_return_stages=true&should_return_task_summary=true`),
      get(`/v1/jobs/${enc(id)}/events?limit=50`).then((r) => r.data, () => null)]);
    document.title = `${j.name} · Jobnik`;
    const stages = j.stages || [];
    const stageRows = stages.map((s, i) => {
      const prev = stages[i - 1];
      const waiting = s.status === 'WAITING';
      const releasable = waiting && (!prev || prev.status === 'COMPLETED') && !FINAL.has(j.status);
      const sum = s.summary || {};
      return h('tr', { 'data-stage': s.id },
        h('td', { class: 'num' }, s.order), h('td', {}, h('span', { class: 'mono' }, s.type)),
        h('td', {}, badge(s.status), s.status === 'WAITING' ? h('div', { class: 'muted' }, 'waits for release') : null),
        h('td', {}, summaryBar(sum)),
        h('td', { class: 'counts' }, `${num(sum.pending)} pending · ${num(sum.inProgress)} running · `,
          `${num(sum.completed)} done · ${num(sum.failed)} failed · ${num(sum.retried)} retried`),
        h('td', {}, h('a', { href: tasksUrl(s.id), id: `tasks-${s.order}` }, 'Tasks'), ' ',
          waiting ? h('button', { id: `release-${s.order}`, disabled: !releasable,
            title: releasable ? null : 'the stage before it must be completed first',
            onclick: () => act(`Release stage ${s.order} (${s.type}) so its tasks can be claimed?`, 'Release',
              () => put(`/v1/stages/${enc(s.id)}/status`, { status: 'PENDING' })) }, 'Release') : null));
    });
    const eventRows = (events || []).map((e) => h('tr', {},
      h('td', {}, when(e.time)), h('td', {}, `${e.entity} `, h('span', { class: 'mono muted' }, shortId(e.entityId || ''))),
      h('td', {}, e.kind), h('td', {}, e.oldValue ?? '', ' → ', e.newValue ?? ''),
      h('td', {}, e.reason ?? ''), h('td', { class: 'mono' }, e.actor ?? e.workerId ?? '')));
    const node = h('div', {},
      h('p', {}, h('a', { href: '/ui/jobs' }, '← Jobs')),
      h('h1', {}, j.name, badge(j.status), priorityBadge(j.priority)),
      h('dl', { class: 'meta' },
        h('dt', {}, 'Id'), h('dd', { class: 'mono' }, j.id),
        h('dt', {}, 'Progress'), h('dd', {}, bar([['ok', j.percentage]], 100, `${j.percentage}%`)),
        h('dt', {}, 'Created'), h('dd', {}, when(j.creationTime)),
        h('dt', {}, 'Updated'), h('dd', {}, when(j.updateTime)),
        j.notBefore ? [h('dt', {}, 'Not before'), h('dd', {}, when(j.notBefore))] : null),
      jobActions(j),
      h('h2', {}, `Stages (${num(stages.length)})`),
      table([['#', 'num'], ['Type'], ['Status'], ['Progress'], ['Tasks'], ['']], stageRows, 'No stages yet.'),
      h('div', { class: 'split' }, json('data', j.data, 'job-data'), json('userMetadata', j.userMetadata, 'job-meta')),
      h('h2', {}, 'Events'),
      events === null ? h('p', { class: 'muted' }, 'Events could not be read.') :
        table([['Time'], ['Entity'], ['Kind'], ['Change'], ['Reason'], ['By']], eventRows, 'No events recorded.'));
    return { sig: JSON.stringify([j, events]), node };
  },
};

// ---- Tasks of a stage ----

const tasks = {
  nav: 'jobs',
  title: () => 'Tasks',
  async body({ id, query: q }) {
    const page = pageOf(q);
    const status = q.get('status');
    const [{ data: stage }, { data: list, headers }] = await Promise.all([
      get(`/v1/stages/${enc(id)}`),
      get(`/v1/tasks${query({ stage_id: id, status, ...paging(q, TASKS_PAGE) })}`)]);
    const sum = stage.summary || {};
    const filterLink = (s, label) => {
      const nq = new URLSearchParams();
      if (s) nq.set('status', s);
      const qs = nq.toString();
      return h('a', { href: `${tasksUrl(id)}${qs ? `?${qs}` : ''}`, 'aria-current': (status || '') === s ? 'true' : null,
        class: (status || '') === s ? 'badge s-IN_PROGRESS' : 'badge', id: `status-${s || 'all'}` }, label);
    };
    const rows = list.map((t) => {
      const errors = t.errors || [];
      const last = errors[errors.length - 1];
      return h('tr', { 'data-task': t.id, 'data-status': t.status },
        h('td', { class: 'mono', title: t.id }, shortId(t.id)), h('td', {}, badge(t.status)),
        h('td', { class: 'num' }, `${num(t.attempts)} / ${num(t.maxAttempts)}`),
        h('td', {}, when(t.creationTime)), h('td', {}, when(t.startTime)), h('td', {}, when(t.endTime)),
        h('td', {}, last ? h('span', { class: 'reason', title: errors.map((e) => `#${e.attempt}: ${e.reason ?? ''}`).join('\n') },
          last.reason ?? 'failed') : '', t.workerId ? h('div', { class: 'muted mono' }, t.workerId) : null),
        h('td', {}, json('data', t.data, `task-${t.id}`)));
    });
    const node = h('div', {},
      h('p', {}, h('a', { href: jobUrl(stage.jobId) }, '← Job')),
      h('h1', {}, `Stage ${stage.order}: `, h('span', { class: 'mono' }, stage.type), badge(stage.status)),
      h('div', { class: 'actions' }, summaryBar(sum), h('span', { class: 'counts', id: 'stage-counts' },
        `${num(sum.pending)} pending · ${num(sum.inProgress)} running · ${num(sum.completed)} done · `,
        `${num(sum.failed)} failed · ${num(sum.retried)} retried · ${num(sum.total)} total`)),
      h('nav', { class: 'actions', 'aria-label': 'Filter by status' }, filterLink('', 'all'),
        TASK_STATUSES.map((s) => filterLink(s, s.replace('_', ' ').toLowerCase()))),
      table([['Task'], ['Status'], ['Attempts', 'num'], ['Created'], ['Started'], ['Ended'], ['Last failure'], ['Data']],
        rows, 'No tasks match.'),
      pager(tasksUrl(id), q, page, headers.get('X-Next-Cursor')));
    return { sig: JSON.stringify([stage, list, headers.get('X-Next-Cursor')]), node };
  },
};

const notFound = {
  title: () => 'Not found',
  async body() {
    return { sig: '', node: h('p', {}, 'No such page. ', h('a', { href: '/ui/' }, 'Overview')) };
  },
};

export const routes = [
  { pattern: /^\/ui\/?$/, ...overview },
  { pattern: /^\/ui\/jobs\/?$/, ...jobs },
  { pattern: /^\/ui\/jobs\/(?<id>[^/]+)\/?$/, ...job },
  { pattern: /^\/ui\/stages\/(?<id>[^/]+)\/tasks\/?$/, ...tasks },
  { pattern: /.*/, ...notFound },
];
