"""The benchmark panel: the draft-length sweep's settings, table and apply-the-best (bench_panel) and its plot
(bench_plot, pyqtgraph). It uses app.ui.widgets and nothing of the other screens."""
