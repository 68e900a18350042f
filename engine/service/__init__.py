"""The cached service layer: the only thing the web app calls (see docs/INTERFACES.md §6)."""
from engine.service.export import csv_safe
from engine.service.service import NBAService, NoBundleError

__all__ = ["NBAService", "NoBundleError", "csv_safe"]
