"""A pure-Python twin of Keras' ``Tokenizer.texts_to_sequences`` and ``pad_sequences``.

The edge module must not carry TensorFlow, so the tokenizer travels as ``tokenizer.json``
(written by ``edgeship package`` from the pickled Keras ``Tokenizer``) and is replayed here with
the exact Keras 2 semantics: lower-casing, the filter characters turned into the split
character, empty tokens dropped, ``num_words`` limits and the OOV token.

``tokenizer.json`` (format ``keras-tokenizer/1``)::

    {"format": "keras-tokenizer/1", "filters": "...", "lower": true, "split": " ",
     "char_level": false, "num_words": null, "oov_token": null, "word_index": {"word": 1, ...}}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from edgeship_sentiment.errors import ModelLoadError
from edgeship_sentiment.jsontypes import JSONObject

TOKENIZER_FORMAT = "keras-tokenizer/1"
KERAS_DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


@dataclass(frozen=True)
class KerasTokenizer:
    """The inference half of a Keras 2 ``Tokenizer``: words in, integer ids out."""

    word_index: Mapping[str, int]
    filters: str = KERAS_DEFAULT_FILTERS
    lower: bool = True
    split: str = " "
    char_level: bool = False
    num_words: int | None = None
    oov_token: str | None = None
    _translate: dict[int, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_translate", str.maketrans(dict.fromkeys(self.filters, self.split)))

    @property
    def oov_index(self) -> int | None:
        return None if self.oov_token is None else self.word_index.get(self.oov_token)

    def words(self, text: str) -> list[str]:
        """Keras' ``text_to_word_sequence`` (or the characters, for a char-level tokenizer)."""
        if self.lower:
            text = text.lower()
        if self.char_level:
            return list(text)
        return [token for token in text.translate(self._translate).split(self.split) if token]

    def text_to_sequence(self, text: str) -> list[int]:
        oov_index = self.oov_index
        num_words = self.num_words
        sequence: list[int] = []
        for word in self.words(text):
            index = self.word_index.get(word)
            if index is not None:
                if num_words and index >= num_words:
                    if oov_index is not None:
                        sequence.append(oov_index)
                else:
                    sequence.append(index)
            elif self.oov_token is not None and oov_index is not None:
                sequence.append(oov_index)
            elif self.oov_token is not None:
                # Keras appends word_index.get(oov_token), which is None when the OOV token was
                # never fitted; such a sequence cannot be padded, so Keras fails too.
                raise ValueError(f"OOV token {self.oov_token!r} has no index")
        return sequence

    def texts_to_sequences(self, texts: Iterable[str]) -> list[list[int]]:
        return [self.text_to_sequence(text) for text in texts]

    def to_json_dict(self) -> JSONObject:
        return {
            "format": TOKENIZER_FORMAT,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "char_level": self.char_level,
            "num_words": self.num_words,
            "oov_token": self.oov_token,
            "word_index": {**self.word_index},
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, object]) -> KerasTokenizer:
        if data.get("format") != TOKENIZER_FORMAT:
            raise ModelLoadError(f"tokenizer format is {data.get('format')!r}, expected {TOKENIZER_FORMAT!r}")
        word_index = data.get("word_index")
        if not isinstance(word_index, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in word_index.items()
        ):
            raise ModelLoadError("tokenizer word_index must map strings to integers")
        num_words = data.get("num_words")
        oov_token = data.get("oov_token")
        if num_words is not None and not isinstance(num_words, int):
            raise ModelLoadError("tokenizer num_words must be an integer or null")
        if oov_token is not None and not isinstance(oov_token, str):
            raise ModelLoadError("tokenizer oov_token must be a string or null")
        return cls(
            word_index=word_index,
            filters=str(data.get("filters", KERAS_DEFAULT_FILTERS)),
            lower=bool(data.get("lower", True)),
            split=str(data.get("split", " ")),
            char_level=bool(data.get("char_level", False)),
            num_words=num_words,
            oov_token=oov_token,
        )

    @classmethod
    def load(cls, path: Path) -> KerasTokenizer:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot read tokenizer {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ModelLoadError(f"tokenizer {path} is not a JSON object")
        return cls.from_json_dict(data)


def pad_sequences(
    sequences: Sequence[Sequence[int]],
    maxlen: int,
    *,
    padding: Literal["pre", "post"] = "pre",
    truncating: Literal["pre", "post"] = "pre",
    value: int = 0,
    dtype: type[np.integer] = np.int64,
) -> npt.NDArray[np.integer]:
    """Keras' ``pad_sequences`` for integer sequences and a fixed ``maxlen``."""
    out = np.full((len(sequences), maxlen), value, dtype=dtype)
    for row, sequence in enumerate(sequences):
        if not sequence or maxlen == 0:
            continue
        kept = sequence[-maxlen:] if truncating == "pre" else sequence[:maxlen]
        if padding == "pre":
            out[row, maxlen - len(kept) :] = kept
        else:
            out[row, : len(kept)] = kept
    return out
