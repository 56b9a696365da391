"""Customers entering journeys: by event (trackEvent, trackEvents), or by list
(enrollCustomers)."""
