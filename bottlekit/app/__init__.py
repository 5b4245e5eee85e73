"""The application layer: what uses the library, on top of every other layer.

- :mod:`bottlekit.app.cli` -- the ``bottlekit`` command (``python -m bottlekit``);
- :mod:`bottlekit.app.audit_command` -- its ``audit`` sub-command (the linear-head
  classifier it audits is :class:`bottlekit.bottleneck.BackboneLinearClassifier`);
- :mod:`bottlekit.app.demo` -- ``bottlekit demo``;
- :mod:`bottlekit.app.recipe`, :mod:`bottlekit.app.reproduce`,
  :mod:`bottlekit.app.reproduce_command` -- the paper recipes (``recipes/*.toml``) and
  ``bottlekit reproduce``;
- :mod:`bottlekit.app.cbm_study` -- the concept-bottleneck measurements on the built-in
  world behind the demo and ``benchmarks/cbm_world.py``.

Nothing in the library (``concepts``, ``bottleneck``, ``estimators``, ``visualize``,
``diagnostics``, ...) imports this package; ``tests/test_layering.py`` checks it.
"""
