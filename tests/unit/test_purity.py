"""The functional core must not depend on the streaming shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PIPELINE = Path(__file__).resolve().parents[2] / "streams" / "pipeline"
FORBIDDEN = ("faust", "aiokafka", "mode")


def test_pipeline_modules_import_nothing_from_the_shell() -> None:
    """Import every pipeline module in a fresh interpreter; no shell package may be loaded,
    directly or through another module."""
    modules = sorted(
        f"streams.pipeline.{p.stem}" for p in PIPELINE.glob("*.py") if p.stem != "__init__"
    )
    assert "streams.pipeline.driver" in modules
    modules.append("streams.topology")  # the declaration the driver and the agents share
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"pipeline pulls in: {result.stdout.strip()}"


def test_no_pipeline_file_names_a_shell_package() -> None:
    for path in PIPELINE.glob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                root = stripped.split()[1].split(".")[0]
                assert root not in FORBIDDEN, f"{path.name}: {stripped}"
