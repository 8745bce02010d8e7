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

from streams import app as tocsin_app
from streams.web import auth


@tocsin_app.app.page(auth.LOGIN_PATH)
async def login_page(web: Any, request: Any) -> Any:
    from streams.web.dashboard import _asset  # the dashboard's fixed set of static files

    return _asset(web, "login.html")


@tocsin_app.app.page("/api/session")
class SessionView(View):  # type: ignore[misc]
    async def get(self, request: Any) -> Any:
        return self.json(auth.session_state(request, tocsin_app.settings))

    async def post(self, request: Any) -> Any:
        return await auth.login(request, tocsin_app.settings)

    async def delete(self, request: Any) -> Any:
        return auth.logout()
