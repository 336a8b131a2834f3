"""Reasoning blocks in the core: the split of a whole answer and of a stream (markers split across pieces), the
markers found from real templates and vocabularies, the engine's count of thinking tokens on a real tiny thinking
model, and the chat store keeping the block's format (a version-1 database gains the columns)."""

from __future__ import annotations

import random
import sqlite3

import pytest

from app.core.chats.chat_store import ChatStore
from app.core.chats.sent_turns import sent_turn
from app.core.inference.chat_format import ChatFormat
from app.core.inference.reasoning_markers import find_reasoning_format, template_markers
from app.core.models.gguf_reader import read_header
from app.core.models.reasoning import Reasoning, ReasoningFormat, StreamSplit, split_answer
from tests.fixtures.thinking_model import thinking_models

THINK = ReasoningFormat("<think>", "</think>")
OPENED = ReasoningFormat("<think>", "</think>", opened_by_prompt=True)


@pytest.mark.parametrize("content, fmt, reasoning, answer, has_block, closed", [
    ("<think>\nHmm, 2+2.\n</think>\n\nIt is 4.", THINK, "Hmm, 2+2.", "It is 4.", True, True),
    ("  <think>a</think>b", THINK, "a", "b", True, True),
    ("It is 4. <think>quoted</think>", THINK, "", "It is 4. <think>quoted</think>", False, False),  # not first
    ("<think>still going", THINK, "still going", "", True, False),  # stopped while thinking
    ("Hmm.</think>It is 4.", OPENED, "Hmm.", "It is 4.", True, True),  # the prompt opened it
    ("It is 4.", None, "", "It is 4.", False, False),
])
def test_split_answer(content, fmt, reasoning, answer, has_block, closed):
    parts = split_answer(content, fmt)
    assert (parts.reasoning, parts.answer, parts.has_block, parts.closed) == (reasoning, answer, has_block, closed)
    if has_block:
        assert content[parts.reasoning_start:].startswith(reasoning) and content[parts.answer_start:] == answer


@pytest.mark.parametrize("content, fmt", [
    ("<think>\nLet me see: 2+2 </thin is not it.\n</think>\n\nIt is **4**.", THINK),
    ("\n\n<think>short</think>Answer <think> in text", THINK),
    ("<thin but no block", THINK), ("<", THINK), ("", THINK),
    ("thinking...\n</think>\nAnswer", OPENED), ("never closes <", OPENED),
])
def test_a_stream_split_anywhere_reads_as_the_whole(content, fmt):
    """However the text is cut into pieces (by character, at random), the stream gives what split_answer gives,
    and never returns a piece of a marker."""
    whole = split_answer(content, fmt)
    rng = random.Random(7)
    for trial in range(30):
        cuts = sorted(rng.sample(range(1, len(content)), min(len(content) - 1, rng.randint(0, 8)))) \
            if len(content) > 1 else []
        if trial == 0:
            cuts = list(range(1, len(content)))  # one character at a time
        pieces = [content[a:b] for a, b in zip([0, *cuts], [*cuts, len(content)])]
        split = StreamSplit(fmt)
        out = []
        for i, p in enumerate(pieces):
            out += split.feed([(p, i % 2 == 0)])
        out += split.finish()
        reasoning = "".join(t for part, t, _ in out if part == "reasoning")
        answer = "".join(t for part, t, _ in out if part == "answer")
        if whole.has_block:
            assert reasoning.strip() == whole.reasoning and answer == whole.answer
        else:
            assert reasoning == "" and answer == content.lstrip() if content.strip() else True
        assert split.closed == whole.closed


def test_accepted_flags_stay_with_their_text():
    split = StreamSplit(THINK)
    out = split.feed([("<th", True), ("ink>ab", False), ("c</th", True), ("ink>", True), ("X", True)])
    assert out == [("reasoning", "ab", False), ("reasoning", "c", True), ("answer", "X", True)]


def test_deepseek_r1s_real_template_names_its_markers(deepseek_part_path):
    """The header of a real DeepSeek-R1-Distill-Qwen-7B upload: the template drops '</think>'-split reasoning, the
    vocabulary holds both markers as user-defined tokens (text the model writes)."""
    header = read_header(deepseek_part_path, declared_size=10**11)
    template = header.metadata["tokenizer.chat_template"]
    tokens = header.array_values("tokenizer.ggml.tokens")
    assert template_markers(template) == [("<think>", "</think>")]
    fmt = ChatFormat(template, "the model's template", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>")
    vocab = set(tokens)
    found = find_reasoning_format(template, lambda t: fmt.render([{"role": "user", "content": t}]),
                                  vocab.__contains__, lambda s: True)
    assert found == ReasoningFormat("<think>", "</think>", opened_by_prompt=False)
    # R1's newer template opens the block in the generation prompt
    newer = template.replace("{{'<｜Assistant｜>'}}{% endif %}", "{{'<｜Assistant｜><think>\\n'}}{% endif %}")
    fmt2 = ChatFormat(newer, "the model's template")
    opened = find_reasoning_format(newer, lambda t: fmt2.render([{"role": "user", "content": t}]),
                                   vocab.__contains__, lambda s: True)
    assert opened is not None and opened.opened_by_prompt


def test_markers_from_templates_and_vocabularies():
    def prompt_of(tail: str):
        return lambda text: f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n{tail}"

    qwen3 = ("{%- if message.reasoning_content is string %}{%- set reasoning_content = message.reasoning_content %}"
             "{%- elif '</think>' in content %}{%- set content = content.split('</think>')[-1] %}{%- endif %}"
             "<tool_call></tool_call>")
    found = find_reasoning_format(qwen3, prompt_of(""), lambda t: True, lambda s: True)
    assert found == ReasoningFormat("<think>", "</think>", False, resend=True)  # not the tool tags
    no_thinking = find_reasoning_format(qwen3, prompt_of("<think>\n\n</think>\n\n"), lambda t: True, lambda s: True)
    assert no_thinking is not None and not no_thinking.opened_by_prompt  # an empty closed block opens nothing
    magistral = "{{ content.split('[/THINK]')[-1] }}"
    assert find_reasoning_format(magistral, prompt_of(""), lambda t: True, lambda s: True).open == "[THINK]"
    # no word in the template: the vocabulary's own pair (single tokens), or any tag pair with a reasoning name
    plain = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    assert find_reasoning_format(plain, prompt_of(""), {"<think>", "</think>"}.__contains__,
                                 lambda s: True) == THINK
    assert find_reasoning_format(plain, prompt_of(""), lambda t: False, lambda s: True,
                                 ["<x>", "<|reasoning_start|>", "</reflect_reasoning>", "<reflect_reasoning>"]) \
        == ReasoningFormat("<reflect_reasoning>", "</reflect_reasoning>")
    assert find_reasoning_format(plain, prompt_of(""), lambda t: False, lambda s: True, ["</tool>", "<tool>"]) is None
    # markers the model cannot write as text (control tokens detokenize to nothing) are none
    assert find_reasoning_format(qwen3, prompt_of(""), lambda t: True, lambda s: False) is None


@pytest.fixture(scope="module")
def thinkers(tmp_path_factory, smol_tokenizer):
    return thinking_models(tmp_path_factory.mktemp("thinkers"), smol_tokenizer)


@pytest.mark.parametrize("kind", ["opens", "prompt"])
def test_the_engine_counts_thinking_tokens_and_time(thinkers, kind):
    from app.core.inference.engine import Engine
    from app.core.inference.llama_runtime import LoadOptions
    from app.core.inference.speculative import GenerationStats
    from app.core.infra.requests import GenerateRequest, SamplerParams

    model = thinkers[kind]
    engine = Engine()
    try:
        engine.load_main(model.path, LoadOptions(n_ctx=512, n_gpu_layers=0))
        assert engine.reasoning_format() == ReasoningFormat("<think>", "</think>", kind == "prompt")
        messages = ({"role": "user", "content": model.question},)
        stats = GenerationStats()
        text = "".join(e.text for e in engine.answer(GenerateRequest(
            messages=messages, max_tokens=24, sampling=SamplerParams(temperature=0.0)), stats))
        assert stats.reasoning_tokens == 6 and stats.reasoning_s > 0 and "</think>" in text
        # continued from inside the block: the prefix's thinking is not counted again, the rest is
        prefix = text[:text.index("</think>") - 3]
        more = GenerationStats()
        events = list(engine.answer(GenerateRequest(messages=messages, max_tokens=8, answer_prefix=prefix,
                                                    sampling=SamplerParams(temperature=0.0)), more))
        texts = [e.text for e in events]
        closing = next((i for i in range(len(texts)) if "</think>" in prefix + "".join(texts[:i + 1])), None)
        assert more.reasoning_tokens == (len(texts) if closing is None else closing + 1)
        # a raw prompt is no chat: nothing is read as thinking
        raw = GenerationStats()
        list(engine.answer(GenerateRequest(raw="<think>", max_tokens=4), raw))
        assert raw.reasoning_tokens == 0
    finally:
        engine.close()


def test_the_store_keeps_the_format_and_a_version_1_database_gains_the_columns(tmp_path):
    path = tmp_path / "chats.sqlite3"
    old = sqlite3.connect(path)  # a chat database as SpecChat wrote it before reasoning and attachments
    old.executescript("""
        CREATE TABLE chats (id INTEGER PRIMARY KEY, title TEXT NOT NULL, system_prompt TEXT NOT NULL DEFAULT '',
                            created REAL NOT NULL, updated REAL NOT NULL);
        CREATE TABLE messages (id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
            position INTEGER NOT NULL, role TEXT NOT NULL CHECK (role IN ('user', 'assistant')), content TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'done', stats TEXT NOT NULL DEFAULT '{}',
            highlights TEXT NOT NULL DEFAULT '[]', created REAL NOT NULL, UNIQUE (chat_id, position));
        INSERT INTO chats VALUES (1, 'old', '', 0, 0);
        INSERT INTO messages (chat_id, position, role, content, created) VALUES (1, 0, 'user', 'hi', 0);
        PRAGMA user_version=1;""")
    old.close()
    store = ChatStore(path)
    [question] = store.messages(1)
    assert question.content == "hi" and question.reasoning is None and question.attachments == []
    answer = store.start_answer(1)
    store.save_answer(answer.id, "<think>a</think>b", [(0, 3)], {}, "done", Reasoning(THINK, 2.5))
    store.save_answer(answer.id, "<think>a</think>b!", [(0, 3)], None, "done")  # None keeps the stored format
    store.close()
    again = ChatStore(path)
    kept = again.messages(1)[1]
    assert kept.reasoning == Reasoning(THINK, 2.5) and sent_turn(kept) == {"role": "assistant", "content": "b!"}
    assert again.versions.new_version(1, 1) and again.versions.switch(1, 1, 0)  # versions carry the columns
    assert again.messages(1)[1].reasoning == Reasoning(THINK, 2.5)
