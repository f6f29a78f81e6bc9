"""The live dashboard: what changed (changes.py), what arrived (incoming.py), the whole picture (snapshot.py), and
each web process's watchers kept up to date over server-sent events (hub.py)."""
