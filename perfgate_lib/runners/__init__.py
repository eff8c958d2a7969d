"""Treatment runners: how a gate gets its treatment perf report.

``base`` defines the interface and the job-state model. Gate 0's local A/B is not a
runner: it lives in :mod:`perfgate_lib.local`.
"""
