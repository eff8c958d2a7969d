def normalize(doc):
    return doc.strip()
