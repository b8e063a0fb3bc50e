"""Reference knowledge shared by every stage, kept as data: goals, equipment, the exercise catalogue with
the attributes safety turns on, conditions, medications, and the rules that tie them together.

The synthetic world draws from it, queries derive expected safety constraints
from it, the mock coach plans with it and the post-checks judge any teacher's
plan against it, so one set of facts keeps all four consistent.

Each kind of entry is a CSV file under ``data/`` (package data, so wheels and
the container image carry it), every row with its source, read and validated
by one small module here: :mod:`goals`, :mod:`equipment`, :mod:`catalogue`
(exercises: impact, plyometric, skill level, equipment, how a set is
prescribed), :mod:`conditions`, :mod:`medications`, :mod:`safety` (person-level
safety rules: risk factor -> what is ruled out or limited) and :mod:`coaching`
(rules every answer keeps); :mod:`tags` names the contraindication tags. A bad
entry fails on import with one line naming file, line and field
(:mod:`loading`).
"""
