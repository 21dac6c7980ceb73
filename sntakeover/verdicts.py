"""Combining the verifiers' per-node verdicts into one result per node.

A node is *verified* when at least one verifier passed it and none failed it
or could not tell (``ok=None``); a node no verifier spoke about is not verified
(no blind success). The per-node summary row keeps the failing verifiers' words,
or every verifier's words for a verified node.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from .model import NodeVerdict


def combine(nodes: Sequence[str], verdicts: Iterable[NodeVerdict]) -> dict[str, tuple[bool, str]]:
    """Node -> (verified, detail) for every node in ``nodes``; verdicts for other nodes are ignored."""
    by_node: dict[str, list[NodeVerdict]] = {n: [] for n in nodes}
    for v in verdicts:
        if v.node in by_node:
            by_node[v.node].append(v)
    out: dict[str, tuple[bool, str]] = {}
    for node, vs in by_node.items():
        bad = [v for v in vs if v.ok is not True]
        if not vs:
            out[node] = (False, "no verifier gave a verdict")
        elif bad:
            out[node] = (False, "; ".join(f"{v.verifier}: {'could not tell: ' if v.ok is None else ''}{v.detail}"
                                          for v in bad))
        else:
            out[node] = (True, "; ".join(f"{v.verifier}: {v.detail}" for v in vs))
    return out
