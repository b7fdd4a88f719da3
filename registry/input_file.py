"""Reading a file a person names (a registry, a metric history) without trusting it to be small or regular.

The file is opened without blocking and checked before a byte is read: a FIFO would hang a plain `open`, and
/dev/zero or a 50 MB file would be read whole before any size check. A file that grows between the check and the
read is still cut at the limit.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from registry.errors import InputRefused

_KIND = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device",
         stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def read_input(path: str | Path, *, max_bytes: int, kind: str = "file") -> str:
    """The UTF-8 text of `path`, or InputRefused (`where` = the path, `what` why, without repeating the path) when
    it is not a readable regular file of at most `max_bytes` bytes of UTF-8. `kind` names it ("registry")."""
    name = str(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise InputRefused(exc.strerror or str(exc), where=name, unreadable=True) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            found = _KIND.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise InputRefused(f"the file is {found}; a {kind} must be a regular file", where=name)
        if info.st_size > max_bytes:
            raise InputRefused(f"the file is {info.st_size:,} bytes; a {kind} is at most {max_bytes:,}", where=name,
                               value=info.st_size)
        data = _read_at_most(fd, max_bytes + 1)
    except OSError as exc:
        raise InputRefused(exc.strerror or str(exc), where=name, unreadable=True) from exc
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise InputRefused(f"the file is over {max_bytes:,} bytes; a {kind} is at most {max_bytes:,}", where=name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputRefused(f"it is not UTF-8 text (byte {exc.start + 1:,} is {data[exc.start]:#04x})", where=name,
                           unreadable=True) from exc


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, min(1 << 20, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
