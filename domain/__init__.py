"""Pure rules of a journey's lifecycle: no I/O, no framework, no clock.

Every function that needs the time takes it as an argument (`now`).
"""
