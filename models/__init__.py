"""The shared core: settings, tables, database set-up and the money rules.

Nothing is imported here, so `models.settings` loads without the ORM.
"""
