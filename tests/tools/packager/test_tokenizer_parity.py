"""The pure-Python tokenizer equals Keras' texts_to_sequences + pad_sequences, on awkward text too."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeship_sentiment.tokenizer import KerasTokenizer, pad_sequences

pytestmark = pytest.mark.slow

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CORPUS = [
    "I love this phone, best purchase ever!!!",
    "Worst. Service. EVER. never again :(",
    "meh... it's ok I guess",
    "Loving the new café in town ☕️ #coffee @friend",
    "naïve résumé über straße",
    "spam spam spam spam eggs",
]
WORDS = st.sampled_from(
    [
        "love",
        "hate",
        "phone",
        "ever",
        "café",
        "☕️",
        "#coffee",
        "@friend",
        "unknownword",
        "Straße",
        "ÜBER",
        "spam",
        "!!!",
        "...",
        "",
        " ",
        "\t",
        "\n",
        "😀",
        "I'm",
        "it's",
    ]
)
TEXTS = st.one_of(
    st.lists(WORDS, max_size=400).map(" ".join),
    st.text(max_size=200),
    st.just(""),
    st.just("   \t\n  "),
)


def keras_tokenizer(**kwargs: object) -> object:
    from tf_keras.preprocessing.text import Tokenizer

    tokenizer = Tokenizer(**kwargs)
    tokenizer.fit_on_texts(CORPUS)
    return tokenizer


def ours(keras: object) -> KerasTokenizer:
    state = vars(keras)
    return KerasTokenizer(
        word_index=state["word_index"],
        filters=state["filters"],
        lower=state["lower"],
        split=state["split"],
        char_level=state["char_level"],
        num_words=state["num_words"],
        oov_token=state["oov_token"],
    )


CONFIGS: list[dict[str, Any]] = [
    {},
    {"num_words": 5},
    {"oov_token": "<OOV>"},
    {"num_words": 4, "oov_token": "<OOV>"},
    {"lower": False},
    {"char_level": True},
    {"filters": "", "split": ","},
]
TOKENIZERS = [(config, keras_tokenizer(**config)) for config in CONFIGS]


@pytest.mark.parametrize(("config", "keras"), TOKENIZERS, ids=[str(c) for c in CONFIGS])
@settings(max_examples=150, deadline=None)
@given(texts=st.lists(TEXTS, min_size=1, max_size=5))
def test_texts_to_sequences_matches_keras(config: dict[str, object], keras: object, texts: list[str]) -> None:
    expected = keras.texts_to_sequences(texts)  # type: ignore[attr-defined]
    assert ours(keras).texts_to_sequences(texts) == expected


@settings(max_examples=200, deadline=None)
@given(
    sequences=st.lists(st.lists(st.integers(1, 1000), max_size=40), min_size=1, max_size=6),
    maxlen=st.integers(1, 30),
    padding=st.sampled_from(["pre", "post"]),
    truncating=st.sampled_from(["pre", "post"]),
)
def test_pad_sequences_matches_keras(sequences: list[list[int]], maxlen: int, padding: str, truncating: str) -> None:
    from tf_keras.preprocessing.sequence import pad_sequences as keras_pad

    expected = keras_pad(sequences, maxlen=maxlen, padding=padding, truncating=truncating)
    actual = pad_sequences(sequences, maxlen, padding=padding, truncating=truncating)  # type: ignore[arg-type]
    assert np.array_equal(actual, expected)


def test_seed_scoring_shape_on_long_text() -> None:
    keras = TOKENIZERS[0][1]
    from tf_keras.preprocessing.sequence import pad_sequences as keras_pad

    text = " ".join(["love phone"] * 400)
    expected = keras_pad(keras.texts_to_sequences([text]), maxlen=300)  # type: ignore[attr-defined]
    actual = pad_sequences(ours(keras).texts_to_sequences([text]), 300)
    assert actual.shape == (1, 300)
    assert np.array_equal(actual, expected)
