"use strict";
(function () {
  const MAX_ALERTS = 200;
  const alertsList = document.getElementById("alerts");
  const filter = document.getElementById("sub-filter");
  const seen = new Map(); // alert id -> revision shown
  const subscriptions = new Map();
  let countryFilter = ""; // ISO alpha-2, or "" for every country
  const countryNames = new Map(); // alpha-2 -> name, from the map's data

  // ---- live alerts --------------------------------------------------------------------
  function alertItem(a) {
    const li = tocsin.el("li", null, "alert");
    li.dataset.subscription = a.subscription_id || "";
    li.dataset.alertId = a.alert_id;
    li.dataset.countries = (a.countries || []).join(" ");
    const link = tocsin.el("a", a.title || "(untitled article)", "title");
    link.href = tocsin.alertHref(a.alert_id);
    li.appendChild(link);
    const meta = tocsin.el("div", null, "meta");
    meta.appendChild(tocsin.el("span", a.subscription_name || a.subscription_id, "sub"));
    if (a.primary_theme) meta.appendChild(tocsin.el("span", a.primary_theme, "theme"));
    const countries = a.countries || (a.matched && a.matched.countries) || [];
    if (countries.length) meta.appendChild(tocsin.el("span", countries.join(" "), "country"));
    if (a.source) meta.appendChild(tocsin.el("span", a.source, "source"));
    if (a.tier) meta.appendChild(tocsin.el("span", a.tier, "tier tier-" + a.tier));
    if (a.source_count > 1) {
      meta.appendChild(tocsin.el("span", a.source_count + " sources", "sources"));
    }
    if (a.kind === "update") meta.appendChild(tocsin.el("span", "updated", "updated"));
    if (a.story_id) {
      const story = tocsin.el("a", "story", "story-link");
      story.href = "/stories/" + encodeURIComponent(a.story_id);
      meta.appendChild(story);
    }
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
    const bySub = Boolean(filter.value) && li.dataset.subscription !== filter.value;
    const byCountry =
      Boolean(countryFilter) && !li.dataset.countries.split(" ").includes(countryFilter);
    li.hidden = bySub || byCountry;
  }

  function applyFilters() {
    for (const li of alertsList.children) applyFilter(li);
    const shown = Array.from(alertsList.children).some((li) => !li.hidden);
    const empty = document.getElementById("alerts-empty");
    empty.hidden = shown;
    empty.textContent = alertsList.children.length ? "No alerts match the filter." : "No alerts yet.";
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
    applyFilters();
  }

  filter.addEventListener("change", applyFilters);

  function setCountry(code) {
    countryFilter = code || "";
    const pill = document.getElementById("country-filter");
    pill.hidden = !countryFilter;
    document.getElementById("country-filter-name").textContent = countryFilter
      ? "Country: " + (countryNames.get(countryFilter) || countryFilter)
      : "";
    for (const path of document.querySelectorAll("#map path.country")) {
      path.classList.toggle("picked", Boolean(countryFilter) && path.dataset.code === countryFilter);
      path.setAttribute("aria-pressed", String(path.dataset.code === countryFilter));
    }
    applyFilters();
  }
  document.getElementById("country-clear").addEventListener("click", () => setCountry(""));

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
      soon(refreshGeo, 300);
      soon(refreshStories, 300);
    });
    source.addEventListener("error", () => {
      state.textContent = "reconnecting";
      state.className = "pill warn";
    });
  }

  const timers = new Map();
  function soon(fn, ms) {
    if (timers.has(fn)) return;
    timers.set(
      fn,
      setTimeout(() => {
        timers.delete(fn);
        fn().catch(() => {});
      }, ms)
    );
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

  // ---- time series (uPlot) ---------------------------------------------------------------
  const PALETTE = ["#e8a33d", "#79b8ff", "#3fb950", "#f85149", "#d2a8ff", "#56d4dd", "#ffa657", "#8a97a5"];
  const plots = new Map(); // figure id -> {plot, key}
  const MAIN_STAGES = ["validate", "dedupe", "extract", "stories", "match", "deliver", "stats"];

  function plotSize(area) {
    return { width: Math.max(240, area.clientWidth), height: 170 };
  }

  function draw(id, labels, data, opts) {
    const area = document.querySelector("#" + id + " .plot-area");
    if (typeof uPlot === "undefined") {
      area.textContent = "the charting library is missing (run make vendor)";
      return;
    }
    const key = labels.join("|");
    const existing = plots.get(id);
    if (existing && existing.key === key) {
      existing.plot.setData(data);
      return;
    }
    if (existing) existing.plot.destroy();
    tocsin.clear(area);
    const axis = { stroke: "#8a97a5", grid: { stroke: "#2a3440", width: 1 }, ticks: { stroke: "#2a3440" } };
    const plot = new uPlot(
      {
        ...plotSize(area),
        scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(1, max * 1.1)] } },
        axes: [axis, { ...axis, size: 48 }],
        legend: { live: true },
        series: [
          {},
          ...labels.map((label, i) => ({
            label,
            stroke: PALETTE[i % PALETTE.length],
            width: 1.5,
            spanGaps: false,
            ...(opts && opts.series ? opts.series(i) : {}),
          })),
        ],
      },
      data,
      area
    );
    plots.set(id, { plot, key });
  }

  async function refreshTimeline() {
    const t = await tocsin.json("/api/timeline?minutes=60");
    const xs = t.minutes.map((m) => m.start);
    // The pipeline's stages; the helper streams (dedupe's hops, sweeps) stay in the table.
    const main = t.stages.filter((s) => MAIN_STAGES.includes(s));
    const stages = main.length ? main : ["(no stage yet)"];
    draw("plot-rate", stages, [xs, ...stages.map((s) => t.minutes.map((m) => m.rate[s] ?? null))]);
    draw("plot-lag", stages, [xs, ...stages.map((s) => t.minutes.map((m) => m.lag[s] ?? null))]);
    const bars = typeof uPlot !== "undefined" && uPlot.paths && uPlot.paths.bars
      ? { paths: uPlot.paths.bars({ size: [0.6, 40] }), points: { show: false } }
      : {};
    draw(
      "plot-alerts",
      ["new alerts", "updates"],
      [xs, t.minutes.map((m) => m.alerts), t.minutes.map((m) => m.alert_updates)],
      { series: (i) => ({ ...bars, fill: i === 0 ? "rgba(232,163,61,.6)" : "rgba(121,184,255,.4)" }) }
    );
    draw("plot-latency", ["p50", "p99"], [xs, t.minutes.map((m) => m.p50), t.minutes.map((m) => m.p99)]);
  }

  window.addEventListener("resize", () => {
    for (const [id, entry] of plots) {
      entry.plot.setSize(plotSize(document.querySelector("#" + id + " .plot-area")));
    }
    soon(drawMapAgain, 200);
  });

  // ---- the map ---------------------------------------------------------------------------
  let world = null; // GeoJSON features of the world TopoJSON
  let geo = null; // the last /api/geo answer
  const metric = document.getElementById("map-metric");
  const mapWindow = document.getElementById("map-window");

  async function loadWorld() {
    const response = await fetch("/static/vendor/countries-110m.json");
    if (!response.ok) throw new Error("world map: HTTP " + response.status);
    const topo = await response.json();
    world = topojson.feature(topo, topo.objects.countries).features;
  }

  function level(n, max) {
    if (!n) return 0;
    return Math.min(5, 1 + Math.floor((4 * Math.log(n)) / Math.log(Math.max(2, max))));
  }

  function drawMap() {
    const box = document.getElementById("map");
    if (!world || !geo || typeof d3 === "undefined") return;
    tocsin.clear(box);
    const width = Math.max(280, box.clientWidth);
    const height = Math.round(width * 0.5);
    const projection = d3.geoNaturalEarth1().fitSize([width, height], { type: "Sphere" });
    const path = d3.geoPath(projection);
    const svg = tocsin.svg("svg", {
      viewBox: "0 0 " + width + " " + height,
      class: "world",
      role: "group",
      "aria-label": "world map of " + metric.value + " by country",
    });
    svg.appendChild(tocsin.svg("path", { d: path({ type: "Sphere" }), class: "sphere" }));
    const which = metric.value;
    const byNumeric = new Map(geo.countries.filter((c) => c.numeric).map((c) => [c.numeric, c]));
    const max = Math.max(1, ...geo.countries.map((c) => c[which]));
    for (const feature of world) {
      const numeric = String(feature.id || "");
      const code = geo.codes[numeric] || "";
      const row = byNumeric.get(numeric);
      const n = row ? row[which] : 0;
      const name = (feature.properties && feature.properties.name) || code || numeric;
      if (code) countryNames.set(code, name);
      const d = path(feature);
      if (!d) continue;
      const shape = tocsin.svg("path", { d, class: "country q" + level(n, max) });
      shape.dataset.code = code;
      shape.dataset.numeric = numeric;
      shape.dataset.alerts = String(row ? row.alerts : 0);
      shape.dataset.events = String(row ? row.events : 0);
      const label = name + ": " + (row ? row.alerts : 0) + " alerts, " + (row ? row.events : 0) + " events";
      shape.appendChild(tocsin.svg("title", {}, label));
      if (code) {
        shape.setAttribute("tabindex", n ? "0" : "-1");
        shape.setAttribute("role", "button");
        shape.setAttribute("aria-label", label);
        shape.setAttribute("aria-pressed", String(code === countryFilter));
        if (code === countryFilter) shape.classList.add("picked");
        const pick = () => setCountry(countryFilter === code ? "" : code);
        shape.addEventListener("click", pick);
        shape.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            pick();
          }
        });
      }
      svg.appendChild(shape);
    }
    box.appendChild(svg);
    const legend = document.getElementById("map-legend");
    tocsin.clear(legend);
    legend.appendChild(tocsin.el("span", "0"));
    for (let i = 0; i <= 5; i++) legend.appendChild(tocsin.el("span", "", "swatch q" + i));
    legend.appendChild(tocsin.el("span", String(max) + " " + which));
  }

  async function drawMapAgain() {
    drawMap();
  }

  async function refreshGeo() {
    geo = await tocsin.json("/api/geo?window=" + encodeURIComponent(mapWindow.value));
    for (const c of geo.countries) countryNames.set(c.code, c.name);
    drawMap();
  }
  metric.addEventListener("change", drawMap);
  mapWindow.addEventListener("change", () => refreshGeo().catch(() => {}));

  // ---- stories ---------------------------------------------------------------------------
  const storyCounts = new Map(); // story id -> article count shown
  async function refreshStories() {
    const data = await tocsin.json("/api/stories?limit=15");
    const list = document.getElementById("stories");
    tocsin.clear(list);
    for (const s of data.stories) {
      const li = tocsin.el("li", null, "story");
      li.dataset.storyId = s.story_id;
      const link = tocsin.el("a", s.title || s.story_id, "title");
      link.href = "/stories/" + encodeURIComponent(s.story_id);
      li.appendChild(link);
      const meta = tocsin.el("div", null, "meta");
      meta.appendChild(tocsin.el("span", s.status, "status status-" + s.status));
      meta.appendChild(tocsin.el("span", s.article_count + " articles"));
      meta.appendChild(tocsin.el("span", s.source_count + " sources"));
      if (s.countries && s.countries.length) meta.appendChild(tocsin.el("span", s.countries.join(" "), "country"));
      if (s.themes && s.themes.length) meta.appendChild(tocsin.el("span", s.themes.join(", "), "theme"));
      meta.appendChild(tocsin.el("time", s.last_seen || ""));
      li.appendChild(meta);
      const before = storyCounts.get(s.story_id);
      if (before !== undefined && before !== s.article_count) li.classList.add("fresh");
      storyCounts.set(s.story_id, s.article_count);
      list.appendChild(li);
    }
    document.getElementById("stories-empty").hidden = data.stories.length > 0;
  }

  // ---- top values (SVG bars) -------------------------------------------------------------
  async function refreshChart(chart) {
    const q = new URLSearchParams({
      window: chart.dataset.window,
      by: chart.dataset.by,
      periods: chart.dataset.periods,
      limit: "8",
    });
    const data = await tocsin.json("/api/stats?" + q.toString());
    tocsin.bars(chart.querySelector(".bars-area"), data.counts);
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
  refreshTimeline().catch(() => {});
  refreshStories().catch(() => {});
  loadWorld()
    .then(refreshGeo)
    .catch((err) => {
      document.getElementById("map").textContent = String(err.message);
    });
  refreshCharts();
  setInterval(() => refreshMonitor().catch(() => {}), 2000);
  setInterval(() => refreshTimeline().catch(() => {}), 10000);
  setInterval(() => refreshGeo().catch(() => {}), 10000);
  setInterval(() => refreshStories().catch(() => {}), 5000);
  setInterval(refreshCharts, 10000);
})();
