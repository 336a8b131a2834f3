"""The conversation view: turns as a reader expects them, answers as live Markdown that follows the stream.

One QTextDocument holds the conversation (selection and search work across turns; a 200-message chat is one
layout). Each message is rendered once (app/ui/chat/turns.py draws it): user turns in a tinted box, answers as
Markdown (app/ui/chat/markdown_render) with their accepted draft tokens highlighted, a footer and per-message
actions (links the view handles itself:
copy, regenerate, edit, and each code block's copy). Messages only ever get appended or cut from the end, so
switching to a chat renders it, and sending, regenerating or finishing an answer renders only what changed.

Streaming (DESIGN.md, after qtconsole's console_widget): token pieces queue up and a ~30 ms timer renders the
answer's open tail (app/ui/chat/answer_stream) in one edit block. Following: while the user is at the bottom, every
change of the document's height keeps them there; scrolling up pauses that and shows "Jump to latest"
(app/ui/chat/stream_follow).
"""

from __future__ import annotations

import logging
import time
from collections import deque

from PySide6.QtCore import QPoint, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QResizeEvent, QShowEvent, QTextCursor
from PySide6.QtWidgets import QApplication, QTextBrowser, QToolTip, QWidget

from app.core.chats.markdown_blocks import SpanIndex, make_parser, split_blocks
from app.core.chats.sent_turns import question_with_files
from app.core.models.reasoning import ReasoningFormat, StreamSplit, spans_within, stored_parts, thinking_title
from app.ui.chat.answer_stream import AnswerStream
from app.ui.chat.chat_theme import MAX_READING_WIDTH, ChatTheme, highlight_color
from app.ui.chat.empty_chat_hint import EmptyChatHint
from app.ui.chat.file_preview import show_file
from app.ui.chat.markdown_render import CodeBlocks, MarkdownRenderer
from app.ui.chat.stream_follow import StreamFollower
from app.ui.chat.thinking_block import LiveThinking, draw_thinking, muted_theme
from app.ui.chat.turns import STATE_NOTES, ShownMessage, Turns

log = logging.getLogger("specchat.ui")

FLUSH_INTERVAL_MS = 30
TICK_BUDGET_S = 0.012  # render time a tick aims at; a backlog waits for the next ticks, the event loop never stalls
FIRST_TICK_CHARS = 1200
__all__ = ["ChatView", "ShownMessage", "highlight_color"]


def copied_text(m: ShownMessage) -> str:
    """What Copy puts on the clipboard: an answer without its reasoning (the reasoning when that is all there is),
    a question as it was sent when it is only files."""
    if m.role == "user":
        return m.content or question_with_files("", m.attachments)
    parts = stored_parts(m.content, m.reasoning)
    if not parts.has_block:
        return m.content
    return parts.answer or parts.reasoning


class ChatView(Turns, QTextBrowser):
    streamed = Signal(int)  # characters shown so far in the streaming answer (tests and the bench use it)
    regenerateRequested = Signal(int)  # index of an answer in the shown messages
    editRequested = Signal(int)  # index of a question in the shown messages
    continueRequested = Signal(int)  # index of an answer cut short, to generate more of
    versionRequested = Signal(int, int)  # index of a message with versions, -1 (the previous) or +1 (the next)
    followingChanged = Signal(bool)
    # the reading column's side margin changed (px): the window lines the input up with the messages
    columnMarginChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setOpenLinks(False)  # every link is ours to handle: actions, code copy, then the browser
        self.anchorClicked.connect(self._anchor_clicked)
        self.setFrameShape(QTextBrowser.Shape.NoFrame)
        self.show_highlights = True
        self._md = make_parser()
        self._codes = CodeBlocks()
        self._theme = ChatTheme(self.palette(), self.font())
        self._renderer = MarkdownRenderer(self._theme, self._codes)
        self._thinking_renderer = MarkdownRenderer(muted_theme(self.palette(), self._theme, self.font()), self._codes)
        self._messages: list[ShownMessage] = []
        self._starts: list[int] = []  # document position where each shown message begins
        self._serial = 0  # names messages' code blocks; never reused, so a stale copy link finds nothing
        self._keys: list[str] = []
        self._queue: deque[tuple[str, bool]] = deque()
        self._stream: AnswerStream | None = None
        self._stream_start = 0
        self._split: StreamSplit | None = None  # the streaming answer's reasoning and answer, apart
        self._thinking: LiveThinking | None = None  # its reasoning as it streams (folded once the block closes)
        self._thinking_pieces: list[tuple[str, bool]] = []
        self._streamed_chars = 0
        self._toggled_thoughts: set[int] = set()  # positions of answers whose block the reader opened or folded
        self._tick_chars = FIRST_TICK_CHARS  # characters a tick takes from the queue, adapted to render time
        self._margin = -1
        self._timer = QTimer(self)
        self._timer.setInterval(FLUSH_INTERVAL_MS)
        self._timer.timeout.connect(self._flush)
        self._follower = StreamFollower(self)  # at the bottom it stays there; scrolled up, "Jump to latest"
        self._follower.changed.connect(self.followingChanged)
        self.jump_button = self._follower.button
        self.empty_hint = EmptyChatHint(self.viewport())  # an empty chat: who answers, and the keys
        self._follower.set_colour(self._theme.link)
        # light/dark follows the system: Qt swaps the palette, the colours follow
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._scheme_changed)

    def _scheme_changed(self) -> None:
        self.refresh_theme()

    def refresh_theme(self) -> None:
        """Rebuild colours from the current palette and render the conversation again (rare: a theme change)."""
        self._theme = ChatTheme(self.palette(), self.font())
        self._renderer = MarkdownRenderer(self._theme, self._codes)
        self._thinking_renderer = MarkdownRenderer(muted_theme(self.palette(), self._theme, self.font()), self._codes)
        self._follower.set_colour(self._theme.link)
        self._render_all()

    # ---- the whole conversation -----------------------------------------------------------------------------
    def set_messages(self, messages: list[ShownMessage]) -> None:
        """Show these messages. What is already shown and unchanged stays; only the rest is rendered."""
        self.cancel_stream()
        if not messages or (self._messages and messages[0] != self._messages[0]):
            self._toggled_thoughts.clear()  # another chat: its blocks start folded
        keep = 0
        while keep < min(len(messages), len(self._messages)) and messages[keep] == self._messages[keep]:
            keep += 1
        if keep < len(self._messages) or (keep == 0 and not messages):
            self._cut(keep)
        cursor = self._end_cursor()
        cursor.beginEditBlock()
        for m in messages[keep:]:
            self._append(cursor, m)
        cursor.endEditBlock()
        self._follower.follow_now()
        self._place_empty_hint()

    def set_empty_hint(self, html: str) -> None:  # what an empty chat says (empty_chat_hint.hint_html)
        self.empty_hint.setText(html)
        self._place_empty_hint()

    def _place_empty_hint(self) -> None:
        self.empty_hint.place(not self._messages and self._stream is None)

    def messages(self) -> list[ShownMessage]:
        return list(self._messages)

    def set_show_highlights(self, on: bool) -> None:
        """Whether answers show their accepted draft tokens (the rendering is Markdown either way)."""
        if on != self.show_highlights:
            self.show_highlights = on
            self._render_all()

    def _render_all(self) -> None:
        streaming = self._stream
        messages = self._messages
        self._messages, self._starts, self._keys = [], [], []
        self._codes.clear()
        self._clear_document()
        cursor = self._end_cursor()
        cursor.beginEditBlock()
        for m in messages:
            self._append(cursor, m)
        cursor.endEditBlock()
        if streaming is not None:  # the answer being streamed comes back, from its source
            thinking, folded = self._thinking, self._thinking is not None and self._thinking.frame is None
            stream = self._begin()
            if thinking is not None:  # its reasoning first, as it was (open, or folded), on its own clock
                self._thinking = LiveThinking(self.document(), self._theme, stream.tail_pos, thinking.began)
                self._thinking.add(self._thinking_pieces, self.show_highlights)
                stream.tail_pos = self._thinking.fold() if folded else self._thinking.end()
            stream.chunks, stream.length = [streaming.source()], streaming.length
            stream.spans = list(streaming.spans)
            stream.render()
        self._follower.follow_now()

    def _cut(self, keep: int) -> None:
        """Remove messages from index `keep` on (their document part and their code blocks)."""
        cursor = QTextCursor(self.document())
        if keep < len(self._starts):
            cursor.setPosition(self._starts[keep])
            cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
        if keep == 0:
            self._clear_document()
            self._codes.clear()
        for key in self._keys[keep:]:
            self._codes.drop_prefix(key + ":")
        del self._messages[keep:], self._starts[keep:], self._keys[keep:]

    def _clear_document(self) -> None:
        """Empty the document: clear() also resets the root frame's format, so the reading column's margins are
        set again (they were lost, and a chat opened after another filled the whole width)."""
        self.document().clear()
        self._margin = -1
        self._update_margins(self.viewport().width())

    def _end_cursor(self) -> QTextCursor:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    def _new_key(self) -> str:
        self._serial += 1
        return f"m{self._serial}"

    def _append(self, cursor: QTextCursor, m: ShownMessage) -> None:
        index = len(self._messages)
        key = self._new_key()
        self._starts.append(cursor.position())
        self._keys.append(key)
        self._messages.append(m)
        if m.note_above:
            self._note_line(cursor, m.note_above)
        if m.role == "user":
            self._user_turn(cursor, m, index)
            return
        self._heading(cursor, m.role, STATE_NOTES.get(m.state, ""))
        parts = stored_parts(m.content, m.reasoning)
        highlights = m.highlights if self.show_highlights else []
        text, spans = m.content, highlights
        if parts.has_block:
            if parts.reasoning:  # an empty block (Qwen3's "no thinking" one) gets no header that opens nothing
                opened = (m.position in self._toggled_thoughts) != (not parts.closed)  # unclosed: open unless folded
                inside = spans_within(highlights, parts.reasoning_start,
                                      parts.reasoning_start + len(parts.reasoning))
                title = thinking_title(parts, m.reasoning.seconds if m.reasoning is not None else None,
                                       cut_short=m.can_continue or m.state != "done")
                draw_thinking(cursor, self._theme, self._thinking_renderer, self._md, parts, title,
                              SpanIndex(inside) if inside else None, key + ":t", f"msg-think:{index}", opened)
            text, spans = parts.answer, spans_within(highlights, parts.answer_start, len(m.content))
        blocks, _ = split_blocks(self._md, text)
        self._renderer.render(cursor, blocks, text, 0, SpanIndex(spans) if spans else None, key)
        self._answer_footer(cursor, m, index)

    def _render_from(self, index: int) -> None:
        """Render messages from `index` on again (a reasoning block opened or folded)."""
        if self._stream is not None:
            self._render_all()
            return
        messages = self._messages[index:]
        self._cut(index)
        cursor = self._end_cursor()
        cursor.beginEditBlock()
        for m in messages:
            self._append(cursor, m)
        cursor.endEditBlock()

    # ---- the streaming answer -------------------------------------------------------------------------------
    def begin_answer(self, reasoning: ReasoningFormat | None = None) -> None:
        """A new answer streams next; `reasoning`: the markers of the model writing it (its block is shown apart)."""
        self.cancel_stream()
        self._tick_chars = FIRST_TICK_CHARS
        self._split = StreamSplit(reasoning) if reasoning is not None else None
        self._thinking, self._thinking_pieces, self._streamed_chars = None, [], 0
        self._begin()
        self._timer.start()
        self._follower.jump_to_latest()  # the user asked for this answer: show it
        self._place_empty_hint()

    def _begin(self) -> AnswerStream:
        cursor = self._end_cursor()
        self._stream_start = cursor.position()
        cursor.beginEditBlock()
        self._heading(cursor, "assistant")
        cursor.endEditBlock()
        self._stream = AnswerStream(self.document(), self._renderer, self._md, cursor.position(),
                                    self._new_key(), self.show_highlights)
        return self._stream

    def show_prompt_progress(self, done: int, total: int) -> None:
        """While the model reads a long prompt (llama.cpp evaluates it batch by batch): how far it got, where the
        answer's text will begin. Gone with the first text."""
        if self._stream is not None and not self._queue and total > 0:
            self._stream.placeholder(f"Processing prompt… {min(done, total) * 100 // total}%  "
                                     f"({done:,} of {total:,} tokens)", self._theme.small)

    def append_tokens(self, pieces: list[tuple[str, bool]]) -> None:
        """(text, accepted_draft) pieces, in order; shown at the next timer tick."""
        if self._stream is not None:
            self._queue.extend(pieces)

    def pending(self) -> int:
        return len(self._queue)

    def _flush(self) -> None:
        if self._stream is None or not self._queue:
            return
        batch: list[tuple[str, bool]] = []
        chars = 0
        while self._queue and chars < self._tick_chars:
            piece = self._queue.popleft()
            batch.append(piece)
            chars += len(piece[0])
        start = time.perf_counter()
        self._streamed_chars += chars
        answer = self._route(batch) if self._split is not None else batch
        if answer:
            self._stream.add(answer)
            self._stream.render()
        spent = time.perf_counter() - start
        if self._queue:  # a backlog: take as much as the budget allows next time (smoothed)
            target = self._tick_chars * TICK_BUDGET_S / max(spent, 1e-4)
            self._tick_chars = int(min(max((self._tick_chars + target) / 2, 200), 50_000))
        self.streamed.emit(self._streamed_chars)

    def _route(self, batch: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
        """The batch's reasoning into the live block; returns its answer pieces (the answer stream's)."""
        assert self._split is not None and self._stream is not None
        answer: list[tuple[str, bool]] = []
        thought: list[tuple[str, bool]] = []
        for part, text, accepted in self._split.feed(batch):
            (thought if part == "reasoning" else answer).append((text, accepted))
        if thought:  # the reasoning comes before any answer text: the tick's pieces go in as one edit
            if self._thinking is None:
                self._thinking = LiveThinking(self.document(), self._theme, self._stream.tail_pos)
            self._thinking.add(thought, self.show_highlights)
            self._thinking_pieces.extend(thought)
            self._stream.tail_pos = self._thinking.end()
        if self._split.closed and self._thinking is not None and self._thinking.frame is not None:
            self._stream.tail_pos = self._thinking.fold()
        return answer

    def end_answer(self, message: ShownMessage) -> None:
        """The answer is complete: its tail is rendered as it stays, then its footer; nothing else changes."""
        stream = self._stream
        self._timer.stop()
        if stream is not None and self._queue:
            stream.add(list(self._queue))
        self._queue.clear()
        self._stream = None
        thought = stored_parts(message.content, message.reasoning).has_block
        self._split, self._thinking = None, None
        # an answer that thought is drawn again as it is kept (its block folded, with the engine's time)
        if stream is None or thought or stream.source() != message.content or \
                stream.spans != list(message.highlights):
            if stream is not None:  # what streamed is not what is kept: show what is kept
                self._remove_from(self._stream_start)
            self.set_messages(self._messages + [message])
            return
        cursor = self._end_cursor()
        cursor.beginEditBlock()
        stream.render(final=True)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        index = len(self._messages)
        self._starts.append(self._stream_start)
        self._keys.append(stream.key)
        self._messages.append(message)
        self._answer_footer(cursor, message, index)
        if message.state in STATE_NOTES:  # interrupted or failed: say so in the heading
            head = QTextCursor(self.document())
            head.setPosition(self._stream_start)
            if self._stream_start:  # the heading is the block after the one the answer began at
                head.movePosition(QTextCursor.MoveOperation.NextBlock)
            head.movePosition(QTextCursor.MoveOperation.EndOfBlock)
            head.insertText(f"  · {STATE_NOTES[message.state]}", self._theme.small)
        cursor.endEditBlock()

    def _remove_from(self, pos: int) -> None:
        cursor = QTextCursor(self.document())
        cursor.setPosition(pos)
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()

    def cancel_stream(self) -> None:
        """Stop showing the current stream (switching chats, regenerating): its rendering and queue go."""
        self._timer.stop()
        self._queue.clear()
        self._split, self._thinking = None, None
        if self._stream is not None:
            self._codes.drop_prefix(self._stream.key + ":")
            self._stream = None
            self._remove_from(self._stream_start)
        self._place_empty_hint()

    def streaming(self) -> bool:
        return self._stream is not None

    # ---- following the stream (stream_follow.StreamFollower) ---------------------------------------------------
    def following(self) -> bool:
        return self._follower.following

    def jump_to_latest(self) -> None:
        self._follower.jump_to_latest()

    # ---- layout: a reading column -----------------------------------------------------------------------------
    def showEvent(self, e: QShowEvent) -> None:
        # QTextEdit's first show scrolls its text cursor into view (at 900×600 that left a chat opened before the
        # window was shown 35 px above its end, with "Jump to latest" over the last answer's links): that is no
        # scroll of the user's, so following does not stop, and a view that followed stays at the end
        with self._follower.not_the_readers():
            super().showEvent(e)
        self._follower.follow_now()

    def resizeEvent(self, e: QResizeEvent) -> None:
        self._update_margins(self.viewport().width())
        super().resizeEvent(e)
        self._follower.place_button()
        self._place_empty_hint()

    def _update_margins(self, width: int) -> None:
        margin = max(16, (width - MAX_READING_WIDTH) // 2)
        if margin != self._margin:
            self._margin = margin
            root = self.document().rootFrame()
            fmt = root.frameFormat()
            fmt.setLeftMargin(margin)
            fmt.setRightMargin(margin)
            fmt.setTopMargin(12)
            fmt.setBottomMargin(16)
            root.setFrameFormat(fmt)
            self.columnMarginChanged.emit(margin)

    # ---- links: actions, code copy, the web ---------------------------------------------------------------------
    def _anchor_clicked(self, url: QUrl) -> None:
        href = url.toString()
        scheme, _, rest = href.partition(":")
        if scheme == "copy-code":
            code = self._codes.get(rest)
            if code is not None:
                self._copy(code, "Code copied")
        elif scheme == "msg-think" and rest.isdigit() and int(rest) < len(self._messages):
            position = self._messages[int(rest)].position
            self._toggled_thoughts ^= {position}
            self._render_from(int(rest))
        elif scheme == "msg-ver" and rest.count(":") == 1:
            index_text, way = rest.split(":")
            if index_text.isdigit() and int(index_text) < len(self._messages) and way in ("prev", "next"):
                self.versionRequested.emit(int(index_text), -1 if way == "prev" else 1)
        elif scheme in ("msg-copy", "msg-regen", "msg-edit", "msg-cont") and rest.isdigit() and \
                int(rest) < len(self._messages):
            index = int(rest)
            if scheme == "msg-copy":
                self._copy(copied_text(self._messages[index]), "Message copied")
            elif scheme == "msg-regen":
                self.regenerateRequested.emit(index)
            elif scheme == "msg-cont":
                self.continueRequested.emit(index)
            else:
                self.editRequested.emit(index)
        elif scheme == "msg-file" and rest.count(":") == 1 and rest.replace(":", "").isdigit():
            index, j = (int(n) for n in rest.split(":"))  # a question's attached file: its text, as it was sent
            if index < len(self._messages) and j < len(self._messages[index].attachments):
                show_file(self._messages[index].attachments[j], self)
        elif url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)
        else:
            log.info("link not opened: %s", href)

    def _copy(self, text: str, note: str) -> None:
        QApplication.clipboard().setText(text)
        pos = self.viewport().mapToGlobal(self.viewport().mapFromGlobal(self.cursor().pos()) + QPoint(8, 8))
        QToolTip.showText(pos, note, self, self.rect(), 1500)
