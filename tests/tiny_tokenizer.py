"""A tokenizer the tests build themselves (no model can be downloaded here), shared by the
reporter's unit tests and the real-node benchmark story."""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers


def build_tokenizer(directory: Path) -> None:
    """A word-level tokenizer over `w1`..`w255` (the words the stand-ins generate), saved as a
    local Hugging Face tokenizer."""
    vocab = {"[UNK]": 0, **{f"w{i}": i for i in range(1, 256)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(directory / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "unk_token": "[UNK]"}
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
