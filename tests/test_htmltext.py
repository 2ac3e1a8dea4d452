"""Text out of HTML on nh3: blocks, skipped elements, link text, one line."""

from __future__ import annotations

from worker.htmltext import Block, blocks, one_line, paragraphs


def test_blocks_carry_their_tag_and_link_text() -> None:
    markup = '<h2>Title</h2><p>Read <a href="https://example.org/">the report</a> now.</p>'
    assert blocks(markup, {"h2", "p"}) == [
        Block("h2", "Title", 0),
        Block("p", "Read the report now.", len("the report")),
    ]


def test_skipped_elements_scripts_and_styles_lose_their_text() -> None:
    markup = (
        "<p>Kept</p><figure><p>caption</p></figure><script>alert(1)</script>"
        "<style>p{}</style><!-- note --><p>too</p>"
    )
    assert paragraphs(markup, {"p"}) == ["Kept", "caption", "too"]
    assert [b.text for b in blocks(markup, {"p"}, skip={"figure"})] == ["Kept", "too"]


def test_spaces_and_entities() -> None:
    assert paragraphs("<p>one<br>two &amp; three&nbsp;four</p>", {"p"}) == ["onetwo & three four"]
    assert blocks("<p>one<br>two</p>", {"p"}, spaces={"br"})[0].text == "one two"
    assert paragraphs("<p>a &lt;b&gt; c</p>", {"p"}) == ["a <b> c"]


def test_one_line_parts_words_at_block_edges_only() -> None:
    assert one_line("<div>end.</div>Next <b>bold</b>er", {"div"}) == "end. Next bolder"
    assert one_line("", {"p"}) == ""


def test_text_before_any_block_gets_the_first_tag() -> None:
    assert blocks("loose <p>para</p>", {"p"}, first_tag="div") == [
        Block("div", "loose", 0),
        Block("p", "para", 0),
    ]
