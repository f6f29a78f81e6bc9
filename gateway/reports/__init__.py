"""Reports over a range of days: volume, response times in business time, time spent, and the equity view.
`ranges.py` turns "this week" or "Spring 2027" into instants, `compute.py` reads the store and adds up, and
`output.py` writes a report as a table or CSV. The web pages and `intake report` share all three."""
