"""The tests' support library: shared helpers live here, fixtures in the conftest.py files, tests in ``test_*.py``.

- ``hub``: the hub on a background event loop (``HubThread``), real SDK modules as processes (``Peer``,
  ``EdgePeer``, ``sentiment_module``), loopback addresses; the one place that reads the hub's sessions.
- ``programs/``: the child programs those start by path (``peer.py``, ``edgepeer.py``, ``retrypeer.py``,
  ``pickle_fuzz.py``, ``iotedgedev_driver.py``).
- ``rawmqtt`` (a raw MQTT client over TLS), ``mqttwire`` (MQTT framing from the standard),
  ``module_client`` (an in-memory SDK ``ModuleClient``), ``loop`` (a background event loop, ``run_async``),
  ``ports`` (free ports), ``procfs`` (``/proc`` checks), ``pickles`` (classes pickled under a library's name).
- By area: ``agent`` and ``upstream`` (simulator runtime), ``faults`` and ``badinput`` (reliability),
  ``dockerkit`` (docker), ``model_update`` (module model updates), ``corpus`` and ``iotedgedev_oracle``
  (conformance), ``layered_examples`` (manifests).

Nothing here imports a test module or a conftest.py (tests/foundation/test_tests_package.py checks it);
benchmarks may import from here (``bench.bench_hub`` uses ``tests.support.hub``).
"""
