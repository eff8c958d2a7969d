class LocalClient:
    pass
