def tokenize(doc):
    return doc.split()
