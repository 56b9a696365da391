"""A journey's customers and messages, counted: its stats, live."""
