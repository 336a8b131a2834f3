"""Conversations: the SQLite chat store and the Markdown block splitter."""
