"""The flow as text, drawn from the declaration (``streams/topology.py``).

``python -m streams.flowchart`` prints it; ``--check FILE`` exits 1 when the block between
``<!-- flow:begin -->`` and ``<!-- flow:end -->`` in FILE is not what the declaration gives
(``docs/architecture.md``; a unit test runs the same comparison).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streams import topics, topology

BEGIN, END = "<!-- flow:begin -->", "<!-- flow:end -->"


def render(flow: topology.Topology) -> str:
    """One table row per step, in flow order: what it reads, its key, its state, what it
    sends (with the key of each output); then the topics no step owns."""
    rows = [
        "| step | reads | key | state | sends (key) |",
        "|---|---|---|---|---|",
    ]
    for step in flow.steps:
        reads = " + ".join(f"`{t.name}`" for t in step.inputs)
        state = ", ".join(f"`{s.name}` ({s.kind})" for s in step.state) or "-"
        sends = "<br>".join(f"`{o.topic.name}` ({o.key})" for o in step.outputs)
        batch = " (batched)" if step.batch else ""
        rows.append(f"| `{step.name}`{batch} | {reads} | {step.key} | {state} | {sends} |")
    rows.append("")
    rows.append(
        "Every step may also send `"
        + topics.DEADLETTER.name
        + "` (key: stage). The worker's shells own besides: "
        + ", ".join(f"`{t.name}`" for t in topics.SHELL_TOPICS if t is not topics.DEADLETTER)
        + " (subscriptions, followed by every worker) and the tables "
        + ", ".join(f"`{name}`" for name in topics.SHELL_TABLES)
        + "."
    )
    return "\n".join(rows) + "\n"


def block(text: str) -> str | None:
    """The flow block of a document (None: it has none)."""
    if BEGIN not in text or END not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", type=Path, help="compare with the flow block of this file")
    parser.add_argument("--write", type=Path, help="replace the flow block of this file")
    args = parser.parse_args(argv)
    drawn = render(topology.declared())
    if args.write:
        text = args.write.read_text()
        if block(text) is None:
            print(f"{args.write}: no {BEGIN} ... {END} block", file=sys.stderr)
            return 1
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        args.write.write_text(f"{head}{BEGIN}\n{drawn}{END}{tail}")
        return 0
    if args.check:
        if block(args.check.read_text()) != drawn:
            print(
                f"{args.check}: the flow block differs from the declaration; run "
                f"`python -m streams.flowchart --write {args.check}`",
                file=sys.stderr,
            )
            return 1
        return 0
    sys.stdout.write(drawn)
    return 0


if __name__ == "__main__":
    sys.exit(main())
