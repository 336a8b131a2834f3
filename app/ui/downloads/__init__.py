"""The Models & downloads window: hub search, listings and find-a-draft (downloads_window), the recommended pairs
tab (pairs_tab) and the download queue with import (download_queue). It uses app.ui.widgets and nothing of the
other screens."""
