"""A prompt as the provider reads it, as text: what a prefix cache can and cannot reuse.

Providers cache a request's longest prefix seen before (Anthropic up to a cache point, OpenAI
automatically). `prompt_text` lays a message history out in the order a provider receives it:
the instructions first, then each message's parts (user text, tool calls and their returns, the
model's own answers). `shared_prefix` measures how much of one prompt begins as another did,
so the ledger can record how cache-friendly each role's prompts are whatever the provider
reports (scripted and replayed models report no cache use).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic_ai.messages import (
    CachePoint,
    ModelMessage,
    ModelRequest,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

__all__ = ["layout", "prompt_text", "shared_prefix"]


def _content(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        return "".join(item for item in value if isinstance(item, str))  # markers and media: none
    return json.dumps(value, sort_keys=True, default=str)


def _marked(value: object) -> int | None:
    """Of `_content(value)`, how much comes before its last cache point (None: it has none)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        return None
    at = None
    done = 0
    for item in value:
        if isinstance(item, str):
            done += len(item)
        elif isinstance(item, CachePoint):
            at = done
    return at


def _part(part: object) -> str | None:
    """One message part as the provider reads it (None: a part that sends no text)."""
    if isinstance(part, SystemPromptPart):
        return f"<system>{part.content}</system>"
    if isinstance(part, UserPromptPart):
        return f"<user>{_content(part.content)}</user>"
    if isinstance(part, ToolReturnPart):
        return f"<tool-return {part.tool_name}>{_content(part.content)}</tool-return>"
    if isinstance(part, RetryPromptPart):
        return f"<retry>{_content(part.content)}</retry>"
    if isinstance(part, TextPart):
        return f"<assistant>{part.content}</assistant>"
    if isinstance(part, ToolCallPart):
        return f"<tool-call {part.tool_name}>{part.args_as_json_str()}</tool-call>"
    return None


def prompt_text(messages: Sequence[ModelMessage]) -> str:
    """`messages` as one text, instructions first (timestamps and ids left out: they are not
    part of what the provider caches)."""
    return layout(messages)[0]


def layout(messages: Sequence[ModelMessage]) -> tuple[str, int]:
    """`prompt_text(messages)`, and how much of it comes before the last cache point (0: none):
    what a provider that honours cache points (Anthropic) writes to its cache, or reads."""
    instructions = next(
        (
            m.instructions
            for m in reversed(messages)
            if isinstance(m, ModelRequest) and m.instructions
        ),
        None,
    )
    out = [f"<instructions>{instructions}</instructions>"] if instructions else []
    marked = 0
    for message in messages:
        for part in message.parts:
            text = _part(part)
            if text is None:
                continue
            if isinstance(part, UserPromptPart) and (point := _marked(part.content)) is not None:
                # this part's text begins after the "\n" that joins it to the ones before
                marked = sum(len(o) + 1 for o in out) + len("<user>") + point
            out.append(text)
    return "\n".join(out), marked


def shared_prefix(before: str, now: str) -> int:
    """How many characters `now` shares with `before` from the start."""
    limit = min(len(before), len(now))
    low, high = 0, limit
    while low < high:  # binary search on prefix equality: fast on long prompts
        mid = (low + high + 1) // 2
        if now[:mid] == before[:mid]:
            low = mid
        else:
            high = mid - 1
    return low
