"""The main window's answers: sending, streaming, stopping, editing, regenerating and continuing, the benchmark.

A mixin of MainWindow (app/ui/main_window.py): it uses the window's widgets, store and engine host."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from PySide6.QtWidgets import QMessageBox

from app.core.chats.chat_store import Message, pieces_from_spans, spans_from_flags
from app.ui.bench_panel import BenchPanel
from app.ui.rpc_servers import offer_reload_without
from app.ui.speculation_status import RECENT_ANSWERS, acceptance_advice, speculates, speculation_label

log = logging.getLogger("specchat.ui")

CHECKPOINT_S = 0.5  # a streaming answer is saved this often, so a crash keeps what was shown


class AnswerActions:
    """Sending and streaming answers, and the actions on them (mixed into MainWindow)."""

    # ---- sending and streaming ------------------------------------------------------------------------------
    def send(self) -> None:
        text = self.input.toPlainText().strip()
        if not text or self.request_id:
            return
        if not self.main_summary:
            self.statusBar().showMessage("Load a model first (sidebar, Model).", 5000)
            return
        if self.chat_id is None:  # keep a system prompt typed before the chat existed
            chat = self.store.create_chat(system_prompt=self.system_prompt.text())
            self.refresh_chats()
            self.open_chat(chat.id)
        assert self.chat_id is not None
        if self.editing is not None:  # the edited question replaces the old one and what followed it, now
            if not self._confirm_dropping(self.editing, keep_answer=True):
                return
            self.store.delete_from(self.chat_id, self.editing)
            self.cancel_edit(clear_input=False)
        if not self.store.messages(self.chat_id):
            self.store.rename_chat(self.chat_id, text.splitlines()[0][:60])
            self.refresh_chats()
        self.store.add_message(self.chat_id, "user", text)
        self.input.clear()
        self._generate()

    def _generate(self, continuing: Message | None = None) -> None:
        """A new answer to the chat's last question; or, with `continuing` (the chat's last message, an answer
        cut short), more of that answer: it is the prompt's end and grows in place."""
        assert self.chat_id is not None
        if self.editing is not None:  # a regenerate while editing: the edit's question may be gone
            self.cancel_edit()
        self._save_system_prompt()
        chat = self.store.chat(self.chat_id)
        # failed answers and empty ones (an older version kept answers stopped before any text) are not turns
        history = [m for m in self.store.messages(self.chat_id)
                   if m.state != "error" and (m.content or m.role == "user")
                   and (continuing is None or m.id != continuing.id)]
        messages = ([{"role": "system", "content": chat.system_prompt}] if chat.system_prompt else []) + \
            [{"role": m.role, "content": m.content} for m in history]
        self.view.set_messages([self._shown(m) for m in history])
        request = self.sidebar.request(messages)
        if request.speculation.mode == "draft" and not self.draft_name:
            # no draft loaded (none compatible, or still loading): plain decoding
            request = replace(request, speculation=replace(request.speculation, mode="off"))
        spec = self.sidebar.speculation()
        self.running_speculation = speculation_label(spec.mode, self.draft_name, spec.ngram_size)
        self.continuing = continuing
        if continuing is None:
            self.answer = self.store.start_answer(self.chat_id)
            self.pieces = []
        else:
            request = replace(request, answer_prefix=continuing.content)
            self.answer = continuing
            self.pieces = pieces_from_spans(continuing.content, continuing.highlights)
            self.store.save_answer(continuing.id, continuing.content, continuing.highlights, state="streaming")
        self.continued_from = len(self.pieces)
        self.last_checkpoint = time.monotonic()
        self.view.begin_answer()
        self.view.append_tokens(list(self.pieces))  # a continued answer shows what it had, then grows
        self.request_id = self.host.generate(request)
        self._set_busy(True)

    def _tokens(self, request_id: int, batch: list) -> None:
        if request_id != self.request_id or self.answer is None:
            return  # a stream this window no longer shows
        self.pieces.extend(batch)
        self.view.append_tokens(batch)
        if time.monotonic() - self.last_checkpoint > CHECKPOINT_S:
            self.last_checkpoint = time.monotonic()
            self.store.save_answer(self.answer.id, "".join(t for t, _ in self.pieces), spans_from_flags(self.pieces))

    def _live_stats(self, request_id: int, live: dict) -> None:
        if request_id == self.request_id:
            # what runs, not what the mode asks for: no acceptance figure for plain decoding
            label = self.running_speculation
            acc = f" · {label} · acceptance {live['acceptance_rate']:.0%}" if speculates(label) else f" · {label}"
            self.live.setText(f"{live['tokens_per_second']:.1f} tok/s · {live['generated_tokens']} tokens{acc}")

    def _finished(self, request_id: int, stats: dict) -> None:
        if request_id != self.request_id:
            return
        state = "error" if stats.get("stop_reason") == "error" else "done"
        self._close_answer(state, stats)
        if stats.get("rpc_lost") and self.main_summary:  # the chat and the answer so far are saved above
            self.sidebar.rpc_servers.mark(stats["rpc_lost"], "lost")
            if offer_reload_without(self, stats["rpc_lost"], stats.get("error", "")):
                self.load_main(self.main_summary["path"], without_rpc=stats["rpc_lost"])
        if stats.get("drafted"):
            self.recent_acceptance = (self.recent_acceptance + [stats["acceptance_rate"]])[-RECENT_ANSWERS:]
            advice = acceptance_advice(stats, self.recent_acceptance)
            if advice:
                self.sidebar.set_advice([advice])

    def _close_answer(self, state: str, stats: dict) -> None:
        """Write the answer as it stands (done, interrupted or error) and show it as it will stay."""
        if self.answer is not None:
            content = "".join(t for t, _ in self.pieces)
            spans = spans_from_flags(self.pieces)
            stopped = state == "interrupted" or stats.get("stop_reason") == "cancelled"
            if self.continuing is not None and len(self.pieces) == self.continued_from:
                old = self.continuing  # continued, then nothing new (stopped, or failed): it stays as it was
                self.store.save_answer(old.id, old.content, old.highlights, old.stats, state=old.state)
                self.view.end_answer(self._shown(old))
                if stats.get("error"):
                    self.statusBar().showMessage(f"Could not continue: {stats['error']}", 15000)
            elif not content and stopped:  # stopped before its first token: no answer to keep, no figures to show
                self.store.delete_message(self.answer.id)
                self.view.cancel_stream()
                self.statusBar().showMessage("Stopped before any text: no answer was kept (Ctrl+R asks again).",
                                             8000)
            else:
                if stats:  # an interrupted answer has no figures: none are made up, saved or shown
                    stats = {**stats, "speculation": self.running_speculation if stats.get("drafted") else "",
                             "draft_name": self.draft_name if stats.get("drafted") else ""}
                    if self.continuing is not None:  # the figures are the continuation's own
                        stats["continued"] = True
                if self.continuing is not None and state == "error":
                    state = "interrupted"  # the text before the failure is a good answer, still a turn of the chat
                self.store.save_answer(self.answer.id, content, spans, stats, state=state)
                self.view.end_answer(self._shown(replace(self.answer, content=content, highlights=spans,
                                                         stats=stats, state=state)))
        self.answer = self.continuing = None
        self.request_id = 0
        self.live.setText("")
        self._set_busy(False)

    def stop(self) -> None:
        if self.request_id:
            self.host.cancel(self.request_id)

    def stop_or_cancel_edit(self) -> None:
        """Esc: stops a streaming answer; with none, leaves an edit without changing anything."""
        if self.request_id:
            self.stop()
        elif self.editing is not None:
            self.cancel_edit()

    def _abandon_answer(self) -> None:
        """Leave the streaming answer (chat switched, regenerated, window closed): cancel it, keep what was shown
        as interrupted; its late batches are dropped by request id."""
        if self.request_id:
            self.stop()
            self._close_answer("interrupted", {})

    def regenerate(self) -> None:
        """A new answer to the last question; a running answer is cancelled (its late tokens are dropped)."""
        if self.chat_id is None or not self.main_summary:
            return
        self._abandon_answer()
        msgs = self.store.messages(self.chat_id)
        last_user = max((m.position for m in msgs if m.role == "user"), default=None)
        if last_user is None:
            return
        self.store.delete_from(self.chat_id, last_user + 1)
        self._generate()

    def edit_last(self) -> None:
        """Put the last question back into the input; sending it replaces it and everything after it."""
        if self.chat_id is None:
            return
        msgs = self.store.messages(self.chat_id)
        last_user = next((m for m in reversed(msgs) if m.role == "user"), None)
        if last_user is not None:
            self._edit_from(last_user.position, last_user.content)

    def edit_at(self, index: int) -> None:
        """A question's Edit link: back into the input; it and what follows it go (asked first if more than its
        answer would go)."""
        shown = self.view.messages()
        if self.chat_id is None or not 0 <= index < len(shown) or shown[index].role != "user":
            return
        self._edit_from(shown[index].position, shown[index].content)

    def _edit_from(self, position: int, content: str) -> None:
        if self.request_id or self.chat_id is None:
            return
        # nothing is deleted here: Send replaces the question (and what follows, asked then); Cancel keeps all
        self.editing = position
        later = sum(1 for m in self.store.messages(self.chat_id) if m.position > position)
        self.edit_label.setText("Editing a question: Send replaces it" +
                                (f" and the {later} message(s) after it" if later else "") +
                                ". Cancel edit (Esc) keeps the chat as it is.")
        self.edit_bar.show()
        self.input.setPlainText(content)
        self.input.setFocus()

    def cancel_edit(self, clear_input: bool = True) -> None:
        self.editing = None
        self.edit_bar.hide()
        if clear_input:
            self.input.clear()

    def regenerate_at(self, index: int) -> None:
        """An answer's Regenerate link: a new answer to its question (later turns go, asked first)."""
        shown = self.view.messages()
        if self.chat_id is None or not 0 <= index < len(shown) or shown[index].role != "assistant":
            return
        if not self.main_summary:
            self.statusBar().showMessage("Load a model first (sidebar, Model).", 5000)
            return
        position = shown[index].position
        if not self._confirm_dropping(position, keep_answer=False):
            return
        self._abandon_answer()
        self.store.delete_from(self.chat_id, position)
        self._generate()

    def continue_at(self, index: int) -> None:
        """An answer's Continue link: generation resumes from the answer's text (later turns go, asked first)."""
        shown = self.view.messages()
        if self.request_id or self.chat_id is None or not 0 <= index < len(shown) or \
                shown[index].role != "assistant":
            return
        if not self.main_summary:
            self.statusBar().showMessage("Load a model first (sidebar, Model).", 5000)
            return
        position = shown[index].position
        answer = next((m for m in self.store.messages(self.chat_id) if m.position == position), None)
        if answer is None or not self._can_continue(answer):
            return
        if not self._confirm_dropping(position, keep_answer=False):
            return
        self.store.delete_from(self.chat_id, position + 1)
        self._generate(continuing=answer)

    def _confirm_dropping(self, after: int, keep_answer: bool) -> bool:
        """True when nothing the user would miss goes, or they said yes: messages after `after` (besides the
        edited question's own answer) are deleted by an edit or a regenerate from the middle of a chat."""
        assert self.chat_id is not None
        later = [m for m in self.store.messages(self.chat_id) if m.position > after and m.state != "streaming"]
        if keep_answer and later and later[0].role == "assistant":
            later = later[1:]
        if not later:
            return True
        answer = QMessageBox.question(self, "Later messages will go",
                                      f"The {len(later)} message(s) after this one will be deleted. Continue?")
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
        history = self.store.messages(self.chat_id) if self.chat_id is not None else []
        text = self.input.toPlainText().strip()
        if text:
            question = text
        else:
            question = next((m.content for m in reversed(history) if m.role == "user"), "")
        messages = [{"role": "user", "content": question}] if question else []
        self.bench_panel.set_request(self.sidebar.request(messages), (self.main_summary or {}).get("name"),
                                     self.draft_name)
        self.bench_panel.show()
        self.bench_panel.raise_()

    def _apply_bench(self, best: object) -> None:
        self.sidebar.apply_draft_length(best)  # type: ignore[arg-type]
        self.statusBar().showMessage(f"Applied: {'speculation off' if best == 0 else f'draft tokens {best}'}", 5000)
