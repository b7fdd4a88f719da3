"""The Transcribe emulator's segmentation (pure): results per utterance, partials by audio time, none for silence.
Through the real SDK: tests/voice_runtime/adapters/test_transcribe_stream.py."""

from __future__ import annotations

from emulators.transcribe_server import PARTIAL_EVERY_S, SEGMENT_PAUSE_S, WINDOW_S, Segmenter


def windows(seconds: float, voiced: bool) -> list[bool]:
    return [voiced] * round(seconds / WINDOW_S)


def test_each_utterance_gets_its_own_final_after_a_pause() -> None:
    segmenter = Segmenter(("first words here", "second words here"))
    events = segmenter.feed(windows(0.9, True) + windows(SEGMENT_PAUSE_S, False) + windows(0.6, True))
    finals = [s for kind, s in events if kind == "final"]
    assert [s.text for s in finals] == ["first words here"]
    assert finals[0].start == 0.0 and abs(finals[0].end - 0.9) < 1e-6
    [(kind, last)] = segmenter.close()  # the client's audio ended: the open utterance is final too
    assert kind == "final" and last.text == "second words here" and last.result_id != finals[0].result_id


def test_partials_are_paced_by_audio_time_and_grow() -> None:
    segmenter = Segmenter(("one two three four five",))
    events = segmenter.feed(windows(1.2, True))
    partials = [s.words() for kind, s in events if kind == "partial"]
    assert len(events) == round(1.2 / PARTIAL_EVERY_S)  # however the audio was chunked
    assert events[-1][1].words() == "one two three four"
    assert len(partials) == 4


def test_short_pauses_between_words_stay_in_one_utterance() -> None:
    segmenter = Segmenter(("a b c",))
    speech = (windows(0.3, True) + windows(0.15, False)) * 5
    assert [k for k, _ in segmenter.feed(speech) if k == "final"] == []


def test_silence_is_never_transcribed() -> None:
    segmenter = Segmenter(("never",))
    assert segmenter.feed(windows(4.0, False)) == [] and segmenter.close() == []
