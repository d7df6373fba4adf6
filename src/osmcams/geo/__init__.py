"""Geometry: rings from ways, geodesic areas."""
