"""Build tiny, randomly initialised Qwen3-VL embedding and reranker checkpoints, offline, in seconds.

    python scripts/make_tiny_models.py OUT      # writes OUT/embedding and OUT/reranker

Each folder is laid out like the real Hugging Face checkpoint and loads through the same code path:
``config.json`` + ``model.safetensors`` + a byte-level BPE tokenizer wrapped as ``Qwen2TokenizerFast``
(with every Qwen special token) + the Qwen3-VL chat template + image/video processor configs, all written
by ``save_pretrained``, so ``AutoProcessor.from_pretrained(dir)``, ``Qwen3VLModel.from_pretrained(dir)``
and ``Qwen3VLForConditionalGeneration.from_pretrained(dir)`` work on them.

How the real checkpoints are laid out (what we mirror):
- Qwen/Qwen3-VL-Embedding-2B declares ``Qwen3VLForConditionalGeneration`` in config.json (vLLM logs
  "Resolved architecture: Qwen3VLForConditionalGeneration" for it in QwenLM/Qwen3-VL-Embedding
  ``examples/embedding_vllm.ipynb``); its weights live under ``model.`` with the LM head tied, and the
  official code (``src/models/qwen3_vl_embedding.py``) loads them into ``Qwen3VLForEmbedding``, whose only
  child is ``model = Qwen3VLModel``. Our tiny embedding model is saved the same way (tied head, so only
  ``model.*`` tensors are stored) and is loaded by mmsearch as a bare ``Qwen3VLModel``.
- Qwen/Qwen3-VL-Reranker-2B is a ``Qwen3VLForConditionalGeneration`` whose LM head rows for "yes"/"no"
  give the score; the tiny reranker keeps an untied head so those rows differ from the embeddings.
- Processor configs follow Qwen3-VL-2B-Instruct's ``preprocessor_config.json`` and
  ``video_preprocessor_config.json`` (patch 16, merge 2, temporal patch 2, mean/std 0.5).

Sizes: text hidden 128 (= full embedding dim, so MRL to 64 is testable), 2 layers, 4 heads (2 KV), head
dim 32, mrope [8, 4, 4]; vision depth 2, hidden 32, deepstack [0, 1]; vocabulary 620 tokens (padded to
640). About 0.62 M parameters (embedding; reranker 0.70 M with its own LM head), 2.5 / 2.8 MB of
safetensors; both built in ~3 s on 2 CPU cores.

Everything is seeded, so two builds give byte-identical weights and tokenizer files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

log = logging.getLogger("make_tiny_models")

SEED = 20240917
BPE_VOCAB = 640  # base byte-level BPE vocabulary before the special tokens

# The Qwen2/Qwen3 pre-tokenisation regex (transformers models/qwen2/tokenization_qwen2.py).
PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
    r"""\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# Qwen3-VL's added tokens in id order (tokenizer_config.json of Qwen/Qwen3-VL-2B-Instruct, ids 151643…),
# with their "special" flag.
ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
    ("<tool_response>", False),
    ("</tool_response>", False),
    ("<think>", False),
    ("</think>", False),
)
EXTRA_SPECIAL = tuple(
    tok for tok, special in ADDED_TOKENS if special and tok not in ("<|endoftext|>", "<|im_end|>")
)

# The Qwen3-VL Instruct chat template (chat_template.json of Qwen/Qwen3-VL-2B-Instruct, which the
# Qwen3-VL-Embedding/-Reranker checkpoints inherit), written from public verbatim copies of it found in
# public GitHub code (the render_content macro, system/tools header and message loop); the Thinking
# variant differs only by opening `<think>` in the generation prompt. What our prompts use —
# system text, per-item `<|vision_start|><|image_pad|><|vision_end|>` /
# `<|vision_start|><|video_pad|><|vision_end|>` / text, `<|im_start|>assistant\n` — is pinned by tests
# against the strings in DESIGN.md and the official embedding notebook.
CHAT_TEMPLATE = """{%- set image_count = namespace(value=0) %}
{%- set video_count = namespace(value=0) %}
{%- macro render_content(content, do_vision_count) %}
    {%- if content is string %}
        {{- content }}
    {%- else %}
        {%- for item in content %}
            {%- if 'image' in item or 'image_url' in item or item.type == 'image' %}
                {%- if do_vision_count %}
                    {%- set image_count.value = image_count.value + 1 %}
                {%- endif %}
                {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
                <|vision_start|><|image_pad|><|vision_end|>
            {%- elif 'video' in item or item.type == 'video' %}
                {%- if do_vision_count %}
                    {%- set video_count.value = video_count.value + 1 %}
                {%- endif %}
                {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}
                <|vision_start|><|video_pad|><|vision_end|>
            {%- elif 'text' in item %}
                {{- item.text }}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
{%- endmacro %}
{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0].role == 'system' %}
        {{- render_content(messages[0].content, false) + '\\n\\n' }}
    {%- endif %}
    {{- "# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\\n' + render_content(messages[0].content, false) + '<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" %}
        {%- set content = render_content(message.content, false) %}
        {%- if not(content.startswith('<tool_response>') and content.endswith('</tool_response>')) %}
            {%- set ns.multi_step_tool = false %}
            {%- set ns.last_query_index = index %}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- set content = render_content(message.content, True) %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role + '\\n' + content }}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

# A small fixed corpus: prompt boilerplate, document-ish English, digits, and "yes"/"no" as whole words
# at line starts so the reranker's two label tokens are single vocabulary entries.
CORPUS_LINES = (
    "Represent the user's input.",
    "Find a document image that matches the given query.",
    "Find a document image or video segment that matches the given query.",
    "Retrieve images or text relevant to the user's query.",
    "Given a search query, retrieve relevant candidates that answer the query.",
    (
        "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
        'Note that the answer can only be "yes" or "no".'
    ),
    "<Instruct>: <Query>: <Document>:",
    "yes",
    "no",
    "yes no yes no",
    "A woman playing with her dog on a beach at sunset.",
    "The quarterly report shows revenue growth of 12 percent in the third quarter.",
    "Table 3 lists the results of the experiment for each model and data set.",
    "The video shows a red car driving on a mountain road in the rain.",
    "Section 2.1 describes the architecture of the search engine and its index.",
    "NULL",
    "What is the capital of France? Paris is the capital and largest city of France.",
    "Figure 4: accuracy versus number of training steps, 0 1 2 3 4 5 6 7 8 9.",
    "pages, images, frames, seconds, segments, vectors, scores, queries, documents",
)


def train_tokenizer() -> Tokenizer:
    """A byte-level BPE with Qwen2's normaliser, pre-tokeniser and decoder, then Qwen's added tokens."""
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(list(CORPUS_LINES) * 4, trainer=trainer)
    for word in ("yes", "no"):
        if tok.token_to_id(word) is None:
            raise RuntimeError(f"the tiny BPE did not learn {word!r} as one token; extend CORPUS_LINES")
    return tok


def make_tokenizer(save_dir: Path, padding_side: str):  # -> Qwen2TokenizerFast
    from tokenizers import AddedToken
    from transformers import Qwen2TokenizerFast  # v5: alias of Qwen2Tokenizer (mypy skips transformers)

    raw = train_tokenizer()
    raw.add_special_tokens([AddedToken(t, special=s, normalized=not s) for t, s in ADDED_TOKENS if s])
    raw.add_tokens([AddedToken(t, special=False, normalized=False) for t, s in ADDED_TOKENS if not s])
    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=raw,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        bos_token=None,
        extra_special_tokens=list(EXTRA_SPECIAL),
        model_max_length=262144,
        padding_side=padding_side,
        errors="replace",
        split_special_tokens=False,
        clean_up_tokenization_spaces=False,
    )
    return tokenizer


def make_processor(tokenizer):  # -> Qwen3VLProcessor
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

    image_processor = Qwen2VLImageProcessor(
        size={"longest_edge": 16777216, "shortest_edge": 65536},
        patch_size=16,
        temporal_patch_size=2,
        merge_size=2,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    video_processor = Qwen3VLVideoProcessor(
        size={"longest_edge": 25165824, "shortest_edge": 4096},
        patch_size=16,
        temporal_patch_size=2,
        merge_size=2,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        fps=2,
        min_frames=4,
        max_frames=768,
    )
    return Qwen3VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


def make_config(tokenizer, tie_word_embeddings: bool):  # -> Qwen3VLConfig
    from transformers import Qwen3VLConfig

    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok, _ in ADDED_TOKENS}
    vocab_size = -(-len(tokenizer) // 64) * 64  # padded like the real 151936 > len(tokenizer)
    text_config = {
        "vocab_size": vocab_size,
        "hidden_size": 128,  # the full embedding dimension; MRL can still cut it to 64
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 32,
        "hidden_act": "silu",
        "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 5000000.0,
            "mrope_section": [8, 4, 4],  # sums to head_dim / 2, like [24, 20, 20] for head_dim 128
            "mrope_interleaved": True,
        },
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "tie_word_embeddings": tie_word_embeddings,
    }
    vision_config = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "in_channels": 3,
        "patch_size": 16,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "out_hidden_size": 128,
        "num_position_embeddings": 2304,
        "deepstack_visual_indexes": [0, 1],
        "hidden_act": "gelu_pytorch_tanh",
    }
    return Qwen3VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=tie_word_embeddings,
        architectures=["Qwen3VLForConditionalGeneration"],
    )


def build_one(out: Path, tie_word_embeddings: bool, padding_side: str, seed: int) -> None:
    from transformers import Qwen3VLForConditionalGeneration

    out.mkdir(parents=True, exist_ok=True)
    tokenizer = make_tokenizer(out, padding_side)
    processor = make_processor(tokenizer)
    config = make_config(tokenizer, tie_word_embeddings)
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    processor.save_pretrained(out)
    _check_roundtrip(out)


def _check_roundtrip(out: Path) -> None:
    """The saved processor must render the template and know the vision tokens (fail loudly if not)."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(out)
    if processor.chat_template is None:
        raise RuntimeError(f"{out}: the chat template was not saved")
    config = json.loads((out / "config.json").read_text())
    if processor.tokenizer.convert_tokens_to_ids("<|image_pad|>") != config["image_token_id"]:
        raise RuntimeError(f"{out}: tokenizer and config disagree on <|image_pad|>")


def recipe_hash() -> str:
    """Identifies this recipe; written to ``OUT/RECIPE`` so a cached build from an older script is redone."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def build_tiny_models(out: Path) -> None:
    """Write ``out/embedding`` and ``out/reranker``; deterministic and offline."""
    from transformers.utils import logging as hf_logging

    out = Path(out)
    started = time.perf_counter()
    hf_logging.disable_progress_bar()
    with torch.random.fork_rng(devices=[]):
        build_one(out / "embedding", tie_word_embeddings=True, padding_side="right", seed=SEED)
        build_one(out / "reranker", tie_word_embeddings=False, padding_side="left", seed=SEED + 1)
    (out / "RECIPE").write_text(recipe_hash() + "\n")
    log.info("built tiny Qwen3-VL models in %s in %.1f s", out, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="output folder; gets embedding/ and reranker/")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build_tiny_models(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
