"""The compact Llama LM shipped in `ecglm-base`, and its byte-level BPE tokenizer.

No pretrained generative LM can be fetched on the machines this project is built on, so the
default bundle carries a few-million-parameter Llama trained from scratch on the project's own
corpus (knowledge base, synthesized reports and question-answer pairs). It is a stock
`LlamaForCausalLM`, saved with `save_pretrained`, so it loads like any other Hugging Face LM.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ecglm_cli.models.ecglm import ECG_TOKEN

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
USER, ASSISTANT = "<|user|>", "<|assistant|>"
SPECIAL_TOKENS = [PAD, UNK, BOS, EOS, USER, ASSISTANT, ECG_TOKEN]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}" + USER + "{{ message['content'] }}" + EOS
    + "{% elif message['role'] == 'assistant' %}" + ASSISTANT + "{{ message['content'] }}" + EOS
    + "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}" + ASSISTANT + "{% endif %}"
)


@dataclass
class CompactLMConfig:
    """Size of the compact LM: about 4M parameters at the defaults."""

    vocab_size: int = 4096
    hidden: int = 256
    layers: int = 4
    heads: int = 4
    intermediate: int = 704
    max_positions: int = 512


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on `texts`, wrapped for transformers with a chat template.

    Byte-level means any text round-trips exactly, so ECG-QA's answer strings come back verbatim.
    Digits are split one by one before the byte-level step, so a number is the same tokens
    wherever it stands: the LM can copy "138" from its measured-values line into an answer
    (with merged digits, " 138" in the prompt and "138" in an answer were different tokens).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token=None))
    core.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        additional_special_tokens=[USER, ASSISTANT, ECG_TOKEN],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_compact_lm(tokenizer: Any, config: CompactLMConfig) -> Any:
    """A freshly initialised `LlamaForCausalLM` sized by `config` and the tokenizer's vocabulary."""
    from transformers import LlamaConfig, LlamaForCausalLM

    llama = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden, num_hidden_layers=config.layers,
        num_attention_heads=config.heads, num_key_value_heads=config.heads,
        intermediate_size=config.intermediate, max_position_embeddings=config.max_positions,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    return LlamaForCausalLM(llama)
