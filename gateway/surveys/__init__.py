"""Satisfaction surveys at close: one per conversation, asked on the family's channel in their language.

`record` is the survey's one record in Redis (claimed once, sent or skipped once, answered once, commented once);
`links` signs the one-click rating links; `ratings` reads a rating out of a text. The worker that decides and sends
is workers/surveys.py; each channel says, by its `survey_blocked` hook, when it must not ask.
"""
