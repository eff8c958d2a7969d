from zephyr import Dataset


def build(source):
    return Dataset(source).map(str.strip)
