"""Journeys: their types, queries and mutations, side by side."""
