"""The read side: what the API, the bot and the CLI show or decide on, read without
changing anything. Adapters call these instead of querying the tables."""
