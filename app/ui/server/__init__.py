"""The Local server window: the switch, the address, copyable examples and the live request log (server_window).
The server itself runs in app.workers.local_server over app.core.server; the window's glue is
app.ui.window_server."""
