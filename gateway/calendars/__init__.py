"""School calendars: weekly hours, holidays from .ics exports, ad-hoc closures, and local time for people."""
