"""The sidebar: the model pickers, sampler and Speculative Decoding sections (sidebar, its rows in sidebar_fields),
the model file menu (model_file_actions), the memory line under the dropdown (memory_hint), the RPC servers list
(rpc_servers), and the status bar's context gauge (context_gauge), which reads the same loaded model. It uses
app.ui.widgets and nothing of the other screens."""
