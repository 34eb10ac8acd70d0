"""Unpack a model archive (tar, gzip) so nothing can land outside the target folder.

Refused before a byte is written: absolute names, ``..`` anywhere in a name, links of any kind
(a model package has none, and a link is how an archive writes or reads outside its folder),
devices and FIFOs, and more than ``max_bytes`` unpacked in total.
"""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path, PurePosixPath

from edgeship_sentiment.errors import ModelUpdateError


def safe_unpack(archive: Path, dest: Path, *, max_bytes: int) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            total = 0
            for member in members:
                check_member(member)
                total += member.size
                if total > max_bytes:
                    raise ModelUpdateError(f"the archive unpacks to more than {max_bytes} bytes")
            dest.mkdir(parents=True)
            for member in members:
                target = dest.joinpath(*PurePosixPath(member.name).parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    raise ModelUpdateError(f"the archive's {member.name!r} cannot be read")
                with source, target.open("xb") as out:
                    shutil.copyfileobj(source, out)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ModelUpdateError(f"the archive cannot be unpacked: {exc}") from None


def check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith(("/", "\\")):
        raise ModelUpdateError(f"the archive holds an absolute path {name!r}")
    if ".." in path.parts or "\\" in name:
        raise ModelUpdateError(f"the archive holds a path that climbs out: {name!r}")
    if member.issym() or member.islnk():
        raise ModelUpdateError(f"the archive holds a link {name!r} -> {member.linkname!r}")
    if not (member.isfile() or member.isdir()):
        raise ModelUpdateError(f"the archive holds {name!r}, which is neither a file nor a folder")
