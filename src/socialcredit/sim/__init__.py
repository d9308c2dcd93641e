"""The simulation lab: what a rulebook does to a population, before it is switched on.

A seeded synthetic population (``population``) lives month by month (``run``): its latent
traits and its standing in the registry drive the records it produces (``behaviour``), the
project's own engines score it (``engine``: the bulk engine, or ``scoring.evaluate`` for a
handful), and the standing feeds back. ``metrics`` answers the seed documents' questions from
the run (``summary`` collects it as JSON and tables), ``sensitivity`` varies each parameter,
``report`` writes JSON, Parquet and a self-contained HTML report, ``compare`` sets policies
side by side, and ``plain`` is the same model written one object per agent, the benchmark's
baseline. Every rate and effect is a
parameter (``params``, ``defaults.toml``); ``docs/simulation.md`` documents the model.
"""
