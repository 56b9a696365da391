"""The Dockerfile installs what the Makefile does: the lock file's versions, with
the same uv, and every package of the project (the dashboard's web/ included).
The image itself is built by those who run containers; this holds the file to
the Makefile and pyproject.toml, which the rest of the suite runs on."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_the_image_uses_the_makefiles_uv():
    [makefile] = re.findall(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    [image] = re.findall(r"^ARG UV_VERSION=(\S+)$", DOCKERFILE, re.M)
    assert image == makefile


def test_the_image_installs_the_lock_and_every_package():
    installs = re.findall(r"^RUN (.*)$", DOCKERFILE, re.M)
    syncs = [command for command in installs if command.startswith("uv sync")]
    assert syncs and all("--locked" in command for command in syncs)
    assert "--no-editable" in syncs[-1] and "--no-install-project" not in syncs[-1]
    assert not [command for command in installs if re.search(r"pip install .*\s\.(\s|$)", command)]

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    included = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in included}
    copied = set(re.findall(r"^COPY (\w+) \1$", DOCKERFILE, re.M))
    assert packages <= copied, f"not copied into the image: {packages - copied}"
    assert "web" in packages  # the dashboard's pages are package data
