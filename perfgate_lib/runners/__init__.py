"""Treatment runners: how a gate gets its treatment perf report.

``base`` defines the interface (submit / poll / collect / stop) and the job-state model;
``iris`` drives marin's scripts and the iris CLI; ``replay`` serves recorded reports.
Gate 0's local A/B is not a runner: it lives in :mod:`perfgate_lib.local`.
"""
