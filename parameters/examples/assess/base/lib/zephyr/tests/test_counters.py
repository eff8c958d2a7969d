from zephyr.counters import Counters, describe


def test_increment():
    c = Counters()
    c.increment("a")
    assert c.total() == 1
    assert describe(c) == "1 counters"
