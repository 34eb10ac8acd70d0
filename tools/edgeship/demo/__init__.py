"""``edgeship demo``: the whole path of a model, end to end, on embedded defaults."""

from edgeship.demo.run import DemoOptions, DemoSummary, run_demo

__all__ = ["DemoOptions", "DemoSummary", "run_demo"]
