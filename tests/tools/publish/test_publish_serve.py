"""`edgeship model publish --packaged` and `edgeship model serve`: archives, their address, read-only serving."""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeship.cli.main import cli
from edgeship.publish.serve import PublishedServer

pytestmark = [pytest.mark.slow, pytest.mark.integration]  # the packaged fixture; a loopback server


def publish(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["model", "publish", *args])
    return result.exit_code, result.output


def test_publish_writes_one_content_addressed_archive_and_its_patch(packaged_model_dir: Path, tmp_path: Path) -> None:
    code, out = publish("--packaged", str(packaged_model_dir), "--to", str(tmp_path / "pub"), "--json")
    assert code == 0, out
    printed = json.loads(out)
    assert set(printed) == {"uri", "sha256", "size", "patch"}
    archive = tmp_path / "pub" / "sha256" / f"{printed['sha256']}.tar.gz"
    data = archive.read_bytes()
    assert hashlib.sha256(data).hexdigest() == printed["sha256"]
    assert len(data) == printed["size"]
    assert printed["uri"] == archive.resolve().as_uri()
    assert printed["patch"] == {
        "model": {"name": "sentiment", "version": 1, "sha256": printed["sha256"], "uri": printed["uri"]}
    }
    with tarfile.open(archive) as tar:
        assert sorted(m.name for m in tar.getmembers()) == ["model.json", "model.onnx", "tokenizer.json"]
        assert all(m.isfile() and m.mtime == 0 and m.uid == 0 for m in tar.getmembers())
    assert json.loads((tmp_path / "pub" / "sentiment" / "1.json").read_text())["sha256"] == printed["sha256"]
    # the same folder gives the same bytes, so the same address
    code, again = publish(
        "--packaged",
        str(packaged_model_dir),
        "--to",
        (tmp_path / "pub2").as_uri(),
        "--json",
        "--base-url",
        "http://127.0.0.1:9/models/",
    )
    assert code == 0, again
    assert json.loads(again)["sha256"] == printed["sha256"]
    assert json.loads(again)["uri"] == f"http://127.0.0.1:9/models/sha256/{printed['sha256']}.tar.gz"


def test_publish_bad_input_is_one_line(packaged_model_dir: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(packaged_model_dir, old)
    spec = json.loads((old / "model.json").read_text())
    del spec["parity_sample"]
    (old / "model.json").write_text(json.dumps(spec))
    for args, message in [
        (("--packaged", str(old), "--to", str(tmp_path / "p")), "has no parity sample"),
        (("--packaged", str(packaged_model_dir), "--to", "http://127.0.0.1:9/"), "--to takes a folder or a file://"),
        (("sentiment:1", "--to", str(tmp_path / "p"), "--registry", str(tmp_path / "empty")), "not registered"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "edgeship", "model", "publish", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith("error: ")
        assert message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


@pytest.fixture
def served(packaged_model_dir: Path, tmp_path: Path) -> Iterator[tuple[PublishedServer, str]]:
    code, out = publish("--packaged", str(packaged_model_dir), "--to", str(tmp_path / "pub"), "--json")
    assert code == 0, out
    (tmp_path / "pub" / "secret.txt").write_text("not published")
    server = PublishedServer(tmp_path / "pub")
    server.start_background()
    yield server, json.loads(out)["sha256"]
    server.shutdown()
    server.server_close()


def request(server: PublishedServer, method: str, path: str) -> tuple[int, bytes]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_serve_answers_only_published_names_read_only(served: tuple[PublishedServer, str], tmp_path: Path) -> None:
    server, sha = served
    status, body = request(server, "GET", f"/sha256/{sha}.tar.gz")
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == sha
    assert request(server, "HEAD", f"/sha256/{sha}.tar.gz") == (200, b"")
    assert json.loads(request(server, "GET", "/sentiment/1.json")[1])["sha256"] == sha
    for path in (
        "/secret.txt",
        "/sha256/../secret.txt",
        "/%2e%2e/%2e%2e/etc/passwd",
        f"/sha256/{'0' * 64}.tar.gz",
        "/sentiment/../../x.json",
        "/",
    ):
        assert request(server, "GET", path)[0] == 404, path
    for method in ("PUT", "POST", "DELETE"):
        assert request(server, method, f"/sha256/{sha}.tar.gz")[0] == 405
