"""The leaders' pages: the live dashboard (dashboard.py) and the reports (reports.py), for supervisors and admins.
`access.py` is the one place that knows about sign-in: it is the page shell's interface as these pages use it."""
