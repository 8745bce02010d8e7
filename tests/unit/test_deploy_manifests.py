"""The deployment files agree with Kubernetes' schemas and with the code they deploy.

Offline and fast: the Kubernetes JSON schemas come with kubernetes-validate, the settings are
checked by the real parser (``Settings.from_env``), the commands by the real CLI parser and the
health endpoints against the routes the worker registers.
"""

from __future__ import annotations

import ast
import base64
import fnmatch
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from streams.cli import build_parser
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
# The oldest Kubernetes release the manifests are meant for (every field used is GA there),
# and the newest whose schemas kubernetes-validate bundles (strict: unknown fields fail).
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
EXAMPLES = {"secret.example.yaml"}  # shown, never applied (not in kustomization.yaml)


# -- loading ------------------------------------------------------------------------------


@cache
def k8s_files() -> dict[str, list[dict[str, Any]]]:
    """file name -> its Kubernetes objects (every YAML document but the kustomization)."""
    out = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        out[path.name] = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def objects(kind: str) -> list[dict[str, Any]]:
    return [o for docs in k8s_files().values() for o in docs if o["kind"] == kind]


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects(kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_specs() -> dict[str, dict[str, Any]]:
    """Every pod template of the manifests, by the kind/name of its owner."""
    return {
        f"{o['kind']}/{o['metadata']['name']}": o["spec"]["template"]["spec"]
        for kind in ("StatefulSet", "Deployment", "Job", "DaemonSet")
        for o in objects(kind)
    }


def worker_container() -> dict[str, Any]:
    [container] = one("StatefulSet", "tocsin-worker")["spec"]["template"]["spec"]["containers"]
    return dict(container)


def configmap_settings() -> Settings:
    return Settings.from_env(one("ConfigMap", "tocsin-config")["data"])


@cache
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def interpolate(value: object) -> str:
    """Compose's ``${VAR:-default}`` and ``${VAR-default}`` as with VAR unset."""
    return re.sub(r"\$\{\w+:?-([^}]*)\}", r"\1", str(value))


def compose_env(service: str) -> dict[str, str]:
    env = compose()["services"][service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: write environment as a mapping"
    return {k: interpolate(v) for k, v in env.items()}


def tocsin_services() -> list[str]:
    return [n for n, s in compose()["services"].items() if s.get("image") == "tocsin:dev"]


def kafka_services() -> list[str]:
    return [
        n
        for n, s in compose()["services"].items()
        if str(s.get("image", "")).startswith("apache/kafka:")
    ]


@cache
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments out."""
    lines = [
        line
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's build stages, each a list of its instructions (FROM first)."""
    out: list[list[tuple[str, str]]] = []
    for instruction in dockerfile():
        if instruction[0] == "FROM":
            out.append([])
        if out:
            out[-1].append(instruction)
    return out


def image_env() -> dict[str, str]:
    env = {}
    for word, rest in stages()[-1]:
        if word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def image_uid() -> int:
    [user] = [rest for word, rest in stages()[-1] if word == "USER"]
    return int(user.split(":")[0])


@cache
def web_routes() -> set[str]:
    """Paths the worker serves: every ``@<app>.page("/path")`` in streams/."""
    routes = set()
    for path in (ROOT / "streams").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "page"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                routes.add(str(node.args[0].value))
    return routes


def service_link_env(service: dict[str, Any]) -> dict[str, str]:
    """The variables Kubernetes injects into pods for ``service`` when service links are on."""
    name = service["metadata"]["name"].upper().replace("-", "_")
    env = {f"{name}_SERVICE_HOST": "10.96.0.10"}
    for port in service["spec"]["ports"]:
        number, proto = port["port"], port.get("protocol", "TCP")
        env[f"{name}_SERVICE_PORT"] = str(number)
        if "name" in port:
            env[f"{name}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(number)
        url = f"{proto.lower()}://10.96.0.10:{number}"
        env[f"{name}_PORT"] = url
        prefix = f"{name}_PORT_{number}_{proto}"
        env.update(
            {
                prefix: url,
                f"{prefix}_PROTO": proto.lower(),
                f"{prefix}_PORT": str(number),
                f"{prefix}_ADDR": "10.96.0.10",
            }
        )
    return env


# -- Kubernetes ---------------------------------------------------------------------------


def test_the_k8s_folder_has_the_expected_objects() -> None:
    kinds = {o["kind"] for docs in k8s_files().values() for o in docs}
    assert {
        "ConfigMap",
        "Secret",
        "Service",
        "StatefulSet",
        "PodDisruptionBudget",
        "Job",
    } <= kinds


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", sorted(k8s_files()))
def test_every_manifest_validates_against_the_kubernetes_schema(name: str, version: str) -> None:
    assert k8s_files()[name], f"{name} holds no object"
    for obj in k8s_files()[name]:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{name}: {obj['kind']}/{obj['metadata']['name']} at {where}: {exc}")


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    assert listed == set(k8s_files()) - EXAMPLES
    assert not listed & EXAMPLES, "placeholder secrets must never be applied"
    # The image the kustomization retags is the one the manifests use.
    [image] = kustomization["images"]
    used = {c["image"].split(":")[0] for spec in pod_specs().values() for c in spec["containers"]}
    assert used == {image["name"]}


def test_configmap_settings_are_accepted_by_the_settings_parser() -> None:
    settings = configmap_settings()  # raises ConfigError on an unknown or invalid variable
    # Kubelet probes and Prometheus reach the pod's address, never its loopback.
    assert settings.web_host == "0.0.0.0"
    assert (settings.replication_factor, settings.min_insync_replicas) == (3, 2)
    assert settings.store.startswith("rocksdb")
    assert settings.data_dir.is_absolute()


def test_example_secret_holds_only_settings_and_placeholders() -> None:
    secret = one("Secret", "tocsin-secrets")
    values = secret["stringData"]
    Settings.from_env(values)
    assert all(v.startswith("replace-me") for v in values.values())
    # The pods read the Secret by this name (optional: tokens off without it).
    refs = [
        e["secretRef"]
        for spec in pod_specs().values()
        for c in spec["containers"]
        for e in c.get("envFrom", [])
        if "secretRef" in e
    ]
    assert refs and all(r == {"name": "tocsin-secrets", "optional": True} for r in refs)


def test_probes_point_at_the_worker_health_endpoints_and_port() -> None:
    container = worker_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    web_port = configmap_settings().web_port
    expected = {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert path in web_routes(), f"the worker serves no {path}"
        port = ports[get["port"]] if isinstance(get["port"], str) else get["port"]
        assert port == web_port, f"{probe} probes port {port}, the worker listens on {web_port}"
    annotations = one("StatefulSet", "tocsin-worker")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert "/metrics" in web_routes()
    assert int(annotations["prometheus.io/port"]) == web_port


def test_services_select_the_workers_and_reach_their_web_port() -> None:
    statefulset = one("StatefulSet", "tocsin-worker")
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    container_ports = {p["name"]: p["containerPort"] for p in worker_container()["ports"]}
    for service in objects("Service"):
        selector = service["spec"]["selector"]
        assert selector.items() <= labels.items(), service["metadata"]["name"]
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            target = container_ports[target] if isinstance(target, str) else target
            assert target == configmap_settings().web_port
    governing = one("Service", statefulset["spec"]["serviceName"])
    assert governing["spec"]["clusterIP"] == "None"  # headless: one DNS name per worker
    assert statefulset["spec"]["selector"]["matchLabels"].items() <= labels.items()
    pdb = one("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("owner", sorted(pod_specs()))
def test_pods_run_as_non_root_without_service_links(owner: str) -> None:
    spec = pod_specs()[owner]
    # Service links would put TOCSIN_<SERVICE>_* variables into the settings' namespace.
    assert spec["enableServiceLinks"] is False
    assert spec["automountServiceAccountToken"] is False
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == image_uid() != 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in spec["containers"]:
        ctx = container["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["capabilities"]["drop"] == ["ALL"]
        assert "memory" in container["resources"]["limits"]
        assert not container.get("command"), "the image's entry point is `tocsin`"
        build_parser().parse_args(container["args"])  # a real tocsin command


def test_settings_accept_the_service_links_of_these_services() -> None:
    """Belt and braces: were service links switched on, the workers would still start."""
    env = dict(one("ConfigMap", "tocsin-config")["data"])
    for service in objects("Service"):
        env.update(service_link_env(service))
    assert any(k.startswith("TOCSIN_") and "SERVICE_HOST" in k for k in env)
    Settings.from_env(env)


def test_workers_keep_their_state_on_a_volume_claim() -> None:
    statefulset = one("StatefulSet", "tocsin-worker")
    [claim] = statefulset["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: Path(m["mountPath"]) for m in worker_container()["volumeMounts"]}
    data_dir = configmap_settings().data_dir
    assert data_dir.is_relative_to(mounts[claim["metadata"]["name"]])
    # The root filesystem is read-only: every path the worker writes is on a volume.
    assert Path("/tmp") in mounts.values()
    assert worker_container()["args"] == ["worker"]


def test_the_job_creates_the_topics_with_the_workers_settings() -> None:
    job = one("Job", "tocsin-topics")
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["topics", "create"]
    assert build_parser().parse_args(container["args"]).action == "create"
    assert container["envFrom"][0] == {"configMapRef": {"name": "tocsin-config"}}
    assert container["image"] == worker_container()["image"]


# -- Docker Compose -----------------------------------------------------------------------


def test_compose_tocsin_environment_is_valid_settings() -> None:
    kafka = kafka_services()
    assert tocsin_services()
    for service in tocsin_services():
        settings = Settings.from_env(compose_env(service))
        hosts = {b.split(":")[0] for b in settings.brokers}
        assert hosts == set(kafka), f"{service} bootstraps from {hosts}"
        assert settings.replication_factor == len(kafka) == 3, service
        assert settings.min_insync_replicas == 2, service
        # Tokens come from the operator's environment, never from the file itself.
        raw = compose()["services"][service].get("environment") or {}
        for key in (k for k in raw if k.endswith("_TOKEN")):
            assert re.fullmatch(r"\$\{\w+:?-\}", str(raw[key])), f"{service}: {key} is hard-coded"


def test_compose_kafka_is_a_three_node_kraft_cluster() -> None:
    services = compose()["services"]
    names = kafka_services()
    assert len(names) == 3
    envs = {n: compose_env(n) for n in names}
    voters = {
        f"{e['KAFKA_NODE_ID']}@{n}:9093"
        for n, e in envs.items()
        if "controller" in e["KAFKA_PROCESS_ROLES"]
    }
    for name, env in envs.items():
        assert services[name]["image"] == "apache/kafka:4.1.1"
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
        assert int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == 3
        # Each node's log dir on a volume of its own.
        [volume] = services[name]["volumes"]
        assert volume == f"{name}:{env['KAFKA_LOG_DIRS']}"
    assert len({e["KAFKA_NODE_ID"] for e in envs.values()}) == 3
    [cluster_id] = {e["CLUSTER_ID"] for e in envs.values()}
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16  # a Kafka Uuid


def test_compose_workers_scale_out() -> None:
    worker = compose()["services"]["worker"]
    assert int(interpolate(worker["deploy"]["replicas"])) == 3
    assert "container_name" not in worker and "hostname" not in worker
    for port in worker.get("ports", []):
        # host:container would let only one replica start; [ip::]container picks a free port.
        assert re.fullmatch(r"(?:[\d.]+::)?6066", str(port)), port
    # A named volume would be shared by all replicas: RocksDB allows one worker per data dir.
    for volume in worker.get("volumes", []):
        assert ":" not in str(volume), f"shared volume {volume}"
    data_dir = Settings.from_env({**image_env(), **compose_env("worker")}).data_dir
    assert any(data_dir.is_relative_to(v) for v in worker["volumes"])
    assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    health = " ".join(worker["healthcheck"]["test"])
    port = Settings.from_env(compose_env("worker")).web_port
    assert f"http://127.0.0.1:{port}/healthz" in health and "/healthz" in web_routes()


def test_prometheus_discovers_every_worker() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "tocsin"]
    [sd] = job["dns_sd_configs"]
    assert sd["names"] == ["worker"] and "worker" in compose()["services"]
    assert sd["port"] == Settings.from_env(compose_env("worker")).web_port
    assert job["metrics_path"] in web_routes()


def test_compose_helpers_run_real_commands_behind_a_profile() -> None:
    services = compose()["services"]
    parser = build_parser()
    for name in ("topics", "worker", "alerts", "cli"):
        parser.parse_args(services[name]["command"])
    for name in ("loader", "alerts", "cli"):
        assert services[name]["profiles"] == ["cli"], f"{name} would start with `up`"
    script = services["loader"]["entrypoint"][-1]
    for command in script.split("&&"):
        words = shlex.split(command)
        assert words[0] == "tocsin"
        args = parser.parse_args(words[1:])
        for value in vars(args).values():
            for path in value if isinstance(value, list) else [value]:
                if isinstance(path, Path):  # relative to the image's /app
                    assert (ROOT / path).exists(), path


# -- Dockerfile ---------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_and_runs_as_non_root() -> None:
    build, final = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    assert build[0][1].endswith(" AS build")
    copies = [rest for word, rest in final if word == "COPY"]
    assert any(c.startswith("--from=build ") for c in copies)
    # A numeric, non-root user, so Kubernetes' runAsNonRoot can check it.
    assert image_uid() != 0
    assert [w for w, _ in final].index("USER") < [w for w, _ in final].index("ENTRYPOINT")
    assert ("ENTRYPOINT", '["tocsin"]') in final


def test_image_contains_the_default_spacy_model() -> None:
    model = Settings.from_env({}).nlp_model  # what a worker loads by default
    package = model.replace("_", "-")
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"{package}==' in pyproject
    assert re.search(rf"^{package}==\S+$", (ROOT / "requirements.lock").read_text(), re.M)
    runs = " ".join(rest for stage in stages() for word, rest in stage if word == "RUN")
    # The runtime dependencies (the model among them) at the lock's versions...
    assert "pip install -c requirements.lock ." in runs
    # ...and a build that fails unless that model really loads.
    assert f"model: {model}-" in runs
    assert "TOCSIN_NLP_MODEL" not in image_env()


def test_image_settings_are_valid_and_absolute() -> None:
    settings = Settings.from_env({k: v for k, v in image_env().items() if k.startswith("TOCSIN_")})
    assert settings.data_dir.is_absolute() and settings.feeds_file.is_absolute()
    assert settings.web_host == "0.0.0.0"
    assert settings.data_dir == configmap_settings().data_dir


def test_dockerignore_keeps_local_state_out_and_the_build_inputs_in() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(
            fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.split("/")[0], p) for p in patterns
        )

    for local in (".venv", ".git", ".kafka", ".tocsin", "out", ".mypy_cache", "x/__pycache__"):
        assert ignored(local), local
    sources = [
        word
        for stage in stages()
        for instruction, rest in stage
        if instruction == "COPY" and not rest.startswith("--from")
        for word in rest.split()[:-1]
        if not word.startswith("--")
    ]
    assert "streams" in sources and "requirements.lock" in sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source), f"{source} is copied but .dockerignore leaves it out"


# -- docs/operations.md -------------------------------------------------------------------


def documented_commands() -> list[list[str]]:
    """Every ``tocsin <command> ...`` in the code of docs/operations.md, as argv."""
    text = (ROOT / "docs" / "operations.md").read_text()
    code = re.findall(r"```[a-z]*\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`", text)
    out = []
    for block in code:
        for line in block.splitlines():
            for segment in re.split(r"&&|\|| -- |;", line):
                if not re.match(r"\s*tocsin [a-z]", segment):
                    continue  # other tools, or a placeholder such as `tocsin COMMAND...`
                out.append(shlex.split(segment, comments=True)[1:])
    return out


def test_every_tocsin_command_in_the_operations_guide_exists() -> None:
    commands = documented_commands()
    assert {"dlq", "topics", "subscriptions"} <= {c[0] for c in commands}
    parser = build_parser()
    for argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"docs/operations.md: `tocsin {' '.join(argv)}` is no tocsin command")


def test_brokers_we_ship_never_auto_create_topics() -> None:
    """A client asking for a missing topic must not get it with the broker's defaults (one
    partition, none of tocsin's configs): the worker then crashed on co-partitioning."""
    script = (ROOT / "deploy" / "kafka" / "kafka.sh").read_text()
    assert re.findall(r"^auto\.create\.topics\.enable=.*$", script, re.M) == [
        "auto.create.topics.enable=false"
    ]
    for name in kafka_services():
        assert compose_env(name)["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_make_run_creates_the_topics_before_the_worker_starts() -> None:
    commands = [
        line.strip()
        for line in (ROOT / "deploy" / "run-local.sh").read_text().splitlines()
        if "tocsin " in line and not line.strip().startswith(("#", "echo"))
    ]
    creates = next(i for i, c in enumerate(commands) if c.endswith("tocsin topics create"))
    worker = next(i for i, c in enumerate(commands) if "tocsin worker" in c)
    assert creates < worker
    worker_deps = compose()["services"]["worker"]["depends_on"]
    assert worker_deps["topics"]["condition"] == "service_completed_successfully"
