"""The outbox: which replies go out, in which language, within consent, quiet hours and segment budgets."""
