"""The platforms module.json names (iotedgedev's), and what each means to Docker, Debian and pip."""

from __future__ import annotations

from dataclasses import dataclass

from edgeship.errors import ImageError


@dataclass(frozen=True)
class Platform:
    name: str  # module.json's key: amd64, arm64v8, arm32v7
    docker: str  # Docker's platform string
    debian_arch: str
    machine: str  # the manylinux suffix and `uname -m` in the container
    glibc_minor: int = 36  # bookworm's glibc 2.36

    @property
    def pip_platforms(self) -> tuple[str, ...]:
        """Every manylinux tag the target's glibc runs: ``pip download --platform`` does not expand one."""
        tags = [f"manylinux_2_{minor}_{self.machine}" for minor in range(self.glibc_minor, 4, -1)]
        tags += [f"{legacy}_{self.machine}" for legacy in ("manylinux2014", "manylinux2010", "manylinux1")]
        return (*tags, f"linux_{self.machine}")


PLATFORMS: dict[str, Platform] = {
    "amd64": Platform("amd64", "linux/amd64", "amd64", "x86_64"),
    "arm64v8": Platform("arm64v8", "linux/arm64", "arm64", "aarch64"),
    "arm32v7": Platform("arm32v7", "linux/arm/v7", "armhf", "armv7l"),
}


def platform_named(name: str) -> Platform:
    try:
        return PLATFORMS[name]
    except KeyError:
        raise ImageError(f"unknown platform {name!r} (expected one of {', '.join(PLATFORMS)})") from None
