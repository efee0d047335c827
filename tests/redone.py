"""What a resumed or recovered run must never do: call a model for a step it had completed."""

from __future__ import annotations

from collections.abc import Sequence

from assay.ledger import Event


def late_model_calls(events: Sequence[Event]) -> list[tuple[str, int]]:
    """``(step key, seq)`` of every model request made after its step was recorded complete."""
    completed_at = {e.step: e.seq for e in events if e.step}
    late = []
    for e in events:
        if e.kind != "model.request":
            continue
        role, it = e.payload["role"], e.payload["iteration"]
        # the architect and the tester also answer in an iteration (a design change, a revision)
        key = {"architect": "architect", "tester": "tester"}.get(role) if it == 0 else None
        key = key or (f"iter-{it}/review.message" if role == "security-reviewer" else
                      f"iter-{it}/{role}")  # fmt: skip
        if key in completed_at and completed_at[key] < e.seq:
            late.append((key, e.seq))
    return late
