"""The Settings window (settings_window): what stays the same from chat to chat. Its glue to the rest of the window
is app.ui.window_settings."""
