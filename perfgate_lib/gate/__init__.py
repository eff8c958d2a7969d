"""The gate ladder: baseline, treatment worktree, local checks, babysitting, state, verdict;
above every other package except ``commands`` (``docs/development.md``)."""
