"""Perception front end: person detection, tracking and crops (issue 14)."""
