"""The turn's audio feed: readers replay from the start, follow live frames, and know when a frame was the last."""

from __future__ import annotations

import asyncio

from voice_runtime.turns import AudioFeed


async def test_a_reader_knows_the_last_frame_only_once_the_turn_has_ended() -> None:
    feed = AudioFeed()
    reader = feed.reader()
    feed.append(b"a")
    feed.append(b"b")
    assert await anext(reader) == b"a"
    assert not reader.at_end
    assert await anext(reader) == b"b"
    assert not reader.at_end  # the user may still be speaking
    feed.close()
    assert reader.at_end  # ...and now b was the last
    assert [frame async for frame in reader] == []


async def test_a_reader_follows_live_frames_and_a_second_reader_replays_them() -> None:
    feed = AudioFeed()
    first = feed.reader()
    pending = asyncio.ensure_future(anext(first))
    await asyncio.sleep(0)
    assert not pending.done()  # waits for the user
    feed.append(b"x")
    assert await pending == b"x"
    feed.append(b"y")
    feed.close()
    assert [frame async for frame in first] == [b"y"]
    replay = feed.reader()
    assert [frame async for frame in replay] == [b"x", b"y"]
    assert replay.at_end
