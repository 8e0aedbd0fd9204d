"""The official Qwen3-VL-Reranker input format, as pure functions shared by every reranker backend.

Follows QwenLM/Qwen3-VL-Embedding ``src/models/qwen3_vl_reranker.py`` (``Qwen3VLReranker.
format_mm_instruction``, ``format_mm_content``, ``tokenize`` and ``truncate_tokens_optimized``):

- system turn = :data:`SYSTEM_PROMPT`;
- one user turn whose items are, in order: text ``"<Instruct>: " + instruction``, text ``"<Query>:"``,
  the query's videos, images, texts, text ``"\\n<Document>:"``, the document's videos, images, texts.
  A side with nothing in it gets the text ``NULL``. The instruction is used as given (no punctuation is
  added, unlike the embedder); a missing one falls back to the default;
- ``apply_chat_template(..., add_generation_prompt=True)``, so the prompt ends ``<|im_start|>assistant\\n``;
- media carry the reranker's own limits, which are the embedder's (``MIN_PIXELS = 4·32²``,
  ``MAX_PIXELS = 1800·32²``, at most 64 frames linearly sampled, ``total_pixels = 10·768·32²``), so the
  image/video items of :mod:`mmsearch.index.qwen_prompt` are reused and the reranker sees the pixels the
  embedder saw;
- over-long prompts (after the processor has expanded the vision placeholders) are cut by
  :func:`kept_positions`: the last :data:`SUFFIX_TOKENS` tokens (``<|im_end|>``, ``\\n``, ``<|im_start|>``,
  ``assistant``, ``\\n`` with the Qwen tokenizer) are always kept; of the rest, every special token
  (vision pads, vision start/end, chat markers) is kept, and ordinary tokens are kept first-come until
  ``max_length`` is reached. So the result has at most ``max_length + 5`` tokens, exactly as the official
  code. (The official code hard-codes 5; backends pass the token count of :data:`ASSISTANT_SUFFIX` under
  their own tokenizer, which is 5 for Qwen's and keeps a tokenizer that splits ``assistant`` intact.)
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from mmsearch.index import qwen_prompt
from mmsearch.index.inputs import Content
from mmsearch.search.settings import DEFAULT_RERANK_INSTRUCTION

SYSTEM_PROMPT = (
    "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
    'Note that the answer can only be "yes" or "no".'
)
INSTRUCT_PREFIX = "<Instruct>: "
QUERY_PREFIX = "<Query>:"
DOCUMENT_PREFIX = "\n<Document>:"
NULL_TEXT = "NULL"
ASSISTANT_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n"  # the end of every prompt: never truncated
SUFFIX_TOKENS = 5  # ASSISTANT_SUFFIX under the Qwen tokenizer, as the official code hard-codes it
MAX_LENGTH = 10240  # tokens of a pair before the suffix, as the official reranker cuts (a model fact)
YES, NO = "yes", "no"  # the label tokens whose LM-head rows give the score

Message = dict[str, Any]


def instruction_or_default(instruction: str | None, default: str = DEFAULT_RERANK_INSTRUCTION) -> str:
    """``instruction`` as given, or ``default`` when it is missing or blank (official: ``instruct or
    default``; we also treat whitespace-only as missing)."""
    if instruction is None or not instruction.strip():
        return default
    return instruction


def side_items(content: Content, prefix: str) -> list[Message]:
    """One side of the pair: ``prefix``, then videos, images, texts; ``NULL`` when the side is empty."""
    items: list[Message] = [{"type": "text", "text": prefix}]
    media: list[Message] = []
    if content.video is not None:
        media.append(qwen_prompt.video_item(content.video))
    media.extend(qwen_prompt.image_item(image) for image in content.images)
    if content.text is not None and content.text.strip():
        media.append({"type": "text", "text": content.text})
    return items + (media or [{"type": "text", "text": NULL_TEXT}])


def pair_messages(query: Content, document: Content, instruction: str | None = None) -> list[Message]:
    """The official two-turn conversation judging ``document`` against ``query``."""
    user = [{"type": "text", "text": INSTRUCT_PREFIX + instruction_or_default(instruction)}]
    user += side_items(query, QUERY_PREFIX)
    user += side_items(document, DOCUMENT_PREFIX)
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {"role": "user", "content": user},
    ]


def media_messages(content: Content) -> list[Message]:
    """Just the media items of one side, for ``qwen_vl_utils.process_vision_info`` (resizing)."""
    items = [item for item in side_items(content, "") if item["type"] != "text"]
    return [{"role": "user", "content": items}]


def render(processor: qwen_prompt.ChatTemplater, messages: list[Message]) -> str:
    """The prompt text with one ``<|image_pad|>`` / ``<|video_pad|>`` per item, generation prompt added."""
    return qwen_prompt.render_prompt(processor, messages)


def kept_positions(
    ids: Sequence[int], max_length: int, special_ids: Collection[int], suffix: int = SUFFIX_TOKENS
) -> list[int]:
    """Indices of ``ids`` that survive the official truncation (all of them when short enough); the last
    ``suffix`` tokens are always kept and do not count against ``max_length``."""
    head = len(ids) - suffix
    if head <= max_length:
        return list(range(len(ids)))
    special = set(special_ids)
    budget = max_length - sum(1 for token in ids[:head] if token in special)
    kept: list[int] = []
    for position in range(head):
        if ids[position] in special:
            kept.append(position)
        elif budget > 0:
            kept.append(position)
            budget -= 1
    return kept + list(range(head, len(ids)))
