"""The project's Kedro plumbing: hooks, runs as transactions, parameter checks and the build-time parameters.

* :mod:`.hooks` — the run guard (parameters, lock, pinned inputs, manifests) and the other project hooks;
* :mod:`.runs` — run lock, manifests and the choice of pinned versions (no Kedro objects);
* :mod:`.parameters` — every parameter block validated before the first node, ``--params`` keys included;
* :mod:`.build_parameters` — the config loader settings and the parameters pipelines are built from;
* :mod:`.errors` — errors a user causes shown as a short ``Error:`` block (used by ``crossvideo_kedro/cli.py``);
* :mod:`.kedro_internals` — the only module that touches Kedro's private attributes.

``settings.py``, ``pipeline_registry.py`` and ``cli.py`` stay at the package root, where Kedro looks for them.
"""
