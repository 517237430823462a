"""Where our own dockerd keeps its data: on XFS with reflinks when this machine can
mount one, else in a plain directory, with a line saying why (tests/deploy runs the
real engine on whichever it got)."""
from __future__ import annotations

import subprocess

import pytest

from telephony.deploy import engine as engine_module
from telephony.deploy.engine import DockerEngine


def test_switched_off_the_data_stays_in_the_plain_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTLINE_DOCKER_REFLINK", "0")
    assert DockerEngine(tmp_path)._data_root() == tmp_path / "data"


def test_without_mkfs_xfs_the_plain_directory_and_the_reason(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HOTLINE_DOCKER_REFLINK", raising=False)
    monkeypatch.setattr(engine_module.shutil, "which", lambda name: None)
    monkeypatch.setattr(engine_module.os, "access", lambda path, mode: False)
    assert DockerEngine(tmp_path)._data_root() == tmp_path / "data"
    assert "mkfs.xfs missing" in capsys.readouterr().err
    assert not (tmp_path / "data.xfs").exists()


def test_a_failing_mount_says_what_the_command_said(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HOTLINE_DOCKER_REFLINK", raising=False)

    def refuse(image, mount_point):
        raise subprocess.CalledProcessError(32, ["mount"], stderr=b"mount: no loop device\n")
    monkeypatch.setattr(engine_module, "mount_reflink_fs", refuse)
    assert DockerEngine(tmp_path)._data_root() == tmp_path / "data"
    assert "no loop device" in capsys.readouterr().err


@pytest.mark.skipif(not engine_module.shutil.which("mkfs.xfs"), reason="xfsprogs not installed")
def test_the_filesystem_is_made_once_and_not_remade(tmp_path, monkeypatch):
    calls = []

    def run(cmd, **kw):
        calls.append(cmd[0].rsplit("/", 1)[-1])
        return subprocess.CompletedProcess(cmd, 0)
    monkeypatch.setattr(engine_module.subprocess, "run", run)
    monkeypatch.setattr(engine_module.os, "geteuid", lambda: 0)
    image, point = tmp_path / "data.xfs", tmp_path / "data-xfs"
    engine_module.mount_reflink_fs(image, point)
    image.touch()   # truncate is faked: the file a real one would leave
    engine_module.mount_reflink_fs(image, point)
    assert calls == ["truncate", "mkfs.xfs", "mount", "mount"]
