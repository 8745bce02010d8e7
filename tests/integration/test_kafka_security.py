"""Kafka over TLS with SASL (issue 22, item 12): one local broker with a SASL_SSL listener
(``deploy/kafka/kafka.sh``, ``TOCSIN_KAFKA_SASL_SSL_PORT``), its certificates made here with
openssl and a SCRAM user created here once it runs. On it: the CLI and the aiokafka clients
with SCRAM-SHA-512, a worker (faust, and its own aiokafka clients) with PLAIN, and what a
wrong password or an unknown CA gives: one line each.

One broker for the module, started in the background of the suite's own; about a minute in
all, most of it the broker's and the worker's start-up."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import orjson
import pytest

from streams import topics
from streams.kafka_client import check_broker, connection_problem
from streams.settings import Settings
from tests.conftest import SAMPLES
from tests.integration.conftest import REPO, Namespace, Worker
from tests.integration.test_ingestion import cli

pytestmark = pytest.mark.integration

KAFKA = REPO / "deploy" / "kafka" / "kafka.sh"
SCRAM = ("scram-user", "scram-" + os.urandom(6).hex())
PLAIN = ("plain-user", "plain-" + os.urandom(6).hex())


@dataclass(frozen=True)
class Secured:
    bootstrap: str  # the SASL_SSL listener
    ca: Path


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ports() -> tuple[int, int]:
    """A broker port (its controller listens on port + 10001, below 32768) and a SASL_SSL
    port, all free now."""
    start = 12000 + (os.getpid() * 7) % 9000
    for port in range(start, start + 2000, 3):
        if all(_free(p) for p in (port, port + 1, port + 10001)):
            return port, port + 1
    raise RuntimeError("no free ports for the SASL_SSL broker")


def certificates(where: Path) -> tuple[Path, Path]:
    """A test CA, and the broker's key and certificate (for 127.0.0.1 and localhost) signed by
    it as one PEM keystore: (CA certificate, keystore)."""
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(command: str, *args: str) -> None:
        subprocess.run(
            ["openssl", *command.split(), *args], cwd=where, check=True, capture_output=True
        )

    openssl("req -x509 -keyout ca.key -out ca.pem -days 2", *key, "-subj", "/CN=tocsin test CA")
    openssl("req -keyout broker.key -out broker.csr", *key, "-subj", "/CN=localhost")
    (where / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out broker.pem "
        "-days 2 -extfile san.cnf"
    )
    openssl("pkcs8 -topk8 -nocrypt -in broker.key -out broker.pk8")
    keystore = where / "keystore.pem"
    keystore.write_bytes(
        b"".join((where / n).read_bytes() for n in ("broker.pk8", "broker.pem", "ca.pem"))
    )
    return where / "ca.pem", keystore


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    if not shutil.which("openssl") or not shutil.which("java"):
        _unavailable("the SASL_SSL test needs openssl and java")
    tmp = tmp_path_factory.mktemp("sasl-ssl")
    ca, keystore = certificates(tmp)
    port, sasl_port = ports()
    libs = os.environ.get("TOCSIN_KAFKA_LIBS_HOME") or os.environ.get("TOCSIN_KAFKA_HOME")
    env = {
        **os.environ,
        "TOCSIN_KAFKA_HOME": str(tmp / "kafka"),
        "TOCSIN_KAFKA_LIBS_HOME": libs or str(REPO / ".kafka"),  # the jars the suite uses
        "TOCSIN_KAFKA_PORT": str(port),
        "TOCSIN_KAFKA_SASL_SSL_PORT": str(sasl_port),
        "TOCSIN_KAFKA_SSL_KEYSTORE": str(keystore),
        "TOCSIN_KAFKA_PLAIN_USERS": ":".join(PLAIN),
        # A narrow terminal (pytest-xdist's processes set COLUMNS=80): kafka.sh must still
        # recognise its broker's command line, for scram-user below and down at the end.
        "COLUMNS": "40",
    }

    def kafka(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(KAFKA), *args], env=env, capture_output=True, text=True, timeout=300
        )

    up = kafka("up")
    try:
        if up.returncode != 0:
            _unavailable(f"could not start the SASL_SSL broker:\n{up.stderr[-3000:]}")
        user = kafka("scram-user", *SCRAM, "SCRAM-SHA-512")
        assert user.returncode == 0, user.stderr
        yield Secured(f"127.0.0.1:{sasl_port}", ca)
    finally:
        down = kafka("down")
        assert down.returncode == 0 and not _listening(port), down.stderr


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def secure_env(s: Secured, mechanism: str, user: tuple[str, str]) -> dict[str, str]:
    return {
        "TOCSIN_BROKER_SECURITY_PROTOCOL": "SASL_SSL",
        "TOCSIN_BROKER_SASL_MECHANISM": mechanism,
        "TOCSIN_BROKER_USERNAME": user[0],
        "TOCSIN_BROKER_PASSWORD": user[1],
        "TOCSIN_BROKER_CA_FILE": str(s.ca),
    }


def test_cli_clients_and_a_worker_over_sasl_ssl(
    secured: Secured, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ns = Namespace(
        secured.bootstrap,
        tmp_path_factory.mktemp("sasl-ns"),
        TOCSIN_NLP_MODEL="blank",
        TOCSIN_EXTRACT_PROCESSES="0",
        **secure_env(secured, "SCRAM-SHA-512", SCRAM),
    )
    # The CLI with SCRAM: topics (admin client), articles (producer).
    created = cli(ns, "topics", "create")
    assert created.returncode == 0 and "created" in created.stdout, created
    sent = cli(ns, "ingest", str(SAMPLES / "articles.jsonl"))
    assert sent.returncode == 0 and ", rejected 0 " in sent.stdout, sent
    count = int(sent.stdout.split()[1].rstrip(","))
    # A worker with PLAIN: faust's consumers and producers, and tocsin's own aiokafka clients
    # in it (the subscriptions follower must read its topic to be ready).
    worker = Worker(ns, **secure_env(secured, "PLAIN", PLAIN))
    worker.start()
    try:
        worker.wait(lambda s: s["subscriptions_ready"], timeout=180)
        # aiokafka's consumer with SCRAM reads what the worker validated.
        valid = ns.collect(topics.ARTICLES_VALID, lambda rs: len(rs) >= count, timeout=120)
        assert len(valid) == count, worker.log_tail()
        assert all(orjson.loads(r.value)["id"] for r in valid)
    finally:
        worker.stop()


def test_wrong_credentials_and_an_unknown_ca_say_so_in_one_line(secured: Secured) -> None:
    settings = Settings.from_env(
        {"TOCSIN_BROKER": secured.bootstrap, **secure_env(secured, "SCRAM-SHA-512", SCRAM)}
    )
    asyncio.run(check_broker(settings))  # the right ones connect
    for wrong, expected in (
        (replace(settings, broker_password="wrong"), "refused the credentials"),
        (replace(settings, broker_sasl_mechanism="SCRAM-SHA-256"), "refused the credentials"),
        (replace(settings, broker_ca_file=None), "(certificate verify failed)"),
    ):
        with pytest.raises(Exception) as caught:
            asyncio.run(check_broker(wrong))
        problem = connection_problem(caught.value, wrong)
        assert problem is not None and expected in problem, (problem, caught.value)
        assert "\n" not in problem
