"""worker/audio/captions.py: merging cues, WebVTT output, transcripts, shifting captions."""

from __future__ import annotations

from worker.audio.captions import Cue, merge, plain_text, shift_webvtt, webvtt


def test_merge_joins_short_cues_and_keeps_the_outer_times() -> None:
    merged = merge(
        [Cue(0.0, 1.0, "Kyiv,"), Cue(1.0, 2.5, "Monday morning,"), Cue(2.5, 3.0, "news")]
    )
    assert merged == [Cue(0.0, 3.0, "Kyiv, Monday morning, news")]


def test_merge_does_not_extend_a_cue_that_ends_a_sentence() -> None:
    cues = [
        Cue(0.0, 1.0, "First."),
        Cue(1.0, 2.0, "Second"),
        Cue(2.0, 3.0, "Third?"),
        Cue(3, 4, "x"),
    ]
    assert merge(cues) == [Cue(0.0, 1.0, "First."), Cue(1.0, 3.0, "Second Third?"), Cue(3, 4, "x")]


def test_merge_respects_max_chars() -> None:
    cues = [Cue(0, 1, "a" * 5), Cue(1, 2, "b" * 5)]
    assert merge(cues, max_chars=10) == cues  # 5 + 1 + 5 = 11 characters would not fit
    assert merge(cues, max_chars=11) == [Cue(0, 2, "aaaaa bbbbb")]


def test_merge_of_nothing_is_nothing() -> None:
    assert merge([]) == []


def test_webvtt_stamps_cleans_and_skips_empty_or_backwards_cues() -> None:
    text = webvtt(
        [
            Cue(0.0, 1.5, "one --> two\n\nthree"),
            Cue(2.0, 2.0, "zero length"),
            Cue(3.0, 4.0, "   "),
            Cue(3723.0005, 3724.25, "late"),
        ]
    )
    assert text.startswith("WEBVTT\n\n")
    assert "1\n00:00:00.000 --> 00:00:01.500\none → two three\n" in text
    assert "zero length" not in text
    # numbering keeps the cue's position, so the skipped cues leave gaps
    assert "4\n01:02:03.000 --> 01:02:04.250\nlate\n" in text
    assert "\n2\n" not in text and "\n3\n" not in text


def test_webvtt_negative_start_is_clamped_to_zero() -> None:
    assert "00:00:00.000 --> 00:00:01.000" in webvtt([Cue(-0.5, 1.0, "x")])


def test_plain_text_collapses_whitespace_and_ends_with_newline() -> None:
    assert plain_text(["  a \n b ", "c\t d"]) == "a b\n\nc d\n"
    assert plain_text([]) == "\n"


def test_shift_webvtt_moves_only_timing_lines() -> None:
    original = webvtt([Cue(0.0, 1.0, "00:00:01.000 is not a timing line"), Cue(59.5, 61.0, "b")])
    shifted = shift_webvtt(original, 0.75)
    assert "00:00:00.750 --> 00:00:01.750" in shifted
    assert "00:01:00.250 --> 00:01:01.750" in shifted
    assert "00:00:01.000 is not a timing line" in shifted
    assert shift_webvtt(shifted, -0.75) == original


def test_shift_webvtt_keeps_cue_settings_after_the_timing() -> None:
    text = "WEBVTT\n\n1\n00:00:01.000 --> 00:00:02.000 align:start\nhi\n"
    assert "00:00:03.000 --> 00:00:04.000 align:start" in shift_webvtt(text, 2)
