"""Who signs in to the desk and the dashboard: passwords, the directory, sessions and lockout, one module each.

`gateway.web.staff` puts these on the web; `intake users` uses them from the command line.
"""
