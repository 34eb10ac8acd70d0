"""edgeship's tests: a package, imported from the repository root (pytest's pythonpath is ".")."""
