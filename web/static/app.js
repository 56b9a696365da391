// The Journeys dashboard: one page, served by the app at /, no build step.
// Preact + htm for the view, the graphql-ws client for live updates (both
// vendored in ./vendor, see web/build.mjs). Everything it shows comes from
// the public GraphQL API at /graphql.
import { html, render, useCallback, useEffect, useMemo, useRef, useState } from "./vendor/preact-htm.js";
import { ApiError, openLive, request } from "./api.js";
import { ACTIONS, MEANINGS, STATUSES, colour } from "./statuses.js";
import { fmtDuration, plural } from "./format.js";
import { FlowGraph } from "./flow_graph.js";
import { MessagePreview } from "./message_preview.js";

const TOKEN_KEY = "journeys.token"; // sessionStorage: this tab only, never the URL
const PAGE_SIZE = 20;
const DAY = 86400000;

// -- the documents ------------------------------------------------------------

const VIEWER = `{ viewer { workspace role tokenName } }`;

const STATS = `entered inFlight held completed exited converted queuedDeliveries handedOver delivered
  failedDeliveries cancelledDeliveries nodeArrivals`;

const ROW = `id name kind status labels startAt endAt revision
  stats { inFlight held delivered queuedDeliveries }`;

const PAGE = `query Page($filter: JourneyFilterInput, $first: Int, $after: String) {
  journeys(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { ${ROW} }
  }
}`;

const TIMELINE = `query Timeline($filter: JourneyFilterInput) {
  journeys(filter: $filter, first: 100) { totalCount nodes { id name status startAt endAt } }
}`;

// A node of the flow, as the graph draws it (flow_graph.js), with its counts.
const NODE = `key type next seconds channel template subject event timeoutSeconds onTimeout conditionText
  yes no at reached branches { key percent next customers }`;

const PANEL = `query Panel($id: ID!) {
  journey(id: $id) {
    id name kind status labels startAt endAt revision createdAt statusChangedAt triggerEvent
    hasUnappliedChanges errorReason availableActions sendDelaySeconds
    liveVersion { number } latestVersion { number audienceCondition audienceConditionText }
    versions { number createdAt createdBy startAt endAt audienceSize audienceConditionText sendDelaySeconds steps { type } nodes { key } }
    stats { ${STATS} }
    steps { index type seconds channel template customers }
    nodes { ${NODE} }
    history { sequence previousStatus status action actor { kind name } reason at }
  }
}`;

// How many profiles a segment journey's audience condition matches now.
const ESTIMATE = `query Estimate($c: ConditionInput!) { customerCount(condition: $c) }`;

const CUSTOMER = `query Customer($id: String!) {
  customer(id: $id) {
    id attributes createdAt updatedAt
    journeys { journey { id name } state stepIndex enteredAt }
    events(first: 20) { name properties at }
  }
}`;

// Where customers are: re-read as they move (journeyStatsChanged).
const FLOW = `query Flow($id: ID!) {
  journey(id: $id) { id steps { index type seconds channel template customers } nodes { ${NODE} } }
}`;

const FACTS = `query Facts($id: ID!) {
  journey(id: $id) {
    id name status revision hasUnappliedChanges startAt endAt
    liveVersion { number } latestVersion { number startAt endAt }
    stats { inFlight held queuedDeliveries handedOver }
    pendingChanges { nodesRemoved { key customers } }
  }
}`;

const STATUS_CHANGED = `subscription Status($after: Int) {
  statusChanged(after: $after) {
    sequence journeyId previousStatus status action actor { kind name } reason at
  }
}`;
const COUNTS_CHANGED = `subscription Counts { statusCountsChanged { status count } }`;
const JOURNEY_CHANGED = `subscription Changes { journeyChanged { journeyId revision what } }`;
const STATS_CHANGED = `subscription Stats($id: ID!) { journeyStatsChanged(journeyId: $id) { ${STATS} } }`;

// -- small helpers --------------------------------------------------------------

function fmtDate(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  const sameYear = date.getFullYear() === new Date().getFullYear();
  return date.toLocaleString(undefined, {
    ...(sameYear ? {} : { year: "numeric" }), month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
  });
}
const fmtDay = (ms) => new Date(ms).toLocaleDateString(undefined, { month: "short", day: "numeric" });

function useDebounced(value, ms) {
  const [current, setCurrent] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setCurrent(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return current;
}

// Calls `fn` at most once per `ms`, trailing: a burst of events, one reload.
function useCoalesced(fn, ms) {
  const latest = useRef(fn);
  latest.current = fn;
  const timer = useRef(null);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      latest.current();
    }, ms);
  }, [ms]);
}

function Badge({ status }) {
  return html`<span class="badge" style=${{ "--c": colour(status) }} title=${MEANINGS[status]}>${status}</span>`;
}

// -- login -------------------------------------------------------------------------

function Login({ onToken, problem }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState(problem);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    const value = token.trim();
    if (!value) {
      setError("Paste a token first: `journeys token create` prints one.");
      return;
    }
    setBusy(true);
    try {
      const data = await request(value, VIEWER);
      onToken(value, data.viewer);
    } catch (refusal) {
      setError(`That token was not accepted: ${refusal.message}`);
    } finally {
      setBusy(false);
    }
  };
  return html`<main>
    <form class="login" onSubmit=${submit} aria-describedby="login-hint">
      <h1>Journeys dashboard</h1>
      <label for="token">Access token</label>
      <input id="token" name="token" type="password" autocomplete="off" spellcheck="false"
        value=${token} onInput=${(e) => setToken(e.currentTarget.value)} autofocus />
      <p id="login-hint" class="hint">Kept in this browser tab only (session storage), never in the address.</p>
      ${error && html`<p class="problem" role="alert">${error}</p>`}
      <button class="btn primary" type="submit" disabled=${busy}>Sign in</button>
    </form>
  </main>`;
}

// -- status counts -------------------------------------------------------------------

function Counts({ counts, selected, onSelect }) {
  return html`<section class="card" aria-labelledby="counts-title">
    <h2 id="counts-title">Journeys by status</h2>
    <div class="counts" role="group" aria-label="Filter by status">
      ${STATUSES.map((status) => {
        const n = counts ? counts[status] ?? 0 : null;
        return html`<button type="button" class="count" data-status=${status}
          style=${{ "--c": colour(status) }} title=${MEANINGS[status]}
          aria-pressed=${selected === status ? "true" : "false"}
          aria-describedby=${`meaning-${status}`}
          onClick=${() => onSelect(selected === status ? null : status)}>
          <span class="n">${n === null ? "…" : n}</span>
          <span class="label">${status}</span>
          <span class="sr-only" id=${`meaning-${status}`}>${MEANINGS[status]}</span>
        </button>`;
      })}
    </div>
  </section>`;
}

// -- the journeys table ----------------------------------------------------------------

function Row({ journey, live, current, onOpen }) {
  const [stats, setStats] = useState(journey.stats);
  useEffect(() => setStats(journey.stats), [journey]);
  useEffect(() => {
    if (!live) return undefined;
    const { dispose } = live.subscribe(STATS_CHANGED, { id: journey.id }, {
      next: (data) => setStats(data.journeyStatsChanged),
    });
    return dispose;
  }, [live, journey.id]);
  return html`<tr data-journey=${journey.id} aria-current=${current ? "true" : undefined}>
    <td class="name"><button type="button" class="linkish" data-open=${journey.id}
      onClick=${() => onOpen(journey.id)} title=${journey.name}>${journey.name}</button></td>
    <td class="opt">${journey.kind === "EVENT_TRIGGERED" ? "event-triggered" : "segment"}</td>
    <td><${Badge} status=${journey.status} /></td>
    <td class="opt">${journey.labels.map((label) => html`<span class="label-chip">${label}</span>`)}</td>
    <td class="opt">${fmtDate(journey.startAt)}</td>
    <td class="opt">${fmtDate(journey.endAt)}</td>
    <td class="num" data-stat="inside">${stats.inFlight + stats.held}</td>
    <td class="num opt" data-stat="held">${stats.held}</td>
    <td class="num opt" data-stat="delivered">${stats.delivered}</td>
    <td class="num" data-stat="queued">${stats.queuedDeliveries}</td>
  </tr>`;
}

function JourneysTable({ page, live, openId, onOpen, filter, setFilter, onPage, pageIndex, loading, error }) {
  const first = pageIndex * PAGE_SIZE;
  return html`<section class="card" aria-labelledby="table-title">
    <h2 id="table-title">Journeys</h2>
    <form class="filters" role="search" onSubmit=${(e) => e.preventDefault()}>
      <label>Status
        <select name="status" value=${filter.status || ""}
          onChange=${(e) => setFilter({ ...filter, status: e.currentTarget.value || null })}>
          <option value="">All statuses</option>
          ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select>
      </label>
      <label>Label
        <input name="label" type="search" value=${filter.label} placeholder="exact label"
          onInput=${(e) => setFilter({ ...filter, label: e.currentTarget.value })} />
      </label>
      <label>Name
        <input name="name" type="search" value=${filter.name} placeholder="contains…"
          onInput=${(e) => setFilter({ ...filter, name: e.currentTarget.value })} />
      </label>
    </form>
    ${error && html`<p class="problem" role="alert">${error}</p>`}
    <div class="table-wrap">
      <table class="journeys" aria-busy=${loading ? "true" : "false"}>
        <thead><tr>
          <th class="col-name" scope="col">Name</th>
          <th class="col-kind opt" scope="col">Kind</th>
          <th class="col-status" scope="col">Status</th>
          <th class="col-labels opt" scope="col">Labels</th>
          <th class="col-date opt" scope="col">Start</th>
          <th class="col-date opt" scope="col">End</th>
          <th class="col-n num" scope="col" title="Customers inside (moving or held)">Inside</th>
          <th class="col-n num opt" scope="col" title="Customers held where they are">Held</th>
          <th class="col-n num opt" scope="col" title="Messages delivered">Delivered</th>
          <th class="col-n num" scope="col" title="Messages queued, still recallable">Queued</th>
        </tr></thead>
        <tbody>
          ${page.nodes.map((journey) => html`<${Row} key=${journey.id} journey=${journey} live=${live}
            current=${journey.id === openId} onOpen=${onOpen} />`)}
        </tbody>
      </table>
    </div>
    ${!loading && page.nodes.length === 0 && html`<p class="empty">No journey matches.</p>`}
    <nav class="pager" aria-label="Pages">
      <button type="button" class="btn" disabled=${pageIndex === 0} onClick=${() => onPage(-1)}>Previous</button>
      <span class="where" aria-live="polite">${page.totalCount === 0
        ? "0 journeys"
        : `${first + 1}–${first + page.nodes.length} of ${page.totalCount}`}</span>
      <button type="button" class="btn" disabled=${!page.hasNextPage} onClick=${() => onPage(1)}>Next</button>
    </nav>
  </section>`;
}

// -- the timeline of the coming weeks --------------------------------------------------

const TIMELINE_STATUSES = ["SCHEDULED", "ACTIVE", "PAUSED", "CLOSED", "FROZEN", "ERROR", "DESIGNING"];

function Timeline({ journeys, onOpen }) {
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  const from = today.getTime() - 7 * DAY;
  const to = today.getTime() + 42 * DAY;
  const now = Date.now();
  const pct = (ms) => `${((Math.min(Math.max(ms, from), to) - from) / (to - from)) * 100}%`;
  const rows = journeys
    .map((j) => ({ ...j, start: j.startAt ? Date.parse(j.startAt) : null, end: j.endAt ? Date.parse(j.endAt) : null }))
    .filter((j) => (j.start ?? -Infinity) <= to && (j.end ?? Infinity) >= from && (j.start !== null || j.end !== null || j.status !== "DESIGNING"))
    .sort((a, b) => (a.start ?? -Infinity) - (b.start ?? -Infinity));
  const weeks = [];
  for (let t = from; t <= to; t += 7 * DAY) weeks.push(t);
  return html`<section class="card timeline" aria-labelledby="timeline-title">
    <h2 id="timeline-title">The coming weeks</h2>
    <div class="tl" role="list">
      <div class="tl-row tl-head" aria-hidden="true">
        <span></span>
        <div class="tl-track">
          ${weeks.map((t) => html`<span class="tl-week" style=${{ left: pct(t) }}>${fmtDay(t)}</span>`)}
          <span class="tl-today" style=${{ left: pct(now) }}>today</span>
        </div>
      </div>
      ${rows.map((j) => {
        const left = j.start ?? from;
        const right = j.end ?? to;
        const words = `${j.name}, ${j.status}: ${j.start ? `starts ${fmtDate(j.startAt)}` : "no start date"}, ${j.end ? `ends ${fmtDate(j.endAt)}` : "no end date"}`;
        return html`<div class="tl-row" role="listitem">
          <button type="button" class="linkish tl-name" onClick=${() => onOpen(j.id)} title=${words}>
            ${j.name}<span class="sr-only">, ${words}</span>
          </button>
          <div class="tl-track" aria-hidden="true">
            ${weeks.map((t) => html`<span class="tl-grid" style=${{ left: pct(t) }}></span>`)}
            <span class="tl-bar" data-status=${j.status}
              style=${{ left: pct(left), width: `calc(${pct(right)} - ${pct(left)})`, "--c": colour(j.status) }}
              title=${words}><span class="tl-bar-text">${j.status}</span></span>
            ${j.start !== null && j.start >= from && j.start <= to && html`<span class="tl-mark start" style=${{ left: pct(j.start) }} title=${`starts ${fmtDate(j.startAt)}`}>▶</span>`}
            ${j.end !== null && j.end >= from && j.end <= to && html`<span class="tl-mark end" style=${{ left: pct(j.end) }} title=${`ends ${fmtDate(j.endAt)}`}>■</span>`}
            <span class="tl-now" style=${{ left: pct(now) }}></span>
          </div>
        </div>`;
      })}
    </div>
    ${rows.length === 0
      ? html`<p class="legend">No journey runs or is planned between ${fmtDay(from)} and ${fmtDay(to)}.</p>`
      : html`<p class="legend">Bars run from start to end date in the status colour; ▶ a start, ■ an end, the red line today. A bar reaching an edge has no date on that side, or one beyond this view.</p>`}
  </section>`;
}

// -- the journey panel -------------------------------------------------------------------

function Strip({ journey }) {
  const segments = useMemo(() => {
    const points = [{ status: "DESIGNING", at: Date.parse(journey.createdAt) }];
    for (const event of journey.history) points.push({ status: event.status, at: Date.parse(event.at) });
    const end = Math.max(Date.now(), points[points.length - 1].at);
    return points.map((p, i) => ({ ...p, until: i + 1 < points.length ? points[i + 1].at : end, current: i + 1 === points.length }));
  }, [journey]);
  const total = Math.max(1, segments[segments.length - 1].until - segments[0].at);
  const words = segments.map((s) => `${s.status} ${fmtDuration(s.until - s.at)}${s.current ? " (now)" : ""}`);
  return html`<div>
    <div class="strip" role="img" aria-label=${`Status over time: ${words.join(", then ")}`}>
      ${segments.map((s) => html`<span style=${{ "--c": colour(s.status), flexGrow: Math.max(s.until - s.at, total / 200) }}
        title=${`${s.status} from ${fmtDate(new Date(s.at).toISOString())}, ${fmtDuration(s.until - s.at)}`}></span>`)}
    </div>
    <ol class="strip-legend" aria-hidden="true">
      ${segments.map((s, i) => html`<li key=${i} style=${{ "--c": colour(s.status) }}>${words[i]}</li>`)}
    </ol>
  </div>`;
}

function Steps({ steps, status }) {
  // null: the flow is not a straight line of steps (it branches, say): the graph alone shows it.
  if (steps === null) return null;
  if (steps.length === 0) return html`<p class="empty">No steps yet.</p>`;
  const most = Math.max(1, ...steps.map((s) => s.customers));
  const held = ["PAUSED", "FROZEN", "ERROR"].includes(status);
  return html`<ol class="steps">
    ${steps.map((step) => html`<li key=${step.index}>
      <span>${step.index + 1}.</span>
      <span>
        ${step.type === "WAIT" ? `Wait ${fmtDuration(step.seconds * 1000)}` : `Send “${step.template}” (${step.channel})`}
        <span class="meter" aria-hidden="true"><span style=${{ width: `${(step.customers / most) * 100}%`, "--c": colour(held ? status : "ACTIVE") }}></span></span>
      </span>
      <span class="num" data-step=${step.index}>${step.customers}<span class="sr-only"> customers${held ? ", held" : ""}</span></span>
    </li>`)}
  </ol>
  <p class="legend">Each number counts the customers for whom that step comes next (waiting for it, or held before it). ${held ? `Everyone is held where they are while the journey is ${status}.` : "They move on as their steps fall due."}</p>`;
}

// A segment journey's audience by condition: the condition in words and how
// many profiles match it now (customerCount, re-read with the panel).
function Audience({ journey, estimate }) {
  const version = journey.latestVersion;
  const pending = journey.liveVersion && journey.liveVersion.number !== version.number;
  const words = version.audienceConditionText || JSON.stringify(version.audienceCondition);
  let count;
  if (estimate === null) count = "Counting the customers who match…";
  else if (estimate.error) count = `No estimate: ${estimate.error}`;
  else count = `About ${estimate.n.toLocaleString()} ${estimate.n === 1 ? "customer" : "customers"} ${estimate.n === 1 ? "matches" : "match"} now`;
  return html`<section class="audience" aria-labelledby="audience-title" data-audience>
    <h3 id="audience-title">Audience</h3>
    <p class="condition" data-condition>${words}</p>
    <p class="estimate" data-estimate aria-live="polite" aria-busy=${estimate === null ? "true" : "false"}>${count}</p>
    <p class="legend">${pending ? `Version ${version.number}'s condition, not live yet. ` : ""}The profiles that match when the journey loads its audience; the number is an estimate of now.</p>
  </section>`;
}

const STAT_LABELS = [
  ["entered", "entered"], ["inFlight", "moving"], ["held", "held"], ["completed", "completed"], ["exited", "exited"], ["converted", "converted"],
  ["queuedDeliveries", "queued"], ["handedOver", "handed over"], ["delivered", "delivered"],
  ["failedDeliveries", "failed"], ["cancelledDeliveries", "cancelled"],
];

function Panel({ id, token, live, reloadKey, canAct, onAction, onClose }) {
  const [journey, setJourney] = useState(null);
  const [stats, setStats] = useState(null);
  const [steps, setSteps] = useState([]);
  const [nodes, setNodes] = useState([]);
  const [error, setError] = useState(null);
  const [estimate, setEstimate] = useState(null); // { n } or { error }; null while counting
  const heading = useRef(null);
  const loads = useRef(0);

  const load = useCallback(async () => {
    const mine = ++loads.current;
    try {
      const data = await request(token, PANEL, { id });
      if (!data.journey) throw new ApiError("This journey no longer exists, or is not yours.", "NOT_FOUND");
      const condition = data.journey.latestVersion?.audienceCondition;
      if (condition) {
        // Counted apart: a slow or refused estimate never holds up the panel.
        request(token, ESTIMATE, { c: condition })
          .then((counted) => mine === loads.current && setEstimate({ n: counted.customerCount }))
          .catch((problem) => mine === loads.current && setEstimate({ error: problem.message }));
      }
      setJourney(data.journey);
      setStats(data.journey.stats);
      setSteps(data.journey.steps);
      setNodes(data.journey.nodes);
      setError(null);
    } catch (problem) {
      setError(problem.message);
    }
  }, [token, id]);
  useEffect(() => { load(); }, [load, reloadKey]);
  useEffect(() => { heading.current?.focus(); }, [id]);

  const reloadFlow = useCoalesced(async () => {
    try {
      const data = await request(token, FLOW, { id });
      if (data.journey) {
        setSteps(data.journey.steps);
        setNodes(data.journey.nodes);
      }
    } catch { /* the next change tries again */ }
  }, 1000);
  useEffect(() => {
    const { dispose } = live.subscribe(STATS_CHANGED, { id }, {
      next: (data) => { setStats(data.journeyStatsChanged); reloadFlow(); },
    });
    return dispose;
  }, [live, id]);

  const title = journey ? journey.name : "Journey";
  return html`<aside class="panel" aria-labelledby="panel-title" data-panel=${id}
      onKeyDown=${(e) => e.key === "Escape" && onClose()}>
    <header>
      <h2 id="panel-title" tabindex="-1" ref=${heading}>${title}</h2>
      <button type="button" class="btn close" onClick=${onClose} title="Close the panel (Escape)"><span aria-hidden="true">✕</span><span class="sr-only">Close the panel</span></button>
    </header>
    ${error && html`<p class="problem" role="alert">${error}</p>`}
    ${journey && html`
      <p><${Badge} status=${journey.status} /> <span class="sr-only">: ${MEANINGS[journey.status]}</span>
        ${journey.errorReason && html` <span class="problem">${journey.errorReason}</span>`}</p>
      <div class="actions" role="group" aria-label="Actions">
        ${journey.availableActions.map((action) => html`<button type="button"
          class=${`btn ${action === "ABORT" || action === "FAIL" ? "danger" : "primary"}`} data-action=${action}
          onClick=${() => onAction(journey, action)}>${ACTIONS[action]?.label ?? action}</button>`)}
        ${journey.availableActions.length === 0 && html`<span class="legend">${canAct
          ? "No action is open to you in this status."
          : "Your token may look but not act (viewer)."}</span>`}
      </div>
      <dl class="facts">
        <dt>Kind</dt><dd>${journey.kind === "EVENT_TRIGGERED" ? `event-triggered (${journey.triggerEvent || "no trigger yet"})` : "segment"}</dd>
        <dt>Start</dt><dd>${fmtDate(journey.startAt)}</dd>
        <dt>End</dt><dd>${fmtDate(journey.endAt)}</dd>
        <dt>Labels</dt><dd>${journey.labels.join(", ") || "—"}</dd>
        <dt>Live version</dt><dd>${journey.liveVersion ? journey.liveVersion.number : "none yet"}${journey.hasUnappliedChanges ? ` (version ${journey.latestVersion.number} pending)` : ""}</dd>
        <dt>Revision</dt><dd>${journey.revision}</dd>
      </dl>
      ${journey.latestVersion?.audienceCondition && html`<${Audience} journey=${journey} estimate=${estimate} />`}
      <h3>Customers and messages</h3>
      <div class="stats" data-stats>
        ${STAT_LABELS.map(([key, label]) => html`<div class="stat"><div class="n" data-stat=${key}>${stats[key]}</div><div class="k">${label}</div></div>`)}
      </div>
      <h3>Where customers are</h3>
      ${nodes.length > 0 && html`<${FlowGraph} id=${journey.id} name=${journey.name} nodes=${nodes} status=${journey.status} />`}
      <${Steps} steps=${steps} status=${journey.status} />
      <${MessagePreview} token=${token} journeyId=${journey.id} nodes=${nodes} />
      <h3>Status over time</h3>
      <${Strip} journey=${journey} />
      <h3>Status history</h3>
      <table class="history">
        <thead><tr><th scope="col">When</th><th scope="col">Change</th><th scope="col">By</th><th scope="col">Reason</th></tr></thead>
        <tbody>${journey.history.map((e) => html`<tr key=${e.sequence} data-sequence=${e.sequence}>
          <td>${fmtDate(e.at)}</td><td>${e.action}: ${e.previousStatus} → ${e.status}</td>
          <td>${e.actor.name}${e.actor.kind === "SYSTEM" ? " (system)" : ""}</td><td>${e.reason || ""}</td></tr>`)}</tbody>
      </table>
      ${journey.history.length === 0 && html`<p class="empty">No status change yet.</p>`}
      <h3>Versions</h3>
      <table class="versions">
        <thead><tr><th scope="col">#</th><th scope="col">Saved</th><th scope="col">By</th><th scope="col">Content</th></tr></thead>
        <tbody>${[...journey.versions].reverse().map((v) => html`<tr key=${v.number}>
          <td>${v.number}${journey.liveVersion?.number === v.number ? " (live)" : ""}</td><td>${fmtDate(v.createdAt)}</td><td>${v.createdBy}</td>
          <td>${v.steps ? plural(v.steps.length, "step") : plural(v.nodes.length, "node")}${v.audienceSize ? `, ${plural(v.audienceSize, "customer")} listed` : ""}${v.audienceConditionText ? ", audience by condition" : ""}</td></tr>`)}</tbody>
      </table>`}
  </aside>`;
}

// -- looking a customer up -------------------------------------------------------------------

// An attribute's or property's value, as short text: strings as they are.
const fmtValue = (value) => (typeof value === "string" ? value : JSON.stringify(value));
const fmtProperties = (properties) => {
  const entries = Object.entries(properties || {});
  return entries.length ? entries.map(([key, value]) => `${key}: ${fmtValue(value)}`).join(" · ") : "—";
};
const JOURNEY_STATES = { INSIDE: "inside", COMPLETED: "completed", EXITED: "exited", CONVERTED: "converted" };

function CustomerProfile({ customer, onOpen }) {
  const attributes = Object.entries(customer.attributes || {}).sort(([a], [b]) => a.localeCompare(b));
  return html`<div class="customer" data-customer=${customer.id}>
    <h3 id="customer-title">Customer “${customer.id}”</h3>
    <p class="legend">Profile since ${fmtDate(customer.createdAt)}, last changed ${fmtDate(customer.updatedAt)}.</p>
    <div class="customer-grid">
      <section aria-labelledby="customer-attributes">
        <h4 id="customer-attributes">Attributes</h4>
        ${attributes.length
          ? html`<dl class="attributes">${attributes.map(([key, value]) => html`<dt>${key}</dt><dd>${fmtValue(value)}</dd>`)}</dl>`
          : html`<p class="empty">No attributes.</p>`}
      </section>
      <section aria-labelledby="customer-journeys">
        <h4 id="customer-journeys">Journeys</h4>
        ${customer.journeys.length
          ? html`<div class="table-scroll"><table class="compact" data-customer-journeys>
              <thead><tr><th scope="col">Journey</th><th scope="col">State</th><th scope="col">Entered</th></tr></thead>
              <tbody>${customer.journeys.map((j, i) => html`<tr key=${i}>
                <td>${j.journey
                  ? html`<button type="button" class="linkish" onClick=${() => onOpen(j.journey.id)}>${j.journey.name}</button>`
                  : html`<span class="legend">a journey no longer there</span>`}</td>
                <td>${JOURNEY_STATES[j.state] ?? j.state}${j.state === "INSIDE" ? `, next step ${j.stepIndex + 1}` : ""}</td>
                <td class="when">${fmtDate(j.enteredAt)}</td></tr>`)}</tbody>
            </table></div>`
          : html`<p class="empty">In no journey.</p>`}
      </section>
      <section aria-labelledby="customer-events">
        <h4 id="customer-events">Latest events</h4>
        ${customer.events.length
          ? html`<div class="table-scroll"><table class="compact" data-customer-events>
              <thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Properties</th></tr></thead>
              <tbody>${customer.events.map((e, i) => html`<tr key=${i}>
                <td class="when">${fmtDate(e.at)}</td><td>${e.name}</td><td class="props">${fmtProperties(e.properties)}</td></tr>`)}</tbody>
            </table></div>`
          : html`<p class="empty">No events yet.</p>`}
      </section>
    </div>
  </div>`;
}

function CustomerLookup({ token, onOpen }) {
  const [id, setId] = useState("");
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null); // { id, customer } or { id, error }
  const submit = async (event) => {
    event.preventDefault();
    const wanted = id.trim();
    if (!wanted) {
      setResult({ id: wanted, error: "Type a customer id first." });
      return;
    }
    setBusy(true);
    try {
      const data = await request(token, CUSTOMER, { id: wanted });
      setResult({ id: wanted, customer: data.customer });
    } catch (problem) {
      setResult({ id: wanted, error: problem.message });
    } finally {
      setBusy(false);
    }
  };
  const said = !result || result.error ? ""
    : result.customer
      ? `Customer “${result.id}”: ${plural(Object.keys(result.customer.attributes || {}).length, "attribute")}, ${plural(result.customer.journeys.length, "journey")}, ${plural(result.customer.events.length, "event")}.`
      : `No customer with id “${result.id}”.`;
  return html`<section class="card lookup" aria-labelledby="lookup-title">
    <h2 id="lookup-title">Look up a customer</h2>
    <form class="lookup-form" role="search" aria-label="Customer" onSubmit=${submit}>
      <label for="customer-id">Customer id</label>
      <input id="customer-id" name="customer-id" type="search" autocomplete="off" spellcheck="false"
        value=${id} onInput=${(e) => setId(e.currentTarget.value)} />
      <button type="submit" class="btn primary" disabled=${busy}>Look up</button>
    </form>
    <p class="sr-only" role="status">${said}</p>
    ${result?.error && html`<p class="problem" role="alert">${result.error}</p>`}
    ${result && !result.error && !result.customer && html`<p class="empty" data-not-found>No customer with id “${result.id}”.</p>`}
    ${result?.customer && html`<${CustomerProfile} customer=${result.customer} onOpen=${onOpen} />`}
  </section>`;
}

// -- confirming an action -------------------------------------------------------------------

function consequences(action, facts) {
  const { stats } = facts;
  const queued = plural(stats.queuedDeliveries, "queued message");
  const handed = `${plural(stats.handedOver, "message")} already handed to ${stats.handedOver === 1 ? "its channel" : "their channels"}`;
  const cannotRecall = `${handed} cannot be recalled.`;
  const insideCount = stats.inFlight + stats.held;
  const inside = plural(insideCount, "customer");
  const pending = facts.hasUnappliedChanges
    ? `Its pending edits (version ${facts.latestVersion.number}) apply now, as it reactivates${insideCount ? `: the ${inside} inside move onto them at the same node` : ""}.`
    : `It has no pending edits: it runs again with version ${facts.liveVersion?.number ?? facts.latestVersion.number}.`;
  const startsLater = facts.latestVersion.startAt && Date.parse(facts.latestVersion.startAt) > Date.now();
  switch (action) {
    case "PAUSE":
      return [`${insideCount ? `The ${inside} inside wait where they are` : "Nobody is inside yet"}; newcomers still enter and wait at their first step.`,
        `${queued} will be held until it runs again.`, cannotRecall];
    case "FREEZE":
      return [`Nobody enters${insideCount ? `, and the ${inside} inside wait where they are` : ""}.`,
        `${queued} will be held until it runs again.`, cannotRecall];
    case "ABORT":
      return ["This cannot be undone.", insideCount ? `The ${inside} inside will be taken out.` : "Nobody is inside.",
        `${queued} will be cancelled and never go out.`, cannotRecall,
        "To send the same journey again later, create a copy instead (or as well)."];
    case "REACTIVATE":
      return [pending, ...(facts.pendingChanges?.nodesRemoved ?? []).map(({ key, customers }) =>
        `Node “${key}” is removed: ${customers ? `the ${plural(customers, "customer")} at it leave the journey` : "nobody is at it"}.`)];
    case "ACTIVATE":
      return [startsLater
        ? `Version ${facts.latestVersion.number} goes live; it waits as SCHEDULED until its start, ${fmtDate(facts.latestVersion.startAt)}.`
        : `Version ${facts.latestVersion.number} goes live now and customers can enter.`];
    case "RESUME":
      return [`The ${inside} inside move on, and ${queued} go out as they fall due.`];
    case "CLOSE":
      return [`No new customers enter; the ${inside} inside go on to the end of the flow.`];
    case "RECOVER":
      return ["It returns to the status it left, checked against its dates; what was held goes out."];
    case "FAIL":
      return ["It goes to ERROR: everything is held until an admin recovers it."];
    default:
      return [];
  }
}

function Confirm({ state, onConfirm, onCopy, onReload, onCancel }) {
  const ref = useRef(null);
  const [reason, setReason] = useState("");
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  const { facts, action, error, busy } = state;
  const label = ACTIONS[action]?.label ?? action;
  const danger = action === "ABORT" || action === "FAIL";
  return html`<dialog class="confirm" ref=${ref} aria-labelledby="confirm-title" aria-describedby="confirm-text"
      onCancel=${(e) => { e.preventDefault(); onCancel(); }}>
    <h2 id="confirm-title">${label} “${facts.name}”?</h2>
    <div id="confirm-text">${consequences(action, facts).map((line) => html`<p>${line}</p>`)}</div>
    <label for="confirm-reason">Reason (optional, kept in the history)</label>
    <input id="confirm-reason" value=${reason} onInput=${(e) => setReason(e.currentTarget.value)} />
    ${error && html`<div class="problem" role="alert"><p>${error.message}</p>
      ${error.code === "REVISION_CONFLICT" && html`<button type="button" class="btn" onClick=${onReload}>Reload the journey</button>`}</div>`}
    <div class="buttons">
      <button type="button" class="btn" onClick=${onCancel} autofocus=${danger}>Cancel</button>
      ${action === "ABORT" && html`<button type="button" class="btn" disabled=${busy} onClick=${onCopy}>Create a copy</button>`}
      <button type="button" class=${`btn ${danger ? "danger" : "primary"}`} data-confirm=${action} disabled=${busy}
        autofocus=${!danger} onClick=${() => onConfirm(reason.trim() || null)}>${label}</button>
    </div>
  </dialog>`;
}

// -- the page -------------------------------------------------------------------------------

function Dashboard({ token, viewer, onLogout }) {
  const [conn, setConn] = useState("connecting");
  const [live, setLive] = useState(null);
  const [counts, setCounts] = useState(null);
  const [filter, setFilter] = useState({ status: null, label: "", name: "" });
  const [cursors, setCursors] = useState([null]);
  const [pageIndex, setPageIndex] = useState(0);
  const [page, setPage] = useState({ nodes: [], totalCount: 0, hasNextPage: false, endCursor: null });
  const [loading, setLoading] = useState(true);
  const [tableError, setTableError] = useState(null);
  const [timeline, setTimeline] = useState([]);
  const [openId, setOpenId] = useState(null);
  const [panelKey, setPanelKey] = useState(0);
  const [confirm, setConfirm] = useState(null);
  const [notice, setNotice] = useState(null);
  const [activity, setActivity] = useState([]);
  const [tick, setTick] = useState(0); // bumps: the table and timeline re-read
  const names = useRef(new Map());
  const openRef = useRef(openId);
  openRef.current = openId;
  const totalRef = useRef(null);
  const pageRef = useRef(page);
  pageRef.current = page;
  // The latest changes: oldest first, appended, scrolled to the newest, so
  // that a new one never moves the others (no layout shift).
  const activityRef = useRef(null);
  useEffect(() => {
    const list = activityRef.current;
    if (list) list.scrollTop = list.scrollHeight;
  }, [activity]);

  const debouncedText = useDebounced(`${filter.label}\u0000${filter.name}`, 300);
  const apiFilter = useMemo(() => {
    const [label, name] = debouncedText.split("\u0000");
    return {
      ...(filter.status ? { status: [filter.status] } : {}),
      ...(label.trim() ? { label: label.trim() } : {}),
      ...(name.trim() ? { nameContains: name.trim() } : {}),
    };
  }, [filter.status, debouncedText]);
  useEffect(() => { setCursors([null]); setPageIndex(0); }, [apiFilter]);

  const refresh = useCoalesced(() => setTick((n) => n + 1), 250);
  const refreshPanel = useCoalesced(() => setPanelKey((n) => n + 1), 250);

  // The table's page.
  useEffect(() => {
    let stale = false;
    setLoading(true);
    request(token, PAGE, { filter: apiFilter, first: PAGE_SIZE, after: cursors[pageIndex] })
      .then((data) => {
        if (stale) return;
        const { nodes, totalCount, pageInfo } = data.journeys;
        for (const j of nodes) names.current.set(j.id, j.name);
        setPage({ nodes, totalCount, hasNextPage: pageInfo.hasNextPage, endCursor: pageInfo.endCursor });
        setTableError(null);
      })
      .catch((problem) => {
        if (stale) return;
        if (cursors[pageIndex] !== null && problem.code === "VALIDATION_FAILED") {
          // The journey this page follows was deleted: its cursor names nothing
          // now, so start again from the first page rather than show an error.
          setCursors([null]);
          setPageIndex(0);
          return;
        }
        setTableError(problem.message);
      })
      .finally(() => !stale && setLoading(false));
    return () => { stale = true; };
  }, [token, apiFilter, pageIndex, cursors, tick]);

  // The timeline: every journey that is planned or running.
  useEffect(() => {
    request(token, TIMELINE, { filter: { status: TIMELINE_STATUSES } })
      .then((data) => {
        for (const j of data.journeys.nodes) names.current.set(j.id, j.name);
        setTimeline(data.journeys.nodes);
      })
      .catch(() => {});
  }, [token, tick]);

  // The live connection and the page-wide subscriptions.
  useEffect(() => {
    const client = openLive(token, {
      onState: setConn,
      onReconnected: () => { refresh(); refreshPanel(); },
      onRefused: (why) => onLogout(`Signed out: ${why}.`),
    });
    setLive(client);
    const subscribeStatus = (after) => client.subscribe(STATUS_CHANGED, { after }, {
      next: (data, payload) => {
        const event = data.statusChanged;
        // Resume from here after a reconnect: graphql-ws re-sends this payload.
        payload.variables.after = event.sequence;
        const name = names.current.get(event.journeyId) || "A journey";
        setActivity((list) => [...list, { ...event, name }].slice(-50));
        refresh();
        if (event.journeyId === openRef.current) refreshPanel();
      },
      error: (problem) => {
        // A close the client gives up on (4403) ends the page's session instead.
        if (problem && typeof problem.code === "number") return;
        // REPLAY_UNAVAILABLE (an `after` older than the log keeps): start afresh.
        status = subscribeStatus(null);
        refresh();
        refreshPanel();
        if (problem?.extensions?.code !== "REPLAY_UNAVAILABLE") console.warn("statusChanged ended", problem);
      },
    });
    let status = subscribeStatus(null);
    const countsSub = client.subscribe(COUNTS_CHANGED, {}, {
      next: (data) => {
        const map = Object.fromEntries(data.statusCountsChanged.map((c) => [c.status, c.count]));
        const total = Object.values(map).reduce((a, b) => a + b, 0);
        // A journey created or deleted changes the total without a status event:
        // journeyChanged says so too, but a signal may be lost (Redis down).
        if (totalRef.current !== null && total !== totalRef.current) refresh();
        totalRef.current = total;
        setCounts(map);
      },
    });
    // A journey created, edited or deleted logs no status event: this signal
    // says which, and the page re-reads (its filters decide where it shows).
    const changesSub = client.subscribe(JOURNEY_CHANGED, {}, {
      next: (data) => {
        const { journeyId, revision, what } = data.journeyChanged;
        const shown = pageRef.current.nodes.find((j) => j.id === journeyId);
        if (what === "UPDATED" && shown && shown.revision >= revision) return; // re-read since (its own action)
        refresh();
        if (journeyId === openRef.current) refreshPanel();
      },
    });
    return () => { status.dispose(); countsSub.dispose(); changesSub.dispose(); client.close(); };
  }, [token]);

  const open = (id) => setOpenId(id);
  const close = () => {
    const id = openId;
    setOpenId(null);
    setTimeout(() => document.querySelector(`[data-open="${id}"]`)?.focus(), 0);
  };

  const startAction = async (journey, action) => {
    try {
      const data = await request(token, FACTS, { id: journey.id });
      if (!data.journey) throw new ApiError("This journey no longer exists.", "NOT_FOUND");
      setConfirm({ action, facts: data.journey, error: null, busy: false });
    } catch (problem) {
      setNotice(problem.message);
    }
  };
  const runAction = async (reason) => {
    const { action, facts } = confirm;
    const { field, noRevision } = ACTIONS[action];
    const args = noRevision ? "$id: ID!, $reason: String" : "$id: ID!, $rev: Int, $reason: String";
    const pass = noRevision ? "id: $id, reason: $reason" : "id: $id, expectedRevision: $rev, reason: $reason";
    const doc = `mutation(${args}) { result: ${field}(${pass}) { id status stats { queuedDeliveries handedOver cancelledDeliveries exited } } }`;
    setConfirm({ ...confirm, busy: true, error: null });
    try {
      const data = await request(token, doc, { id: facts.id, rev: facts.revision, reason });
      const { status, stats } = data.result;
      const said = action === "ABORT"
        ? ` ${plural(stats.cancelledDeliveries, "message")} cancelled, ${plural(stats.exited, "customer")} taken out; ${stats.handedOver} already handed over.`
        : action === "PAUSE" || action === "FREEZE"
          ? ` ${plural(stats.queuedDeliveries, "queued message")} held; ${stats.handedOver} already handed over.`
          : "";
      setNotice(`${facts.name} is now ${status}.${said}`);
      setConfirm(null);
      refresh();
      refreshPanel();
    } catch (problem) {
      setConfirm((c) => c && { ...c, busy: false, error: problem });
    }
  };
  const copy = async () => {
    const { facts } = confirm;
    try {
      const data = await request(token, `mutation($id: ID!) { copyJourney(id: $id) { id name } }`, { id: facts.id });
      setConfirm(null);
      setNotice(`Created “${data.copyJourney.name}” (DESIGNING).`);
      refresh();
      setOpenId(data.copyJourney.id);
    } catch (problem) {
      setConfirm((c) => c && { ...c, error: problem });
    }
  };
  // After a REVISION_CONFLICT: show the journey as it is now, with the
  // actions it now offers, rather than retry blindly.
  const reloadConfirm = () => {
    setConfirm(null);
    refresh();
    refreshPanel();
  };
  useEffect(() => {
    if (!notice) return undefined;
    const timer = setTimeout(() => setNotice(null), 8000);
    return () => clearTimeout(timer);
  }, [notice]);

  const connLabel = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", offline: "offline" }[conn];
  return html`
    <header class="bar">
      <h1>Journeys</h1>
      <span class="who">${viewer.workspace} · ${viewer.tokenName} (${viewer.role.toLowerCase()})</span>
      <span class="spacer"></span>
      <span class="conn" data-state=${conn} role="status" aria-live="polite">
        <span class="sr-only">Updates: </span>${connLabel}</span>
      <a href="/graphql">GraphiQL</a>
      <button type="button" onClick=${() => onLogout(null)}>Sign out</button>
    </header>
    <main inert=${confirm ? true : undefined}>
      <${Counts} counts=${counts} selected=${filter.status}
        onSelect=${(status) => setFilter({ ...filter, status })} />
      <${JourneysTable} page=${page} live=${live} openId=${openId} onOpen=${open}
          filter=${filter} setFilter=${setFilter} pageIndex=${pageIndex} loading=${loading} error=${tableError}
          onPage=${(step) => {
            if (step > 0) setCursors((list) => [...list.slice(0, pageIndex + 1), page.endCursor]);
            setPageIndex((i) => Math.max(0, i + step));
          }} />
      <div class="layout">
        <${Timeline} journeys=${timeline} onOpen=${open} />
        <section class="card" aria-labelledby="activity-title">
          <h2 id="activity-title">Latest changes</h2>
          <ol class="activity" role="log" ref=${activityRef}>
            ${activity.map((e) => html`<li key=${e.sequence}>${e.name}: ${e.previousStatus} → <strong>${e.status}</strong> (${e.actor.name})</li>`)}
            ${activity.length === 0 && html`<li class="empty">Changes appear here as they happen.</li>`}
          </ol>
        </section>
      </div>
      <${CustomerLookup} token=${token} onOpen=${open} />
    </main>
    ${openId && live && html`<${Panel} key=${openId} id=${openId} token=${token} live=${live} reloadKey=${panelKey}
      canAct=${viewer.role !== "VIEWER"} onAction=${startAction} onClose=${close} />`}
    ${confirm && html`<${Confirm} state=${confirm} onConfirm=${runAction} onCopy=${copy} onReload=${reloadConfirm}
      onCancel=${() => setConfirm(null)} />`}
    ${notice && html`<div class="notice" role="status">${notice}</div>`}
  `;
}

function App() {
  const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_KEY));
  const [viewer, setViewer] = useState(null);
  const [problem, setProblem] = useState(null);
  const logout = useCallback((why) => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
    setViewer(null);
    setProblem(why);
  }, []);
  // A token kept from earlier in this tab: check it once.
  useEffect(() => {
    if (token && !viewer) {
      request(token, VIEWER)
        .then((data) => setViewer(data.viewer))
        .catch((refusal) => (refusal.code === "NETWORK" ? setProblem(refusal.message) : logout(`That token was not accepted: ${refusal.message}`)));
    }
  }, [token]);
  if (!token || (!viewer && problem)) {
    return html`<${Login} problem=${problem} onToken=${(value, who) => {
      sessionStorage.setItem(TOKEN_KEY, value);
      setProblem(null);
      setToken(value);
      setViewer(who);
    }} />`;
  }
  if (!viewer) return html`<p class="boot">Signing in…</p>`;
  return html`<${Dashboard} token=${token} viewer=${viewer} onLogout=${logout} />`;
}

const root = document.getElementById("app");
root.textContent = ""; // the "Loading" line
render(html`<${App} />`, root);
