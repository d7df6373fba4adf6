"""The SQLite history store: runs, counts, cameras, changes and what refresh keeps."""
