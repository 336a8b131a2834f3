"""Widgets, item models and dialogs. Talks to workers by signals; never calls llama.cpp itself."""
