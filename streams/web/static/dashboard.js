"use strict";
(function () {
  const MAX_ALERTS = 200;
  const alertsList = document.getElementById("alerts");
  const filter = document.getElementById("sub-filter");
  const seen = new Map(); // alert id -> revision shown
  const subscriptions = new Map();

  // ---- live alerts --------------------------------------------------------------------
  function alertItem(a) {
    const li = tocsin.el("li", null, "alert");
    li.dataset.subscription = a.subscription_id || "";
    li.dataset.alertId = a.alert_id;
    const link = tocsin.el("a", a.title || "(untitled article)", "title");
    link.href = tocsin.alertHref(a.alert_id);
    li.appendChild(link);
    const meta = tocsin.el("div", null, "meta");
    meta.appendChild(tocsin.el("span", a.subscription_name || a.subscription_id, "sub"));
    if (a.primary_theme) meta.appendChild(tocsin.el("span", a.primary_theme, "theme"));
    const countries = (a.matched && a.matched.countries) || [];
    if (countries.length) meta.appendChild(tocsin.el("span", countries.join(" "), "country"));
    if (a.source) meta.appendChild(tocsin.el("span", a.source, "source"));
    if (a.tier) meta.appendChild(tocsin.el("span", a.tier, "tier tier-" + a.tier));
    if (a.source_count > 1) {
      meta.appendChild(tocsin.el("span", a.source_count + " sources", "sources"));
    }
    if (a.kind === "update") meta.appendChild(tocsin.el("span", "updated", "updated"));
    meta.appendChild(tocsin.el("time", tocsin.when(a.received_at)));
    li.appendChild(meta);
    if (a.evidence) li.appendChild(tocsin.el("p", a.evidence, "evidence"));
    return li;
  }

  function noteSubscription(id, name) {
    if (!id || subscriptions.has(id)) return;
    subscriptions.set(id, name || id);
    const option = tocsin.el("option", name ? name + " (" + id + ")" : id);
    option.value = id;
    filter.appendChild(option);
  }

  function applyFilter(li) {
    li.hidden = Boolean(filter.value) && li.dataset.subscription !== filter.value;
  }

  function addAlert(a, atTop) {
    if (!a || !a.alert_id) return;
    const revision = a.revision || 1;
    if (seen.has(a.alert_id)) {
      // One entry per alert: a later revision (another article of the story) replaces it.
      if (seen.get(a.alert_id) >= revision) return;
      for (const old of Array.from(alertsList.children)) {
        if (old.dataset.alertId === a.alert_id) alertsList.removeChild(old);
      }
    }
    seen.set(a.alert_id, revision);
    noteSubscription(a.subscription_id, a.subscription_name);
    const li = alertItem(a);
    applyFilter(li);
    li.dataset.receivedAt = String(a.received_at || 0);
    if (atTop) {
      alertsList.insertBefore(li, alertsList.firstChild);
      li.classList.add("fresh");
    } else {
      // Backfill (first load, or after a reconnect): keep the list newest first.
      const later = Array.from(alertsList.children).find(
        (other) => Number(other.dataset.receivedAt) < (a.received_at || 0)
      );
      alertsList.insertBefore(li, later || null);
    }
    while (alertsList.children.length > MAX_ALERTS) {
      const last = alertsList.lastChild;
      seen.delete(last.dataset.alertId);
      alertsList.removeChild(last);
    }
    document.getElementById("alerts-empty").hidden = alertsList.children.length > 0;
  }

  filter.addEventListener("change", () => {
    for (const li of alertsList.children) applyFilter(li);
  });

  async function loadRecent() {
    const data = await tocsin.json("/api/alerts?limit=" + MAX_ALERTS);
    // newest first from the server; appending keeps that order below live arrivals
    for (const a of data.alerts) addAlert(a, false);
  }

  function connect() {
    const state = document.getElementById("live-state");
    const source = new EventSource("/api/live/alerts");
    source.addEventListener("open", () => {
      state.textContent = "live";
      state.className = "pill ok";
      loadRecent().catch(() => {});
    });
    source.addEventListener("alert", (msg) => {
      try {
        addAlert(JSON.parse(msg.data), true);
      } catch (_e) {
        /* a malformed frame is skipped; the next one may be fine */
      }
    });
    source.addEventListener("error", () => {
      state.textContent = "reconnecting";
      state.className = "pill warn";
    });
  }

  // ---- stages, lag, health -------------------------------------------------------------
  let previous = null;
  async function refreshMonitor() {
    const m = await tocsin.json("/api/monitor");
    const health = document.getElementById("health");
    health.textContent = m.health.healthy ? "healthy" : "unhealthy";
    health.className = "pill " + (m.health.healthy ? "ok" : "bad");
    const ready = document.getElementById("ready");
    ready.textContent = m.readiness.ready ? "ready" : "not ready";
    ready.className = "pill " + (m.readiness.ready ? "ok" : "warn");
    const body = document.querySelector("#stages tbody");
    tocsin.clear(body);
    const now = Date.now() / 1000;
    for (const stage of m.stages) {
      const tr = tocsin.el("tr");
      tr.dataset.stage = stage.name;
      let rate = "";
      if (previous && previous.totals[stage.name] !== undefined && now > previous.at) {
        rate = ((stage.handled - previous.totals[stage.name]) / (now - previous.at)).toFixed(1);
      }
      tr.appendChild(tocsin.el("td", stage.name));
      tr.appendChild(tocsin.el("td", rate, "num"));
      tr.appendChild(tocsin.el("td", stage.handled, "num"));
      const outcomes = Object.entries(stage.outcomes).map(([k, v]) => k + " " + v).join(", ");
      tr.appendChild(tocsin.el("td", outcomes));
      tr.appendChild(tocsin.el("td", stage.lag === null ? "" : stage.lag, "num"));
      body.appendChild(tr);
    }
    previous = { at: now, totals: Object.fromEntries(m.stages.map((s) => [s.name, s.handled])) };
    const stalls = m.health.stalls.map(
      (s) => s.stage + " on " + s.topic + "[" + s.partition + "] stalled " + s.stalled_for_s + " s"
    );
    document.getElementById("stalls").textContent = stalls.join("; ");
  }

  // ---- charts ----------------------------------------------------------------------------
  async function refreshChart(chart) {
    const q = new URLSearchParams({
      window: chart.dataset.window,
      by: chart.dataset.by,
      periods: chart.dataset.periods,
      limit: "8",
    });
    const data = await tocsin.json("/api/stats?" + q.toString());
    const list = chart.querySelector("ol");
    tocsin.clear(list);
    const max = Math.max(1, ...data.counts.map((c) => c.count));
    for (const c of data.counts) {
      const li = tocsin.el("li", null, "bar-row");
      li.appendChild(tocsin.el("span", c.value, "label"));
      const bar = tocsin.el("progress", null, "bar");
      bar.max = max;
      bar.value = c.count;
      li.appendChild(bar);
      li.appendChild(tocsin.el("span", c.count, "count"));
      list.appendChild(li);
    }
    if (!data.counts.length) list.appendChild(tocsin.el("li", "nothing yet", "note"));
  }

  function refreshCharts() {
    for (const chart of document.querySelectorAll(".chart")) refreshChart(chart).catch(() => {});
  }

  async function loadSubscriptions() {
    const data = await tocsin.json("/api/subscriptions");
    for (const s of data.subscriptions) noteSubscription(s.id, s.name);
  }

  loadSubscriptions().catch(() => {});
  loadRecent().catch(() => {});
  connect();
  refreshMonitor().catch(() => {});
  refreshCharts();
  setInterval(() => refreshMonitor().catch(() => {}), 2000);
  setInterval(refreshCharts, 10000);
})();
