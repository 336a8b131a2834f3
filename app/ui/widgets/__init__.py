"""Pieces every screen may use and that know no screen: buttons and combo boxes that elide their text
(eliding_button, eliding_combo), fitting a window to the screen (screen_fit) and the list models of chats,
models and downloads (item_models)."""
