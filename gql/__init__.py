"""The GraphQL entry point: parse, authorize, call `service/`, shape the answer."""
