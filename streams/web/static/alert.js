"use strict";
(function () {
  const id = decodeURIComponent(location.pathname.replace(/^\/alerts\//, ""));
  const fields = document.getElementById("fields");

  function row(list, name, value, href) {
    list.appendChild(tocsin.el("dt", name));
    const dd = tocsin.el("dd");
    if (href) {
      const a = tocsin.el("a", value);
      a.href = href;
      a.rel = "noopener noreferrer nofollow";
      dd.appendChild(a);
    } else {
      dd.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
    }
    list.appendChild(dd);
  }

  tocsin.json("/api/alerts/" + encodeURIComponent(id)).then((a) => {
    document.getElementById("title").textContent = a.title || "(untitled article)";
    document.title = "tocsin alert: " + (a.title || a.alert_id);
    row(fields, "subscription", a.subscription_name + " (" + a.subscription_id + ")");
    row(fields, "primary theme", a.primary_theme);
    row(fields, "tier", a.tier ? a.tier + " (confidence " + a.confidence + ")" : null);
    row(fields, "source", a.source);
    row(fields, "published", a.published_at);
    row(fields, "alerted", tocsin.when(a.received_at));
    const url = tocsin.safeUrl(a.url);
    row(fields, "url", a.url, url);
    row(fields, "article id", a.article_id);
    row(fields, "alert id", a.alert_id + (a.revision ? " · revision " + a.revision : ""));
    // The story: one alert per subscription and story, updated as sources come in.
    const story = document.getElementById("story");
    row(story, "story id", a.story_id, a.story_id ? "/stories/" + encodeURIComponent(a.story_id) : null);
    if (a.merged_from) row(story, "raised on", a.merged_from + " (merged since into this story)");
    row(story, "first seen", a.first_seen);
    row(story, "articles", a.article_count);
    row(story, "sources", a.source_count);
    row(story, "latest sources", (a.sources || []).join(", "));
    document.getElementById("evidence").textContent = a.evidence || "(no evidence sentence)";
    const matched = document.getElementById("matched");
    for (const [facet, values] of Object.entries(a.matched || {})) {
      row(matched, facet, (values || []).join(", "));
    }
    const event = document.getElementById("event");
    if (!a.event) {
      row(event, "event", "not on this worker (it keeps the latest events of its partitions)");
      return;
    }
    row(event, "themes", a.event.themes.join(", "));
    row(event, "countries", a.event.countries.join(", "));
    row(event, "actors", a.event.actors.join(", "));
    row(event, "places", a.event.places.map((p) => p.text + " (" + p.country + ")").join(", "));
    row(event, "model", a.event.model);
    const list = document.getElementById("event-evidence");
    for (const e of a.event.evidence) {
      const li = tocsin.el("li");
      li.appendChild(tocsin.el("span", e.theme + " · " + e.trigger, "sub"));
      li.appendChild(tocsin.el("p", e.sentence, "evidence"));
      list.appendChild(li);
    }
  }).catch((err) => {
    document.getElementById("title").textContent = "Alert not found";
    document.getElementById("error").textContent =
      String(err.message) + " (this worker keeps the latest alerts only)";
  });
})();
