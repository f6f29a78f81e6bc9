"""Web pages: the form, the requester's status page."""
