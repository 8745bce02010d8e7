// Shared helpers. Every value from the server is untrusted text: it only ever reaches the
// page through textContent or element properties, never parsed as HTML.
"use strict";
const tocsin = {
  el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  },
  clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  },
  // X-Tocsin-Request marks our own scripts' requests: the subscriptions API accepts the login
  // session only with it (a cross-site page cannot add it).
  headers: { Accept: "application/json", "X-Tocsin-Request": "1" },
  async json(path) {
    const response = await fetch(path, { headers: tocsin.headers, cache: "no-store" });
    if (response.status === 401) {
      // The session ended (expired, logged out, a new token): log in again, then come back.
      location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
    }
    if (!response.ok) throw new Error(path + ": HTTP " + response.status);
    return response.json();
  },
  // A write: resolves to {status, body} whatever the status (the caller shows API errors).
  async send(method, path, body) {
    const init = { method, headers: { ...tocsin.headers }, cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch (_e) {
      parsed = { error: text.slice(0, 500) };
    }
    return { status: response.status, body: parsed };
  },
  // SVG elements (charts, the map): attributes only, text through textContent.
  svg(tag, attrs, text) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  },
  // Horizontal bars in plain SVG: [{value, count}] -> one labelled bar each.
  bars(container, rows) {
    tocsin.clear(container);
    if (!rows.length) {
      container.appendChild(tocsin.el("p", "nothing yet", "note"));
      return;
    }
    const rowH = 20;
    const max = Math.max(1, ...rows.map((r) => r.count));
    const chart = tocsin.svg("svg", {
      class: "bars",
      viewBox: "0 0 300 " + rows.length * rowH,
      role: "list",
      preserveAspectRatio: "none",
    });
    rows.forEach((r, i) => {
      const g = tocsin.svg("g", { role: "listitem", transform: "translate(0," + i * rowH + ")" });
      g.appendChild(tocsin.svg("title", {}, r.value + ": " + r.count));
      g.appendChild(tocsin.svg("rect", { class: "track", x: 110, y: 3, width: 160, height: rowH - 6, rx: 2 }));
      g.appendChild(
        tocsin.svg("rect", { class: "fill", x: 110, y: 3, width: (160 * r.count) / max, height: rowH - 6, rx: 2 })
      );
      const label = String(r.value);
      g.appendChild(tocsin.svg("text", { x: 0, y: rowH - 6, class: "label" }, label.length > 18 ? label.slice(0, 17) + "…" : label));
      g.appendChild(tocsin.svg("text", { x: 298, y: rowH - 6, class: "count", "text-anchor": "end" }, r.count));
      chart.appendChild(g);
    });
    container.appendChild(chart);
  },
  // Only http(s) links are made clickable; anything else (javascript:, data:) stays text.
  safeUrl(value) {
    if (typeof value !== "string") return null;
    try {
      const url = new URL(value);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_e) {
      return null;
    }
  },
  alertHref(id) {
    return "/alerts/" + encodeURIComponent(id);
  },
  when(seconds) {
    if (!seconds) return "";
    return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) + "Z";
  },
};

// A "log out" button for pages that have one, shown when a login session is what let us in.
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("logout");
  if (!button) return;
  fetch("/api/session", { cache: "no-store" })
    .then((r) => r.json())
    .then((s) => {
      button.hidden = !(s.mode === "token" && s.authenticated);
    })
    .catch(() => {});
  button.addEventListener("click", () => {
    fetch("/api/session", { method: "DELETE" }).finally(() => location.assign("/login"));
  });
});
