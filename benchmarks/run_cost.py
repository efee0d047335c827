"""Tokens and dollars of a replayed run, per role and in total, with and without prompt caching,
beside OctopusGarden's figures for the same kind of spec.

    .venv/bin/python benchmarks/run_cost.py [--spec hello-api|kv-store|todo-app]
        [--recording og-kv-store-brief] [--model anthropic:claude-sonnet-4-5]

Replays tests/replays/og-<spec> (or --recording: a recorded conversation, one LLM playing every
role and another the judge) through the real `assay run`. Output tokens are what the
recording's responses report. Input tokens are counted from the prompts this run sent, by the
bridge's own estimate (4 characters a token), so a change to what the roles are sent shows here
although the recorded answers stay the same. Dollars are at --model's list price
(`assay.agents.pricing`). "Uncached" prices every input token at the input price. "Cached"
models Anthropic's cache as the roles ask for it (`assay.agents.base.PROMPT_CACHE`: an automatic
breakpoint at the end of each request, plus the explicit cache point after a role's stable
part), from the ledger's own measures of each prompt. A request reads from the cache (0.1x
input) the longest prefix that ends where the role's previous request had a breakpoint and that
it shares with that request (`stable_prefix_chars`): the whole previous request (a tool call's
follow-up) or the part before the cache point (`cache_point_chars`, the next call or
iteration). The rest is written to the cache (1.25x) at its automatic breakpoint. The judge is
not in the ledger's model calls; its calls are counted from the replay's recording.

OctopusGarden (read from its source, see issue 15): about 10K tokens and $0.05 for a hello-api
run that converges in one iteration, about 30K and $0.15 for three; one generation call per
iteration, no tests, no review.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import replace

from _replayed import REPLAYS, Call, replay

from assay.agents.pricing import price_of, request_cost

OCTOPUSGARDEN_PER_ITERATION = (10_000, 0.05)
"""Its two figures (10K/$0.05 for one iteration, 30K/$0.15 for three) are linear in iterations."""


def _read_chars(call: Call, previous: Call | None) -> int:
    """How much of `call`'s prompt the cache serves: the longest shared prefix that ends at one
    of the previous request's breakpoints (its end, its cache point)."""
    if previous is None:
        return 0
    ends = (previous.prompt_chars, call.cache_point_chars)
    return max((end for end in ends if 0 < end <= call.stable_prefix_chars), default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--spec", default="hello-api", choices=["hello-api", "kv-store", "todo-app"]
    )
    parser.add_argument("--recording", help="a folder of tests/replays (default og-SPEC)")
    parser.add_argument("--model", default="anthropic:claude-sonnet-4-5")
    parser.add_argument("--backend", default="bwrap")
    args = parser.parse_args()
    if price_of(args.model) is None:
        raise SystemExit(f"{args.model}: no list price known")
    recording = args.recording or f"og-{args.spec}"
    run = replay(args.spec, backend=args.backend, recording=recording)
    print(f"{recording} replayed: {run.outcome} after {run.iterations} iteration(s); "
          f"prices of {args.model}")  # fmt: skip
    rows: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0, 0.0])
    previous: dict[str, Call] = {}
    for call in run.calls:
        c = replace(call, tokens_in=max(1, call.prompt_chars // 4))  # as this run sent it
        read = round(c.tokens_in * _read_chars(c, previous.get(c.role)) / max(1, c.prompt_chars))
        previous[c.role] = c
        plain = request_cost(args.model, c.tokens_in, c.tokens_out)
        cached = request_cost(
            args.model, c.tokens_in, c.tokens_out, cache_read_tokens=read,
            cache_write_tokens=c.tokens_in - read,
        )  # fmt: skip
        assert plain is not None and cached is not None
        row = rows[c.role]
        row[0] += 1
        row[1] += c.tokens_in
        row[2] += c.tokens_out
        row[3] += plain.usd
        row[4] += cached.usd
    print(f"  {'role':<18} {'calls':>5} {'tokens in':>10} {'out':>7} {'uncached':>9} {'cached':>8}")
    for role, (n, tin, tout, plain_usd, cached_usd) in rows.items():
        print(
            f"  {role:<18} {n:5.0f} {tin:10,.0f} {tout:7,.0f} ${plain_usd:8.4f} ${cached_usd:7.4f}"
        )
    n = sum(r[0] for r in rows.values())
    tin = sum(r[1] for r in rows.values())
    tout = sum(r[2] for r in rows.values())
    plain_total = sum(r[3] for r in rows.values())
    cached_total = sum(r[4] for r in rows.values())
    totals = f"{n:5.0f} {tin:10,.0f} {tout:7,.0f} ${plain_total:8.4f} ${cached_total:7.4f}"
    print(f"  {'roles':<18} {totals}")
    judge = [
        json.loads(line)
        for line in (REPLAYS / recording / "conversation.jsonl").open()
        if json.loads(line)["model"] == "judge"
    ]
    judge_in = sum(t.get("usage", {}).get("prompt_tokens", 0) for t in judge)
    judge_out = sum(t.get("usage", {}).get("completion_tokens", 0) for t in judge)
    judge_cost = request_cost("anthropic:claude-haiku-4-5", judge_in, judge_out)
    assert judge_cost is not None
    print(f"  {'judge (haiku)':<18} {len(judge):5} {judge_in:10,} {judge_out:7,} "
          f"${judge_cost.usd:8.4f} ${judge_cost.usd:7.4f}")  # fmt: skip
    whole = tin + tout + judge_in + judge_out
    plain_all, cached_all = plain_total + judge_cost.usd, cached_total + judge_cost.usd
    print(f"  total: {whole:,} tokens; ${plain_all:.4f} uncached, ${cached_all:.4f} cached "
          f"({cached_all / plain_all:.2f}x)")  # fmt: skip
    iterations = max(1, run.iterations)
    og_tokens, og_usd = (x * iterations for x in OCTOPUSGARDEN_PER_ITERATION)
    print(f"  OctopusGarden, {iterations} iteration(s): ~{og_tokens:,} tokens, ~${og_usd:.2f}; "
          f"assay / OctopusGarden: {whole / og_tokens:.1f}x tokens, "
          f"{cached_all / og_usd:.1f}x dollars (cached)")  # fmt: skip


if __name__ == "__main__":
    main()
