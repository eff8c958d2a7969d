"""The gate ladder: baseline, treatment worktree, local checks, babysitting, state, verdict.

Above every other package except ``commands`` (``docs/development.md``).
"""
