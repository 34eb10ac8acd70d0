"""The exact padding skip: run the recurrence over the real tokens only.

With pre-padding, a text of n tokens reaches the model as ``L - n`` pad tokens, then its n
tokens. At inference the recurrent state after k pad steps does not depend on the text, so it is
computed once per loaded model for every k (a ``(L + 1) x hidden`` table for h, and for c) and a
batch whose longest text has w tokens runs w steps from the state after ``L - w`` pad steps,
instead of L steps from zero. Shorter texts in the same batch keep their own pad steps inside
the window, so every row sees exactly the sequence the full model sees.

A large batch is sorted by length and cut into runs of ``BUCKET_ROWS`` texts, each with its own
window, so one long tweet does not make 255 short ones run its length (measured on held-out
tweets, batches of 256: 2.5x the texts per second of one window per batch).

The states come from the loaded session itself (k pad tokens through the graph, its ``final_h``
/ ``final_c`` outputs kept), so they always match the weights that score: fp32 or int8, whatever
the packager wrote. Each k is computed the first time a window needs it and kept: one run of a
few hundred pad steps (about 1-2 ms) on the first text of a new length, instead of building all
L + 1 at start (about 40 ms of a cold start measured at 0.4 s).

Only graphs from the direct converter expose the state inputs and outputs; for other graphs, or
post-padding, the scorer runs the full sequence.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgeship_sentiment.session import Array, DType, InferenceSession

FloatArray = npt.NDArray[np.float32]
BUCKET_ROWS = 16  # rows per run in a sorted batch; 8-64 measured, 16 fastest (bench/results.md)


@dataclass(frozen=True)
class StateNames:
    initial_h: str
    final_h: str
    initial_c: str | None = None
    final_c: str | None = None


class PadStates:
    """The state after k pad steps from the zero state, k = 0..sequence_length, computed on first use."""

    def __init__(
        self,
        session: InferenceSession,
        names: StateNames,
        *,
        input_name: str,
        input_dtype: DType,
        sequence_length: int,
        pad_value: int,
        hidden_size: int,
    ) -> None:
        self.session = session
        self.names = names
        self.input_name = input_name
        self.input_dtype = input_dtype
        self.pad_value = pad_value
        self.sequence_length = sequence_length
        self.with_c = names.initial_c is not None and names.final_c is not None
        self._h = np.zeros((sequence_length + 1, hidden_size), dtype=np.float32)
        self._c = np.zeros((sequence_length + 1, hidden_size), dtype=np.float32)
        self._known = np.zeros(sequence_length + 1, dtype=bool)
        self._known[0] = True  # zero pad steps: the zero state
        self._lock = threading.Lock()

    def state(self, pad_steps: int) -> tuple[FloatArray, FloatArray | None]:
        """(h, c) after ``pad_steps`` pad tokens (c is None for a GRU)."""
        if not self._known[pad_steps]:
            with self._lock:  # one session run per k, however many threads ask at once
                if not self._known[pad_steps]:
                    self._compute(pad_steps)
        return self._h[pad_steps], (self._c[pad_steps] if self.with_c else None)

    def _compute(self, pad_steps: int) -> None:
        final_c = self.names.final_c
        outputs = [self.names.final_h, final_c] if self.with_c and final_c is not None else [self.names.final_h]
        pads = np.full((1, pad_steps), self.pad_value, dtype=self.input_dtype)
        result = self.session.run(outputs, {self.input_name: pads})  # from the graph's zero initial state
        self._h[pad_steps] = np.asarray(result[0]).reshape(-1)
        if self.with_c:
            self._c[pad_steps] = np.asarray(result[1]).reshape(-1)
        self._known[pad_steps] = True

    def initial(self, pad_steps: int) -> dict[str, FloatArray]:
        """The ``initial_*`` inputs for a window that starts after ``pad_steps`` pad tokens."""
        h, c = self.state(pad_steps)
        # [1, 1, hidden] broadcasts over the batch inside the graph (its Expand node).
        feeds = {self.names.initial_h: h[np.newaxis, np.newaxis]}
        if c is not None and self.names.initial_c is not None:
            feeds[self.names.initial_c] = c[np.newaxis, np.newaxis]
        return feeds


def window(
    sequences: Sequence[Sequence[int]], sequence_length: int, *, truncating: str, pad_value: int, dtype: DType
) -> tuple[Array, int]:
    """Pre-pad the batch to its longest text only; returns the ids and the pad steps skipped.

    A batch of texts with no known word still runs one pad step: onnxruntime's LSTM needs at
    least one, and the state after ``L`` pad steps is what the full model ends with for them.
    """
    kept = [seq[-sequence_length:] if truncating == "pre" else seq[:sequence_length] for seq in sequences]
    width = max(1, max((len(seq) for seq in kept), default=0))
    ids = np.full((len(kept), width), pad_value, dtype=dtype)
    for row, seq in enumerate(kept):
        if seq:
            ids[row, width - len(seq) :] = seq
    return ids, sequence_length - width


@dataclass(frozen=True)
class PaddingSkip:
    """What a scorer needs to run a batch over its real tokens only."""

    states: PadStates
    input_name: str
    truncating: str
    pad_value: int
    dtype: DType

    @classmethod
    def build(
        cls,
        session: InferenceSession,
        names: StateNames,
        *,
        input_name: str,
        input_dtype: DType,
        sequence_length: int,
        truncating: str,
        pad_value: int,
        hidden_size: int,
    ) -> PaddingSkip:
        states = PadStates(
            session,
            names,
            input_name=input_name,
            input_dtype=input_dtype,
            sequence_length=sequence_length,
            pad_value=pad_value,
            hidden_size=hidden_size,
        )
        return cls(states, input_name, truncating, pad_value, input_dtype)

    def feeds(self, sequences: Sequence[Sequence[int]]) -> dict[str, Array]:
        ids, skipped = window(
            sequences,
            self.states.sequence_length,
            truncating=self.truncating,
            pad_value=self.pad_value,
            dtype=self.dtype,
        )
        return {self.input_name: ids, **self.states.initial(skipped)}

    def runs(
        self, sequences: Sequence[Sequence[int]], bucket_rows: int = BUCKET_ROWS
    ) -> Iterator[tuple[list[int], dict[str, Array]]]:
        """(row indices, feeds) per onnxruntime run: similar lengths together, each run its own window."""
        if len(sequences) <= bucket_rows:
            yield list(range(len(sequences))), self.feeds(sequences)
            return
        order = sorted(range(len(sequences)), key=lambda row: len(sequences[row]))
        for start in range(0, len(order), bucket_rows):
            rows = order[start : start + bucket_rows]
            yield rows, self.feeds([sequences[row] for row in rows])

    def scores(self, session: InferenceSession, output_name: str, sequences: Sequence[Sequence[int]]) -> FloatArray:
        """The model's last output column per sequence, in the order given."""
        scores = np.empty(len(sequences), dtype=np.float32)
        for rows, feeds in self.runs(sequences):
            output = session.run([output_name], feeds)[0]
            scores[rows] = np.asarray(output, dtype=np.float32).reshape(len(rows), -1)[:, -1]
        return scores


def session_supports(session: InferenceSession, names: StateNames) -> bool:
    """Whether the graph takes the initial state and gives the final one (direct converter graphs)."""
    # The direct graph's state inputs are initializers that a caller may override (zero default).
    inputs = {i.name for i in [*session.get_inputs(), *session.get_overridable_initializers()]}
    outputs = {o.name for o in session.get_outputs()}
    wanted_in = {names.initial_h} | ({names.initial_c} if names.initial_c else set())
    wanted_out = {names.final_h} | ({names.final_c} if names.final_c else set())
    return wanted_in <= inputs and wanted_out <= outputs
