"""Where the data comes from: PBF extracts, Overpass, geo.api.gouv.fr, downloads, HTTP."""
