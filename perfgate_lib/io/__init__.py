"""The edges: GitHub, storage (local, GCS), notebooks, parameter files, run folders, git.
The bottom layer with the top-level modules: imports nothing else of the kit."""
