"""Hostile or broken input files: each is one located message, exit 1, no traceback, and bounded work
(issue 17: size checked before reading, non-regular files refused, values quoted by their start)."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from cli.app import main
from registry.loader import LoadResult, load_file
from tests.conftest import EXAMPLE, ROOT

PEAK_RSS_LIMIT_KB = 200 * 1024  # the bound for `voicectl validate` on the alias amplifier


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["voicectl", *args])
    monkeypatch.setenv("COLUMNS", "200")
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def amplifier(path: Path, aliases: int = 6000, size: int = 970_000) -> Path:
    """A registry of ~0.97 MB where one bad value (a long string where weights need numbers) is used 6,000
    times through a YAML alias: each use is an error, and each message used to quote the whole value."""
    weights = ", ".join(f"k{i:04d}: *bad" for i in range(aliases))
    head = ("version: 1\nnamespace: /x/voice\nmetrics_namespace: X/Voice\nbaseline: a\n"
            "variants:\n  a: {voice_stt: x, voice_llm: x, voice_tts: x, transport: sse}\n")
    tail = f"phases:\n  - name: P1\n    weights: {{a: 100, {weights}}}\n"
    filler = size - len(head) - len(tail) - len('bad: &bad ""\n')
    path.write_text(head + f'bad: &bad "{"x" * filler}"\n' + tail)
    return path


def test_the_alias_amplifier_is_validated_in_bounded_memory(tmp_path: Path) -> None:
    path = amplifier(tmp_path / "amp.yaml")
    assert 0.95e6 < path.stat().st_size < 1e6
    status = tmp_path / "status.txt"
    # The child's own high-water mark (VmHWM of its address space after exec): ru_maxrss would include the
    # RSS of the pytest process it was forked from.
    program = (f"import atexit; atexit.register(lambda: open({str(status)!r}, 'w').write(open('/proc/self/status')"
               ".read())); from cli.app import main; main()")
    done = subprocess.run([sys.executable, "-c", program, "validate", str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    err = done.stderr
    assert done.returncode == 1 and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 6001, "one line per use, and one for the unknown top-level key 'bad'"
    assert max(len(line) for line in lines) < 400, "each value quoted by its start"
    assert "phases[P1].weights.k5999 must be a whole number (got 'xxxxxxxx" in err
    assert "characters))" in err
    peak_kb = int(next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:")).split()[1])
    assert peak_kb < PEAK_RSS_LIMIT_KB  # about 90 MB here; main's loader went past 2 GB


def load_traced(path: Path) -> tuple[LoadResult, int]:
    """load_file(path) and the peak of Python allocations while it ran (bytes)."""
    tracemalloc.start()
    try:
        result = load_file(path)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_alias_amplifier_allocates_little_in_process(tmp_path: Path) -> None:
    result, peak = load_traced(amplifier(tmp_path / "amp.yaml"))
    assert len(result.errors) == 6001
    assert peak < 100 * 1024 * 1024  # every message used to copy the 0.9 MB value: 6,000 x 0.9 MB


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # 50 MB (sparse: nothing to write)
    result, peak = load_traced(big)
    assert [d.message for d in result.errors] == ["the file is 52,428,800 bytes; a registry is at most 1,000,000"]
    assert peak < 1024 * 1024, "the file was read although its size was known"


@pytest.mark.parametrize(("make", "message"), [
    pytest.param(lambda p: os.mkfifo(p), "the file is a FIFO (named pipe); a registry must be a regular file",
                 id="fifo"),
    pytest.param(lambda p: p.mkdir(), "the file is a directory; a registry must be a regular file", id="directory"),
    pytest.param(None, "the file is a character device; a registry must be a regular file", id="dev-zero"),
])
def test_non_regular_files_are_refused_without_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str], make, message: str) -> None:  # type: ignore[no-untyped-def]
    path = Path("/dev/zero") if make is None else tmp_path / "r.yaml"
    if make is not None:
        make(path)
    code, err = run_main(monkeypatch, capsys, "compile", str(path))  # a FIFO used to hang here
    assert code == 1 and "Traceback" not in err
    assert f"{path}:1:1: error: {message}" in err


def test_an_unreadable_file_is_invalid_input_not_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text(EXAMPLE.read_text())
    real_open = os.open

    def denied(name: str, flags: int, *args: int) -> int:  # tests run as root here, so chmod 000 would not do
        if name == str(path):
            raise PermissionError(13, "Permission denied", name)
        return real_open(name, flags, *args)

    monkeypatch.setattr(os, "open", denied)
    for command in (["validate", str(path)], ["compile", str(path)], ["explain", str(path)]):
        code, err = run_main(monkeypatch, capsys, *command)
        assert code == 1, command
        assert f"{path}:1:1: error: cannot read the file: Permission denied" in err
        assert "Usage:" not in err and "Traceback" not in err


def test_a_5000_digit_integer_is_a_located_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    text = EXAMPLE.read_text()
    path = tmp_path / "digits.yaml"
    path.write_text(text.replace("    period: 300\n", f"    period: {'9' * 5000}\n", 1))
    code, err = run_main(monkeypatch, capsys, "validate", str(path))
    line = text.splitlines().index("    period: 300") + 1
    assert (code, "Traceback" in err) == (1, False)
    assert f"{path}:{line}:13: error: a number of 5,000 digits is too long for a registry" in err


def test_version_as_a_string_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(EXAMPLE.read_text().replace("version: 1\n", 'version: "1"\n', 1))
    code, err = run_main(monkeypatch, capsys, "validate", str(path))
    assert code == 1
    assert "error: version must be the number 1, not the string '1' (fix: remove the quotes: version: 1)" in err
    assert "this voicectl reads version 1 files" not in err


def test_local_up_with_a_bad_file_lists_its_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nnamespace: bad\n")
    code, err = run_main(monkeypatch, capsys, "local", "up", "--file", str(path))
    assert code == 1 and "Traceback" not in err
    assert f"{path}:2:12: error: namespace must be an SSM path starting with '/'" in err
    assert f"{path}:1:1: error: missing required key 'variants' at the top level" in err
    assert err.rstrip().endswith(f"next step: fix the lines listed above, then run: voicectl validate {path}")
