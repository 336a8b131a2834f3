"""Files put into a question, on real files: text in every encoding people have is read (line ends made "\\n"),
anything else is refused with a sentence that says why; a long paste becomes "Pasted text N"; the files are fenced
for the model under their names with their language."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import pytest

from app.core.chats.attachments import Attachment
from app.core.chats.file_reading import (MAX_FILE_BYTES, PASTE_CHARS, PASTE_LINES, FileRefused, decode_text,
                                         is_long_paste, paste_attachment, read_attachment)
from app.core.chats.sent_turns import fence_language, question_with_files


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refusal(path: Path, **kw: int) -> str:
    with pytest.raises(FileRefused) as e:
        read_attachment(path, **kw)
    return str(e.value)


def test_a_code_file_is_read_with_its_name_and_line_ends_made_plain(tmp_path):
    path = write(tmp_path, "transfer.py", b"def f():\r\n    return 1\r\n# old mac\rend\n")
    a = read_attachment(path)
    assert a == Attachment("transfer.py", "def f():\n    return 1\n# old mac\nend\n", 0)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_text_with_a_byte_order_mark_is_read_in_its_encoding(tmp_path, encoding):
    text = "naïve café — 日本語\r\nline two\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    a = read_attachment(write(tmp_path, "notes.txt", data))
    assert a.text == "naïve café — 日本語\nline two\n"  # no BOM left at the start


def test_a_windows_1252_file_is_read_with_its_quotes_and_a_latin_1_one_with_its_accents(tmp_path):
    assert read_attachment(write(tmp_path, "w.txt", "“quoted” – café\n".encode("cp1252"))).text == \
        "“quoted” – café\n"
    # Chinese and Japanese legacy encodings: guessed (charset-normalizer), not read as Windows-1252 mojibake
    chinese = "中文注释：这是一个测试文件，用来检查编码。\n" * 5
    assert read_attachment(write(tmp_path, "gbk.txt", chinese.encode("gbk"))).text == chinese
    japanese = "日本語のコメントです。テストファイル。\n" * 5
    assert read_attachment(write(tmp_path, "sjis.txt", japanese.encode("shift_jis"))).text == japanese
    # UTF-8 with one bad byte (a log cut mid-character) stays UTF-8: the byte becomes U+FFFD, the rest is kept
    text = "café — naïve ü " * 200
    assert read_attachment(write(tmp_path, "cut.log", text.encode() + b"\xff")).text == text + "\ufffd"


def test_a_binary_file_is_refused_and_says_what_it_looks_like(tmp_path):
    png = write(tmp_path, "shot.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert refusal(png) == "shot.png looks binary (a PNG image); only text and code files can be attached."
    pdf = write(tmp_path, "paper.pdf", b"%PDF-1.7\n" + os.urandom(4000).replace(b"\x00", b"\x01"))
    assert refusal(pdf).startswith("paper.pdf looks binary (a PDF); only text and code files")
    blob = write(tmp_path, "data.bin", bytes(range(1, 32)) * 50)  # no NUL, decodes as UTF-8, all control bytes
    assert refusal(blob) == "data.bin looks binary; only text and code files can be attached."
    assert decode_text(b"abc\x00def") is None  # a NUL without a BOM: binary (UTF-16 is only taken with one)


def test_a_few_control_characters_still_read_as_text(tmp_path):
    log = write(tmp_path, "build.log", b"\x1b[31merror\x1b[0m: failed\n\x0cpage two\n" + b"more output\n" * 10)
    assert "failed" in read_attachment(log).text


def test_a_file_over_the_byte_cap_is_refused_in_words(tmp_path):
    big = write(tmp_path, "huge.log", b"x" * (MAX_FILE_BYTES + 1))
    message = refusal(big)
    assert message.startswith("huge.log is 2.0 MiB: files up to 2.0 MiB can be attached")
    assert "Attach a part of it" in message
    assert refusal(write(tmp_path, "small.txt", b"12345678901"), max_bytes=10).startswith("small.txt is 11 B")


def test_what_is_not_a_readable_file_is_refused_with_its_reason(tmp_path):
    assert refusal(tmp_path / "gone.txt") == "gone.txt can't be attached: it does not exist (any more)."
    (tmp_path / "src").mkdir()
    assert refusal(tmp_path / "src") == "src is a folder: attach the files inside it instead."
    assert refusal(write(tmp_path, "empty.txt", b"  \n")) == "empty.txt is empty: there is nothing in it to attach."
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert "not a regular file" in refusal(fifo)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_file_without_read_permission_says_so(tmp_path):
    locked = write(tmp_path, "secret.txt", b"hidden\n")
    locked.chmod(0)
    try:
        assert refusal(locked) == "secret.txt can't be read: permission denied."
    finally:
        locked.chmod(0o600)


def test_a_long_paste_becomes_the_next_free_pasted_text():
    assert not is_long_paste("a short error message\nwith two lines")
    assert is_long_paste("x" * (PASTE_CHARS + 1)) and is_long_paste("line\n" * (PASTE_LINES + 1))
    assert not is_long_paste("line\n" * PASTE_LINES)  # 40 lines, the last one's newline included
    assert not is_long_paste("x" * PASTE_CHARS)
    a = paste_attachment("one\r\ntwo", {"Pasted text 1", "notes.md"})
    assert a == Attachment("Pasted text 2", "one\ntwo", 0)
    assert paste_attachment("x", set()).name == "Pasted text 1"


def test_files_are_fenced_under_their_names_with_their_language_before_the_question():
    files = [Attachment("transfer.py", "def f():\n    pass\n", 5), Attachment("Pasted text 1", "raw words", 2)]
    assert question_with_files("What does f do?", files) == (
        "File: transfer.py\n```python\ndef f():\n    pass\n```\n\n"
        "File: Pasted text 1\n```\nraw words\n```\n\n"
        "What does f do?")
    assert question_with_files("", files[1:]) == "File: Pasted text 1\n```\nraw words\n```"  # files alone
    assert question_with_files("just text", []) == "just text"


def test_a_fence_is_longer_than_any_fence_inside_the_file():
    readme = Attachment("README.md", "Run:\n````sh\nmake\n````\n")
    sent = question_with_files("", [readme])
    assert sent.startswith("File: README.md\n`````markdown\n") and sent.endswith("\n`````")


@pytest.mark.parametrize("name,language", [("a.PY", "python"), ("main.rs", "rust"), ("x.go", "go"),
                                           ("Makefile", ""), ("notes.txt", ""), ("v1.2 notes", ""),
                                           ("Pasted text 3", "")])
def test_a_fence_language_comes_from_the_extension(name, language):
    assert fence_language(name) == language
