"""The music on hold's G.711 copies (telephony.prompts.moh_in_g711), made with the real sox."""
from __future__ import annotations

import shutil
import subprocess
import wave

import pytest

from telephony.prompts import _tone, moh_in_g711

pytestmark = pytest.mark.skipif(shutil.which("sox") is None, reason="sox is installed by ./run")

SECONDS = 0.5


@pytest.fixture
def moh_dir(tmp_path):
    """A class directory as Debian ships it: one GSM file."""
    source = tmp_path / "tone.wav"
    _tone(source, SECONDS)
    subprocess.run(["sox", str(source), str(tmp_path / "song.gsm")], check=True)
    source.unlink()
    return tmp_path


def test_each_gsm_file_gets_a_mu_law_and_an_a_law_copy_of_the_same_length(moh_dir):
    assert moh_in_g711(moh_dir, say=lambda _: None) == 2
    names = sorted(p.name for p in moh_dir.iterdir())
    assert names == ["song.alaw", "song.gsm", "song.ulaw"]
    for law in ("ulaw", "alaw"):
        # raw G.711: one byte a sample at 8 kHz; GSM frames round up to 20 ms
        size = (moh_dir / f"song.{law}").stat().st_size
        assert 8000 * SECONDS <= size < 8000 * (SECONDS + 0.02) + 1, (law, size)


def test_the_copies_decode_to_the_music_not_to_silence(moh_dir):
    moh_in_g711(moh_dir, say=lambda _: None)
    back = moh_dir / "back.wav"
    subprocess.run(["sox", "-t", "ul", "-r", "8000", "-c", "1", str(moh_dir / "song.ulaw"),
                    "-b", "16", str(back)], check=True)
    with wave.open(str(back)) as w:
        samples = memoryview(w.readframes(w.getnframes())).cast("h")
    assert max(abs(s) for s in samples) > 4000   # the 450 Hz tone, not silence


def test_a_second_run_writes_nothing_and_leaves_no_partial_file(moh_dir):
    moh_in_g711(moh_dir, say=lambda _: None)
    assert moh_in_g711(moh_dir, say=lambda _: None) == 0
    assert not [p for p in moh_dir.iterdir() if p.name.startswith(".")]


def test_a_missing_directory_is_no_error(tmp_path):
    assert moh_in_g711(tmp_path / "absent", say=lambda _: None) == 0


def test_a_file_sox_cannot_read_is_left_in_gsm_and_the_others_are_copied(moh_dir):
    (moh_dir / "broken.gsm").symlink_to(moh_dir / "gone.gsm")   # a file that went away
    said = []
    assert moh_in_g711(moh_dir, say=said.append) == 2
    assert sorted(p.name for p in moh_dir.iterdir()) == [
        "broken.gsm", "song.alaw", "song.gsm", "song.ulaw"]
    assert any("broken.gsm left in GSM only" in line for line in said)
