"""Use cases: the only place that opens a unit of work, applies a rule, logs the
event and hands it to the bus and the scheduler after commit."""
