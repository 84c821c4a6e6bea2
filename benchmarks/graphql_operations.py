"""The GraphQL documents the front-end apps send (graphql/operations/*.graphql), each operation
with the fragments it spreads, for the benchmarks to send the very same requests."""

from __future__ import annotations

import re
from pathlib import Path

OPERATIONS_DIR = Path(__file__).resolve().parent.parent / "graphql" / "operations"


def _definitions(text: str) -> dict[str, str]:
    """Top-level definitions of a .graphql file by name (`fragment X`, `query X`, `mutation X`)."""
    text = re.sub(r"#[^\n]*", "", text)
    found: dict[str, str] = {}
    for match in re.finditer(r"\b(fragment|query|mutation)\s+(\w+)", text):
        depth, start = 0, match.start()
        for i in range(text.index("{", match.end()), len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                found[match.group(2)] = text[start:i + 1]
                break
    return found


def load_operations() -> dict[str, str]:
    """Each operation of graphql/operations/*.graphql with the fragments it spreads: the very
    documents the front-end apps send."""
    definitions: dict[str, str] = {}
    for path in sorted(OPERATIONS_DIR.glob("*.graphql")):
        definitions.update(_definitions(path.read_text()))
    fragments = {n: d for n, d in definitions.items() if d.startswith("fragment")}
    documents = {}
    for name, body in definitions.items():
        if body.startswith("fragment"):
            continue
        needed: list[str] = []
        pending = [body]
        while pending:
            for spread in re.findall(r"\.\.\.\s*(\w+)", pending.pop()):
                if spread in fragments and spread not in needed:
                    needed.append(spread)
                    pending.append(fragments[spread])
        documents[name] = "\n".join([body, *(fragments[n] for n in needed)])
    return documents
