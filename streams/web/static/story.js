"use strict";
(function () {
  const id = decodeURIComponent(location.pathname.replace(/^\/stories\//, ""));
  const fields = document.getElementById("fields");

  function row(name, value) {
    fields.appendChild(tocsin.el("dt", name));
    const shown = Array.isArray(value) ? value.join(", ") : value;
    fields.appendChild(tocsin.el("dd", shown === null || shown === undefined || shown === "" ? "—" : shown));
  }

  function stamp(a) {
    const t = Date.parse(a.published_at || "");
    return Number.isNaN(t) ? null : t / 1000;
  }

  // One row per source, one dot per article at its publication time, and the running count
  // of articles as a line: how the story grew and who carried it.
  function timeline(articles) {
    const box = document.getElementById("timeline");
    const dated = articles.filter((a) => stamp(a) !== null).sort((a, b) => stamp(a) - stamp(b));
    const note = document.getElementById("timeline-note");
    if (!dated.length) {
      note.textContent = "No article of this story has a publication time.";
      return;
    }
    if (dated.length < articles.length) {
      note.textContent = articles.length - dated.length + " article(s) without a publication time are left out.";
    }
    const sources = Array.from(new Set(dated.map((a) => a.source || "(unknown source)")));
    const left = 150;
    const right = 20;
    const width = 900;
    const rowH = 22;
    const top = 10;
    const plotH = Math.max(rowH * sources.length, 60);
    const height = top + plotH + 30;
    const t0 = stamp(dated[0]);
    const t1 = Math.max(stamp(dated[dated.length - 1]), t0 + 60);
    const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - right);
    const svg = tocsin.svg("svg", { viewBox: "0 0 " + width + " " + height, class: "timeline" });
    sources.forEach((s, i) => {
      const y = top + i * rowH + rowH / 2;
      svg.appendChild(tocsin.svg("line", { x1: left, x2: width - right, y1: y, y2: y, class: "axis" }));
      const label = s.length > 22 ? s.slice(0, 21) + "…" : s;
      svg.appendChild(tocsin.svg("text", { x: left - 8, y: y + 4, "text-anchor": "end" }, label));
    });
    // the running count, scaled to the plot's height
    let points = "";
    dated.forEach((a, i) => {
      const y = top + plotH - ((i + 1) / dated.length) * plotH;
      points += (points ? " " : "") + x(stamp(a)).toFixed(1) + "," + y.toFixed(1);
    });
    svg.appendChild(tocsin.svg("polyline", { points, class: "cumulative" }));
    for (const a of dated) {
      const y = top + sources.indexOf(a.source || "(unknown source)") * rowH + rowH / 2;
      const dot = tocsin.svg("circle", { cx: x(stamp(a)).toFixed(1), cy: y, r: 5, class: "dot" });
      dot.appendChild(tocsin.svg("title", {}, (a.title || a.article_id) + " (" + (a.source || "?") + ", " + a.published_at + ")"));
      svg.appendChild(dot);
    }
    const axisY = top + plotH + 18;
    svg.appendChild(tocsin.svg("text", { x: left, y: axisY }, tocsin.when(t0)));
    svg.appendChild(tocsin.svg("text", { x: width - right, y: axisY, "text-anchor": "end" }, tocsin.when(t1)));
    svg.appendChild(tocsin.svg("text", { x: (left + width) / 2, y: axisY, "text-anchor": "middle" }, dated.length + " articles, " + sources.length + " sources (line: running count)"));
    box.appendChild(svg);
  }

  tocsin.json("/api/stories/" + encodeURIComponent(id)).then((s) => {
    document.getElementById("title").textContent = s.title || "(untitled story)";
    document.title = "tocsin story: " + (s.title || s.story_id);
    if (s.merged_into) {
      document.getElementById("merged").textContent =
        "Story " + s.asked_for + " was merged into " + s.merged_into + " (one happening).";
    }
    row("story id", s.story_id);
    row("first seen", s.first_seen);
    row("last seen", s.last_seen);
    row("articles", s.article_count);
    row("sources", s.source_count);
    row("latest sources", s.sources);
    row("themes", s.themes);
    row("countries", s.countries);
    row("regions", s.regions);
    row("actors", s.actors);
    row("merged from", s.merged_from);
    const articles = s.articles || [];
    timeline(articles);
    const list = document.getElementById("articles");
    const ordered = articles.slice().sort((a, b) => (stamp(a) || 0) - (stamp(b) || 0));
    for (const a of ordered) {
      const tr = tocsin.el("tr");
      tr.dataset.articleId = a.article_id;
      tr.appendChild(tocsin.el("td", a.published_at || "—"));
      tr.appendChild(tocsin.el("td", a.source || "—", "sub"));
      const cell = tocsin.el("td");
      const url = tocsin.safeUrl(a.url);
      const title = tocsin.el(url ? "a" : "span", a.title || a.article_id, "article-title");
      if (url) {
        title.href = url;
        title.rel = "noopener noreferrer nofollow";
      }
      cell.appendChild(title);
      tr.appendChild(cell);
      list.appendChild(tr);
    }
  }).catch((err) => {
    document.getElementById("title").textContent = "Story not found";
    document.getElementById("error").textContent =
      String(err.message) + " (this worker keeps the latest stories it matched)";
  });
})();
