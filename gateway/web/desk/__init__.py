"""The desk (`/desk`): staff work the built-in store's tickets in a browser.

`routes.add_desk_routes(app)` adds its pages: the list of the tickets of the departments a person works
(listing.py, with its filters in filters.py and its CSV export), one ticket with its whole conversation
(ticket_page.py, reading what threading recorded in Redis with threading.py), and the actions on it as forms
(actions.py, through workers/desk_actions.py's DeskService). The words are in words.py; sign-in, sessions, CSRF
and the page shell are the staff pages' (gateway/web/staff/).
"""
