"""The chat screen: the conversation view (chat_view), Markdown rendering of answers (markdown_render) with code
colours (code_colors) and the chat's palette (chat_theme), the streaming answer's open tail (answer_stream),
following the stream while the reader is at the bottom (stream_follow), and the empty chat's hint
(empty_chat_hint). It uses the shared app.ui.shortcuts table and nothing of the other screens."""
