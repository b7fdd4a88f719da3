"""Whole-sample re-framing and 16 -> 24 kHz resampling, chunk boundaries anywhere."""

from __future__ import annotations

from array import array

from hypothesis import given
from hypothesis import strategies as st

from voice_runtime.adapters.pcm import SampleAligner, Upsampler16To24


def pcm(values: list[int]) -> bytes:
    return array("h", values).tobytes()


@given(st.binary(max_size=400), st.lists(st.integers(min_value=1, max_value=50), max_size=20))
def test_aligner_output_is_the_input_in_whole_samples_however_it_is_cut(data: bytes, cuts: list[int]) -> None:
    aligner = SampleAligner()
    out, pos = b"", 0
    for size in cuts:
        piece = aligner.feed(data[pos:pos + size])
        assert len(piece) % 2 == 0
        out += piece
        pos += size
    out += aligner.feed(data[pos:])
    whole = len(data) - len(data) % 2
    assert out == data[:whole]
    assert aligner.pending == len(data) % 2


def test_aligner_joins_a_sample_split_across_parts() -> None:
    aligner = SampleAligner()
    assert aligner.feed(b"\x01\x02\x03") == b"\x01\x02"
    assert aligner.feed(b"\x04") == b"\x03\x04"


def test_upsampler_makes_three_samples_of_two_and_interpolates() -> None:
    up = Upsampler16To24()
    out = up.feed(pcm([0, 300, 600, 900])) + up.flush()
    assert array("h", out).tolist() == [0, 200, 400, 600, 800, 900]


@given(st.lists(st.integers(min_value=-32768, max_value=32767), min_size=2, max_size=300),
       st.integers(min_value=1, max_value=97))
def test_upsampler_is_chunking_independent_and_rate_exact(values: list[int], step: int) -> None:
    data = pcm(values)
    whole = Upsampler16To24()
    expected = whole.feed(data) + whole.flush()
    chunked = Upsampler16To24()
    got = b"".join(chunked.feed(data[i:i + step]) for i in range(0, len(data), step)) + chunked.flush()
    assert got == expected
    assert len(expected) // 2 == (len(values) * 3 + 1) // 2
