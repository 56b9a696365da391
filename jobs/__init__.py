"""Timed work: the embedded timer loop (and, later, arq workers) calling `service/`."""
