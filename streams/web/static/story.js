"use strict";
(function () {
  const id = decodeURIComponent(location.pathname.replace(/^\/stories\//, ""));
  const fields = document.getElementById("fields");

  function row(name, value) {
    fields.appendChild(tocsin.el("dt", name));
    const shown = Array.isArray(value) ? value.join(", ") : value;
    fields.appendChild(tocsin.el("dd", shown === null || shown === undefined || shown === "" ? "—" : shown));
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
    const list = document.getElementById("articles");
    for (const a of s.articles || []) {
      const li = tocsin.el("li");
      const url = tocsin.safeUrl(a.url);
      const title = tocsin.el(url ? "a" : "span", a.title || a.article_id);
      if (url) {
        title.href = url;
        title.rel = "noopener noreferrer nofollow";
      }
      li.appendChild(title);
      li.appendChild(tocsin.el("span", " " + [a.source, a.published_at].filter(Boolean).join(" · "), "sub"));
      list.appendChild(li);
    }
  }).catch((err) => {
    document.getElementById("title").textContent = "Story not found";
    document.getElementById("error").textContent =
      String(err.message) + " (this worker keeps the latest stories it matched)";
  });
})();
