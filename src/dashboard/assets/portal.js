// The app portal: one application's endpoints, destinations, attempts and messages, for that application's customer.
// Everything goes through hookd's API with the portal token as a bearer token, so the server's portal gate
// decides what is reachable; this script only hides the buttons the token's capabilities would refuse.
// The token arrives in the link's fragment (#key=…), is kept in this tab's sessionStorage and leaves the
// address bar. Text is only ever inserted as text (never as HTML).
"use strict";

const STORE = "hookd_portal_token";
const main = document.getElementById("main");
let token = null;
let session = null;
let refresh = null;
// The server's clock minus this browser's (from the API's `Date` header): due times are the server's.
let clockOffset = 0;

class ApiError extends Error {
  constructor(status, body) {
    const detail = body && (Array.isArray(body.detail)
      ? body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ")
      : body.detail);
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

function takeToken() {
  const m = location.hash.match(/^#key=([^&]+)/);
  if (m) {
    token = decodeURIComponent(m[1]);
    try { sessionStorage.setItem(STORE, token); } catch { /* storage blocked: the token lives in this page only */ }
    history.replaceState(null, "", `${location.pathname}#/`);
    return;
  }
  try { token = sessionStorage.getItem(STORE); } catch { token = null; }
}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store", credentials: "omit",
  });
  const date = Date.parse(r.headers.get("date"));
  if (!Number.isNaN(date)) clockOffset = date - Date.now();
  if (r.status === 204) return null;
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

const appPath = (rest) => `/api/v1/app/${encodeURIComponent(session.appId)}${rest}`;
const can = (cap) => session.capabilities.includes(cap);
const canManage = () => can("ManageEndpoint");
const canSeeSecret = () => canManage() || can("ManageEndpointSecret") || can("ViewEndpointSecret");
const canRotate = () => canManage() || can("ManageEndpointSecret");
const canAttempt = () => can("CreateAttempts");

/** An element: `h("a", {href: "#/"}, "text", child…)`; strings become text nodes. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const when = (ts) => (ts ? new Date(ts).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") : "");
const badge = (ok, text) => h("span", { class: `badge ${ok ? "ok" : "fail"}` }, text);
const pill = (kind, text) => h("span", { class: `badge ${kind}` }, text);
/** How many recent attempts each endpoint's row and page judge it by. */
const RECENT = 50;
/** What an endpoint's recent attempts (newest first) say: failing when the newest failed; the share that succeeded. */
function recentHealth(attempts) {
  const ok = attempts.filter((a) => a.status === 0).length;
  return { n: attempts.length, rate: attempts.length ? Math.round((ok * 100) / attempts.length) : null,
    failing: attempts.length > 0 && attempts[0].status !== 0 };
}
const stateBadge = (ep, health) => (ep.disabled ? badge(false, "disabled")
  : health && health.failing ? pill("warn", "failing") : badge(true, "enabled"));
const successText = (health) => (health.n
  ? `${health.rate}% of the last ${health.n} attempt${health.n === 1 ? "" : "s"}`
  : "no attempts yet");
const tags = (list, all) => (list && list.length ? list.map((t) => [h("span", { class: "tag" }, t), " "]) : h("span", { class: "muted" }, all));
const deliveryState = { 0: "succeeded", 1: "pending", 2: "failed", 3: "sending" };

function show(...children) {
  main.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false && c !== ""));
}

function notice(text, kind = "notice") {
  return h("p", { class: kind, role: kind === "error" ? "alert" : "status" }, text);
}

/** Runs `action`, then re-renders the page with `message` shown; an error is shown in `where`. */
async function act(where, action, message) {
  try {
    const result = await action();
    await route(typeof message === "function" ? message(result) : message);
  } catch (e) {
    if (!handled(e)) where.replaceChildren(notice(e.message, "error"));
  }
}

/** A Delete button: asks `question` first, then goes to `back`; an error shows in `status`. */
function deleteButton(status, path, question, back) {
  return h("button", {
    type: "button", id: "delete", class: "danger",
    onclick: async () => {
      if (!confirm(question)) return;
      try {
        await api("DELETE", path);
        location.hash = back;
      } catch (e) {
        if (!handled(e)) status.replaceChildren(notice(e.message, "error"));
      }
    },
  }, "Delete");
}

/** A button that shows what `load` answers (a secret, a token) in `box`, then goes away. */
function revealButton(status, attrs, label, box, load) {
  return h("button", {
    type: "button", ...attrs,
    onclick: async (ev) => {
      try {
        box.replaceChildren(h("code", { class: "secret" }, await load()));
        ev.target.remove();
      } catch (e) {
        if (!handled(e)) status.replaceChildren(notice(e.message, "error"));
      }
    },
  }, label);
}

function handled(e) {
  if (e instanceof ApiError && e.status === 401) {
    ended("This portal link has expired or was revoked. Ask for a new one.");
    return true;
  }
  return false;
}

function ended(text) {
  try { sessionStorage.removeItem(STORE); } catch { /* nothing kept */ }
  token = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("logout").hidden = true;
  show(h("section", { class: "card login", id: "ended" }, h("h1", {}, "Webhook portal"), h("p", {}, text)));
}

function attemptsTable(attempts, { showMsg, showEndpoint }) {
  if (!attempts.length) return h("p", { class: "empty" }, "No attempts yet.");
  return h("table", { class: "attempts" },
    h("thead", {}, h("tr", {}, h("th", {}, "Time"), showMsg && h("th", {}, "Message"),
      showEndpoint && h("th", {}, "Endpoint"), h("th", {}, "Status"), h("th", {}, "Duration"), h("th", {}, "Response"))),
    h("tbody", {}, attempts.map((a) => h("tr", { class: `attempt ${a.status === 0 ? "ok" : "fail"}`, "data-attempt": a.id },
      h("td", { class: "nowrap" }, when(a.timestamp), a.triggerType === 1 ? [" ", h("span", { class: "tag" }, "manual")] : null),
      showMsg && h("td", {}, h("a", { class: "mono", href: `#/messages/${encodeURIComponent(a.msgId)}` }, a.msgId)),
      showEndpoint && h("td", {}, h("a", { class: "mono", href: `#/endpoints/${encodeURIComponent(a.endpointId)}` }, a.url)),
      h("td", { class: "status-code" }, badge(a.status === 0, a.responseStatusCode ? String(a.responseStatusCode) : "no response")),
      h("td", { class: "nowrap" }, `${a.responseDurationMs} ms`),
      h("td", {}, h("pre", { class: "response" }, a.response))))));
}

// ── screens ──

async function endpoints(flash) {
  const list = await api("GET", appPath("/endpoint?limit=250"));
  const recent = await Promise.all(list.data.map((ep) =>
    api("GET", appPath(`/attempt/endpoint/${encodeURIComponent(ep.id)}?limit=${RECENT}`)).then((r) => recentHealth(r.data))));
  show(
    flash && notice(flash),
    h("div", { class: "head" }, h("h1", {}, "Endpoints"),
      canManage() && h("a", { class: "button", href: "#/endpoints/new", id: "add-endpoint" }, "Add endpoint")),
    h("section", { class: "card" }, list.data.length
      ? h("table", { id: "endpoints" },
        h("thead", {}, h("tr", {}, h("th", {}, "URL"), h("th", {}, "Description"), h("th", {}, "Event types"),
          h("th", {}, "State"), h("th", {}, "Success"))),
        h("tbody", {}, list.data.map((ep, i) => h("tr", { "data-endpoint": ep.id },
          h("td", {}, h("a", { class: "mono", href: `#/endpoints/${encodeURIComponent(ep.id)}` }, ep.url)),
          h("td", {}, ep.description),
          h("td", {}, tags(ep.eventTypes, "all events")),
          h("td", { class: "state" }, stateBadge(ep, recent[i])),
          h("td", { class: "success nowrap" }, recent[i].n ? successText(recent[i]) : h("span", { class: "muted" }, successText(recent[i])))))))
      : h("p", { class: "empty" }, "No endpoints yet.")));
}

async function endpoint(id, flash) {
  const ep = await api("GET", appPath(`/endpoint/${encodeURIComponent(id)}`));
  const attempts = await api("GET", appPath(`/attempt/endpoint/${encodeURIComponent(ep.id)}?limit=${RECENT}`));
  const health = recentHealth(attempts.data);
  const stats = await api("GET", appPath(`/endpoint/${encodeURIComponent(ep.id)}/stats`));
  const status = h("div", {});
  const path = appPath(`/endpoint/${encodeURIComponent(ep.id)}`);
  const secretBox = h("span", { id: "secret" });
  const actions = [];
  if (canManage()) {
    actions.push(h("div", { class: "row" },
      h("a", { class: "button", href: `#/endpoints/${encodeURIComponent(ep.id)}/edit` }, "Edit"),
      h("button", {
        type: "button", id: "toggle", class: ep.disabled ? null : "danger",
        onclick: () => act(status, () => api("PATCH", path, { disabled: !ep.disabled }),
          ep.disabled ? "Endpoint enabled." : "Endpoint disabled."),
      }, ep.disabled ? "Enable endpoint" : "Disable endpoint"),
      deleteButton(status, path, `Delete the endpoint ${ep.url}?`, "#/")));
  }
  if (canSeeSecret()) {
    actions.push(h("div", {}, h("h3", {}, "Signing secret"), h("div", { class: "row" }, secretBox,
      revealButton(status, { id: "reveal" }, "Reveal", secretBox, async () => (await api("GET", `${path}/secret`)).key),
      canRotate() && h("button", {
        type: "button", id: "rotate", class: "danger",
        onclick: () => {
          if (!confirm("Rotate the signing secret? The old one keeps working for 24 hours.")) return;
          act(status, () => api("POST", `${path}/secret/rotate`, {}), "Secret rotated: the old one keeps signing for 24 hours.");
        },
      }, "Rotate"))));
  }
  if (canAttempt()) {
    const hours = h("select", { id: "hours", "aria-label": "Since" },
      [["1", "hour"], ["6", "6 hours"], ["24", "24 hours"], ["168", "7 days"], ["336", "14 days"]]
        .map(([v, t]) => h("option", { value: v, selected: v === "24" }, t)));
    actions.push(h("div", { class: "row" }, "Send failed messages again from the last", hours,
      h("button", {
        type: "button", id: "recover",
        onclick: () => act(status, () => api("POST", `${path}/recover`,
          { since: new Date(Date.now() - Number(hours.value) * 3600e3).toISOString() }), "Recover queued."),
      }, "Recover")));
  }
  const underWay = stats.pending + stats.sending;
  const open = stats.circuit && stats.circuit.state === "open";
  show(
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Endpoints"), " /"),
    h("h1", { class: "mono url" }, ep.url),
    flash && notice(flash),
    status,
    h("section", { class: "card grid" },
      h("dl", {},
        h("dt", {}, "Id"), h("dd", { class: "mono" }, ep.id),
        h("dt", {}, "State"), h("dd", { id: "state" }, stateBadge(ep, health),
          health.failing && !ep.disabled && h("span", { class: "muted small" },
            open ? " deliveries wait while one probe at a time tests the endpoint" : " its latest attempt failed; deliveries are retried")),
        ep.description && [h("dt", {}, "Description"), h("dd", {}, ep.description)],
        h("dt", {}, "Event types"), h("dd", {}, tags(ep.eventTypes, "all")),
        ep.channels && [h("dt", {}, "Channels"), h("dd", {}, tags(ep.channels, "all"))],
        ep.filter && [h("dt", {}, "Payload filter"), h("dd", { id: "filter" }, h("code", {}, JSON.stringify(ep.filter)))],
        h("dt", {}, "Success"), h("dd", { id: "success" }, health.n ? successText(health) : h("span", { class: "muted" }, successText(health))),
        h("dt", {}, "Messages"), h("dd", { id: "delivered" }, stats.success + stats.fail + underWay
          ? `${stats.success} delivered · ${stats.fail} failed · ${underWay} under way${underWay ? " (sending or retrying)" : ""}`
          : h("span", { class: "muted" }, "none sent yet")),
        h("dt", {}, "Created"), h("dd", {}, when(ep.createdAt))),
      h("div", { class: "actions" }, actions.length ? actions : h("p", { class: "muted" }, "This link can look, not change."))),
    h("section", { class: "card" }, h("h2", {}, "Attempts"), attemptsTable(attempts.data, { showMsg: true })));
}

async function endpointForm(id) {
  const ep = id ? await api("GET", appPath(`/endpoint/${encodeURIComponent(id)}`)) : null;
  const status = h("div", {});
  const url = h("input", { id: "url", name: "url", type: "url", required: true, placeholder: "https://example.com/webhooks", value: ep ? ep.url : "" });
  const description = h("input", { id: "description", name: "description", value: ep ? ep.description : "" });
  const types = h("input", { id: "event-types", name: "eventTypes", placeholder: "invoice.paid, invoice.*", value: ep && ep.eventTypes ? ep.eventTypes.join(", ") : "" });
  const filter = h("textarea", { id: "filter", name: "filter", rows: 4, class: "mono",
    placeholder: '{"payload": {"amount": {"$gte": 100}}}' }, ep && ep.filter ? JSON.stringify(ep.filter, null, 2) : "");
  const sample = h("textarea", { id: "sample", rows: 3, class: "mono", "aria-label": "A sample payload",
    placeholder: '{"amount": 120}' });
  const sampleType = h("input", { id: "sample-type", class: "mono", "aria-label": "Its event type", placeholder: "invoice.paid" });
  const verdict = h("span", { id: "verdict", role: "status" });
  /** The filter as typed: null when blank; an error names the field when it is not JSON. */
  const parse = (el, what) => {
    if (!el.value.trim()) return null;
    try { return JSON.parse(el.value); } catch (e) { throw new Error(`${what} is not JSON: ${e.message}`); }
  };
  const tryFilter = async () => {
    try {
      const r = await api("POST", "/api/v1/filter/test", {
        filter: parse(filter, "The filter") || {}, eventType: sampleType.value.trim() || "sample",
        payload: parse(sample, "The sample") || {},
      });
      verdict.replaceChildren(r.matches ? badge(true, "matches: it would be sent")
        : badge(false, `no match: the filter wants ${r.reason}`));
    } catch (e) {
      if (!handled(e)) verdict.replaceChildren(badge(false, e.message));
    }
  };
  const form = h("form", {
    class: "edit",
    onsubmit: async (ev) => {
      ev.preventDefault();
      const list = types.value.split(",").map((t) => t.trim()).filter(Boolean);
      const body = { url: url.value.trim(), description: description.value, eventTypes: list.length ? list : null };
      try {
        body.filter = parse(filter, "The filter");
        const saved = ep
          ? await api("PATCH", appPath(`/endpoint/${encodeURIComponent(ep.id)}`), body)
          : await api("POST", appPath("/endpoint"), body);
        location.hash = `#/endpoints/${encodeURIComponent(saved.id)}`;
      } catch (e) {
        if (!handled(e)) status.replaceChildren(notice(e.message, "error"));
      }
    },
  },
  h("label", { for: "url" }, "URL"), url,
  h("label", { for: "description" }, "Description"), description,
  h("label", { for: "event-types" }, "Event types"), types,
  h("p", { class: "hint muted" }, "Comma-separated; a trailing * matches a prefix. Empty: every event. ",
    h("a", { href: "#/catalog" }, "See the event catalog.")),
  h("label", { for: "filter" }, "Payload filter"), filter,
  h("p", { class: "hint muted" }, "Optional JSON matched against the message's eventType, channels and payload; only matching "
    + "messages are sent. Operators: $eq $neq $gt $gte $lt $lte $in $nin $startsWith $endsWith $exist $or $and $not."),
  h("details", { id: "try-filter" }, h("summary", {}, "Try the filter on a sample"),
    h("div", { class: "sample" },
      h("label", { for: "sample-type" }, "Event type"), sampleType,
      h("label", { for: "sample" }, "Payload"), sample,
      h("div", { class: "row" }, h("button", { type: "button", id: "test-filter", onclick: tryFilter }, "Test"), verdict))),
  h("div", { class: "buttons" }, h("button", { type: "submit" }, ep ? "Save" : "Create endpoint"),
    h("a", { href: ep ? `#/endpoints/${encodeURIComponent(ep.id)}` : "#/" }, "Cancel")));
  show(
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "Endpoints"), " /"),
    h("h1", {}, ep ? "Edit endpoint" : "New endpoint"),
    status,
    h("section", { class: "card" }, form));
  url.focus();
}

async function messages(iterator, eventType) {
  let query = "limit=25&with_content=false";
  if (iterator) query += `&iterator=${encodeURIComponent(iterator)}`;
  if (eventType) query += `&event_types=${encodeURIComponent(eventType)}`;
  const list = await api("GET", appPath(`/msg?${query}`));
  const status = h("div", {});
  const key = h("input", { name: "q", placeholder: "Message id or event id", "aria-label": "Message id or event id" });
  const type = h("input", { name: "event_type", placeholder: "Event type", "aria-label": "Event type", value: eventType || "" });
  const search = h("form", {
    class: "search", id: "search",
    onsubmit: async (ev) => {
      ev.preventDefault();
      const wanted = key.value.trim();
      if (!wanted) {
        location.hash = type.value.trim() ? `#/messages?event_type=${encodeURIComponent(type.value.trim())}` : "#/messages";
        return;
      }
      try {
        const m = await api("GET", appPath(`/msg/${encodeURIComponent(wanted)}?with_content=false`));
        location.hash = `#/messages/${encodeURIComponent(m.id)}`;
      } catch (e) {
        if (!handled(e)) status.replaceChildren(notice(e.status === 404 ? `No message ${wanted}.` : e.message, "error"));
      }
    },
  }, key, type, h("button", { type: "submit" }, "Search"));
  const more = eventType ? `&event_type=${encodeURIComponent(eventType)}` : "";
  show(
    h("h1", {}, "Messages"),
    h("section", { class: "card" }, search, status, list.data.length
      ? [h("table", { id: "messages" },
        h("thead", {}, h("tr", {}, h("th", {}, "Message"), h("th", {}, "Event type"), h("th", {}, "Event id"), h("th", {}, "Created"))),
        h("tbody", {}, list.data.map((m) => h("tr", {},
          h("td", {}, h("a", { class: "mono", href: `#/messages/${encodeURIComponent(m.id)}` }, m.id)),
          h("td", {}, m.eventType),
          h("td", { class: "mono" }, m.eventId || ""),
          h("td", { class: "nowrap" }, when(m.timestamp)))))),
      !list.done && list.iterator && h("nav", { class: "pager" },
        h("a", { href: `#/messages?iterator=${encodeURIComponent(list.iterator)}${more}` }, "Older →"))]
      : h("p", { class: "empty" }, eventType ? `No messages of type ${eventType}.` : "No messages yet.")));
}

async function message(id, flash) {
  const msg = await api("GET", appPath(`/msg/${encodeURIComponent(id)}`));
  const dests = await api("GET", appPath(`/msg/${encodeURIComponent(msg.id)}/endpoint?limit=250`));
  const attempts = await api("GET", appPath(`/attempt/msg/${encodeURIComponent(msg.id)}?limit=100`));
  const status = h("div", {});
  const tried = (endpointId) => attempts.data.filter((a) => a.endpointId === endpointId);
  const wait = refreshIn(dests.data);
  const deliveries = dests.data.map((d) => {
    const made = tried(d.id);
    const retrying = d.status === 1 && made.length > 0;
    const last = made[0];
    return h("tr", { class: "delivery", "data-endpoint": d.id, "data-state": retrying ? "retrying" : deliveryState[d.status] },
      h("td", {}, h("a", { class: "mono", href: `#/endpoints/${encodeURIComponent(d.id)}` }, d.url)),
      h("td", {}, retrying ? pill("warn", "retrying")
        : h("span", { class: `badge ${d.status === 0 ? "ok" : d.status === 2 ? "fail" : ""}` }, deliveryState[d.status] || d.statusText)),
      h("td", {}, String(made.length)),
      h("td", { class: "nowrap" }, last
        ? [badge(last.status === 0, last.responseStatusCode ? String(last.responseStatusCode) : "no response"), " ", h("span", { class: "muted small" }, when(last.timestamp))]
        : h("span", { class: "muted" }, "none")),
      h("td", { class: "next" }, d.status === 1 && d.nextAttempt ? dueText(d.nextAttempt) : ""),
      h("td", {}, canAttempt() && h("button", {
        type: "button", class: "resend",
        onclick: () => act(status, () => api("POST", appPath(`/msg/${encodeURIComponent(msg.id)}/endpoint/${encodeURIComponent(d.id)}/resend`)),
          "Resend queued: the new attempt shows below once made."),
      }, "Resend")));
  });
  const note = wait && h("p", { id: "refresh", class: "muted small", "data-refresh-mode": wait.mode },
    wait.mode === "in_flight" ? "An attempt is in flight or due now: this page refreshes every second until it is answered. "
      : wait.mode === "scheduled" ? `This page refreshes once by itself, when the next attempt is due (${when(new Date(serverNow() + wait.ms).toISOString())}). `
        : "This page does not refresh by itself. ",
    h("a", { href: location.hash, onclick: (ev) => { ev.preventDefault(); route(flash); } }, "Refresh now"));
  show(
    h("p", { class: "crumbs" }, h("a", { href: "#/messages" }, "Messages"), " /"),
    h("h1", {}, msg.eventType, " ", h("span", { class: "mono muted small" }, msg.id)),
    flash && notice(flash),
    status,
    h("section", { class: "card grid" },
      h("dl", {},
        h("dt", {}, "Id"), h("dd", { class: "mono" }, msg.id),
        h("dt", {}, "Event type"), h("dd", {}, msg.eventType),
        msg.eventId && [h("dt", {}, "Event id"), h("dd", { class: "mono" }, msg.eventId)],
        msg.channels && [h("dt", {}, "Channels"), h("dd", {}, tags(msg.channels, ""))],
        h("dt", {}, "Created"), h("dd", {}, when(msg.timestamp))),
      h("div", {}, h("h3", {}, "Payload"), h("pre", { class: "payload", id: "payload" }, JSON.stringify(msg.payload, null, 2)))),
    h("section", { class: "card" }, h("h2", {}, "Deliveries"), dests.data.length
      ? [h("table", { id: "deliveries" },
        h("thead", {}, h("tr", {}, h("th", {}, "Endpoint"), h("th", {}, "Status"), h("th", {}, "Attempts"),
          h("th", {}, "Last response"), h("th", {}, "Next attempt"), h("th", {}))),
        h("tbody", {}, deliveries)), note]
      : h("p", { class: "empty" }, "No endpoint was sent this message.")),
    h("section", { class: "card" }, h("h2", {}, "Attempts"), attemptsTable(attempts.data, { showEndpoint: true })));
  // Look again every second while an attempt is in flight, once when the next retry is due, or never.
  if (wait && wait.ms !== null) {
    const here = location.hash;
    refresh = setTimeout(() => location.hash === here && route(flash), wait.ms);
  }
}

// ── destinations ──

/**
 * The destination types a customer can add, with their config fields: `secret` fields are never shown back (the
 * API masks them) and, when editing, left blank to keep what is stored; `uri` fields are shown back unless the API
 * masked credentials in them.
 */
const DESTINATION_TYPES = {
  fifoEndpoint: { label: "FIFO endpoint", hint: "Ordered batches POSTed to your URL, signed; the next batch leaves once you answer 2xx.",
    fields: [{ name: "url", label: "URL", type: "url", required: true, placeholder: "https://example.com/webhooks/ordered" },
      { name: "headers", label: "Headers", kind: "headers", secret: true, placeholder: "Authorization: Bearer …",
        hint: "One Name: value a line, sent with every batch; never shown back." }] },
  pollingEndpoint: { label: "Polling endpoint", hint: "Nothing is sent: you read the events, in order, whenever you like.", fields: [] },
  rabbitMq: { label: "RabbitMQ", hint: "Persistent messages to a queue, confirmed by the broker.",
    fields: [{ name: "uri", label: "URI", uri: true, required: true, placeholder: "amqps://user:password@rabbit.example.com/vhost" },
      { name: "routingKey", label: "Queue (routing key)", required: true, placeholder: "webhooks" }] },
  postgres: { label: "PostgreSQL", hint: "A row per event in a table of your database, created when missing.",
    fields: [{ name: "url", label: "Connection URL", uri: true, required: true, placeholder: "postgres://user@db.example.com:5432/app?sslmode=require" },
      { name: "password", label: "Password", type: "password", secret: true },
      { name: "tableName", label: "Table", required: true, placeholder: "webhook_events" }] },
  sqs: { label: "Amazon SQS", hint: "Messages sent to your queue, ten at a time.",
    fields: [{ name: "queueUrl", label: "Queue URL", type: "url", required: true, placeholder: "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks" },
      { name: "region", label: "Region", placeholder: "from the queue URL" },
      { name: "accessKeyId", label: "Access key id", required: true },
      { name: "secretAccessKey", label: "Secret access key", type: "password", secret: true, required: true },
      { name: "endpointUrl", label: "Endpoint URL", type: "url", placeholder: "AWS's own" }] },
  otelTracing: { label: "OpenTelemetry", hint: "Each event as a span to your OTLP/HTTP collector.",
    fields: [{ name: "url", label: "Collector URL", type: "url", required: true, placeholder: "https://otel.example.com/v1/traces" },
      { name: "headers", label: "Headers", kind: "headers", secret: true, placeholder: "x-api-key: …",
        hint: "One Name: value a line, sent with every export; never shown back." }] },
  nats: { label: "NATS JetStream", hint: "Published to a subject a stream captures, acknowledged by JetStream.",
    fields: [{ name: "url", label: "URL", uri: true, required: true, placeholder: "nats://nats.example.com:4222" },
      { name: "subject", label: "Subject", required: true, placeholder: "webhooks.events" }] },
  redis: { label: "Redis Stream", hint: "Each event appended to a stream (XADD).",
    fields: [{ name: "url", label: "URL", uri: true, required: true, placeholder: "redis://redis.example.com:6379/0" },
      { name: "stream", label: "Stream", required: true, placeholder: "webhooks" },
      { name: "maxLen", label: "Max length", type: "number", placeholder: "unbounded" }] },
  mqtt: { label: "MQTT", hint: "Published to a topic at QoS 1 (or as set).",
    fields: [{ name: "url", label: "URL", uri: true, required: true, placeholder: "mqtt://broker.example.com:1883" },
      { name: "topic", label: "Topic", required: true, placeholder: "webhooks/events" },
      { name: "qos", label: "QoS", type: "number", placeholder: "1" }] },
};
const typeLabel = (t) => (DESTINATION_TYPES[t] ? DESTINATION_TYPES[t].label : t);

/** Where a destination sends, as its (masked) config names it. */
function targetOf(d) {
  const c = d.config || {};
  switch (d.type) {
    case "pollingEndpoint": return "polled by you";
    case "rabbitMq": return `${c.uri || ""} → ${c.routingKey || ""}`;
    case "postgres": return `${c.url || ""} → ${c.tableName || ""}`;
    case "sqs": return c.queueUrl || "";
    case "nats": return `${c.url || ""} → ${c.subject || ""}`;
    case "redis": return `${c.url || ""} → ${c.stream || ""}`;
    case "mqtt": return `${c.url || ""} → ${c.topic || ""}`;
    default: return c.url || "";
  }
}

const destinationState = (d) => (d.status === "disabled" ? badge(false, "disabled")
  : d.status === "retrying" ? pill("warn", "retrying") : badge(true, "enabled"));
/** How far behind it is; a polling endpoint is read at its reader's pace, by cursors of their own. */
const behind = (d) => (d.type === "pollingEndpoint" ? h("span", { class: "muted" }, "read at your pace")
  : d.lag ? `${d.lag} event${d.lag === 1 ? "" : "s"} behind` : h("span", { class: "muted" }, "up to date"));
/** A config field's label, as its type's form names it. */
const fieldLabel = (type, name) => ((DESTINATION_TYPES[type] || { fields: [] }).fields.find((f) => f.name === name) || { label: name }).label;

async function destinations(flash) {
  const list = await api("GET", appPath("/destination?limit=250"));
  show(
    flash && notice(flash),
    h("div", { class: "head" }, h("h1", {}, "Destinations"),
      canManage() && h("a", { class: "button", href: "#/destinations/new", id: "add-destination" }, "Add destination")),
    h("p", { class: "muted" }, "Destinations take your events in the order they happened, in batches: to an endpoint of "
      + "yours, to your own queue or database, or for you to poll."),
    h("section", { class: "card" }, list.data.length
      ? h("table", { id: "destinations" },
        h("thead", {}, h("tr", {}, h("th", {}, "Type"), h("th", {}, "Target"), h("th", {}, "Event types"),
          h("th", {}, "State"), h("th", {}, "Behind"), h("th", {}, "Last failure"))),
        h("tbody", {}, list.data.map((d) => h("tr", { "data-destination": d.id },
          h("td", { class: "nowrap" }, h("a", { href: `#/destinations/${encodeURIComponent(d.id)}` }, typeLabel(d.type))),
          h("td", { class: "mono" }, targetOf(d)),
          h("td", {}, tags(d.eventTypes, "all events")),
          h("td", { class: "state" }, destinationState(d)),
          h("td", { class: "lag nowrap" }, behind(d)),
          h("td", { class: "failure" }, d.failureReason || "")))))
      : h("p", { class: "empty" }, "No destinations yet.")));
}

async function destination(id, flash) {
  const d = await api("GET", appPath(`/destination/${encodeURIComponent(id)}`));
  const attempts = await api("GET", appPath(`/destination/${encodeURIComponent(d.id)}/attempt?limit=${RECENT}`));
  const path = appPath(`/destination/${encodeURIComponent(d.id)}`);
  const status = h("div", {});
  const actions = [];
  const reveal = (label, box, load) => revealButton(status, { class: "reveal" }, label, box, load);
  if (d.status === "retrying") {
    actions.push(h("div", { class: "row" },
      canAttempt() && h("button", {
        type: "button", id: "force-retry",
        onclick: () => act(status, () => api("POST", `${path}/force-retry`), "Retrying the failed batch now."),
      }, "Retry now"),
      canManage() && h("button", {
        type: "button", id: "skip", class: "danger",
        onclick: () => {
          if (!confirm("Skip the batch that failed? Its events will not be sent to this destination.")) return;
          act(status, () => api("POST", `${path}/skip`, {}), "Skipped the failed batch: the next one goes now.");
        },
      }, "Skip failed batch")));
  }
  if (canManage()) {
    actions.push(h("div", { class: "row" },
      h("a", { class: "button", href: `#/destinations/${encodeURIComponent(d.id)}/edit` }, "Edit"),
      h("button", {
        type: "button", id: "toggle", class: d.status === "disabled" ? null : "danger",
        onclick: () => act(status, () => api("PATCH", path, { status: d.status === "disabled" ? "enabled" : "disabled" }),
          d.status === "disabled" ? "Destination enabled: it resumes where it stopped." : "Destination disabled."),
      }, d.status === "disabled" ? "Enable destination" : "Disable destination"),
      deleteButton(status, path, `Delete this ${typeLabel(d.type)} destination?`, "#/destinations")));
  }
  if (d.type === "fifoEndpoint" && canSeeSecret()) {
    const box = h("span", { id: "secret" });
    actions.push(h("div", {}, h("h3", {}, "Signing secret"),
      h("div", { class: "row" }, box, reveal("Reveal", box, async () => (await api("GET", `${path}/secret`)).key))));
  }
  if (d.type === "pollingEndpoint") {
    const tokenPath = `/api/v1/auth/app/${encodeURIComponent(session.appId)}/poller/${encodeURIComponent(d.id)}/token`;
    const box = h("span", { id: "poller-token" });
    actions.push(h("div", { id: "polling" }, h("h3", {}, "Reading the events"),
      h("p", {}, "GET ", h("code", { class: "secret", id: "poll-url" }, `${location.origin}${appPath(`/poller/${d.id}`)}`)),
      h("p", { class: "muted small" }, "with the token below as a bearer token; pass back the iterator each page answers. "
        + "The token reads this destination and nothing else."),
      canSeeSecret() && h("div", { class: "row" }, box, reveal("Show token", box, async () => (await api("GET", tokenPath)).token),
        canRotate() && h("button", {
          type: "button", id: "rotate-token", class: "danger",
          onclick: () => {
            if (!confirm("Rotate the token? The old one keeps working for 5 minutes.")) return;
            act(status, () => api("POST", `${tokenPath}/rotate`, {}), "Token rotated: the old one keeps working for 5 minutes.");
          },
        }, "Rotate"))));
  }
  const config = Object.entries(d.config || {}).filter(([k, v]) => k !== "key" && v !== null && typeof v !== "object");
  const headers = d.config && d.config.headers;
  show(
    h("p", { class: "crumbs" }, h("a", { href: "#/destinations" }, "Destinations"), " /"),
    h("h1", {}, typeLabel(d.type), " ", h("span", { class: "mono muted small" }, targetOf(d))),
    flash && notice(flash),
    status,
    h("section", { class: "card grid" },
      h("dl", {},
        h("dt", {}, "Id"), h("dd", { class: "mono" }, d.id),
        h("dt", {}, "State"), h("dd", { id: "state" }, destinationState(d),
          d.status === "retrying" && d.nextRetryAt && h("span", { class: "muted small" }, ` next try ${dueText(d.nextRetryAt)}`)),
        d.failureReason && [h("dt", {}, "Last failure"), h("dd", { id: "failure" }, d.failureReason)],
        h("dt", {}, "Behind"), h("dd", { id: "lag" }, behind(d),
          d.type !== "pollingEndpoint" && h("span", { class: "muted small" }, ` (at position ${d.currentIterator})`)),
        h("dt", {}, "Event types"), h("dd", {}, tags(d.eventTypes, "all")),
        d.channels && d.channels.length > 0 && [h("dt", {}, "Channels"), h("dd", {}, tags(d.channels, "all"))],
        h("dt", {}, "Batches"), h("dd", {}, `up to ${d.batchSize} events`, d.maxWaitSecs ? `, waiting up to ${d.maxWaitSecs} s to fill` : ""),
        config.map(([k, v]) => [h("dt", {}, fieldLabel(d.type, k)), h("dd", { class: "mono" }, String(v))]),
        headers && headers.headers && Object.keys(headers.headers).length + (headers.sensitive || []).length > 0
          && [h("dt", {}, "Headers"), h("dd", { class: "mono" }, [...Object.keys(headers.headers), ...(headers.sensitive || [])].join(", "))],
        h("dt", {}, "Created"), h("dd", {}, when(d.createdAt))),
      h("div", { class: "actions" }, actions.length ? actions : h("p", { class: "muted" }, "This link can look, not change."))),
    h("section", { class: "card" }, h("h2", {}, "Batches sent"), attempts.data.length
      ? h("table", { class: "attempts", id: "batches" },
        h("thead", {}, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Events"), h("th", {}, "Messages"), h("th", {}, "Result"), h("th", {}, "Duration"))),
        h("tbody", {}, attempts.data.map((a) => h("tr", { class: `attempt ${a.status === 0 ? "ok" : "fail"}` },
          h("td", { class: "nowrap" }, when(a.timestamp)),
          h("td", {}, String(a.numEvents)),
          h("td", { class: "mono small" }, a.firstMsgId === a.lastMsgId ? a.firstMsgId : `${a.firstMsgId} … ${a.lastMsgId}`),
          h("td", {}, badge(a.status === 0, a.statusText)),
          h("td", { class: "nowrap" }, `${a.responseDurationMs} ms`)))))
      : h("p", { class: "empty" }, d.type === "pollingEndpoint" ? "A polling endpoint sends nothing: you read it." : "No batches sent yet.")));
}

/** Headers typed one `Name: value` a line, as an object; an error names the line that is not one. */
function parseHeaders(text) {
  const out = {};
  for (const [i, line] of text.split("\n").entries()) {
    if (!line.trim()) continue;
    const at = line.indexOf(":");
    if (at <= 0) throw new Error(`Headers, line ${i + 1}: write it as Name: value`);
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

async function destinationForm(id) {
  const d = id ? await api("GET", appPath(`/destination/${encodeURIComponent(id)}`)) : null;
  const status = h("div", {});
  const kind = h("select", { id: "type", name: "type", disabled: !!d },
    Object.entries(DESTINATION_TYPES).map(([k, t]) => h("option", { value: k, selected: d ? d.type === k : k === "fifoEndpoint" }, t.label)));
  const hint = h("p", { class: "hint muted", id: "type-hint" });
  const fieldsBox = h("div", { class: "config", id: "config" });
  const inputs = {};
  const renderFields = () => {
    const t = DESTINATION_TYPES[kind.value];
    hint.textContent = t.hint;
    for (const k of Object.keys(inputs)) delete inputs[k];
    fieldsBox.replaceChildren(...t.fields.flatMap((f) => {
      const stored = d && d.config ? d.config[f.name] : undefined;
      // Masked values are never put back: blank keeps what is stored.
      const shown = d && !f.secret && typeof stored !== "object" && !(f.uri && String(stored).includes("****")) ? stored : undefined;
      const keep = d && (f.secret || (f.uri && shown === undefined));
      const attrs = { id: `config-${f.name}`, name: f.name, type: f.type || "text", placeholder: keep ? "unchanged" : f.placeholder || "",
        required: f.required && !keep, autocomplete: f.secret ? "new-password" : "off", value: shown ?? "" };
      const el = f.kind === "headers"
        ? h("textarea", { ...attrs, rows: 3, class: "mono", type: null, value: null })
        : h("input", attrs);
      inputs[f.name] = { el, f };
      return [h("label", { for: attrs.id }, f.label), el, f.hint && h("p", { class: "hint muted" }, f.hint)];
    }).filter(Boolean));
  };
  kind.addEventListener("change", renderFields);
  renderFields();
  const types = h("input", { id: "event-types", name: "eventTypes", placeholder: "order.*, invoice.paid",
    value: d && d.eventTypes ? d.eventTypes.join(", ") : "" });
  const batch = h("input", { id: "batch-size", name: "batchSize", type: "number", min: 1, max: 1000, value: d ? d.batchSize : 100 });
  const wait = h("input", { id: "max-wait", name: "maxWaitSecs", type: "number", min: 0, max: 300, value: d ? d.maxWaitSecs : 0 });
  const form = h("form", {
    class: "edit",
    onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const config = {};
        for (const [name, { el, f }] of Object.entries(inputs)) {
          const v = el.value.trim();
          if (!v) continue;
          config[name] = f.kind === "headers" ? parseHeaders(v) : f.type === "number" ? Number(v) : v;
        }
        const list = types.value.split(",").map((t) => t.trim()).filter(Boolean);
        const body = { config, eventTypes: list, batchSize: Number(batch.value), maxWaitSecs: Number(wait.value) };
        const saved = d
          ? await api("PATCH", appPath(`/destination/${encodeURIComponent(d.id)}`), body)
          : await api("POST", appPath("/destination"), { type: kind.value, ...body });
        location.hash = `#/destinations/${encodeURIComponent(saved.id)}`;
      } catch (e) {
        if (!handled(e)) status.replaceChildren(notice(e.message, "error"));
      }
    },
  },
  h("label", { for: "type" }, "Type"), kind, hint,
  fieldsBox,
  h("label", { for: "event-types" }, "Event types"), types,
  h("p", { class: "hint muted" }, "Comma-separated; a trailing * matches a prefix. Empty: every event. ",
    h("a", { href: "#/catalog" }, "See the event catalog.")),
  h("label", { for: "batch-size" }, "Batch size"), batch,
  h("label", { for: "max-wait" }, "Wait to fill (s)"), wait,
  h("p", { class: "hint muted" }, "A batch leaves when it is full or, with a wait, once it has waited that long; 0 sends what is there at once."),
  h("div", { class: "buttons" }, h("button", { type: "submit" }, d ? "Save" : "Create destination"),
    h("a", { href: d ? `#/destinations/${encodeURIComponent(d.id)}` : "#/destinations" }, "Cancel")));
  show(
    h("p", { class: "crumbs" }, h("a", { href: "#/destinations" }, "Destinations"), " /"),
    h("h1", {}, d ? `Edit ${typeLabel(d.type)} destination` : "New destination"),
    status,
    h("section", { class: "card" }, form));
  (d ? types : kind).focus();
}

const serverNow = () => Date.now() + clockOffset;

/** "in 4 min (2026-12-06 14:05:12 UTC)", by the server's clock. */
function dueText(ts) {
  const secs = Math.round((Date.parse(ts) - serverNow()) / 1000);
  const rel = secs <= 0 ? "now" : secs < 60 ? `in ${secs} s` : secs < 3600 ? `in ${Math.round(secs / 60)} min`
    : `in ${Math.floor(secs / 3600)} h ${Math.round((secs % 3600) / 60)} min`;
  return `${rel} (${when(ts)})`;
}

/**
 * When a message's page looks again (as the dashboard's does): every second while an attempt is in flight or due
 * now, once a second after the next retry is due (within a day), never while a delivery is overdue (it waits on a
 * backlog or an open circuit, whose time the page cannot know). Null when every delivery is done.
 */
function refreshIn(deliveries) {
  let ms = null;
  let waiting = false;
  for (const d of deliveries) {
    let wait = null;
    if (d.status === 3) wait = 1000;
    else if (d.status === 1) {
      waiting = true;
      const due = d.nextAttempt ? Date.parse(d.nextAttempt) - serverNow() : 0;
      if (due > 0 && due <= 24 * 3600e3) wait = due + 1000;
      else if (due <= 0 && due > -10e3) wait = 1000;
    }
    if (wait !== null && (ms === null || wait < ms)) ms = wait;
  }
  if (ms === null) return waiting ? { ms: null, mode: "manual" } : null;
  return { ms, mode: ms <= 1000 ? "in_flight" : "scheduled" };
}

/** The event catalog: the types this link may see, each with its fields and an example, and a way to subscribe an
 * endpoint to one. */
async function catalog(flash) {
  const groups = await api("GET", "/portal/catalog");
  const eps = canManage() ? (await api("GET", appPath("/endpoint?limit=250"))).data : [];
  const subscribe = (type) => {
    const status = h("span", { role: "status" });
    const pick = h("select", { "aria-label": `Endpoint to receive ${type.name}` },
      eps.map((ep) => h("option", { value: ep.id }, ep.url)));
    return h("div", { class: "row subscribe" }, pick, h("button", {
      type: "button", "data-subscribe": type.name,
      onclick: () => {
        const ep = eps.find((e) => e.id === pick.value);
        // An endpoint with no event types receives every event already.
        if (!ep.eventTypes || ep.eventTypes.includes(type.name)) {
          status.replaceChildren(notice(`${ep.url} already receives ${type.name}.`));
          return;
        }
        act(status, () => api("PATCH", appPath(`/endpoint/${encodeURIComponent(ep.id)}`), { eventTypes: [...ep.eventTypes, type.name] }),
          `${ep.url} now receives ${type.name}.`);
      },
    }, "Subscribe"), status);
  };
  const entry = (t) => h("section", { class: "card event-type", id: `type-${t.name}` },
    h("h3", { class: "mono" }, t.name, t.deprecated && [" ", pill("warn", "deprecated")]),
    t.description && h("p", {}, t.description),
    t.fields.length ? h("table", { class: "fields" },
      h("thead", {}, h("tr", {}, h("th", {}, "Field"), h("th", {}, "Type"), h("th", {}, "Required"), h("th", {}, "Description"))),
      h("tbody", {}, t.fields.map((f) => h("tr", {},
        h("td", { class: `mono depth-${f.depth}` }, f.path), h("td", { class: "mono" }, f.kind),
        h("td", {}, f.required ? badge(true, "required") : h("span", { class: "muted" }, "optional")),
        h("td", {}, f.description)))))
      : !t.has_schema && h("p", { class: "empty" }, "No schema is published for this event type."),
    h("details", {}, h("summary", {}, "Example payload"), h("pre", { class: "example" }, t.example)),
    eps.length > 0 && subscribe(t));
  show(
    flash && notice(flash),
    h("h1", {}, "Event catalog"),
    h("p", { class: "muted" }, "The events your endpoints can receive."),
    groups.length ? groups.flatMap((g) => [h("h2", { class: "group" }, g.name || "Other events"), ...g.types.map(entry)])
      : h("section", { class: "card" }, h("p", { class: "empty" }, "No event types are published yet.")));
}

// ── routing ──

async function route(flash) {
  clearTimeout(refresh);
  if (!token || !session) return;
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query || "");
  const section = ["messages", "catalog", "destinations"].includes(parts[0]) ? parts[0] : "endpoints";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    if (parts[0] === "catalog") await catalog(flash);
    else if (parts[0] === "messages" && parts[1]) await message(parts[1], flash);
    else if (parts[0] === "messages") await messages(params.get("iterator"), params.get("event_type"));
    else if (parts[0] === "endpoints" && parts[1] === "new" && canManage()) await endpointForm(null);
    else if (parts[0] === "endpoints" && parts[1] && parts[2] === "edit" && canManage()) await endpointForm(parts[1]);
    else if (parts[0] === "endpoints" && parts[1]) await endpoint(parts[1], flash);
    else if (parts[0] === "destinations" && parts[1] === "new" && canManage()) await destinationForm(null);
    else if (parts[0] === "destinations" && parts[1] && parts[2] === "edit" && canManage()) await destinationForm(parts[1]);
    else if (parts[0] === "destinations" && parts[1]) await destination(parts[1], flash);
    else if (parts[0] === "destinations") await destinations(flash);
    else await endpoints(flash);
  } catch (e) {
    if (handled(e)) return;
    const notFound = e instanceof ApiError && e.status === 404;
    show(h("section", { class: "card error-page", id: "refused" },
      h("h1", {}, notFound ? "Not found" : "Not allowed"),
      h("p", {}, notFound ? `There is no such endpoint, destination or message in ${session.appName}.` : e.message),
      h("p", {}, h("a", { href: "#/" }, "Back to the endpoints"))));
  }
}

async function start() {
  takeToken();
  if (!token) {
    ended("Open this portal with the link you were given.");
    return;
  }
  try {
    session = await api("GET", "/portal/session");
  } catch (e) {
    if (!handled(e)) ended(`The portal could not start: ${e.message}`);
    return;
  }
  document.title = `${session.appName} · Webhooks`;
  document.getElementById("app-name").textContent = session.appName;
  document.getElementById("nav").hidden = false;
  const logout = document.getElementById("logout");
  logout.hidden = false;
  logout.addEventListener("click", async () => {
    try { await api("POST", "/api/v1/auth/logout"); } catch { /* gone already */ }
    ended("You have logged out. Open a new portal link to come back.");
  });
  window.addEventListener("hashchange", () => route());
  await route();
}

start();
