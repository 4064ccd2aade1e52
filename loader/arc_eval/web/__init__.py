"""``arc-eval serve``: the live dashboard and review app, and its static export (extra ``serve``)."""
