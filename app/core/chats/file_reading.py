"""Files put into a question: a dropped or attached file read as text, and a long paste made an attachment.

Every refusal is a sentence the window shows as it is (FileRefused): what is wrong with this file, in words, never
a traceback. Only text goes to the model: a binary file (NUL bytes, or bytes no text encoding explains) is refused
rather than sent as mojibake the model would answer nonsense to.
"""

from __future__ import annotations

import codecs
import errno
import logging
import re
import stat
from pathlib import Path

import charset_normalizer

from app.core.chats.attachments import Attachment
from app.core.models.formatting import format_bytes

log = logging.getLogger("specchat.chats")

# 2 MiB of text is ~500k tokens: far past any context a local model runs with (the chip then says it can't fit),
# and reading more only to say so would hold the window on a multi-GB log or a disk image
MAX_FILE_BYTES = 2 * 2**20
# A paste becomes a chip past ~500 tokens (2,000 characters) or 40 lines: the input box shows four lines, so a paste
# that long can no longer be read or edited there anyway, while an error message, a stack frame or a function
# pasted to ask about stays text in the input (LM Studio and Open WebUI turn long pastes into files the same way)
PASTE_CHARS = 2_000
PASTE_LINES = 40
PASTE_NAME = "Pasted text"
# the first bytes of binary files people drop by mistake, to say which kind it is rather than only "binary"
_MAGIC = ((b"%PDF", "a PDF"), (b"PK\x03\x04", "a zip archive (or an Office document)"), (b"\x89PNG", "a PNG image"),
          (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"), (b"GGUF", "a GGUF model"),
          (b"\x7fELF", "a program"), (b"MZ", "a Windows program"), (b"\x1f\x8b", "a gzip archive"),
          (b"SQLite format 3\x00", "an SQLite database"))
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # UTF-32 LE starts like UTF-16 LE
# C0 control characters text files don't hold (tab, newlines, form feed and ESC of coloured logs are text)
_CONTROL = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")  # C0 (but tab, newlines, FF, ESC), DEL, C1
MAX_BAD_UTF8_SHARE = 0.001  # UTF-8 with fewer bad bytes than this keeps its text (the bad ones become U+FFFD)
MAX_CONTROL_SHARE = 0.01  # a legacy-encoded file with more control characters than this is not text


class FileRefused(Exception):
    """A file that can't be attached; str() is the sentence for the user ("x.bin looks binary; …")."""


def read_attachment(path: Path, max_bytes: int = MAX_FILE_BYTES) -> Attachment:
    """The file as an attachment (tokens not counted yet: the engine counts them), or FileRefused saying why."""
    name = path.name or str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FileRefused(f"{name} can't be attached: it does not exist (any more).") from None
    except OSError as e:
        raise FileRefused(_os_error(name, e)) from None
    if stat.S_ISDIR(st.st_mode):
        raise FileRefused(f"{name} is a folder: attach the files inside it instead.")
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(f"{name} is not a regular file (a device, socket or pipe): only files can be attached.")
    if st.st_size > max_bytes:
        raise FileRefused(f"{name} is {format_bytes(st.st_size)}: files up to {format_bytes(max_bytes)} can be "
                          "attached (that is already far more text than a local model's context holds). Attach a "
                          "part of it, or paste the part you mean.")
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)  # the file may have grown since stat(): never more than the cap
    except OSError as e:
        raise FileRefused(_os_error(name, e)) from None
    if len(data) > max_bytes:
        raise FileRefused(f"{name} is over {format_bytes(max_bytes)}: files up to {format_bytes(max_bytes)} can "
                          "be attached.")
    text = decode_text(data)
    if text is None:
        kind = next((k for magic, k in _MAGIC if data.startswith(magic)), "")
        raise FileRefused(f"{name} looks binary{f' ({kind})' if kind else ''}; only text and code files can be "
                          "attached.")
    if not text.strip():
        raise FileRefused(f"{name} is empty: there is nothing in it to attach.")
    log.info("attached %s (%d bytes, %d characters)", path, len(data), len(text))
    return Attachment(name, text)


def decode_text(data: bytes) -> str | None:
    """The bytes as text with "\\n" line ends, or None when they are not text. UTF-8 (with or without a BOM) and
    UTF-16/32 with a BOM; UTF-8 with a stray bad byte or two (a log cut mid-character) with those replaced; else
    the legacy encoding charset-normalizer finds (GBK, Shift-JIS, Windows-1252, ...: a byte-frequency guess, where
    a fixed Windows-1252 / Latin-1 fallback turned Chinese and Japanese files into mojibake), only when the
    result reads as text: few control characters, C1 ones included."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return normalise_newlines(data.decode(encoding))
            except UnicodeDecodeError:
                return None
    if b"\x00" in data:  # UTF-16 without a BOM is not guessed: NULs are what binary files are full of
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        if text.count("\ufffd") > MAX_BAD_UTF8_SHARE * len(text):
            guess = charset_normalizer.from_bytes(data).best()
            if guess is None:
                return None
            text = str(guess)
    # bytes that decode can still be a binary format: a few control characters are fine (a form feed, a stray ^A
    # in a log), a share of them is not
    if len(_CONTROL.findall(text)) > MAX_CONTROL_SHARE * len(text):
        return None
    return normalise_newlines(text)


def normalise_newlines(text: str) -> str:
    """CRLF and lone CR become "\\n": the model and the token count see one kind of line end."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def is_long_paste(text: str) -> bool:
    """Longer than PASTE_CHARS characters or PASTE_LINES lines (a last line's newline ends it, adds none)."""
    return len(text) > PASTE_CHARS or len(text.splitlines()) > PASTE_LINES


def paste_attachment(text: str, taken: set[str]) -> Attachment:
    """A long paste as an attachment named "Pasted text N", N the first number no other attachment of the chat
    (or the question being written) uses, so each one can be told apart in the prompt and the chat."""
    n = 1
    while f"{PASTE_NAME} {n}" in taken:
        n += 1
    return Attachment(f"{PASTE_NAME} {n}", normalise_newlines(text))


def _os_error(name: str, e: OSError) -> str:
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"{name} can't be read: permission denied."
    if e.errno == errno.ENOENT:
        return f"{name} can't be attached: it does not exist (any more)."
    return f"{name} can't be read: {e.strerror or e}."
