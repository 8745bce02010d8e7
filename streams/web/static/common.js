// Shared helpers. Every value from the server is untrusted text: it only ever reaches the
// page through textContent or element properties, never through innerHTML.
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
  async json(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (response.status === 401) {
      // The session ended (expired, logged out, a new token): log in again, then come back.
      location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
    }
    if (!response.ok) throw new Error(path + ": HTTP " + response.status);
    return response.json();
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
