import wave

import pytest

from services.knowledge.service import KnowledgeService
from telephony.kb_audio import KbAudio, kb_audio
from tests.unit.knowledge.conftest import HOUSING, SUP, entry


def test_an_answer_becomes_a_playable_8khz_wav_named_by_entry_and_version(tmp_path):
    media = KbAudio(tmp_path)("kb-410300-T001", 2, "身份证补办请到派出所。")
    assert media == "hotline/kb/kb-410300-T001-v2"
    with wave.open(str(tmp_path / "kb" / "kb-410300-T001-v2.wav")) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (8000, 1)
        assert wav.getnframes() > 0


def test_an_entry_id_cannot_name_a_path_elsewhere(tmp_path):
    with pytest.raises(ValueError):
        KbAudio(tmp_path)("../../etc/x", 1, "x")


def test_without_a_sound_dir_entries_publish_without_audio():
    assert kb_audio(None) is None


async def test_publishing_with_the_real_renderer_writes_the_file(kb, tmp_path):
    service = KnowledgeService(kb._sessions, clock=kb._clock, renderer=KbAudio(tmp_path))
    made = await service.create(HOUSING, entry())
    await service.move(HOUSING, made["entry_id"], "in_review")
    published = await service.move(SUP, made["entry_id"], "published")
    assert (tmp_path / "kb" / f"{made['entry_id']}-v1.wav").stat().st_size > 1000
    assert published["audio"] == f"hotline/kb/{made['entry_id']}-v1"


async def test_imported_entries_get_their_audio_in_the_background(kb, rendered):
    await kb.import_records([{**entry(), "entry_id": "kb-x", "status": "published"},
                             {**entry(), "entry_id": "kb-y", "status": "draft"}])
    assert rendered == []
    assert await kb.render_missing(pause=0) == 1
    assert [r[0] for r in rendered] == ["kb-x"]
    assert (await kb.get("kb-x"))["audio"] == "hotline/kb/kb-x-v1"
