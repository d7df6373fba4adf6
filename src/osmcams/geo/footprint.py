"""Where an extract has data, estimated from nodes that only its inside holds.

An extract cut from a larger file keeps the ways that cross its cut, and often all of
their nodes: those nodes lie beyond the cut, where the extract has no other data. A
standalone node, one no way refers to (a shop, a tree, an address, a bus stop), is
kept only when it lies inside the cut. So the data lies among the standalone nodes:
the estimate is the union of the triangles of their Delaunay triangulation whose
longest edge is short for the spacing of nodes around them. It stops at the outermost
standalone nodes, short of the cut: it errs toward "no data".
"""

from __future__ import annotations

from typing import Any

NEIGHBOUR = 4  # the spacing of nodes around a node: the distance to its 4th nearest
REACH = 16  # a triangle is kept when its longest edge is at most REACH spacings…
LONGEST_M = 1500.0  # … and at most this many metres (more in a sparse sample)
METRES_PER_DEGREE = 111_195.0
THIN_M = 50.0  # one node of each square of this side in metres: fewer to triangulate
MOST_NODES = 30_000  # triangulated at most


def footprint(points: Any, fraction: float = 1.0) -> Any:
    """The (multi)polygon where `points` ((lon, lat) of standalone nodes) say there is
    data, or None without a triangle. `fraction`: the share of the file's nodes they
    were sampled from; a sparse sample spans longer edges."""
    import numpy
    import shapely
    from scipy.spatial import Delaunay, QhullError, cKDTree

    points = numpy.asarray(points, float).reshape(-1, 2)
    if len(points) < 3:
        return None
    # Metres in a plane tangent at the middle latitude: enough to compare lengths.
    scale = numpy.array([numpy.cos(numpy.radians(points[:, 1].mean())), 1.0]) * METRES_PER_DEGREE
    plane = points * scale
    plane = plane[numpy.unique(numpy.floor(plane / THIN_M), axis=0, return_index=True)[1]]
    step = -(-len(plane) // MOST_NODES)  # a sparser sample beyond MOST_NODES: faster, no larger
    plane, fraction = plane[::step], fraction / step
    if len(plane) < 3:
        return None
    try:
        simplices = Delaunay(plane).simplices
    except QhullError:  # all on a line: no area
        return None
    corners = plane[simplices]
    spacing = cKDTree(plane).query(plane, min(NEIGHBOUR, len(plane) - 1) + 1)[0][:, -1]
    longest = numpy.linalg.norm(corners - numpy.roll(corners, 1, axis=1), axis=2).max(axis=1)
    # The densest corner sets the reach: a lone node beyond the others spans no triangle.
    near = spacing[simplices].min(axis=1)
    limit = numpy.minimum(REACH * near, LONGEST_M / numpy.sqrt(max(fraction, 1e-6)))
    kept = corners[longest <= limit]
    if not len(kept):
        return None
    rings = numpy.concatenate((kept, kept[:, :1]), axis=1) / scale
    return shapely.coverage_union_all(shapely.polygons(rings))
