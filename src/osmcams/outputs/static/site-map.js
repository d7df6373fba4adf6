// The osmcams site's maps: each commune's data file (communes/<insee>-<slug>.js) calls
// osmcamsData with its outline, its cameras (the features of cameras.geojson) and how their
// fields of view are drawn; map-nodata.js calls osmcamsNoData with the communes without
// data as one area; osmcamsMap then gives map.html's script what it draws.
var osmcamsCommunes = Object.create(null);  // no inherited keys: a code is any text
var osmcamsOutside = null;

function osmcamsData(code, data) {
  "use strict";
  osmcamsCommunes[code] = data;
}

function osmcamsNoData(feature) {
  "use strict";
  osmcamsOutside = feature;
}

var osmcamsMap = (function () {
  "use strict";
  var A = 6378137, F = 1 / 298.257223563, E2 = F * (2 - F), STEP = 2;  // WGS84; a point every 2°
  // The point `metres` from lon/lat at `azimuth` (degrees): on the ellipsoid's local radii,
  // within millimetres of the geodesic over a camera's reach.
  function ahead(lon, lat, azimuth, metres) {
    var phi = lat * Math.PI / 180, a = azimuth * Math.PI / 180;
    var w = 1 - E2 * Math.sin(phi) * Math.sin(phi);
    var north = A * (1 - E2) / Math.pow(w, 1.5), east = A / Math.sqrt(w) * Math.cos(phi);
    return [lon + metres * Math.sin(a) / east * 180 / Math.PI,
            lat + metres * Math.cos(a) / north * 180 / Math.PI];
  }
  // An arc from azimuth `start` sweeping `width` degrees anticlockwise, as fov.py draws it.
  function ring(lon, lat, start, width, reach) {
    var steps = Math.max(2, Math.ceil(width / STEP)), points = [];
    for (var i = 0; i <= steps; i++) { points.push(ahead(lon, lat, start - width * i / steps, reach)); }
    return points;
  }
  // view: [camera index, "disc" | "cone" | "cones", reach in metres, [[start, width], ...]]
  function viewFeature(camera, view) {
    var c = camera.geometry.coordinates, reach = view[2], polygons;
    if (view[1] === "disc") {
      var disc = ring(c[0], c[1], 360, 360, reach);
      disc[disc.length - 1] = disc[0];
      polygons = [[disc]];
    } else {
      polygons = view[3].map(function (s) {
        return [[c].concat(ring(c[0], c[1], s[0] + s[1], s[1], reach), [c])];
      });
    }
    var properties = Object.assign({}, camera.properties, {fov: view[1], fov_range_m: reach});
    return {type: "Feature", id: camera.id + "/fov", properties: properties,
            geometry: polygons.length === 1 ? {type: "Polygon", coordinates: polygons[0]}
                                            : {type: "MultiPolygon", coordinates: polygons}};
  }
  // `data` as maps.map_data gives it with `types`: outlines, markers and views added.
  return function (data, drawViews) {
    var cameras = [], views = [];
    var colours = new Map(data.typeColours);  // [type, colour] pairs: a type is any text, "__proto__" too
    data.communes.features.forEach(function (commune) {
      var mine = osmcamsCommunes[commune.properties.insee];
      if (!mine) { return; }
      commune.geometry = mine.outline;
      mine.cameras.forEach(function (camera) {
        camera.properties._colour = colours.get(camera.properties["surveillance:type"] || "unknown");
        cameras.push(camera);
      });
      if (drawViews) {
        mine.views.forEach(function (view) { views.push(viewFeature(mine.cameras[view[0]], view)); });
      }
    });
    if (osmcamsOutside) { data.communes.features.unshift(osmcamsOutside); }  // under the others
    data.cameras = {type: "FeatureCollection", features: cameras};
    data.views = {type: "FeatureCollection", features: views};
    return data;
  };
}());
