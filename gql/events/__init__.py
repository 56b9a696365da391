"""Status events: the log as a query, and live as a subscription."""
