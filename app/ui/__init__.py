"""Widgets, item models and dialogs. Talks to workers and sessions by signals; never calls llama.cpp itself.

By screen: chat/ (the conversation view), sidebar/ (models, sampling, speculation, the context gauge),
downloads/ (the Models & downloads window), bench/ (the benchmark panel), server/ (the Local server window),
widgets/ (pieces that know no screen). At the top, the window that composes them: application (QApplication
set-up), main_window with its mixins window_answers, window_models and window_server, menu_bar, welcome_panel,
and the two tables every screen may read: theme and shortcuts. Screens never import each other or the window
(pyproject.toml's import-linter contracts)."""
