"""``/login`` and ``/api/session``: the dashboard's login (rules in ``auth.py``).

| route | |
|---|---|
| ``GET /login`` | the login page (static) |
| ``GET /api/session`` | ``{"mode": "token" \\| "public" \\| "closed", "authenticated": ...}`` |
| ``POST /api/session`` | ``{"token": ...}``: 204 and the session cookie, or 401 |
| ``DELETE /api/session`` | log out: the cookie is cleared |
"""

from __future__ import annotations

from typing import Any

from faust.web import View

from streams.agents._shell import Shell, page
from streams.web import auth


class SessionView(View):  # type: ignore[misc]
    shell: Shell

    async def get(self, request: Any) -> Any:
        return self.json(auth.session_state(request, self.shell.settings))

    async def post(self, request: Any) -> Any:
        return await auth.login(request, self.shell.settings)

    async def delete(self, request: Any) -> Any:
        return auth.logout()


def register(shell: Shell) -> None:
    """``/api/session`` (the login page itself is the dashboard's: a static file)."""
    page(shell, "/api/session", SessionView)
