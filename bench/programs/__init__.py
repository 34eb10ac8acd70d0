"""The benchmarks' child programs: each runs as its own interpreter, launched by path (``python FILE ARGS``)."""
