"use strict";
(function () {
  const API = "/api/subscriptions";
  const form = document.getElementById("sub-form");
  const field = (name) => document.getElementById("f-" + name);
  const queryBox = field("query");
  const queryError = document.getElementById("query-error");
  const resolvedBox = document.getElementById("resolved");
  const formError = document.getElementById("form-error");
  const formStatus = document.getElementById("form-status");
  const FACETS = ["themes", "countries", "regions", "actors"];
  let editing = null; // the subscription being edited, or null for a new one
  let hasSecret = false; // the edited subscription has a webhook (its secret is kept)

  function list(text) {
    return text.split(",").map((v) => v.trim()).filter(Boolean);
  }

  function summary(s) {
    const parts = [];
    for (const f of FACETS) if (s[f] && s[f].length) parts.push(f + ": " + s[f].join(", "));
    if (s.query) parts.push("query: " + s.query);
    return parts.join("; ") || "—";
  }

  // ---- the list --------------------------------------------------------------------------
  async function load() {
    const status = document.getElementById("list-status");
    const data = await tocsin.json(API);
    const body = document.querySelector("#subs tbody");
    tocsin.clear(body);
    for (const s of data.subscriptions) {
      const tr = tocsin.el("tr");
      tr.dataset.id = s.id;
      if (s.paused) tr.classList.add("paused");
      const name = tocsin.el("td");
      name.appendChild(tocsin.el("strong", s.name || s.id));
      name.appendChild(tocsin.el("div", s.id, "note"));
      tr.appendChild(name);
      tr.appendChild(tocsin.el("td", summary(s)));
      tr.appendChild(tocsin.el("td", s.paused ? "paused" : "active"));
      const actions = tocsin.el("td");
      const edit = tocsin.el("button", "Edit", "btn edit");
      edit.type = "button";
      edit.setAttribute("aria-label", "edit " + (s.name || s.id));
      edit.addEventListener("click", () => startEdit(s));
      const pause = tocsin.el("button", s.paused ? "Resume" : "Pause", "btn pause");
      pause.type = "button";
      pause.setAttribute("aria-label", (s.paused ? "resume " : "pause ") + (s.name || s.id));
      pause.addEventListener("click", () => setPaused(s, !s.paused));
      const del = tocsin.el("button", "Delete", "btn danger delete");
      del.type = "button";
      del.setAttribute("aria-label", "delete " + (s.name || s.id));
      del.addEventListener("click", () => remove(s, del));
      actions.append(edit, " ", pause, " ", del);
      tr.appendChild(actions);
      body.appendChild(tr);
    }
    status.textContent = data.subscriptions.length + " subscription(s)";
  }

  async function setPaused(s, paused) {
    const r = await tocsin.send("PATCH", API + "/" + encodeURIComponent(s.id), { paused: paused ? true : null });
    document.getElementById("list-status").textContent =
      r.status === 200 ? (paused ? "Paused " : "Resumed ") + (s.name || s.id) : "Error: " + errorText(r);
    await load();
  }

  async function remove(s, button) {
    // A second press confirms (no modal dialog: keyboard and screen readers keep their place).
    if (button.dataset.armed !== "1") {
      button.dataset.armed = "1";
      button.textContent = "Confirm delete";
      return;
    }
    const r = await tocsin.send("DELETE", API + "/" + encodeURIComponent(s.id));
    document.getElementById("list-status").textContent =
      r.status === 204 ? "Deleted " + (s.name || s.id) : "Error: " + errorText(r);
    if (editing && editing.id === s.id) reset();
    await load();
  }

  function errorText(r) {
    return (r.body && r.body.error) || "HTTP " + r.status;
  }

  // ---- the editor --------------------------------------------------------------------------
  function reset() {
    editing = null;
    hasSecret = false;
    form.reset();
    field("id").readOnly = false;
    field("secret").placeholder = "";
    document.getElementById("editor-title").textContent = "New subscription";
    document.getElementById("save").textContent = "Create";
    for (const box of [queryError, resolvedBox, formError]) tocsin.clear(box);
    queryBox.removeAttribute("aria-invalid");
  }

  function startEdit(s) {
    reset();
    editing = s;
    hasSecret = Boolean(s.webhook);
    field("id").value = s.id;
    field("id").readOnly = true;
    field("name").value = s.name || "";
    for (const f of FACETS) field(f).value = (s[f] || []).join(", ");
    queryBox.value = s.query || "";
    field("mode").value = s.mode || "instant";
    field("confidence").value = s.min_confidence ? String(s.min_confidence) : "";
    field("url").value = s.webhook ? s.webhook.url : "";
    // The secret is never sent to the browser: left empty, the stored one is kept.
    field("secret").placeholder = hasSecret ? "unchanged (write-only)" : "";
    field("paused").checked = Boolean(s.paused);
    document.getElementById("editor-title").textContent = "Edit " + (s.name || s.id);
    document.getElementById("save").textContent = "Save";
    document.getElementById("editor").focus();
    check();
  }

  // The subscription the form describes (null for what is left empty, so a PATCH removes it).
  function fromForm() {
    const out = { name: field("name").value.trim() || null };
    for (const f of FACETS) out[f] = list(field(f).value);
    out.query = queryBox.value.trim() || null;
    out.mode = field("mode").value;
    const confidence = field("confidence").value.trim();
    out.min_confidence = confidence === "" ? 0 : Number(confidence);
    const url = field("url").value.trim();
    const secret = field("secret").value;
    if (!url) out.webhook = null;
    else if (secret) out.webhook = { url, secret };
    else out.webhook = { url }; // an edit keeps the stored secret
    out.paused = field("paused").checked ? true : null;
    return out;
  }

  function withoutNulls(obj) {
    return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== null));
  }

  function showQueryError(text, position, message) {
    tocsin.clear(queryError);
    if (position === null || position === undefined) {
      queryBox.removeAttribute("aria-invalid");
      return;
    }
    queryBox.setAttribute("aria-invalid", "true");
    queryError.appendChild(tocsin.el("span", message + " (at character " + (position + 1) + ")", "message"));
    const pre = tocsin.el("pre");
    pre.appendChild(document.createTextNode(text.slice(0, position)));
    pre.appendChild(tocsin.el("mark", text.slice(position, position + 1) || "␣", "caret"));
    pre.appendChild(document.createTextNode(text.slice(position + 1)));
    queryError.appendChild(pre);
    queryError.dataset.position = String(position);
  }

  function showResolved(resolved) {
    tocsin.clear(resolvedBox);
    const parts = [];
    for (const [f, map] of Object.entries(resolved || {})) {
      for (const [typed, canonical] of Object.entries(map || {})) {
        parts.push(f + ": " + typed + " → " + (canonical === null ? "(matched as text)" : canonical));
      }
    }
    if (parts.length) resolvedBox.textContent = "Resolved: " + parts.join("; ");
  }

  let checkSeq = 0;
  async function check() {
    const seq = ++checkSeq;
    const data = withoutNulls(fromForm());
    if (editing) data.id = editing.id;
    else if (field("id").value.trim()) data.id = field("id").value.trim();
    // The dry run sees the whole record: an edit's kept secret is stood in for.
    if (data.webhook && !data.webhook.secret) data.webhook = { ...data.webhook, secret: "x".repeat(16) };
    const r = await tocsin.send("POST", API + "?dry_run=true", data);
    if (seq !== checkSeq) return; // a later keystroke's check is on its way
    if (r.status === 200) {
      showQueryError("", null);
      formError.textContent = "";
      showResolved(r.body.resolved);
      return;
    }
    const body = r.body || {};
    if (body.field === "query") {
      showQueryError(queryBox.value, body.position, body.error);
      formError.textContent = "";
    } else {
      showQueryError("", null);
      formError.textContent = errorText(r);
    }
  }

  let timer = null;
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => check().catch(() => {}), 250);
    formStatus.textContent = "";
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    formStatus.textContent = "";
    let r;
    if (editing) {
      r = await tocsin.send("PATCH", API + "/" + encodeURIComponent(editing.id), fromForm());
    } else {
      const data = withoutNulls(fromForm());
      if (field("id").value.trim()) data.id = field("id").value.trim();
      r = await tocsin.send("POST", API, data);
    }
    if (r.status === 200 || r.status === 201) {
      const saved = r.body;
      reset();
      showResolved(saved.resolved);
      formStatus.textContent = (r.status === 201 ? "Created " : "Saved ") + (saved.name || saved.id);
      await load();
      return;
    }
    const body = r.body || {};
    if (body.field === "query") showQueryError(queryBox.value, body.position, body.error);
    formError.textContent = errorText(r);
  });

  document.getElementById("cancel").addEventListener("click", reset);
  document.getElementById("new").addEventListener("click", () => {
    reset();
    field("id").focus();
  });

  load().catch((err) => {
    document.getElementById("list-status").textContent = String(err.message);
  });
})();
