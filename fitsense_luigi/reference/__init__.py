"""Reference knowledge shared by every stage, kept as data: goals, equipment, the exercise catalogue with
its contraindication tags, conditions, medications and the safety constraints that tie them together.

The synthetic world draws from it, queries derive expected safety constraints
from it, the mock coach plans with it and the post-checks judge any teacher's
plan against it, so one set of facts keeps all four consistent.

Each kind of entry is a CSV file under ``data/`` (package data, so wheels and
the container image carry it), every row with its source, read and validated
by one small module here: :mod:`goals`, :mod:`equipment`, :mod:`catalogue`
(exercises), :mod:`conditions`, :mod:`constraints` (safety constraints),
:mod:`medications`; :mod:`tags` names the contraindication tags and
:mod:`safety` combines conditions and medications into what a plan must avoid
and address. A bad entry fails on import with one line naming file, line and
field (:mod:`loading`).
"""
