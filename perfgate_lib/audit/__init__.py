"""The record: archive, scrub, run index and provenance of every run; the baselines' history."""
