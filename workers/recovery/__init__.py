"""Recovering what a killed worker left behind: its started jobs, the jobs it had taken off a queue and not yet
started, and its scheduler's locks."""
