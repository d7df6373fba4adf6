"""OpenStreetMap files: blob framing, the sieve, snapshot and history passes."""
