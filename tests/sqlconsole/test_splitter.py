"""The statement splitter sees semicolons the way PostgreSQL's lexer does."""

from __future__ import annotations

from sqlconsole.splitter import first_keyword, split, statement_at


def texts(script: str) -> list[str]:
    return [s.text for s in split(script)]


def test_semicolons_inside_strings_identifiers_and_comments_do_not_split():
    script = "select ';' as a; select \"x;y\" from t; -- a ; comment\nselect 1 /* b ; /* nested ; */ c */ + 1"
    assert texts(script) == ["select ';' as a", 'select "x;y" from t',
                             "-- a ; comment\nselect 1 /* b ; /* nested ; */ c */ + 1"]


def test_doubled_quotes_and_backslash_escapes_in_e_strings():
    script = "select 'it''s; fine'; select E'back\\'slash; still'; select 'plain\\'; select 2"
    # In a standard string a backslash is an ordinary character: 'plain\' ends at the quote.
    assert texts(script) == ["select 'it''s; fine'", "select E'back\\'slash; still'", "select 'plain\\'", "select 2"]


def test_dollar_quoted_bodies_with_and_without_tags():
    script = ("create function f() returns int language plpgsql as $body$ begin return 1; end $body$;\n"
              "do $$ begin raise notice 'a;b'; end $$; select $1")
    assert len(split(script)) == 3
    assert split(script)[1].text.startswith("do $$")
    assert split(script)[2].text == "select $1"  # a parameter, not a dollar quote


def test_sql_standard_function_bodies_keep_their_inner_semicolons():
    script = ("create function g() returns int begin atomic select 1; select case when true then 2 end; end; "
              "select 3")
    assert texts(script) == ["create function g() returns int begin atomic select 1; select case when true then 2 end; end",
                             "select 3"]


def test_offsets_point_into_the_script_and_empty_pieces_are_dropped():
    script = "  ;; select 1 ;\n\n  -- only a comment\n ; select 2"
    statements = split(script)
    assert [s.text for s in statements] == ["select 1", "select 2"]
    for s in statements:
        assert script[s.start:s.end] == s.text


def test_first_keyword_skips_comments_and_parentheses():
    assert first_keyword("-- hi\n/* x */ (  select 1)") == "SELECT"
    assert first_keyword("  with a as (select 1) select * from a") == "WITH"
    assert first_keyword("$$") == ""


def test_statement_under_the_cursor():
    script = "select 1;\nselect 2;\nselect 3"
    assert statement_at(script, 0).text == "select 1"
    assert statement_at(script, script.index("2")).text == "select 2"
    assert statement_at(script, script.index("2") + 2).text == "select 2"  # just after the semicolon
    assert statement_at(script, len(script)).text == "select 3"
