"""Top-up orders: opening one within the buyer's limits (`opening`, `limits`) and the
terms a payment is checked against (`terms`)."""
