"""Where an extract has data, estimated from nodes that only its inside holds.

An extract cut from a larger file keeps the ways that cross its cut, and often all of
their nodes: those nodes lie beyond the cut, where the extract has no other data. A
standalone node, one no way refers to (a shop, a tree, an address, a bus stop), is
kept only when it lies inside the cut. So the data lies among the standalone nodes:
the estimate is the union of the triangles of their Delaunay triangulation whose
longest edge is short for the spacing of nodes around them. A triangle that holds a
hole among every sampled node (the gap between two arms of a concave cut, where no way
runs) is left out, and so is one among dense standalone nodes with a void of them inside
(a notch of the cut that the ways crossing it fill with their nodes); a hole of the union
that evidence surrounds is filled. It
stops at the outermost standalone nodes, short of the cut: it errs toward "no data".

A way is kept whole when it crosses the cut, so its nodes reach beyond the cut by at most
its span: the nodes of short ways (a building, a pitch; `hugged`), which reach further
than standalone nodes where these are few (villages, mountains), lie within HUGGING_M of
the inside. Their triangles of edges of at most HUG_REACH spacings, less HUGGING_M all
round, join the estimate.
Measured against cuts of complete extracts: benchmarks/coverage.py.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

from osmcams.arrays import first_of_each

NEIGHBOUR = 4  # the spacing of nodes around a node: the distance to its 4th nearest
REACH = 16  # a triangle is kept when its longest edge is at most REACH spacings…
LONGEST_M = 1500.0  # … and at most this many metres (more in a sparse sample)
SHORT = 4  # a triangle whose longest edge is over SHORT spacings is left out when a point inside
HOLE = 0.12  # it lies further than HOLE of that edge from any node; a shorter one (over 2 THIN_M),
# further than 3 HOLE of it and 2 THIN_M (the nodes are thinned to one in THIN_M): a narrow notch
DENSE_M = 150.0  # among dense standalone nodes (every corner's spacing at most this), a triangle
VOID = 1.25  # over 2 THIN_M is left out when a point inside lies further than VOID spacings from all
FILLED_KM2 = 25.0  # holes of the union up to this size are filled: evidence lies all around them
METRES_PER_DEGREE = 111_195.0
THIN_M = 50.0  # one node of each square of this side in metres: fewer to triangulate
MOST_NODES = 30_000  # triangulated at most
HUGGING_M = 40.0  # a way whose nodes span at most this many metres hugs the inside of the cut
HUG_THIN_M = 20.0  # the nodes of such ways thinned to one in a square of this side
HUG_REACH = 3  # a triangle of them is kept when its longest edge is at most HUG_REACH spacings
# of its sparsest corner (to its 4th nearest, at the density of the whole file)


def footprint(points: Any, fraction: float = 1.0, nodes: Any = None) -> Any:
    """The (multi)polygon where `points` ((lon, lat) of standalone nodes) say there is
    data, or None without a triangle. `fraction`: the share of the file's nodes they
    were sampled from; a sparse sample spans longer edges. `nodes`: (lon, lat) of every
    sampled node; a long triangle with a hole among them is left out."""
    import numpy
    import shapely

    points = numpy.asarray(points, float).reshape(-1, 2)
    if len(points) < 3:
        return None
    # Metres in a plane tangent at the middle latitude: enough to compare lengths.
    scale = numpy.array([numpy.cos(numpy.radians(points[:, 1].mean())), 1.0]) * METRES_PER_DEGREE
    # Every core: the tree of the nodes is built, and half of the triangles joined, in a
    # thread beside the triangulation and the other half (scipy and GEOS free the GIL);
    # the trees are queried by every core.
    with ThreadPoolExecutor(1, thread_name_prefix="osmcams-footprint") as pool:
        tree = None if nodes is None else pool.submit(_tree, nodes, scale)
        area = _triangles(points * scale, fraction, tree, pool)
    return None if area is None else shapely.transform(area, lambda xy: xy / scale)


def _triangles(points: Any, fraction: float, tree: Future[Any] | None, pool: Executor) -> Any:
    """`footprint` in the plane (metres): the union of the kept triangles of `points`;
    `tree`: that of the sampled nodes, being built."""
    import numpy
    from scipy.spatial import Delaunay, QhullError, cKDTree

    plane = _thinned(points)
    step = -(-len(plane) // MOST_NODES)  # a sparser sample beyond MOST_NODES: faster, no larger
    plane, fraction = plane[::step], fraction / step
    if len(plane) < 3:
        return None
    try:
        simplices = Delaunay(plane).simplices
    except QhullError:  # all on a line: no area
        return None
    corners = plane[simplices]
    own = cKDTree(plane)
    spacing = own.query(plane, min(NEIGHBOUR, len(plane) - 1) + 1, workers=-1)[0][:, -1]
    longest = numpy.linalg.norm(corners - numpy.roll(corners, 1, axis=1), axis=2).max(axis=1)
    # The densest corner sets the reach: a lone node beyond the others spans no triangle.
    near = spacing[simplices].min(axis=1)
    limit = numpy.minimum(REACH * near, LONGEST_M / numpy.sqrt(max(fraction, 1e-6)))
    keep = longest <= limit
    judgeable = longest > 2 * THIN_M  # a smaller one lies among the squares of its corners
    judged = keep & judgeable
    if tree is not None and judged.any():
        widest = numpy.where(longest > SHORT * near, HOLE * longest,
                             numpy.maximum(3 * HOLE * longest, 2 * THIN_M))[judged]
        keep[judged] = ~_hollow(plane, simplices[judged], widest, tree.result())
    # Among dense standalone nodes a void of them is no data, whatever nodes lie there: in a
    # city a notch of the cut is crossed by ways every few metres, and a park's hole is filled.
    dense = keep & judgeable & (spacing[simplices].max(axis=1) <= DENSE_M)
    keep[dense] = _gaps(corners[dense], own) <= VOID * near[dense]
    kept = corners[keep]
    if not len(kept):
        return None
    return _filled(_union(kept[numpy.argsort(kept[:, 0, 0], kind="stable")], pool))


def _union(triangles: Any, pool: Executor) -> Any:
    """The union of `triangles` ((n, 3, 2) corners, sorted west to east, none overlapping):
    the western half joined in `pool` while this thread joins the eastern one."""
    import numpy
    import shapely

    def joined(part: Any) -> Any:
        return shapely.coverage_union_all(shapely.polygons(numpy.concatenate((part, part[:, :1]), axis=1)))

    half = len(triangles) // 2
    if not half:
        return joined(triangles)
    west = pool.submit(joined, triangles[:half])
    east = joined(triangles[half:])
    return shapely.coverage_union_all([west.result(), east])


def _filled(area: Any) -> Any:
    """`area` (in metres) without its holes of at most FILLED_KM2: evidence all around."""
    import shapely

    parts = []
    for part in shapely.get_parts(area):
        holes = [ring for ring in part.interiors if shapely.Polygon(ring).area > FILLED_KM2 * 1e6]
        parts.append(shapely.Polygon(part.exterior, holes))
    return shapely.union_all(parts)


def _thinned(plane: Any) -> Any:
    """The first point of `plane` (metres) in each square of THIN_M a side."""
    import numpy

    if not len(plane):
        return plane
    cells = numpy.floor(plane / THIN_M).astype(numpy.int64)
    cells -= cells.min(axis=0)
    keys = cells[:, 0] * (cells[:, 1].max() + 1) + cells[:, 1]  # one integer: a fast unique
    return plane[first_of_each(keys)]


def _tree(nodes: Any, scale: Any) -> Any:
    """A k-d tree of `nodes` ((lon, lat)) in metres, thinned; None without any."""
    import numpy
    from scipy.spatial import cKDTree

    nodes = _thinned(numpy.asarray(nodes, float).reshape(-1, 2) * scale)
    return cKDTree(nodes) if len(nodes) else None


def _hollow(plane: Any, simplices: Any, widest: Any, tree: Any) -> Any:
    """Which triangles (`simplices` of `plane`, in metres) hold a hole among the nodes of
    `tree` (`_tree`): a point further than `widest` (of each) from any node, a gap between
    the arms of a cut, where no way runs.
    Only those whose corners lie among the nodes are judged: a camera in a piece of a file
    that the sampling missed has none around it."""
    import numpy

    if tree is None:
        return numpy.zeros(len(simplices), bool)
    # Most are not (2 % of a file's node blocks sampled): their gaps are not sought, nor
    # a node further than a metre beyond 2 THIN_M (the nearer ones found as without bound).
    near = tree.query(plane, workers=-1, distance_upper_bound=2 * THIN_M + 1)[0] <= 2 * THIN_M
    hollow = near[simplices].all(axis=1)
    hollow[hollow] = _gaps(plane[simplices[hollow]], tree) > widest[hollow]
    return hollow


def _gaps(corners: Any, tree: Any) -> Any:
    """For each triangle of `corners` ((n, 3, 2), metres), the furthest from the points of
    `tree` of 4 points inside it: its middle, and halfway from there to each edge's middle."""
    import numpy

    if not len(corners):
        return numpy.zeros(0)
    middle = corners.mean(axis=1, keepdims=True)
    edges = (corners + numpy.roll(corners, 1, axis=1)) / 2
    probes = numpy.concatenate((middle, (middle + edges) / 2), axis=1)
    return tree.query(probes.reshape(-1, 2), workers=-1)[0].reshape(len(corners), -1).max(axis=1)


def hugged(points: Any, fraction: float = 1.0) -> Any:
    """Where `points` ((lon, lat) of the nodes of short ways, `HUGGING_M`) say there is data:
    the union of their triangles whose longest edge is at most HUG_REACH spacings, less
    HUGGING_M all round; None without any. `fraction`: the share of the file's nodes they
    were sampled from: a sparse sample's spacing is shrunk to the whole file's."""
    import numpy
    import shapely
    from scipy.spatial import Delaunay, QhullError, cKDTree

    points = numpy.asarray(points, float).reshape(-1, 2)
    if len(points) < NEIGHBOUR + 2:
        return None
    scale = numpy.array([numpy.cos(numpy.radians(points[:, 1].mean())), 1.0]) * METRES_PER_DEGREE
    cells = numpy.floor(points * scale / HUG_THIN_M).astype(numpy.int64)
    cells -= cells.min(axis=0)
    plane = (points * scale)[first_of_each(cells[:, 0] * (cells[:, 1].max() + 1) + cells[:, 1])]
    plane = plane[:: -(-len(plane) // MOST_NODES)]
    if len(plane) < NEIGHBOUR + 2:
        return None
    try:
        simplices = Delaunay(plane).simplices
    except QhullError:  # all on a line: no area
        return None
    spacing = cKDTree(plane).query(plane, NEIGHBOUR + 1, workers=-1)[0][:, -1]
    spacing *= numpy.sqrt(min(fraction, 1.0))
    corners = plane[simplices]
    longest = numpy.linalg.norm(corners - numpy.roll(corners, 1, axis=1), axis=2).max(axis=1)
    kept = corners[longest <= numpy.minimum(HUG_REACH * spacing[simplices].max(axis=1), LONGEST_M)]
    if not len(kept):
        return None
    area = shapely.buffer(shapely.coverage_union_all(shapely.polygons(
        numpy.concatenate((kept, kept[:, :1]), axis=1))), -HUGGING_M, quad_segs=4)
    return None if area.is_empty else shapely.transform(area, lambda xy: xy / scale)
