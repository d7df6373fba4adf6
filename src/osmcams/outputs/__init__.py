"""Where the results go: formats and writers."""
