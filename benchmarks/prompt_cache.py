"""The stable-prefix share of each coder prompt over a replayed run: what a provider's prefix
cache could serve, against the whole prompt a cache-less factory resends.

    .venv/bin/python benchmarks/prompt_cache.py [--spec kv-store|todo-app|hello-api]

Replays tests/replays/og-<spec> (one LLM played every role) through the real `assay run`, then
reads each request the ledger records (`model.request`: the prompt's text size as the provider
reads it, and the characters it shares from the start with the same role's previous prompt).
Prints, per coder prompt, both sides measured in this run: the prompt and its stable prefix,
and their ratio; then the same per role over the whole run. Within one agent run every tool
call and output retry resends the conversation so far, which is why most prompts are mostly
prefix.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from _replayed import replay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="kv-store", choices=["hello-api", "todo-app", "kv-store"])
    parser.add_argument("--backend", default="bwrap")
    args = parser.parse_args()
    run = replay(args.spec, backend=args.backend)
    print(f"og-{args.spec} replayed: {run.outcome} after {run.iterations} iteration(s)")
    print("coder prompts (characters): whole prompt, stable prefix, share")
    for i, c in enumerate(c for c in run.calls if c.role == "coder"):
        share = c.stable_prefix_chars / c.prompt_chars if c.prompt_chars else 0.0
        print(
            f"  #{i + 1} iteration {c.iteration}: {c.prompt_chars:8,} {c.stable_prefix_chars:8,}"
            f"  {share:6.1%}"
        )
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for c in run.calls:
        t = totals[c.role]
        t[0] += 1
        t[1] += c.prompt_chars
        t[2] += c.stable_prefix_chars
    print("per role: requests, characters sent, of them a stable prefix, share")
    for role, (n, sent, stable) in totals.items():
        print(f"  {role:<18} {n:3} {sent:10,} {stable:10,}  {stable / sent if sent else 0:6.1%}")
    sent = sum(t[1] for t in totals.values())
    stable = sum(t[2] for t in totals.values())
    print(f"  {'all':<18} {len(run.calls):3} {sent:10,} {stable:10,}  {stable / sent:6.1%}")


if __name__ == "__main__":
    main()
