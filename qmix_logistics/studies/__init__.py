"""Planning studies on top of the simulator: what-if sweeps, executors, traces, maps and HTML reports.

``sweep`` runs fleet-size x demand grids for several policies on paired seeds (locally or on Ray),
``sweep_outputs`` writes their CSV/JSON/PNG/HTML, ``trace`` exports every event of a day, ``route_map``
draws it, ``replay`` swaps in real orders, and ``report`` renders any set of tables and figures as one
self-contained HTML page.
"""
