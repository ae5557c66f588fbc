"""The shared core: settings, tables, database set-up and the money rules."""
