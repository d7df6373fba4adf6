"""Communes: boundaries, populations, names, and the cache of parsed boundaries."""
