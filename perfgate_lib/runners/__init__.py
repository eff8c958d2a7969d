"""Treatment runners: how a gate gets its treatment perf report (gate 0 is not one: it
lives in :mod:`perfgate_lib.local`)."""
