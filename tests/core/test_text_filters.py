"""The ``breakable`` filter lets narrow cards break long names at separators, and still escapes them."""

from core.templatetags.text import breakable


def test_a_database_label_breaks_after_its_slashes_not_inside_words():
    out = breakable("127.0.0.1:5432/postgres/brokerbot")
    assert "postgres" in out and "brokerbot" in out  # words stay whole
    assert out.count("<wbr>") == 6  # three ".", one ":", two "/"
    assert out.replace("<wbr>", "") == "127.0.0.1:5432/postgres/brokerbot"


def test_a_hostile_name_is_escaped():
    out = breakable('db/<script>alert("x")</script>')
    assert "<script>" not in out
    assert "&lt;script&gt;" in out
