"""The main window's chat list and the chat shown: new, open, rename, delete, search, the system prompt, and what a
stored message looks like in the view (its footer, whether it can be continued).

A mixin of MainWindow (app/ui/main_window.py), over window_parts.py like the others."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QModelIndex, QPoint
from PySide6.QtWidgets import QInputDialog, QMenu

from app.core.chats.chat_store import Message
from app.core.inference.answer_stats import AnswerStats
from app.core.inference.speculation_status import footer_text
from app.core.infra.settings import ModelPreset
from app.core.models.formatting import count_phrase
from app.ui.chat.chat_view import ShownMessage
from app.ui.widgets.item_models import ChatRoles
from app.ui.window_parts import WindowParts


class ChatActions(WindowParts):
    """The chats on the left and the one in the middle (mixed into MainWindow)."""

    def refresh_chats(self) -> None:
        self.chat_models.set_chats(self.store.chats(self.search.text().strip()))
        row = self.chat_models.row_of(self.chat_id) if self.chat_id is not None else -1
        if row >= 0:
            self.chat_list.setCurrentIndex(self.chat_models.index(row))

    def new_chat(self) -> None:
        """An empty chat to type in: the current one if it has no message yet, else an empty one that exists
        (Ctrl+N pressed again never piles up "New chat"s), else a new one."""
        self.search.clear()
        if self.chat_id is not None and not self.store.messages(self.chat_id) and self.editing is None:
            chat_id = self.chat_id
        else:
            default = self._new_chat_system_prompt()
            chat_id = self.store.empty_chat(default) or self.store.create_chat(system_prompt=default).id
        self.refresh_chats()
        if chat_id != self.chat_id:
            self.open_chat(chat_id)
        self.input.setFocus()

    def _chat_clicked(self, index: QModelIndex) -> None:
        self.open_chat(index.data(ChatRoles.ChatId))

    def open_chat(self, chat_id: int) -> None:
        self.answers.abandon()
        if self.editing is not None:
            self.cancel_edit()
        self.chat_id = chat_id
        self.settings.ui.last_chat_id = chat_id  # the chat reopens at the next start, even after a kill
        self.settings_saver.changed()
        chat = self.store.chat(chat_id)
        self.system_prompt.setText(chat.system_prompt)
        self.view.set_messages(self._shown_chat(self.store.messages(chat_id)))
        row = self.chat_models.row_of(chat_id)
        if row >= 0:
            self.chat_list.setCurrentIndex(self.chat_models.index(row))
        self.measure_context()

    def measure_context(self) -> None:
        """The context gauge counts the open chat again (with the loaded model's template and context)."""
        self.context_meter.measure(self.chat_id, self.system_prompt.text(),
                                   self.models.main.n_ctx if self.models.main else 0)

    def _shown(self, m: Message) -> ShownMessage:
        stats = AnswerStats.from_json(m.stats) if m.stats else None  # read once, for the footer and Continue
        return ShownMessage(m.role, m.content, m.highlights, footer_text(stats) if stats else "", m.state,
                            m.position, can_continue=self._can_continue(m, stats), reasoning=m.reasoning,
                            attachments=m.attachments)

    def _shown_chat(self, messages: list[Message]) -> list[ShownMessage]:
        """The chat's messages as shown, with a line where the latest answer's prompt left history out (the
        overflow policy): after the last message it left out."""
        shown = [self._shown(m) for m in messages]
        if messages:  # where Regenerate or Edit kept versions: "‹ 2/3 ›" on that message
            groups = self.store.versions.groups(messages[0].chat_id)
            shown = [replace(s, versions=(groups[s.position].shown + 1, groups[s.position].total))
                     if s.position in groups else s for s in shown]
        for m in reversed(messages):
            if m.role == "assistant" and m.stats:
                first, end = AnswerStats.from_json(m.stats).left_out
                if end > first:
                    after = next((i for i, s in enumerate(shown) if s.position >= end), None)
                    if after is not None:
                        n = sum(1 for s in shown if first <= s.position < end)
                        shown[after] = replace(shown[after], note_above=(
                            f"{count_phrase(n, 'message')} above {'was' if n == 1 else 'were'} left out of the "
                            "model's context for the latest answer (Settings > Context overflow)"))
                break
        return shown

    @staticmethod
    def _can_continue(m: Message, stats: AnswerStats | None = None) -> bool:
        """An answer cut short (stopped, interrupted, or at the length limit) can be continued. `stats`: the
        message's own, when the caller has read them already."""
        stop_reason = (stats or AnswerStats.from_json(m.stats)).stop_reason
        cut = m.state == "interrupted" or stop_reason in ("cancelled", "length")
        return m.role == "assistant" and bool(m.content) and cut

    def _chat_menu(self, pos: QPoint) -> None:
        index = self.chat_list.indexAt(pos)
        if not index.isValid():
            return
        chat_id = index.data(ChatRoles.ChatId)
        menu = QMenu(self)
        rename = menu.addAction("Rename…")
        delete = menu.addAction("Delete")
        chosen = menu.exec(self.chat_list.viewport().mapToGlobal(pos))
        if chosen is rename:
            title, ok = QInputDialog.getText(self, "Rename chat", "Title", text=index.data(ChatRoles.Title))
            if ok:
                self.store.rename_chat(chat_id, title)
                self.chat_models.rename(chat_id, self.store.chat(chat_id).title)
        elif chosen is delete:
            self.delete_chat(chat_id)

    def delete_chat(self, chat_id: int) -> None:
        if chat_id == self.chat_id:
            self.answers.abandon()
            if self.editing is not None:
                self.cancel_edit()
            self.chat_id = None
            self.settings.ui.last_chat_id = 0
            self.settings_saver.changed()
            self.view.set_messages([])
            self.measure_context()
        self.store.delete_chat(chat_id)
        self.refresh_chats()

    def _new_chat_system_prompt(self) -> str:
        """What a new chat's system prompt starts as: the loaded model's last one (its preset), else Settings'."""
        main = self.models.main
        preset = self.settings.presets.get(main.path) if main is not None else None
        return (preset.system_prompt if preset is not None and preset.system_prompt
                else self.settings.generation.default_system_prompt)

    def _save_system_prompt(self) -> None:
        if self.chat_id is not None:
            self.store.set_system_prompt(self.chat_id, self.system_prompt.text())
        main = self.models.main
        text = self.system_prompt.text().strip()
        if main is not None and text:  # remembered for the model's next new chats (its preset)
            preset = self.settings.presets.get(main.path) or self.sidebar.preset(ModelPreset())
            self.settings.presets[main.path] = replace(preset, system_prompt=text)
            self.settings_saver.changed()
