"""Staff's actions on tickets in the built-in store: one service for the desk's pages and `intake tickets`."""

from workers.desk_actions.assigning import Assignment
from workers.desk_actions.choices import Choices
from workers.desk_actions.service import DeskService, UnknownIncident

__all__ = ["Assignment", "Choices", "DeskService", "UnknownIncident"]
