"""The main window's answers: sending, editing, regenerating and continuing, showing the stream, the benchmark.

A mixin of MainWindow (app/ui/main_window.py). The answer's state and its writes to the chat store are the
AnswerSession's (app/session/answer_session.py); this module turns the user's clicks into its intents, asks
the user where something would be deleted, and shows what the session says."""

from __future__ import annotations

import logging
from dataclasses import replace

from PySide6.QtWidgets import QMessageBox

from app.core.chats.attachments import Attachment
from app.core.chats.chat_store import Message, title_from_question
from app.core.chats.sent_turns import question_with_files
from app.core.inference.answer_stats import AnswerStats
from app.core.models.formatting import count_phrase
from app.core.inference.engine_process.protocol import ModelSummary
from app.core.infra.requests import DraftTokens
from app.ui.bench.bench_panel import BenchPanel
from app.ui.sidebar.rpc_servers import offer_reload_without
from app.ui.window_parts import WindowParts

log = logging.getLogger("specchat.ui")


class AnswerActions(WindowParts):
    """Sending and streaming answers, and the actions on them (mixed into MainWindow)."""

    # ---- sending and streaming ------------------------------------------------------------------------------
    def send(self) -> None:
        text = self.input.toPlainText().strip()
        files = self.chips.attachments()
        if not (text or files) or self.answers.busy:  # files alone are a question too ("review this")
            return
        if not self.models.main:
            self.statusBar().showMessage("Load a model first (sidebar, Model).", 5000)
            return
        if self.chat_id is None:  # keep a system prompt typed before the chat existed
            chat = self.store.create_chat(system_prompt=self.system_prompt.text())
            self.refresh_chats()
            self.open_chat(chat.id)
        assert self.chat_id is not None
        too_big = self.too_big_sentence()
        if too_big:  # no policy can help: the question itself is larger than the context
            self.statusBar().showMessage(f"Not sent: {too_big}", 15000)
            return
        if self._counted_input == self._question_typed() and self.context_gauge.wont_fit():
            self.statusBar().showMessage(
                "Not sent: this message does not fit the model's context with the chat before it "
                f"({self.context_gauge.format()}). Shorten it, start a new chat, reload the model with a larger "
                "context (sidebar, Context), or let older turns be left out (Settings > Context overflow).", 15000)
            return
        if self.editing is not None:  # the edited question takes the old one's place; that one stays a version
            self.store.versions.new_version(self.chat_id, self.editing)
            self.cancel_edit(clear_input=False)
        if not self.store.messages(self.chat_id):
            self.store.rename_chat(self.chat_id, title_from_question(text or files[0].name))
            self.refresh_chats()
        question = self.store.add_message(self.chat_id, "user", text, attachments=files)
        self.input.clear()
        self.chips.clear()
        self._generate(question=question)

    def _generate(self, continuing: Message | None = None, question: Message | None = None) -> None:
        """Ask the answer session for an answer to the chat's last question (or more of `continuing`)."""
        assert self.chat_id is not None
        if self.editing is not None:  # a regenerate while editing: the edit's question may be gone
            self.cancel_edit()
        self._save_system_prompt()
        request = self.sidebar.request([])
        request = replace(request, speculation=self.models.effective_speculation(request.speculation),
                          overflow=self.settings.generation.overflow)
        self.answers.start(self.chat_id, request, self.store.chat(self.chat_id).system_prompt,
                           self.models.running_label(), self.models.draft_name, continuing, question,
                           self.models.main.reasoning if self.models.main else None)

    def _answer_started(self, history: list[Message]) -> None:
        self.view.set_messages(self._shown_chat(history))
        self.view.begin_answer(self.answers.reasoning)

    def _answer_ended(self, kept: Message | None, note: str) -> None:
        if kept is None:
            self.view.cancel_stream()
            if self.chat_id is not None:  # a question taken back (it could not fit) leaves the view
                self.view.set_messages(self._shown_chat(self.store.messages(self.chat_id)))
        else:
            # the chat as shown now: the answer's versions ("‹ 2/2 ›") and where history was left out, if anywhere
            full = self._shown_chat(self.store.messages(kept.chat_id))
            last = full[-1] if full and full[-1].position == kept.position else self._shown(kept)
            self.view.end_answer(last)
            if full != self.view.messages():
                self.view.set_messages(full)
        if note:
            self.statusBar().showMessage(note, 15000 if note.startswith("Could not") else 8000)

    def _answer_finished(self, stats: AnswerStats) -> None:
        self.models.answer_finished(stats)
        if stats.rpc_lost and self.models.main:  # the chat and the answer so far are saved already
            self.sidebar.mark_rpc_lost(stats.rpc_lost)
            if offer_reload_without(self, stats.rpc_lost, stats.error):
                self.models.load_main(self.models.main.path, without_rpc=stats.rpc_lost)

    def measure_input(self) -> None:
        """Count the chat with the typed message and its files as its next question (an edit: in place of the
        edited one)."""
        text = self._question_typed()
        if not text or not self.models.main:
            self._counted_input = ""
            self.context_gauge.show_typed(-1)
            return
        self.context_meter.measure_input(self.chat_id, self.system_prompt.text(), text, before=self.editing)

    def _question_typed(self) -> str:
        """The question as it would be sent now: the attached files, then the typed text."""
        return question_with_files(self.input.toPlainText().strip(), self.chips.attachments())

    def _input_measured(self, text: str, total: int) -> None:
        if text != self._question_typed() or total < 0:
            return  # typed on since: a newer count is coming
        self._counted_input = text
        self.context_gauge.show_typed(total)

    def _question_returned(self, text: str, attachments: list[Attachment]) -> None:
        """The question could not fit and was taken out of the chat: back into the input, its files back on chips
        (after what the user typed or attached meanwhile, if anything: nothing is overwritten)."""
        typed = self.input.toPlainText()
        self.input.setPlainText(text if not typed.strip() else f"{typed}\n\n{text}")
        self.restore_files(attachments)
        self.input.setFocus()

    def stop(self) -> None:
        self.answers.stop()

    def stop_or_cancel_edit(self) -> None:
        """Esc: stops a streaming answer; with none, leaves an edit without changing anything."""
        if self.answers.busy:
            self.stop()
        elif self.editing is not None:
            self.cancel_edit()

    def regenerate(self) -> None:
        """A new answer to the last question; a running answer is cancelled (its late tokens are dropped)."""
        if self.chat_id is None or not self.models.main:
            return
        self.answers.abandon()
        msgs = self.store.messages(self.chat_id)
        last_user = max((m.position for m in msgs if m.role == "user"), default=None)
        if last_user is None:
            return
        self._new_answer_version(last_user + 1)
        self._generate()

    def _new_answer_version(self, position: int) -> None:
        """The answer at `position` (and what follows it) stays as a version; a failed or empty one just goes."""
        assert self.chat_id is not None
        there = next((m for m in self.store.messages(self.chat_id) if m.position == position), None)
        if there is None or not there.content or there.state == "error":
            self.store.delete_from(self.chat_id, position)
        else:
            self.store.versions.new_version(self.chat_id, position)

    def switch_version(self, index: int, step: int) -> None:
        """An answer's or a question's "‹" / "›": the previous or next version of the chat from there on."""
        shown = self.view.messages()
        if self.answers.busy or self.chat_id is None or not 0 <= index < len(shown):
            return
        position = shown[index].position
        group = self.store.versions.groups(self.chat_id).get(position)
        if group is None or not self.store.versions.switch(self.chat_id, position, group.shown + step):
            return
        if self.editing is not None:
            self.cancel_edit()
        self.view.set_messages(self._shown_chat(self.store.messages(self.chat_id)))
        self.measure_context()

    def edit_last(self) -> None:
        """Put the last question back into the input; sending it replaces it and everything after it."""
        if self.chat_id is None:
            return
        msgs = self.store.messages(self.chat_id)
        last_user = next((m for m in reversed(msgs) if m.role == "user"), None)
        if last_user is not None:
            self._edit_from(last_user.position, last_user.content, last_user.attachments)

    def edit_at(self, index: int) -> None:
        """A question's Edit link: back into the input; it and what follows it go (asked first if more than its
        answer would go)."""
        shown = self.view.messages()
        if self.chat_id is None or not 0 <= index < len(shown) or shown[index].role != "user":
            return
        self._edit_from(shown[index].position, shown[index].content, shown[index].attachments)

    def _edit_from(self, position: int, content: str, attachments: list[Attachment]) -> None:
        if self.answers.busy or self.chat_id is None:
            return
        # nothing is deleted here: Send replaces the question (and what follows, asked then); Cancel keeps all
        self.editing = position
        self.edit_label.setText("Editing a question: Send asks it as a new version (the old one and what followed "
                                "it stay, behind ‹ ›). Cancel edit (Esc) keeps the chat as it is.")
        self.edit_bar.show()
        self.input.setPlainText(content)
        self.chips.clear()  # the question's own files, as it was asked (a file can be taken off or added)
        self.restore_files(attachments)
        self.input.setFocus()

    def cancel_edit(self, clear_input: bool = True) -> None:
        self.editing = None
        self.edit_bar.hide()
        if clear_input:
            self.input.clear()
            self.chips.clear()

    def regenerate_at(self, index: int) -> None:
        """An answer's Regenerate link: a new answer to its question (later turns go, asked first)."""
        shown = self.view.messages()
        if self.chat_id is None or not 0 <= index < len(shown) or shown[index].role != "assistant":
            return
        if not self.models.main:
            if self._reload_after_crash:  # Retry after a crash: the user asks for the model again, then the answer
                self._retry_index = index
                self.models.load_main(self._reload_after_crash)
                self._reload_after_crash = ""
                return
            self.statusBar().showMessage("Load a model first (sidebar, Model).", 5000)
            return
        position = shown[index].position
        self.answers.abandon()
        self._new_answer_version(position)  # the old answer and the turns after it stay a version: nothing is lost
        self._generate()

    def _engine_crashed(self, message: str, main: ModelSummary | None) -> None:
        """The engine died (its answer, if any, is saved with the sentence): say so; Retry brings the model back."""
        self._reload_after_crash = main.path if main else ""
        name = main.name if main else ""
        self.statusBar().showMessage(f"{message[:1].upper()}{message[1:]}. A new engine is running with nothing "
                                     "loaded" + (f": Retry on the answer loads {name} again." if name else "."), 60_000)

    def _retry_once_loaded(self, role: str, _model: ModelSummary) -> None:
        if role == "main" and self._retry_index is not None:
            index, self._retry_index = self._retry_index, None
            self.regenerate_at(index)

    def continue_at(self, index: int) -> None:
        """An answer's Continue link: generation resumes from the answer's text (later turns go, asked first)."""
        shown = self.view.messages()
        if self.answers.busy or self.chat_id is None or not 0 <= index < len(shown) or \
                shown[index].role != "assistant":
            return
        if not self.models.main:
            self.statusBar().showMessage("Load a model first (sidebar, Model).", 5000)
            return
        position = shown[index].position
        answer = next((m for m in self.store.messages(self.chat_id) if m.position == position), None)
        if answer is None or not self._can_continue(answer):
            return
        if not self._confirm_dropping(position):
            return
        self.store.delete_from(self.chat_id, position + 1)
        self._generate(continuing=answer)

    def _confirm_dropping(self, after: int) -> bool:
        """True when nothing the user would miss goes, or they said yes: Continue on an answer in the middle of a
        chat deletes the messages after it (Regenerate and Edit keep them in a version instead)."""
        assert self.chat_id is not None
        later = [m for m in self.store.messages(self.chat_id) if m.position > after and m.state != "streaming"]
        if not later:
            return True
        text = f"The {count_phrase(len(later), 'message')} after this one will be deleted. Continue?"
        answer = QMessageBox.question(self, "Later messages will go", text)
        return answer == QMessageBox.StandardButton.Yes

    def _set_busy(self, busy: bool) -> None:
        self.stop_button.setEnabled(busy)
        self.stop_button.setVisible(busy)
        self.send_button.setVisible(not busy)
        self.send_button.setEnabled(not busy)

    def open_bench(self) -> None:
        """The benchmark panel on the prompt being typed (or the chat's last question)."""
        if self.bench_panel is None:
            self.bench_panel = BenchPanel(self.host, self)
            self.bench_panel.applyBest.connect(self._apply_bench)
            # a draft that finishes loading (or a switch) while the panel is open: "Will test" names it
            self.models.speculationChanged.connect(self._bench_models_changed)
        history = self.store.messages(self.chat_id) if self.chat_id is not None else []
        question = self._question_typed()
        if not question:
            question = next((question_with_files(m.content, m.attachments) for m in reversed(history)
                             if m.role == "user"), "")
        messages = [{"role": "user", "content": question}] if question else []
        self.bench_panel.set_request(self.sidebar.request(messages), self._main_name(), self.models.draft_name)
        self.bench_panel.show()
        self.bench_panel.raise_()

    def _bench_models_changed(self) -> None:
        panel = self.bench_panel
        if panel is not None and panel.isVisible():
            panel.set_request(panel.request, self._main_name(), self.models.draft_name)

    def _main_name(self) -> str | None:
        return self.models.main.name if self.models.main else None

    def _apply_bench(self, best: DraftTokens) -> None:  # BenchPanel.applyBest
        self.sidebar.apply_draft_length(best)
        self.statusBar().showMessage(f"Applied: {'speculation off' if best == 0 else f'draft tokens {best}'}", 5000)
