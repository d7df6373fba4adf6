"""Analyses built on counts: cameras through time."""
