"""Incidents: one outage, one parent ticket, and the surge detector that proposes them."""
