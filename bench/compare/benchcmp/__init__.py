"""The comparison benchmark: chinook_svc against the REST layers a user would pick instead.

Run it with ``python bench/compare/run.py`` (see ``bench/compare/README.md``).
Modules: :mod:`.wrk` (running wrk, parsing its output), :mod:`.endpoints`
(E1-E5 in each peer's URL scheme, row ids out of each peer's answer),
:mod:`.targets` (how each server is installed and started),
:mod:`.servers` (processes, readiness, RSS), :mod:`.check` (the correctness
gate and statement counts), :mod:`.report` (medians, ratios, tables) and
:mod:`.cli` (the command).
"""
