"""The HTTP API the Mini App calls."""
