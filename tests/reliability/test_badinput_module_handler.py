"""The sentiment module's IoT Hub handlers fed bad input: one error reply each, and it keeps scoring.

The real ``IoTHubFace`` (message handler, ``score`` method) over the small packaged model, with
the in-memory twin of the SDK client from tests/modules (the SDK's own ``Message`` and
``MethodRequest`` types). After every bad input a good one must still be scored.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.iot.device import MethodRequest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edgeship_sentiment.batcher import BatchSettings
from edgeship_sentiment.iothub_face import IoTHubFace
from edgeship_sentiment.payloads import MAX_BODY_BYTES, MAX_TEXTS
from edgeship_sentiment.scorer import MAX_TEXT_BYTES
from edgeship_sentiment.service import SentimentService
from tests.support.badinput import is_valid_request
from tests.support.module_client import InMemoryModuleClient, input_message

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # needs the trained fixture (cached)
MESSAGES = 1500  # hypothesis examples: bad message bodies
METHODS = 400  # bad ``score`` method payloads
SETTINGS: dict[str, Any] = {"deadline": None, "suppress_health_check": list(HealthCheck)}
LABELS = {"NEGATIVE", "NEUTRAL", "POSITIVE"}


@dataclass
class Module:
    face: IoTHubFace
    client: InMemoryModuleClient
    bad: int = 0
    sequence: int = 0

    @property
    def service(self) -> SentimentService:
        return self.face.service

    def output(self) -> tuple[str, Any]:
        return self.client.outputs.get(timeout=30)


@pytest.fixture(scope="module")
def module(packaged_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Module]:
    service = SentimentService(
        packaged_model_dir,
        batch=BatchSettings(max_batch=16, max_batch_delay_ms=2),
        capture_dir=tmp_path_factory.mktemp("capture"),
    )
    client = InMemoryModuleClient()
    face = IoTHubFace(service, client, report_interval=3600).start()
    state = Module(face, client)
    yield state
    face.stop()
    service.close()
    assert face.send_failures == 0
    print(f"\nmodule handler: {state.bad} bad inputs, each answered once on errors, each followed by a score")


NOT_STRINGS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
WRONG_TYPES = st.one_of(
    NOT_STRINGS.map(lambda v: {"text": v}),
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=10),
        st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    ).map(lambda v: {"texts": v}),
    st.lists(st.text(max_size=5), max_size=3).flatmap(
        lambda texts: NOT_STRINGS.map(lambda bad: {"texts": [*texts, bad]})
    ),
    st.one_of(
        st.lists(st.text(max_size=5), max_size=3), st.text(max_size=10), st.integers(), st.none(), st.booleans()
    ),  # not an object at all
    st.dictionaries(
        st.text(max_size=8).filter(lambda k: k not in ("text", "texts")), st.text(max_size=8), max_size=3
    ),  # neither key
).map(lambda value: json.dumps(value).encode())


@st.composite
def deep_json(draw: st.DrawFn) -> bytes:
    # Not near Python's recursion limit (~1000), where whether json.loads copes depends on the stack.
    depth = draw(st.one_of(st.integers(2, 500), st.integers(2000, 120_000)))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"text":[', "]}")]))
    inner = draw(st.sampled_from(["1", '"x"', "", "null"]))
    balanced = draw(st.booleans())
    text = opener * depth + inner + closer * (depth if balanced else depth // 2)
    if draw(st.booleans()):
        text = '{"text": "deep", "extra": ' + text + "}"  # valid "text", deep elsewhere: may be accepted
    return text.encode()


@st.composite
def huge(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 3))
    if choice == 0:  # one text over the limit
        size = draw(st.integers(MAX_TEXT_BYTES + 1, MAX_TEXT_BYTES + 4096))
        return json.dumps({"text": draw(st.sampled_from("xé€")) * (size // 3 + 1) * 3}).encode()
    if choice == 1:  # a body over the limit that is otherwise fine
        return b'{"texts": ["' + b"y" * (MAX_BODY_BYTES + draw(st.integers(0, 4096))) + b'"]}'
    if choice == 2:  # too many texts
        return json.dumps({"texts": ["a"] * draw(st.integers(MAX_TEXTS + 1, MAX_TEXTS + 50))}).encode()
    return b" " * (MAX_BODY_BYTES + 1)  # nothing but whitespace, too much of it


ENCODINGS = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=40).map(lambda t: json.dumps({"text": t}).encode("utf-16")),
    st.just('\ufeff{"text": "bom"}'.encode()),
    st.binary(min_size=1, max_size=4).map(lambda junk: b'{"text": "' + b"\xff" + junk + b'"}'),
    st.sampled_from(
        [
            b'{"text": NaN}',
            b'{"text": Infinity}',
            b'{"text": "a"',
            b'{"text" "a"}',
            b"",
            b"\x00",
            b'{"text": "a"} trailing',
        ]
    ),
)
BAD_BODIES = st.one_of(ENCODINGS, WRONG_TYPES, deep_json(), huge())


def assert_scored(module: Module, correlation_id: str) -> None:
    name, message = module.output()
    assert (name, message.correlation_id) == ("output1", correlation_id)
    result = json.loads(message.data)
    assert result["label"] in LABELS
    assert 0.0 <= result["score"] <= 1.0


@settings(max_examples=MESSAGES, **SETTINGS)
@given(body=BAD_BODIES, good=st.text(min_size=1, max_size=60))
def test_bad_message_bodies_get_one_error_reply_each_and_scoring_goes_on(
    module: Module, body: bytes, good: str
) -> None:
    while not module.client.outputs.empty():  # only after a failed example: report the first failure, not its echo
        module.client.outputs.get_nowait()
    accepted = is_valid_request(body)
    errors_before = module.service.metrics.error_count
    module.bad += 0 if accepted else 1
    module.sequence += 1
    number = module.sequence
    module.client.on_message_received(input_message(body, f"bad-{number}"))
    module.client.on_message_received(input_message(json.dumps({"text": good}), f"good-{number}"))
    name, message = module.output()
    assert message.correlation_id == f"bad-{number}"
    if accepted:  # e.g. a valid "text" with a deep "extra" beside it: scored like any other
        assert name == "output1"
    else:
        assert name == "errors", (body[:80], json.loads(message.data))
        reply = json.loads(message.data)
        assert reply["correlation_id"] == f"bad-{number}"
        assert set(reply) == {"error", "correlation_id"}
        assert isinstance(reply["error"], str)
        assert 0 < len(reply["error"]) < 500  # one readable line, not the input echoed back
        assert message.custom_properties["status"] == "400"
        assert module.service.metrics.error_count == errors_before + 1
    assert_scored(module, f"good-{number}")
    assert module.client.outputs.empty()  # exactly one reply per message


@pytest.fixture(scope="module")
def method_counter() -> list[int]:
    return [0]


def _nest(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"text": value}
    return value


@settings(max_examples=METHODS, **SETTINGS)
@given(
    payload=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(max_size=30),
        st.lists(st.text(max_size=4), max_size=3),
        NOT_STRINGS.map(lambda v: {"text": v}),
        st.just({"text": "z" * (MAX_TEXT_BYTES + 1)}),
    ),
    depth=st.none() | st.integers(2, 5000),
)
def test_bad_score_method_payloads_get_400_and_scoring_goes_on(
    module: Module, method_counter: list[int], payload: Any, depth: int | None
) -> None:
    # What the SDK hands the handler: the parsed JSON payload (a str only when the JSON was a string).
    if depth is not None:  # built here so that hypothesis reports the depth, not a 5000-level object
        payload = _nest(depth)
    if isinstance(payload, str):
        assume(not is_valid_request(payload))
    method_counter[0] += 1
    module.bad += 1
    rid = f"r{method_counter[0]}"
    module.client.on_method_request_received(MethodRequest(rid, "score", payload))
    response = module.client.method_responses.get(timeout=30)
    assert (response.request_id, response.status) == (rid, 400)
    assert set(response.payload) == {"error"}
    assert isinstance(response.payload["error"], str)
    module.client.on_method_request_received(MethodRequest(f"{rid}-good", "score", {"text": "still scoring"}))
    good = module.client.method_responses.get(timeout=30)
    assert (good.request_id, good.status) == (f"{rid}-good", 200)
    assert good.payload["label"] in LABELS
    with pytest.raises(queue.Empty):
        module.client.method_responses.get_nowait()
