"""The IoT Hub dialect above MQTT: twins (GET, reported and desired patches) and direct methods.

``topics`` says what a topic means for an identity; this module answers: ``Twins`` keeps each
identity's twin (cached, saved through the store after every change) and ``MethodCalls`` the calls
waiting for a module's or device's answer. Both publish through the identity's ``Session``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping

from edgesim.errors import HubError, MethodTimeoutError
from edgesim.hub.config import SYSTEM_IDENTITIES
from edgesim.hub.session import Session
from edgesim.hub.store import HubStore
from edgesim.hub.topics import (
    Identity,
    OutputPublish,
    desired_patch_topic,
    method_request_topic,
    twin_response_topic,
)
from edgesim.hub.twins import Twin, TwinDocument, TwinPatchError, without_metadata
from edgesim.jsontypes import JSONLike, JSONValue
from edgesim.message import Message

MethodResult = tuple[int, JSONValue]


def output_message(identity: Identity, publish: OutputPublish, payload: bytes, enqueued_time: str) -> Message:
    """The message an identity's output (telemetry) publish becomes, with the system properties edgeHub sets."""
    system = dict(publish.system)
    # The sender is who authenticated, never what its property bag claims (as edgeHub sets them).
    system.pop("connectionModuleId", None)
    system["connectionDeviceId"] = identity.device_id
    if identity.module_id is not None:
        system["connectionModuleId"] = identity.module_id  # a leaf device's messages have none
    system["enqueuedTime"] = enqueued_time
    return Message(payload, dict(publish.application), system)


class Twins:
    """Each identity's twin: loaded from the store once, saved back after every change.

    ``initial(key)`` is the deployment's desired properties for an identity (``None``: none);
    ``known(key)`` says whether an identity may have a twin (a module or a registered device).
    """

    def __init__(
        self, store: HubStore, initial: Callable[[str], Mapping[str, JSONValue] | None], known: Callable[[str], bool]
    ) -> None:
        self._store = store
        self._initial = initial
        self._known = known
        self._twins: dict[str, Twin] = {}

    def load(self, key: str) -> Twin:
        stored = self._store.load_twin(key)
        twin = Twin(*stored) if stored else Twin()
        initial = self._initial(key)
        if initial is not None and without_metadata(twin.desired) != without_metadata(initial):
            twin.replace_desired(without_metadata(initial))  # a (re)deployment sets the desired properties
        self._twins[key] = twin
        self.save(key, twin)
        return twin

    def get(self, key: str) -> Twin:
        twin = self._twins.get(key)
        if twin is None:
            if not self._known(key) and key not in SYSTEM_IDENTITIES:
                raise HubError(f"no module named {key!r} in this deployment")
            return self.load(key)
        return twin

    def forget(self, key: str) -> None:
        """Drop the cached twin (the stored one stays unless the store forgets it too)."""
        self._twins.pop(key, None)

    def save(self, key: str, twin: Twin) -> None:
        self._store.save_twin(key, twin.desired, twin.reported)

    def next_desired_version(self, key: str) -> int:
        """The same desired properties with the next ``$version`` (a deployment counted)."""
        twin = self.get(key)
        twin.replace_desired(without_metadata(twin.desired))
        self.save(key, twin)
        return twin.desired_version

    def patch_desired(self, key: str, patch: Mapping[str, JSONLike], session: Session | None) -> TwinDocument:
        """Merge a desired patch; the identity, when it listens for desired patches, gets it with its ``$version``."""
        twin = self.get(key)
        try:
            version = twin.patch_desired(patch)
        except TwinPatchError as exc:
            raise HubError(f"desired properties of {key!r} refused: {exc}") from None
        self.save(key, twin)
        if session is not None and session.listens("desired_patches"):
            body: dict[str, JSONLike] = {**without_metadata(patch), "$version": version}
            session.publish(desired_patch_topic(version), json.dumps(body).encode())
        return twin.document()

    def patch_reported(self, key: str, patch: Mapping[str, JSONLike]) -> int:
        twin = self.get(key)
        version = twin.patch_reported(patch)  # checks the depth before it changes anything
        self.save(key, twin)
        return version

    # ---- what a connected identity asks on its twin topics ------------------------------------
    def answer_get(self, session: Session, rid: str) -> None:
        twin = self.get(session.identity.key)
        session.publish(twin_response_topic(200, rid), json.dumps(twin.document()).encode())

    def answer_reported(self, session: Session, rid: str, payload: bytes) -> None:
        try:
            patch = json.loads(payload or b"{}")
            if not isinstance(patch, dict):
                raise ValueError("not an object")
            version = self.patch_reported(session.identity.key, patch)
        except TwinPatchError as exc:
            session.publish(twin_response_topic(400, rid), json.dumps({"message": str(exc)}).encode())
        except (ValueError, RecursionError):
            session.publish(twin_response_topic(400, rid), b'{"message": "invalid JSON"}')
        else:
            session.publish(twin_response_topic(204, rid, version), b"")


class MethodCalls:
    """Direct method calls waiting for their answer, by (callee, request id): only the callee's answer counts."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], asyncio.Future[MethodResult]] = {}
        self._counter = 0

    async def call(self, session: Session, method_name: str, payload: JSONLike, timeout: float) -> MethodResult:
        key = session.identity.key
        self._counter += 1
        rid = str(self._counter)
        future: asyncio.Future[MethodResult] = asyncio.get_running_loop().create_future()
        self._pending[(key, rid)] = future
        try:
            session.publish(method_request_topic(method_name, rid), json.dumps(payload).encode())
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise MethodTimeoutError(f"{key!r} did not answer {method_name!r} within {timeout:g} s") from None
        finally:
            self._pending.pop((key, rid), None)

    def answer(self, key: str, rid: str, status: int, payload: bytes) -> None:
        """A method response published by ``key``; one for a call to another identity (or a guessed id)
        is ignored, as IoT Hub does."""
        future = self._pending.get((key, rid))
        if future is None or future.done():
            return
        value: JSONValue
        try:
            value = json.loads(payload) if payload else None
        except (ValueError, RecursionError):
            value = payload.decode("utf-8", errors="replace")
        future.set_result((status, value))

    def stop(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_result((504, {"message": "the hub stopped"}))
