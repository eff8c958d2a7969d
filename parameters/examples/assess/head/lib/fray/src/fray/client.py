class LocalClient:
    """Runs actors in this process."""
