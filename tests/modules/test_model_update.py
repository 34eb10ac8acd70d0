"""Model updates inside the module: real archives, real downloads (file:// and loopback HTTP), real sessions.

The second version is the packaged fixture again as version 2 (same weights): what these tests
judge is the update's steps and refusals. Two models that score differently stream through the
real module in ``test_model_update_live.py``.
"""

from __future__ import annotations

import json
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from edgeship.publish.serve import PublishedServer
from edgeship_sentiment.errors import ModelUpdateError
from edgeship_sentiment.model import load_model_folder
from edgeship_sentiment.model_update import ModelStore, ModelUpdater
from edgeship_sentiment.model_update.fetch import fetch
from edgeship_sentiment.scorer import Engine
from edgeship_sentiment.service import SentimentService
from tests.support.model_update import TruncatingServer, closed_port, hostile_archive, member, variant, write_archive

pytestmark = [pytest.mark.slow, pytest.mark.integration]  # the packaged fixture; loopback HTTP servers
TEXTS = ["I love this so much", "worst day ever", "meh", "the weather is fine I guess", ""]


@pytest.fixture
def reports() -> list[Any]:
    return []


@pytest.fixture
def updater(service: SentimentService, tmp_path: Path, reports: list[Any]) -> Iterator[ModelUpdater]:
    assert service.scorer is not None
    updater = ModelUpdater(
        service.scorer, ModelStore(tmp_path / "store"), report=reports.append, max_bytes=5 * 1024 * 1024, timeout=20
    ).start()
    yield updater
    updater.close()


@pytest.fixture
def v2(packaged_model_dir: Path, tmp_path: Path) -> tuple[Path, str, Path]:
    folder = variant(packaged_model_dir, tmp_path / "v2", version=2)
    archive, digest = write_archive(folder, tmp_path / "v2.tar.gz")
    return archive, digest, folder


def desired(archive: Path | str, digest: str, version: int = 2) -> dict[str, Any]:
    uri = archive.as_uri() if isinstance(archive, Path) else archive
    return {"name": "sentiment", "version": version, "sha256": digest, "uri": uri}


def apply(updater: ModelUpdater, value: dict[str, Any]) -> Any:
    updater.request(value)
    assert updater.wait_idle(60)
    return updater.status


def serves(service: SentimentService, version: str) -> None:
    """Replies come from ``version`` and are scored."""
    for text in TEXTS:
        reply = service.handle(json.dumps({"text": text}), "test")
        assert reply.status == 200, reply.payload
        assert reply.model == version
        assert 0.0 <= cast(Any, reply.payload)["score"] <= 1.0


def test_a_good_update_is_applied_reported_step_by_step_and_kept_for_a_restart(
    service: SentimentService,
    updater: ModelUpdater,
    reports: list[Any],
    v2: tuple[Path, str, Path],
    tmp_path: Path,
    packaged_model_dir: Path,
) -> None:
    archive, digest, folder = v2
    serves(service, "sentiment:1")
    before = service.scorer.engine if service.scorer else None
    status = apply(updater, desired(archive, digest))
    assert status["state"] == "applied", status
    assert [r["state"] for r in reports] == ["downloading", "verifying", "applied"]
    assert status["requested_at"] <= status["verifying_at"] <= status["applied_at"]
    assert status["sha256"] == digest
    assert status["version"] == 2
    assert status["parity_max_abs_diff"] <= 1e-4
    assert service.scorer is not None
    assert service.scorer.engine is not before
    serves(service, "sentiment:2")
    reference = Engine.load(load_model_folder(folder))
    replies = [cast(Any, service.handle(json.dumps({"text": t}), "test").payload)["score"] for t in TEXTS]
    assert replies == pytest.approx(reference.raw_scores(TEXTS).tolist(), abs=1e-6)

    # the same desired value again (a twin resent on reconnect) changes nothing
    updater.request(desired(archive, digest))
    assert updater.wait_idle(10)
    assert len(reports) == 3

    # a new process: the store's model serves from the start
    fresh = SentimentService(packaged_model_dir, capture_dir=tmp_path / "capture2")  # v1 is baked in
    try:
        assert fresh.scorer is not None
        again = ModelUpdater(fresh.scorer, ModelStore(tmp_path / "store"), report=lambda s: None)
        assert again.restore()
        assert again.status["state"] == "applied"
        assert again.current is not None
        assert again.current.version == 2
        serves(fresh, "sentiment:2")
    finally:
        fresh.close()


def _rejected(updater: ModelUpdater, service: SentimentService, value: dict[str, Any], reason: str) -> None:
    assert service.scorer is not None
    engine = service.scorer.engine
    status = apply(updater, value)
    assert status["state"] == "rejected", status
    assert reason in status["reason"], status["reason"]
    assert status["rejected_at"] is not None
    assert service.scorer.engine is engine  # the old model keeps serving
    serves(service, "sentiment:1")


def test_wrong_sha256(service: SentimentService, updater: ModelUpdater, v2: tuple[Path, str, Path]) -> None:
    archive, digest, _ = v2
    _rejected(updater, service, desired(archive, "0" * 64), f"sha256 mismatch: the download is {digest}")


def test_truncated_download(service: SentimentService, updater: ModelUpdater, v2: tuple[Path, str, Path]) -> None:
    archive, digest, _ = v2
    server = TruncatingServer(archive.read_bytes(), keep=1000)
    try:
        _rejected(updater, service, desired(server.url, digest), "truncated")
    finally:
        server.stop()


def test_oversized_download_over_http_and_file(
    service: SentimentService, updater: ModelUpdater, tmp_path: Path
) -> None:
    big = tmp_path / "published"
    (big / "sha256").mkdir(parents=True)
    blob = big / "sha256" / f"{'a' * 64}.tar.gz"
    blob.write_bytes(b"\0" * (6 * 1024 * 1024))  # over the updater's 5 MB limit
    server = PublishedServer(big)
    server.start_background()
    try:
        _rejected(
            updater,
            service,
            desired(f"{server.url}/sha256/{'a' * 64}.tar.gz", "a" * 64),
            "more than the limit of 5242880",
        )
    finally:
        server.shutdown()
        server.server_close()
    _rejected(updater, service, desired(blob, "a" * 64), "larger than the limit of 5242880")


def test_unreachable_uri(
    service: SentimentService, updater: ModelUpdater, v2: tuple[Path, str, Path], tmp_path: Path
) -> None:
    _, digest, _ = v2
    _rejected(updater, service, desired(f"http://127.0.0.1:{closed_port()}/m.tar.gz", digest), "cannot reach")
    _rejected(updater, service, desired(tmp_path / "nothing.tar.gz", digest), "No such file")


def test_a_download_slower_than_its_timeout(service: SentimentService, tmp_path: Path) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts at the TCP level, never answers
    try:
        with pytest.raises(ModelUpdateError, match=r"timed out"):
            fetch(f"http://127.0.0.1:{listener.getsockname()[1]}/m", tmp_path / "m", max_bytes=10, timeout=0.5)
    finally:
        listener.close()


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([member("../model.json")], "climbs out"),
        ([member("sub/../../evil")], "climbs out"),
        ([member("/etc/evil")], "absolute path"),
        ([member("model.onnx", tarfile.SYMTYPE, "/etc/passwd")], "a link 'model.onnx' -> '/etc/passwd'"),
        ([member("model.onnx", tarfile.LNKTYPE, "../../outside")], "a link"),
        ([member("fifo", tarfile.FIFOTYPE)], "neither a file nor a folder"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink-out", "hardlink-out", "fifo"],
)
def test_hostile_archives_are_refused_before_anything_is_written(
    service: SentimentService, updater: ModelUpdater, tmp_path: Path, members: list[tarfile.TarInfo], reason: str
) -> None:
    archive, digest = hostile_archive(tmp_path / "evil.tar.gz", members)
    _rejected(updater, service, desired(archive, digest), reason)
    assert not (tmp_path / "model.json").exists()
    assert not (tmp_path / "evil").exists()
    assert list((tmp_path / "store" / "models").iterdir()) == []


def test_a_model_json_of_another_format(
    service: SentimentService, updater: ModelUpdater, packaged_model_dir: Path, tmp_path: Path
) -> None:
    folder = variant(
        packaged_model_dir, tmp_path / "other", version=2, edit=lambda spec: spec.update(format="edgeship-model/2")
    )
    archive, digest = write_archive(folder, tmp_path / "other.tar.gz")
    _rejected(updater, service, desired(archive, digest), "is not an edgeship-model/1 model description")


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda spec: spec.update(labels={"negative": "BAD", "neutral": "NEUTRAL", "positive": "GOOD"}), "labels"),
        (lambda spec: spec.update(sequence_length=0), "sequence_length 0 is not positive"),
        (lambda spec: spec.update(sequence_length="300"), "'sequence_length' is missing or not a int"),
        (lambda spec: spec.update(input_name="nope"), "inputs"),
        (lambda spec: spec.update(version=3), "the package is sentiment:3, the twin asked for sentiment:2"),
    ],
    ids=["labels", "sequence-length-0", "sequence-length-str", "input", "version"],
)
def test_model_json_that_does_not_fit_the_running_model(
    service: SentimentService, updater: ModelUpdater, packaged_model_dir: Path, tmp_path: Path, edit: Any, reason: str
) -> None:
    folder = variant(packaged_model_dir, tmp_path / "misfit", version=2)
    spec = json.loads((folder / "model.json").read_text())
    edit(spec)
    (folder / "model.json").write_text(json.dumps(spec))
    archive, digest = write_archive(folder, tmp_path / "misfit.tar.gz")
    _rejected(updater, service, desired(archive, digest), reason)


def test_a_model_whose_parity_sample_fails(
    service: SentimentService, updater: ModelUpdater, packaged_model_dir: Path, tmp_path: Path
) -> None:
    def shift(spec: dict[str, Any]) -> None:
        sample = spec["parity_sample"]
        sample["scores"] = [min(1.0, s + 0.01) for s in sample["scores"]]

    folder = variant(packaged_model_dir, tmp_path / "drifted", version=2, edit=shift)
    archive, digest = write_archive(folder, tmp_path / "drifted.tar.gz")
    _rejected(updater, service, desired(archive, digest), "parity sample failed: max |diff| 0.01")


def test_a_bad_desired_value(service: SentimentService, updater: ModelUpdater) -> None:
    _rejected(updater, service, {"name": "sentiment", "version": 2, "sha256": "x", "uri": "file:///m"}, "64 hex")
    _rejected(
        updater,
        service,
        {"name": "sentiment", "version": 2, "sha256": "a" * 64, "uri": "ftp://h/m"},
        "file://, http:// or https://",
    )
    _rejected(updater, service, "sentiment:2", 'model must be {"name"')  # type: ignore[arg-type]


@pytest.mark.parametrize(("variable", "value"), [("MODEL_MAX_BYTES", "lots"), ("MODEL_DOWNLOAD_TIMEOUT", "-1")])
def test_bad_update_limits_stop_the_module_with_one_line(
    packaged_model_dir: Path, tmp_path: Path, variable: str, value: str
) -> None:
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("IOTEDGE_")}
    env.update({variable: value, "MODEL_STORE": str(tmp_path / "store")})
    result = subprocess.run(
        [sys.executable, "main.py", "--model-dir", str(packaged_model_dir), "--http", "127.0.0.1:0"],
        cwd=Path(__file__).resolve().parents[2] / "modules" / "sentiment",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: {variable} must be a positive number, got {value!r}"
    assert "Traceback" not in result.stderr


def test_update_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeship_sentiment.model_update.updater import limits_from_environment

    monkeypatch.setenv("MODEL_MAX_BYTES", "1024")
    monkeypatch.setenv("MODEL_DOWNLOAD_TIMEOUT", "2.5")
    assert limits_from_environment() == {"max_bytes": 1024, "timeout": 2.5}
    monkeypatch.delenv("MODEL_MAX_BYTES")
    assert limits_from_environment() == {"timeout": 2.5}
