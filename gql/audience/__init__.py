"""Customers entering journeys, and what a journey's customers and messages are doing."""
