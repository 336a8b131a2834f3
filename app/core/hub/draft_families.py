"""Which small models to search the hub for, by the main model's tokenizer (not its architecture).

The architecture name says little about the vocabulary: SmolLM2 is a "llama" model with its own 49k-token
tokenizer, so searching by architecture once offered Llama-3.2-1B (bigger than a 135M main, and another
tokenizer) as its draft. A family here is matched on what llama.cpp's rule compares (tokenizer model, BPE
pre-tokenizer, vocabulary size within llama.cpp's 128-token slack); its queries are the small models known to
share that tokenizer, each with its size in the name so that the ones not smaller than the main are never
searched. The verdict on each file found is still compat's, from its header.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.models.tokenizer_facts import SPEC_VOCAB_MAX_SIZE_DIFFERENCE, TokenizerFacts


@dataclass(frozen=True)
class TokenizerFamily:
    name: str
    model: str  # tokenizer.ggml.model
    pres: frozenset[str]  # tokenizer.ggml.pre values; empty: any
    n_tokens: tuple[int, ...]  # vocabulary sizes of its members (each within the 128-token slack matches)
    queries: tuple[str, ...]  # hub searches for its small members, smallest first, sizes in the names

    def matches(self, t: TokenizerFacts) -> bool:
        return (t.model == self.model and (not self.pres or t.pre in self.pres)
                and any(abs(t.n_tokens - n) <= SPEC_VOCAB_MAX_SIZE_DIFFERENCE for n in self.n_tokens))


FAMILIES = (
    TokenizerFamily("SmolLM2", "gpt2", frozenset({"smollm"}), (49152,),
                    ("SmolLM2-135M-Instruct", "SmolLM2-360M-Instruct", "SmolLM2-1.7B-Instruct")),
    TokenizerFamily("Llama 3", "gpt2", frozenset({"llama-bpe", "llama3", "llama-v3"}), (128256,),
                    ("Llama-3.2-1B-Instruct", "Llama-3.2-3B-Instruct")),
    TokenizerFamily("Qwen2.5 / Qwen3", "gpt2", frozenset({"qwen2"}), (151936, 151665, 151646),
                    ("Qwen2.5-0.5B-Instruct", "Qwen2.5-Coder-0.5B-Instruct", "Qwen3-0.6B", "Qwen2.5-1.5B-Instruct",
                     "Qwen3-1.7B")),
    TokenizerFamily("Gemma 3", "llama", frozenset(), (262144, 262208), ("gemma-3-270m", "gemma-3-1b")),
    TokenizerFamily("Gemma 2", "llama", frozenset(), (256000,), ("gemma-2-2b",)),
    # Phi-3 extends Llama 2's SentencePiece vocabulary by 64 tokens: within the slack, one family for the rule
    TokenizerFamily("Llama 2 / Phi-3", "llama", frozenset(), (32000, 32064), ("TinyLlama-1.1B-Chat",
                                                                            "Phi-3.5-mini-instruct")),
)


def family_of(t: TokenizerFacts | None) -> TokenizerFamily | None:
    if t is None:
        return None
    return next((f for f in FAMILIES if f.matches(t)), None)
