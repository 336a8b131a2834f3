"""QtCore-only workers: QObjects on QThreads that drive app.core objects and report by signals."""
