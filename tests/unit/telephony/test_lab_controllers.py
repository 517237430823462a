"""`lab up --controllers N` and `lab status`'s `controllers`: names, ports and roles."""
from __future__ import annotations

import argparse
import os

import pytest

from telephony.lab.commands import _controller_count, lab_status
from telephony.lab.lab import Lab
from telephony.render import SiteDirs, render_site
from telephony.settings import SettingsError, load_settings


@pytest.fixture
def lab(tmp_path):
    return Lab(load_settings(env={"HOTLINE_MODE": "lab"}), lab_dir=tmp_path, runtime=object())


def test_controller_k_is_named_and_placed_after_the_first(lab):
    assert [lab.controller_name(i) for i in (1, 2, 3)] == ["controller", "controller-2",
                                                           "controller-3"]
    assert [lab.controller_port(i) for i in (1, 2, 3)] == [8080, 8081, 8082]


def test_status_lists_each_controller_with_its_role(lab, monkeypatch):
    # two recorded controllers: this test process stands in for the first, the second is gone
    from telephony.lab.processes import Started, _start_ticks
    book = {"controller": Started("controller", os.getpid(), _start_ticks(os.getpid()), "x"),
            "controller-2": Started("controller-2", 1, -5, "y")}
    monkeypatch.setattr(lab.book, "load", lambda: book)
    roles = {1: {"controller": {"id": "controller", "sites": ["110", "12345"], "epoch": 7,
                                "leases": {"110": 7, "12345": 5}}}}
    monkeypatch.setattr(lab, "health", lambda index=1: roles.get(index))
    monkeypatch.setattr("telephony.lab.probe.site_snapshot", lambda *a: {})
    status = lab_status(lab)
    assert status["controllers"] == [
        {"id": "controller", "pid": os.getpid(), "port": 8080, "running": True,
         "sites": ["110", "12345"], "epoch": 7, "leases": {"110": 7, "12345": 5}},
        {"id": "controller-2", "pid": None, "port": 8081, "running": False, "sites": [],
         "epoch": None, "leases": {}}]
    assert status["controller"] == roles[1]   # the old key stays


@pytest.mark.parametrize("text", ["0", "9", "two", "-1"])
def test_a_controller_count_out_of_range_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        _controller_count(text)


def test_controller_id_and_lease_ttl_are_checked():
    assert load_settings(env={"HOTLINE_MODE": "lab",
                              "HOTLINE_CONTROLLER_ID": "c-1"}).controller_id == "c-1"
    with pytest.raises(SettingsError):
        load_settings(env={"HOTLINE_MODE": "lab", "HOTLINE_CONTROLLER_ID": "a b;rm"})
    with pytest.raises(SettingsError):
        load_settings(env={"HOTLINE_MODE": "lab", "HOTLINE_LEASE_TTL_S": "0.01"})


def test_ari_shows_the_stamps_in_channel_json(tmp_path):
    settings = load_settings(env={"HOTLINE_MODE": "lab"})
    files = render_site(settings, settings.sites[0], SiteDirs.under(str(tmp_path)))
    assert ("channelvars = HOTLINE_CALL,HOTLINE_ROLE,HOTLINE_SEAT,HOTLINE_MODE,HOTLINE_ORDERS"
            in files["ari.conf"])
