"""The Grafana dashboard and the Prometheus config refer to metrics tocsin really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from streams import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def exported_names() -> set[str]:
    names = set()
    for family in metrics.REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    # Histograms expose _bucket/_sum/_count; counters _total.
    for family in metrics.REGISTRY.collect():
        if family.type == "histogram":
            names.update(f"{family.name}{s}" for s in ("_bucket", "_sum", "_count"))
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def test_every_metric_in_the_grafana_dashboard_exists() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "tocsin.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\btocsin_[a-z_]+", e)}
    assert used, "no tocsin metric in the dashboard"
    missing = used - exported_names()
    assert not missing, f"dashboard uses metrics tocsin does not export: {sorted(missing)}"


def test_every_exported_metric_has_the_one_prefix() -> None:
    names = [f.name for f in metrics.REGISTRY.collect()]
    assert names and all(n.startswith("tocsin_") for n in names), names


def test_prometheus_scrapes_the_worker_metrics_path() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "tocsin"]
    assert job["metrics_path"] == "/metrics"
    compose = yaml.safe_load((DEPLOY.parent / "docker-compose.yml").read_text())
    assert {"prometheus", "grafana", "worker"} <= set(compose["services"])
