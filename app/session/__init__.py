"""Controllers that live on the GUI thread between the widgets and the workers: what the loaded models are and what
the next answer runs with (model_session), the answer being written and its writes to the chat store
(answer_session), and how much of the context the open chat takes (context_meter). QtCore only, no widgets:
tests drive them with no window (tests/gui/test_sessions.py)."""
