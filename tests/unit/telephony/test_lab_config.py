"""Settings, rendering and runtime discovery: the lab's contract in config."""
from __future__ import annotations

import pytest

from telephony.lab.runtime import apt_mirror
from telephony.logs import MaskNumbers
from telephony.render import SiteDirs, render_site
from telephony.settings import SettingsError, load_settings


@pytest.fixture
def lab_settings():
    return load_settings(env={"HOTLINE_MODE": "lab"})


def test_lab_topology_matches_the_contract(lab_settings):
    sites = {s.name: s for s in lab_settings.sites}
    assert {n: (s.address, s.sip_port, s.ami_port, s.ari_port, s.service_number)
            for n, s in sites.items()} == {
        "12345": ("127.0.0.11", 5060, 5038, 8088, "12345"),
        "110": ("127.0.0.12", 5060, 5038, 8088, "110"),
        "remote": ("127.0.0.13", 5060, 5038, 8088, None),
    }
    assert sites["12345"].seats == tuple(str(n) for n in range(1001, 1011))
    assert sites["110"].seats[0] == "2001" and sites["remote"].seats[-1] == "3010"
    assert lab_settings.credentials.seat_password("1001") == "lab-1001"


def test_outside_lab_mode_credentials_are_required():
    with pytest.raises(SettingsError, match="HOTLINE_ARI_PASSWORD"):
        load_settings(env={})


def test_outside_lab_mode_lab_credentials_are_refused():
    with pytest.raises(SettingsError, match="refused"):
        load_settings(env={"HOTLINE_ARI_PASSWORD": "lab-ari-secret", "HOTLINE_AMI_SECRET": "x"})


def test_production_credentials_render_and_have_no_seat_default(tmp_path):
    seats = tmp_path / "seats.toml"
    seats.write_text('[seats]\n1001 = "s3cret-1001"\n')
    s = load_settings(env={"HOTLINE_ARI_PASSWORD": "a", "HOTLINE_AMI_SECRET": "b",
                           "HOTLINE_SEAT_PASSWORDS_FILE": str(seats)})
    assert s.credentials.seat_password("1001") == "s3cret-1001"
    with pytest.raises(SettingsError):
        s.credentials.seat_password("1002")


def test_line_override_from_environment():
    s = load_settings(env={"HOTLINE_MODE": "lab", "HOTLINE_LINE_119": "sip:119@127.0.4.99:5070"})
    assert s.lines["119"] == "sip:119@127.0.4.99:5070"
    assert s.lines["120"] == "sip:120@127.0.4.2:5060"


def test_rendered_site_binds_its_own_address_and_carries_numbers_across_trunks(lab_settings):
    files = render_site(lab_settings, lab_settings.site("12345"), SiteDirs.under("/tmp/x/12345"))
    assert "bind = 127.0.0.11:5060" in files["pjsip.conf"]
    assert "bindaddr = 127.0.0.11" in files["http.conf"]
    assert "bindaddr = 127.0.0.11" in files["manager.conf"]
    assert "rtpstart = 20000" in files["rtp.conf"]
    assert "[trunk-110](hl-endpoint)" in files["pjsip.conf"]
    assert "[trunk-remote](hl-endpoint)" in files["pjsip.conf"]
    trunk = files["pjsip.conf"].split("[trunk-110](hl-endpoint)")[1].split("\n\n")[0]
    for option in ("send_pai = yes", "trust_id_inbound = yes", "trust_id_outbound = yes"):
        assert option in trunk
    assert "match = 127.0.1.0/24" in files["pjsip.conf"]
    assert "password = lab-1001" in files["pjsip.conf"]
    assert "Stasis(hotline,citizen,12345," in files["extensions.conf"]
    assert "[line-119](hl-endpoint)" in files["pjsip.conf"]
    assert "astetcdir => /tmp/x/12345/etc" in files["asterisk.conf"]


def test_remote_site_has_no_service_number_and_no_lines(lab_settings):
    files = render_site(lab_settings, lab_settings.site("remote"), SiteDirs.under("/x"))
    assert "Stasis(hotline,citizen" not in files["extensions.conf"]
    assert "line-119" not in files["pjsip.conf"]


def test_bench_extension_only_in_lab_mode(tmp_path):
    seats = tmp_path / "seats.toml"
    # site 12345's seats and its supervisors' seats (each a softphone with a password)
    numbers = [*range(1001, 1011), *range(1091, 1100)]
    seats.write_text("[seats]\n" + "\n".join(f'{n} = "p{n}"' for n in numbers) + "\n")
    s = load_settings(env={"HOTLINE_ARI_PASSWORD": "a", "HOTLINE_AMI_SECRET": "b",
                           "HOTLINE_SEAT_PASSWORDS_FILE": str(seats)})
    files = render_site(s, s.site("12345"), SiteDirs.under("/x"))
    assert "_9XXXX" not in files["extensions.conf"]


def test_apt_mirror_comes_from_deb822_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n")
    assert apt_mirror(tmp_path) == "http://mirror.example/debian"


def test_apt_mirror_comes_from_a_one_line_sources_list(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://mirror.example/debian bookworm main\n")
    assert apt_mirror(tmp_path) == "http://mirror.example/debian"


def test_apt_mirror_missing_is_a_clear_error(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    with pytest.raises(RuntimeError, match="no Debian mirror"):
        apt_mirror(tmp_path)


def test_log_filter_masks_mobile_numbers():
    import logging
    record = logging.LogRecord("x", logging.INFO, "f", 1, "caller %s rang %s",
                               ("13800138000", "seat 1001"), None)
    MaskNumbers().filter(record)
    assert record.getMessage() == "caller 138****8000 rang seat 1001"
