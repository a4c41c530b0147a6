// mockllm inspector. Plain DOM, no library: every value an exchange holds is put on the
// page as text (textContent / text nodes), never as markup.
"use strict";

(() => {
  const MAX_ROWS = 5000; // rows kept in the page (the journal may keep more)
  let rowPx = 40; // every row of the table has this height (measured once drawn)
  const SPARE_ROWS = 12; // drawn above and below the visible ones
  // The table is redrawn at most this often: soon after a few rows, less often when they
  // pour in (a load test), so that the page's own work stays small beside the server's.
  const REDRAW_MS = 150;
  const BUSY_REDRAW_MS = 600;
  const BUSY_ROWS = 50; // rows since the last draw that make it busy
  const FOLD_CHARS = 280; // longer strings are folded
  const FOLD_ITEMS = 30; // longer arrays show their first and last items

  const $ = (selector) => document.querySelector(selector);
  const $$ = (selector) => Array.from(document.querySelectorAll(selector));

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "data") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    append(node, children);
    return node;
  }

  // Bidirectional controls (U+202A-U+202E, U+2066-U+2069) in a value would reorder the
  // text after it too: a model named "gpt-4o\u202e" turned the rest of its line, the
  // status and the rule, back to front. A value holding one is isolated in a <bdi>.
  const BIDI = /[\u202a-\u202e\u2066-\u2069]/;

  function append(node, children) {
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      if (child instanceof Node) {
        node.append(child);
        continue;
      }
      const text = String(child);
      if (BIDI.test(text)) {
        const isolated = document.createElement("bdi");
        isolated.textContent = text;
        node.append(isolated);
      } else {
        node.append(text);
      }
    }
    return node;
  }

  // JSON as sent: an integer past 2^53 keeps its digits (JSON.rawJSON) where plain parsing
  // would round it, in the tree and when written out again.
  const exact = typeof JSON.rawJSON === "function"
    ? (key, value, context) => (typeof value === "number" && !Number.isSafeInteger(value)
      && context && /^-?\d+$/.test(context.source) ? JSON.rawJSON(context.source) : value)
    : undefined;
  const isRaw = (value) => typeof JSON.isRawJSON === "function" && JSON.isRawJSON(value);
  function parseJSON(text) {
    return JSON.parse(text, exact);
  }

  async function call(method, path, body, type) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.body = body;
      init.headers["content-type"] = type || "application/json";
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = text;
    if ((response.headers.get("content-type") || "").includes("json")) {
      try { data = parseJSON(text); } catch (_) { /* left as text */ }
    }
    return { ok: response.ok, status: response.status, data };
  }

  function errorText(result) {
    const error = result.data && result.data.error;
    return `${result.status}: ${error ? error.message : String(result.data).slice(0, 300)}`;
  }

  // --- the live table ------------------------------------------------------------------

  const rows = new Map(); // id -> row, as the feed last sent it
  let order = []; // ids, oldest first
  let paused = false;
  let missed = 0; // rows that arrived while paused
  let selected = null;
  let redrawDue = false;
  let lastDraw = 0;
  const drawn = new Map(); // id -> {tr, version}
  let arrived = 0; // rows since the last draw
  const choices = { rule: new Set(), model: new Set() }; // what the filters offer
  let choicesVersion = 0; // one more at each change of `choices`

  function put(row) {
    if (row.part) {  // what changed when the exchange ended
      const known = rows.get(row.id);
      if (known) row = { ...known, ...row };
      else return;
    }
    if (!rows.has(row.id)) {
      order.push(row.id);
      if (paused) missed += 1;
    }
    rows.set(row.id, row);
    arrived += 1;
    choose(row);
    if (row.id === selected && row.done && current && !current.row.done) openDetail(row.id, section);
  }

  function trim() {
    if (order.length <= MAX_ROWS) return;
    for (const id of order.slice(0, order.length - MAX_ROWS)) {
      rows.delete(id);
      drawn.delete(id);
    }
    order = order.slice(order.length - MAX_ROWS);
    // The filters offer what the rows kept hold: a model or cassette interaction seen only
    // in rows dropped since is no longer offered (else the lists would grow for ever).
    choices.rule.clear();
    choices.model.clear();
    choicesVersion += 1;
    for (const row of rows.values()) choose(row);
  }

  function choose(row) {
    const key = sourceKey(row);
    if (key && !choices.rule.has(key)) { choices.rule.add(key); choicesVersion += 1; }
    if (row.model && !choices.model.has(row.model)) { choices.model.add(row.model); choicesVersion += 1; }
  }

  function redraw() {
    if (redrawDue) return;
    redrawDue = true;
    const every = arrived > BUSY_ROWS ? BUSY_REDRAW_MS : REDRAW_MS;
    const wait = Math.max(0, every - (performance.now() - lastDraw));
    setTimeout(() => requestAnimationFrame(() => draw(false)), wait);
  }

  function filters() {
    return {
      text: $("#filter-text").value.trim().toLowerCase(),
      status: $("#filter-status").value,
      rule: $("#filter-rule").value,
      model: $("#filter-model").value,
    };
  }

  function sourceKey(row) {
    if (row.source === "rule" || row.source === "cassette") return row.rule || row.source;
    return { default: "generator", miss: "miss", error: "refused", capacity: "capacity", upstream: "recording", direct: "the request alone", route: "route" }[row.source] || "";
  }

  function kept(row, f) {
    if (f.model && row.model !== f.model) return false;
    if (f.rule && sourceKey(row) !== f.rule) return false;
    if (f.status) {
      const s = row.status || 0;
      if (f.status === "2xx" && !(s >= 200 && s < 300)) return false;
      if (f.status === "4xx" && !(s >= 400 && s < 500)) return false;
      if (f.status === "5xx" && !(s >= 500)) return false;
      if (f.status === "miss" && row.source !== "miss") return false;
      if (f.status === "fault" && !row.faults.length) return false;
      if (f.status === "open" && row.done) return false;
    }
    if (f.text) {
      const hay = [row.id, row.api, row.path, row.model, row.key, row.by, row.rule, row.error,
        row.prompt, row.status, row.faults.join(" ")].join("\n").toLowerCase();
      if (!hay.includes(f.text)) return false;
    }
    return true;
  }

  // A paused table keeps its rows, except when the journal is cleared (`now`): then it
  // empties at once, as the journal did.
  function draw(now) {
    redrawDue = false;
    lastDraw = performance.now();
    arrived = 0;
    trim();
    if (paused) {
      $("#pause").textContent = missed ? `Resume (${missed} new)` : "Resume";
      if (!now) return;
    }
    const f = filters();
    listed = [];
    for (let i = order.length - 1; i >= 0; i--) {
      const row = rows.get(order[i]);
      if (kept(row, f)) listed.push(row);
    }
    placeRows();
    $("#empty").hidden = order.length > 0;
    $("#counts").textContent = `${listed.length} of ${order.length} exchanges`;
    options("#filter-rule", choices.rule, "any rule or source");
    options("#filter-model", choices.model, "any model");
  }

  // Only the rows in view (and a few more) are in the table; two spacer rows stand for the
  // others, so that a page with thousands of exchanges lays out a few dozen rows a draw.
  let listed = [];

  function placeRows() {
    const wrap = $(".table-wrap");
    const first = Math.max(0, Math.floor(wrap.scrollTop / rowPx) - SPARE_ROWS);
    const count = Math.ceil(wrap.clientHeight / rowPx) + 2 * SPARE_ROWS;
    const part = listed.slice(first, first + count);
    const spacer = (n) => {
      // Set through the CSSOM: the page's policy (style-src 'self') drops style attributes.
      const row = el("tr", { class: "spacer" });
      row.style.height = `${n * rowPx}px`;
      return row;
    };
    const trs = part.map(rowElement);
    const keep = new Set(part.map((row) => row.id));
    for (const id of drawn.keys()) if (!keep.has(id)) drawn.delete(id);
    $("#exchanges tbody").replaceChildren(
      ...(first ? [spacer(first)] : []), ...trs,
      ...(listed.length > first + count ? [spacer(listed.length - first - count)] : []));
    if (trs.length && rowPx === 40) {
      const measured = trs[0].getBoundingClientRect().height;
      if (measured > 0 && Math.abs(measured - rowPx) > 0.5) {
        rowPx = measured;
        placeRows();
      }
    }
  }

  function options(selector, values, anyLabel) {
    const select = $(selector);
    if (select.dataset.version === String(choicesVersion)) return;
    select.dataset.version = String(choicesVersion);
    const wanted = Array.from(values).filter(Boolean).sort();
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "" }, anyLabel), ...wanted.map((v) => el("option", { value: v }, v)));
    select.value = wanted.includes(chosen) ? chosen : "";
  }

  function time(seconds) {
    const d = new Date(seconds * 1000);
    const pad = (n, w) => String(n).padStart(w || 2, "0");
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  function ms(value) {
    if (value === null || value === undefined) return "";
    return value >= 10000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
  }

  function rowElement(row) {
    const version = `${row.status}|${row.done}|${row.duration_ms}|${row.ttft_ms}|${row.id === selected}`;
    const cached = drawn.get(row.id);
    if (cached && cached.version === version) return cached.tr;
    const status = row.status || 0;
    const ttft = row.ttft_ms === null ? "" : row.ttft_measured
      ? el("span", {}, ms(row.ttft_ms))
      : el("span", { class: "sched", title: "scheduled (the page was not open to measure it)" }, `~${ms(row.ttft_ms)}`);
    const tr = el("tr", { data: { id: row.id }, class: [row.id === selected ? "selected" : "", row.done ? "" : "open"].join(" ").trim() || null },
      el("td", {}, time(row.t)),
      // A path that is not a family's POST (GET /v1/models, a stored response) has no family.
      el("td", {}, row.api ? el("span", { class: "fam" }, `${row.api} · `) : null, row.path, row.prompt ? el("span", { class: "prompt" }, row.prompt) : null),
      el("td", {}, row.model || ""),
      el("td", { class: "opt" }, row.key || ""),
      el("td", { class: "opt" }, row.stream ? "stream" : ""),
      el("td", {}, el("span", { class: `st s${Math.floor(status / 100)}` }, status ? String(status) : "—"), row.done ? "" : " …"),
      el("td", { class: `src-${row.source || "none"}`, title: row.error || row.rule || "" }, row.by),
      el("td", { class: "num opt" }, ttft),
      el("td", { class: "num" }, row.done ? ms(row.duration_ms) : "…"),
      el("td", { class: "fault opt" }, row.faults.join(", ")),
    );
    tr.addEventListener("click", () => openDetail(row.id));
    drawn.set(row.id, { tr, version });
    return tr;
  }

  function clearRows() {
    $("#behind-note").hidden = true;
    rows.clear();
    drawn.clear();
    choices.rule.clear();
    choices.model.clear();
    choicesVersion += 1;
    order = [];
    missed = 0;
    if (paused) draw(true);
    else redraw();
  }

  // --- the feed ------------------------------------------------------------------------

  function setConn(state, text) {
    const conn = $("#conn");
    conn.dataset.state = state;
    conn.textContent = text;
  }

  function connect() {
    const source = new EventSource("/__admin/feed");
    // A connection's first snapshot follows its hello; another one means the page fell more
    // than 8 MiB behind and the server dropped what was waiting for it: say so.
    let greeted = false;
    source.addEventListener("hello", (event) => {
      greeted = true;
      const hello = JSON.parse(event.data);
      $("#about").textContent = `mockllm ${hello.version} · pid ${hello.pid}${hello.shared ? ` · process ${hello.process}` : ""}`;
      const note = $("#scope-note");
      note.hidden = !hello.note;
      note.textContent = hello.note || "";
    });
    source.addEventListener("snapshot", (event) => {
      const fresh = JSON.parse(event.data);
      if (!greeted) {
        const behind = $("#behind-note");
        behind.hidden = false;
        behind.textContent = `At ${time(Date.now() / 1000)} this page fell behind the feed: the server dropped the rows ` +
          `waiting for it, and the table now holds the journal's newest ${fresh.length} exchanges; those in between are not shown.`;
      }
      greeted = false;
      rows.clear();
      drawn.clear();
      choices.rule.clear();
      choices.model.clear();
      choicesVersion += 1;
      order = [];
      for (const row of fresh) put(row);
      redraw();
    });
    source.addEventListener("rows", (event) => {
      for (const row of JSON.parse(event.data)) put(row);
      redraw();
      if (!$("#view-state").hidden) stateSoon();
    });
    source.addEventListener("cleared", () => {
      clearRows();
      if (!$("#view-state").hidden) stateSoon();
    });
    source.addEventListener("open", () => setConn(paused ? "paused" : "live", paused ? "paused" : "live"));
    source.addEventListener("error", () => setConn("down", "reconnecting…"));
  }

  // --- one exchange --------------------------------------------------------------------

  let current = null; // the detail shown
  let section = "request";

  async function openDetail(id, wanted) {
    selected = id;
    drawn.forEach((entry, key) => entry.tr.classList.toggle("selected", key === id));
    const result = await call("GET", `/__admin/requests/${encodeURIComponent(id)}`);
    if (selected !== id) return;
    $("#detail").hidden = false;
    $(".split").classList.add("with-detail");
    $("#detail-title").textContent = id;
    if (!result.ok) {
      current = null;
      $("#detail-summary").textContent = "";
      $("#detail-body").replaceChildren(el("p", { class: "result bad" }, errorText(result)));
      return;
    }
    current = result.data;
    const row = current.row;
    $("#detail-summary").replaceChildren();
    // Each value a part of its own, so that none can reorder the others (see append).
    append($("#detail-summary"), [`${row.method} `, row.path, " · ", row.model || "no model", ` · ${row.status || "no status"} · `, row.by,
      row.done ? ` · ${ms(row.duration_ms)}` : " · in flight"]);
    showSection(wanted || (row.source === "miss" ? "whynot" : section));
  }

  function showSection(name) {
    section = name;
    $$(".subtabs button").forEach((b) => b.classList.toggle("active", b.dataset.section === name));
    if (!current) return;
    const body = $("#detail-body");
    body.replaceChildren(...SECTIONS[name](current).flat().filter((c) => c !== null && c !== undefined && c !== false));
    body.dataset.section = name;
  }

  const SECTIONS = {
    request: (d) => [
      el("h3", {}, "Body"),
      d.request.body === null || d.request.body === undefined ? el("p", { class: "muted" }, "No body was read.") : json(d.request.body),
      d.note ? el("p", { class: "muted" }, d.note) : null,
    ],
    answer: (d) => answerView(d),
    headers: (d) => [
      el("h3", {}, "Received"), headerTable(d.request.headers, "Not kept for this exchange."),
      el("h3", {}, "Sent"), headerTable(d.sent_headers, "The headers sent are noted only while an inspector page is open: this exchange ran before one was."),
      el("p", { class: "muted" }, "Keys and other secrets are masked, as in the server's messages."),
    ],
    timing: (d) => timingView(d),
    whynot: (d) => whyNotView(d),
    rule: (d) => ruleView(d),
  };

  function headerTable(pairs, missing) {
    if (!pairs) return el("p", { class: "muted" }, missing);
    return el("table", { class: "kv" }, el("tbody", {}, pairs.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v)))));
  }

  function answerView(d) {
    const a = d.answer;
    if (a.kind === "none" || a.kind === "elsewhere") {
      return [el("p", { class: "muted" }, a.note || d.note || "No answer was kept.")];
    }
    const head = el("p", {}, `${a.status} · ${a.content_type}`, a.cut_after !== null && a.cut_after !== undefined
      ? el("span", { class: "fault" }, ` · the connection was cut after ${a.cut_after} ${a.kind === "stream" ? "events" : "bytes"}`) : null);
    if (a.kind === "whole") {
      let parsed = null;
      try { parsed = parseJSON(a.text); } catch (_) { /* not JSON: shown as text */ }
      return [head, parsed !== null ? json(parsed) : el("pre", {}, folded(a.text))];
    }
    const parsed = a.events.map((event) => sseEvent(event.text));
    const shared = sharedFields(parsed);
    const whole = el("input", { type: "checkbox", id: "whole-events" });
    // A fault that cut the connection after N events: the events after them were never sent.
    const cut = a.cut_after !== null && a.cut_after !== undefined && a.cut_after < a.events.length ? a.cut_after : null;
    const rowsOf = (full) => a.events.flatMap((event, i) => {
      const late = event.sent_ms !== null && event.due_ms !== null ? event.sent_ms - event.due_ms : null;
      const p = parsed[i];
      const shown = full || p.data === null ? event.text.trimEnd() : JSON.stringify(without(p.data, shared));
      const unsent = cut !== null && i >= cut;
      const tr = el("tr", { class: unsent ? "unsent" : null },
        el("td", {}, String(i + 1)),
        el("td", { class: "num" }, event.due_ms === null ? "" : `${event.due_ms.toFixed(1)}`),
        el("td", { class: `num${late !== null && late > 5 ? " late" : ""}` }, unsent ? "not sent" : event.sent_ms === null ? "—" : `${event.sent_ms.toFixed(1)}`),
        el("td", { class: "ev" }, !full && p.name ? el("span", { class: "name" }, `${p.name} `) : null, folded(shown)));
      return i === cut ? [el("tr", { class: "cut" }, el("td", { colspan: 4 },
        `The connection was cut here: the ${a.count - cut} events below were never sent.`)), tr] : [tr];
    });
    const tbody = el("tbody", {}, rowsOf(false));
    whole.addEventListener("change", () => tbody.replaceChildren(...rowsOf(whole.checked)));
    const table = el("table", { class: "events" },
      el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", { class: "num" }, "due"), el("th", { class: "num" }, "sent"), el("th", {}, "event"))),
      tbody);
    const more = a.count > a.events.length ? el("p", { class: "muted" }, `… and ${a.count - a.events.length} more events`) : null;
    return [head,
      el("p", { class: "muted" }, `${a.count} events; due and sent in ms from the request's arrival (sent is measured only while a page is open).`),
      Object.keys(shared).length ? el("p", { class: "shared" }, "every event also holds ", JSON.stringify(shared)) : null,
      el("label", {}, whole, " show the events as sent"),
      table, more];
  }

  // One SSE event: its `event:` name and its `data:` JSON (null when it is not JSON).
  function sseEvent(text) {
    let name = null;
    const data = [];
    for (const line of text.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    let value = null;
    try { value = parseJSON(data.join("\n")); } catch (_) { /* [DONE], or malformed on purpose */ }
    return { name, data: value !== null && typeof value === "object" && !Array.isArray(value) ? value : null };
  }

  // Fields with the same value in every event of the stream (id, model, created, …).
  function sharedFields(events) {
    const objects = events.map((e) => e.data).filter((d) => d !== null);
    if (objects.length < 2) return {};
    const out = Object.create(null); // a "__proto__" key is a field like any other
    for (const [key, value] of Object.entries(objects[0])) {
      const text = JSON.stringify(value);
      if (typeof value !== "object" && objects.every((o) => key in o && JSON.stringify(o[key]) === text)) out[key] = value;
    }
    return out;
  }

  function without(data, shared) {
    const out = Object.create(null);
    for (const [key, value] of Object.entries(data)) if (!(key in shared)) out[key] = value;
    return out;
  }

  function timingView(d) {
    const t = d.timing;
    if (!t) return [el("p", { class: "muted" }, d.note || "No timing for this exchange (nothing was paced).")];
    const pace = t.pace || {};
    const paceText = pace.ttft_ms !== undefined
      ? ["intended pace (", pace.from, `): TTFT ${pace.ttft_ms} ms, then ${pace.inter_token_ms} ms per event${pace.jitter_ms ? ` ± ${pace.jitter_ms} ms` : ""}`]
      : pace.delay_ms !== undefined ? `an error reply sent after ${pace.delay_ms} ms`
        : pace.replay_speed !== undefined ? `replayed at ${pace.recorded ? "the recorded pace" : "the default pace (no timing was recorded)"} × ${pace.replay_speed}` : "";
    const lags = t.sent_ms.map((s, i) => (s === null || t.due_ms[i] === undefined ? null : s - t.due_ms[i])).filter((x) => x !== null);
    const worst = lags.length ? Math.max(...lags) : null;
    return [
      el("p", {}, paceText),
      strip(t),
      el("p", { class: "legend" }, el("b", { class: "d" }, "┃ due"), "  when each event was due   ", el("b", { class: "s" }, "┃ sent"), "  when it left   ",
        el("b", { class: "l" }, "╲ late"), "  more than 5 ms after its due time"),
      t.measured
        ? el("p", {}, `${t.sent_ms.length} events; latest ${worst === null ? "—" : `${worst.toFixed(1)} ms`} after its due time; duration ${ms(t.duration_ms)}.`)
        : el("p", { class: "muted" }, "Send times are noted only while an inspector page is open: this exchange ran before one was."),
      t.drip ? el("p", { class: "muted" }, "A drip fault writes slices of the body, not events.") : null,
    ];
  }

  function strip(t) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = (tag, attrs) => {
      const node = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
      return node;
    };
    const values = [...t.due_ms, ...t.sent_ms.filter((s) => s !== null), t.duration_ms || 0];
    const end = Math.max(1, ...values) * 1.04;
    const W = 1000, left = 44, right = 12, H = 110;
    const x = (v) => left + (v / end) * (W - left - right);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "strip", role: "img", "aria-label": "timing strip" });
    const label = (text, px, py, anchor) => {
      const node = svg("text", { x: px, y: py, "text-anchor": anchor || "start" });
      node.textContent = text;
      root.append(node);
    };
    label("due", 4, 34);
    label("sent", 4, 74);
    root.append(svg("line", { x1: left, x2: W - right, y1: 92, y2: 92, class: "axis" }));
    const step = niceStep(end);
    const digits = step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step)));
    for (let i = 0; i * step <= end; i++) {
      const v = i * step;
      root.append(svg("line", { x1: x(v), x2: x(v), y1: 92, y2: 96, class: "axis" }));
      label(`${v.toFixed(digits)} ms`, x(v), 108, "middle");
    }
    t.due_ms.forEach((due, i) => {
      root.append(svg("line", { x1: x(due), x2: x(due), y1: 20, y2: 40, class: "due" }));
      const sent = t.sent_ms[i];
      if (sent === null || sent === undefined) return;
      if (sent - due > 5) root.append(svg("line", { x1: x(due), x2: x(sent), y1: 40, y2: 60, class: "lag" }));
      root.append(svg("line", { x1: x(sent), x2: x(sent), y1: 60, y2: 80, class: "sent" }));
    });
    return root;
  }

  function niceStep(end) {
    const raw = end / 8;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  }

  function whyNotView(d) {
    const out = [];
    const w = d.why_not || {};
    const row = d.row;
    if (row.source === "rule") {
      out.push(el("p", {}, "Answered by the rule ", row.by, "."));
    }
    if (w.none) out.push(el("p", { class: "no-rule" }, w.none));
    if (w.cassette) {
      const c = w.cassette;
      out.push(el("h3", {}, "Cassette miss"));
      out.push(el("p", {}, c.nearest ? ["Nearest recorded interaction: ", c.nearest] : "No recorded interaction to compare with."));
      out.push(el("ul", { class: "diff" }, c.diff.map((line) => el("li", {}, line))));
      if (c.recorded !== null && c.recorded !== undefined) {
        out.push(el("div", { class: "side" },
          el("div", {}, el("h3", {}, "Recorded request"), json(c.recorded)),
          el("div", {}, el("h3", {}, "Sent request"), json(d.request.body))));
      }
    }
    if (w.rules) {
      out.push(el("h3", {}, row.source === "rule" ? "Other rules" : "Near misses (closest first, against the rules loaded now)"));
      if (!w.rules.length) out.push(el("p", { class: "muted" }, "No rules are loaded."));
      w.rules.forEach((near, i) => {
        out.push(el("div", { class: "near", data: { rule: near.rule } },
          el("h4", {}, `${i + 1}. `, near.name, " ", el("span", { class: "where", title: near.file }, `${near.file.split("/").pop()}:${near.line ?? "?"}`),
            el("span", { class: "where" }, ` · ${near.failed} of ${near.conditions.length} conditions failed`)),
          near.note ? el("p", { class: "muted" }, near.note) : null,
          near.conditions.map((c) => el("div", { class: `cond ${c.held ? "held" : "failed"}` },
            c.held ? `${c.key}${c.line ? ` (line ${c.line})` : ""} held` : `${c.why}${c.line ? ` (line ${c.line})` : ""}`))));
      });
    }
    if (w.attempts && w.attempts.length) {
      out.push(el("h3", {}, "Near misses (from the journal)"));
      out.push(json(w.attempts));
    }
    if (d.fallbacks && d.fallbacks.length) {
      out.push(el("h3", {}, "Fallback models tried"));
      out.push(json(d.fallbacks));
    }
    if (!out.length) out.push(el("p", { class: "muted" }, "Nothing to explain: no rule was expected to answer."));
    return out;
  }

  function ruleView(d) {
    const box = el("textarea", { spellcheck: "false", "aria-label": "scenario YAML" });
    const result = el("p", { class: "result" });
    const make = el("button", { type: "button", class: "primary", id: "make-rule" }, "Make a rule from this exchange");
    const copy = el("button", { type: "button", id: "copy-rule", disabled: true }, "Copy");
    const add = el("button", { type: "button", id: "add-rule", disabled: true }, "Add at run time");
    if (d.no_rule) {  // asking would only be refused (and the browser would log a 4xx)
      make.disabled = true;
      result.className = "result bad";
      result.textContent = `This exchange cannot become a rule: ${d.no_rule}.`;
    }
    make.addEventListener("click", async () => {
      const answer = await call("GET", `/__admin/requests/${encodeURIComponent(d.row.id)}/rule`);
      if (!answer.ok) {
        result.className = "result bad";
        result.textContent = errorText(answer);
        return;
      }
      box.value = answer.data;
      copy.disabled = add.disabled = false;
      result.className = "result";
      result.textContent = "Edit it if you like; then copy it into a scenario file, or add it to this server now.";
    });
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(box.value);
      } catch (_) {
        box.select();
        document.execCommand("copy");
      }
      result.className = "result ok";
      result.textContent = "Copied.";
    });
    add.addEventListener("click", async () => {
      const answer = await call("POST", "/__admin/rules", box.value, "application/yaml");
      if (answer.ok) {
        const names = answer.data.added.map((r) => r.name).join(", ");
        result.className = "result ok";
        result.textContent = `Added ${names}: the next identical request is answered by it (POST /__admin/rules).`;
      } else {
        result.className = "result bad";
        const problems = (answer.data.problems || []).map((p) => `line ${p.line}: ${p.field}: ${p.message}`);
        result.textContent = [errorText(answer), ...problems].join("\n");
      }
    });
    return [el("p", {}, "A rule that answers the next identical request as this one was answered, written as mockllm cassette to-scenario writes rules."),
      el("div", { class: "toolbar" }, make, copy, add), box, result];
  }

  // --- JSON, folded --------------------------------------------------------------------

  function folded(text) {
    if (text.length <= FOLD_CHARS) return text;
    const span = el("span", {}, text.slice(0, FOLD_CHARS));
    const button = el("button", { type: "button", class: "fold" }, `… ${text.length - FOLD_CHARS} more characters`);
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      span.replaceChildren();
      append(span, [text]);
      button.remove();
    });
    return el("span", {}, span, button);
  }

  function json(value) {
    return el("div", { class: "json" }, node(value, 0));
  }

  function scalar(value) {
    if (value === null) return el("span", { class: "b" }, "null");
    if (typeof value === "string") return el("span", { class: "s" }, "\"", folded(value), "\"");
    if (typeof value === "number") return el("span", { class: "n" }, String(value));
    if (isRaw(value)) return el("span", { class: "n" }, value.rawJSON);
    if (typeof value === "boolean") return el("span", { class: "b" }, String(value));
    return el("span", {}, String(value));
  }

  function node(value, depth) {
    if (value === null || typeof value !== "object" || isRaw(value)) return scalar(value);
    const isArray = Array.isArray(value);
    const entries = isArray ? value.map((v, i) => [i, v]) : Object.entries(value);
    if (!entries.length) return el("span", {}, isArray ? "[]" : "{}");
    const kids = el("div", { class: "kids" });
    const shown = isArray && entries.length > FOLD_ITEMS
      ? [...entries.slice(0, 10), null, ...entries.slice(-10)]
      : entries;
    for (const entry of shown) {
      if (entry === null) {
        const hidden = entries.slice(10, -10);
        const more = el("button", { type: "button", class: "fold" }, `… ${hidden.length} more items`);
        more.addEventListener("click", () => {
          more.replaceWith(...hidden.map(([k, v]) => line(k, v, isArray, depth)));
        });
        kids.append(el("div", {}, more));
        continue;
      }
      kids.append(line(entry[0], entry[1], isArray, depth));
    }
    const summary = isArray ? `[ ${entries.length} items ]` : `{ ${entries.length} keys }`;
    const toggle = el("span", { class: "tog" }, "▾ ");
    const closed = el("span", { class: "tog", hidden: true }, summary);
    const flip = () => {
      kids.hidden = !kids.hidden;
      closed.hidden = !kids.hidden;
      toggle.textContent = kids.hidden ? "▸ " : "▾ ";
    };
    toggle.addEventListener("click", flip);
    closed.addEventListener("click", flip);
    return el("span", {}, toggle, isArray ? "[" : "{", closed, kids, isArray ? "]" : "}");
  }

  function line(key, value, isArray, depth) {
    return el("div", {}, isArray ? null : el("span", { class: "k" }, `"${key}"`), isArray ? null : ": ", node(value, depth + 1));
  }

  // --- state ---------------------------------------------------------------------------

  let stateTimer = null;

  function stateSoon() {
    if (stateTimer) return;
    stateTimer = setTimeout(() => { stateTimer = null; loadState(); }, 1000);
  }

  async function loadState() {
    const result = await call("GET", "/__admin/state");
    const body = $("#state-body");
    if (!result.ok) {
      body.replaceChildren(el("p", { class: "result bad" }, errorText(result)));
      return;
    }
    const s = result.data;
    body.replaceChildren(
      section_("Process", el("p", {}, `mockllm ${s.process.version}, pid ${s.process.pid}; the journal keeps ${s.journal.kept} of at most ${s.journal.size} exchanges; `,
        s.process.shared ? `state shared with the other processes (this is process ${s.process.process}).` : "state kept by this process alone.")),
      section_(`Rules (${s.rules.length}, in the order they are tried)`, table(["name", "file:line", "priority", "conditions", "sequence", "added", "answered"],
        s.rules.map((r) => [r.name, `${r.file}:${r.line ?? "?"}`, r.priority, r.conditions.join(", "), r.sequence ? `${r.sequence} steps` : "",
          r.runtime ? "at run time" : "", String(r.answered)]), "rules")),
      section_("Sequences", s.sequences.length ? table(["rule", "counted", "answered", "next step", "then"],
        s.sequences.map((q) => [q.rule, q.scope === "global" ? "once for all" : `per ${q.scope}: ${q.of}`, q.answered,
          q.next === null ? "spent" : `${q.next + 1} of ${q.steps}`, q.then]), "sequences") : el("p", { class: "muted" }, "No rule has a sequence.")),
      section_("Keys", s.keys.open ? el("p", {}, "Open mode: every key is accepted; nothing is limited.")
        : table(["key", "line", "balance", "requests left", "tokens left", "models"], s.keys.keys.map((k) => [
          k.key, k.line ?? "", k.balance === null ? "unlimited" : `${k.balance} of ${k.credits}`,
          k.rpm ? `${Math.floor(k.left.requests ?? k.rpm)} of ${k.rpm}/min` : "no limit",
          k.tpm ? `${Math.floor(k.left.tokens ?? k.tpm)} of ${k.tpm}/min` : "no limit",
          k.models ? k.models.join(", ") : "all"]), "keys")),
      section_("Profile", el("p", {}, `${s.profile.name}: ${s.profile.description}`), el("p", { class: "muted" }, `chat paths: ${s.profile.chat_paths.join(", ")} · ${s.profile.source}`)),
      section_("Cassettes", table(["folder", "chosen", "record mode", "upstream", "on a miss", "replay speed"],
        [[s.cassettes.folder || "none", s.cassettes.chosen || "all", s.cassettes.record_mode, s.cassettes.upstream || "none", s.cassettes.on_miss, s.cassettes.replay_speed]], "cassettes"),
        Object.keys(s.cassettes.loaded).length ? table(["cassette", "interactions"], Object.entries(s.cassettes.loaded), "loaded") : null),
    );
  }

  function section_(title, ...children) {
    return el("section", {}, el("h2", {}, title), ...children);
  }

  function table(heads, data, name) {
    return el("table", { data: { table: name } }, el("thead", {}, el("tr", {}, heads.map((h) => el("th", {}, h)))),
      el("tbody", {}, data.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c === null || c === undefined ? "" : String(c)))))));
  }

  // --- wiring --------------------------------------------------------------------------

  function showView(name) {
    $$(".tab").forEach((b) => b.classList.toggle("active", b.dataset.view === name));
    $("#view-exchanges").hidden = name !== "exchanges";
    $("#view-state").hidden = name !== "state";
    if (name === "state") loadState();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $$(".tab").forEach((b) => b.addEventListener("click", () => showView(b.dataset.view)));
    $$(".subtabs button").forEach((b) => b.addEventListener("click", () => showSection(b.dataset.section)));
    ["#filter-text", "#filter-status", "#filter-rule", "#filter-model"].forEach((s) => $(s).addEventListener("input", redraw));
    let scrolled = false;
    $(".table-wrap").addEventListener("scroll", () => {
      if (scrolled || paused) return;
      scrolled = true;
      requestAnimationFrame(() => { scrolled = false; placeRows(); });
    });
    $("#pause").addEventListener("click", () => {
      paused = !paused;
      missed = 0;
      $("#pause").textContent = paused ? "Resume" : "Pause";
      $("#pause").classList.toggle("on", paused);
      setConn(paused ? "paused" : "live", paused ? "paused" : "live");
      redraw();
    });
    $("#clear").addEventListener("click", async () => {
      const result = await call("DELETE", "/__admin/requests");
      if (!result.ok) $("#counts").textContent = errorText(result);
    });
    $("#detail-close").addEventListener("click", () => {
      selected = null;
      current = null;
      $("#detail").hidden = true;
      $(".split").classList.remove("with-detail");
      redraw();
    });
    $("#refresh-state").addEventListener("click", loadState);
    $("#reset").addEventListener("click", async () => {
      const result = await call("POST", "/__admin/reset");
      $("#reset-result").textContent = result.ok ? "Reset: journal, sequences, credits, rate limits and cassette positions are back at their start." : errorText(result);
      loadState();
    });
    connect();
    redraw();
  });
})();
