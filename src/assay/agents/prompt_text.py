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
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

__all__ = ["prompt_text", "shared_prefix"]


def _content(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        return "".join(item for item in value if isinstance(item, str))  # markers and media: none
    return json.dumps(value, sort_keys=True, default=str)


def prompt_text(messages: Sequence[ModelMessage]) -> str:
    """`messages` as one text, instructions first (timestamps and ids left out: they are not
    part of what the provider caches)."""
    instructions = next(
        (
            m.instructions
            for m in reversed(messages)
            if isinstance(m, ModelRequest) and m.instructions
        ),
        None,
    )
    out = [f"<instructions>{instructions}</instructions>"] if instructions else []
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, SystemPromptPart):
                    out.append(f"<system>{part.content}</system>")
                elif isinstance(part, UserPromptPart):
                    out.append(f"<user>{_content(part.content)}</user>")
                elif isinstance(part, ToolReturnPart):
                    out.append(
                        f"<tool-return {part.tool_name}>{_content(part.content)}</tool-return>"
                    )
                elif isinstance(part, RetryPromptPart):
                    out.append(f"<retry>{_content(part.content)}</retry>")
        elif isinstance(message, ModelResponse):
            for answer in message.parts:
                if isinstance(answer, TextPart):
                    out.append(f"<assistant>{answer.content}</assistant>")
                elif isinstance(answer, ToolCallPart):
                    out.append(
                        f"<tool-call {answer.tool_name}>{answer.args_as_json_str()}</tool-call>"
                    )
    return "\n".join(out)


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
