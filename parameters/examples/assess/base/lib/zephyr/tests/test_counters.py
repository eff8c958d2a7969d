from zephyr.counters import Counters


def test_increment():
    c = Counters()
    c.increment("a")
    assert c.total() == 1
