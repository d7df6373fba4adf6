"""Analyses over counts and cameras: timelines, comparisons, matchings, quality."""
