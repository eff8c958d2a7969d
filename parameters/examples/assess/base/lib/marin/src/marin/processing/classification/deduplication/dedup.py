def dedup(docs):
    return list(dict.fromkeys(docs))
