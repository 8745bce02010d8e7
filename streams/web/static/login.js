"use strict";
(function () {
  const form = document.getElementById("login");
  const message = document.getElementById("message");
  // Only a path of this site: never an open redirect.
  function next() {
    const value = new URLSearchParams(location.search).get("next") || "/";
    return value.startsWith("/") && !value.startsWith("//") && !value.includes("\\") ? value : "/";
  }

  fetch("/api/session", { cache: "no-store" })
    .then((r) => r.json())
    .then((s) => {
      if (s.mode === "closed") {
        form.hidden = true;
        message.textContent = s.message;
      } else if (s.mode === "public" || s.authenticated) {
        location.replace(next());
      }
    })
    .catch(() => {});

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    const response = await fetch("/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: document.getElementById("token").value }),
      cache: "no-store",
    });
    if (response.ok) {
      location.replace(next());
      return;
    }
    const body = await response.json().catch(() => ({}));
    message.textContent = body.error || "HTTP " + response.status;
  });
})();
