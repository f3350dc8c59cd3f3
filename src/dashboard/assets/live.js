// The live tail: each attempt the server pushes over Server-Sent Events becomes the table's first row. The
// browser's EventSource reconnects by itself after a drop (sending the last attempt's id, so that the server can
// send what was missed); rows already shown are not repeated.
"use strict";
(() => {
  const table = document.getElementById("live");
  if (!table) return;
  const body = table.tBodies[0];
  const state = document.getElementById("live-state");
  const empty = document.getElementById("live-empty");
  const MAX_ROWS = 200;

  const el = (tag, attrs = {}, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const cell = (...children) => {
    const td = el("td");
    td.append(...children);
    return td;
  };
  const setState = (text, kind) => {
    state.textContent = text;
    state.className = `badge ${kind}`;
  };

  function row(a) {
    const tr = el("tr", { class: `attempt ${a.ok ? "ok" : "fail"} new`, "data-attempt": a.id });
    const when = cell(a.at);
    when.className = "nowrap";
    if (a.manual) when.append(" ", el("span", { class: "tag" }, "manual"));
    if (a.will_retry) when.append(" ", el("span", { class: "tag warn" }, "will retry"));
    const base = `/ui/apps/${encodeURIComponent(a.app_id)}`;
    const code = el("td", { class: "status-code" });
    code.append(el("span", { class: `badge ${a.ok ? "ok" : "fail"}` }, a.status_code ? String(a.status_code) : "no response"));
    const duration = cell(`${a.duration_ms} ms`);
    duration.className = "nowrap";
    tr.append(
      when,
      cell(el("a", { href: base }, a.app_name)),
      cell(a.event_type || ""),
      cell(el("a", { class: "mono", href: `${base}/messages/${encodeURIComponent(a.msg_id)}` }, a.msg_id)),
      cell(el("a", { class: "mono", href: `${base}/endpoints/${encodeURIComponent(a.endpoint_id)}` }, a.url || a.endpoint_id)),
      code,
      duration,
      cell(el("pre", { class: "response" }, a.response)),
    );
    return tr;
  }

  const source = new EventSource(table.dataset.source);
  source.addEventListener("open", () => setState("live", "ok"));
  // EventSource retries by itself; it gives up only when the answer is not a stream (the session ended).
  source.addEventListener("error", () =>
    source.readyState === EventSource.CLOSED ? setState("disconnected: reload the page", "fail") : setState("reconnecting…", "fail"));
  source.addEventListener("attempt", (e) => {
    const a = JSON.parse(e.data);
    if (body.querySelector(`tr[data-attempt="${CSS.escape(a.id)}"]`)) return;
    body.prepend(row(a));
    empty.hidden = true;
    while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
  });
  source.addEventListener("missed", (e) => {
    const tr = el("tr", { class: "missed" });
    const td = el("td", { colspan: "8", class: "muted" }, `${e.data} attempts were made too fast to show here.`);
    tr.append(td);
    body.prepend(tr);
  });
})();
