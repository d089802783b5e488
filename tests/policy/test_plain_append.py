"""The plain-append proof: an append in its plain forms skips the walk, never the rules.

`ClientPolicy.decide` takes an append written as browsers, the JS SDK and the
Python SDK write it without walking the parsed event (`plain_append`); every
other frame goes the general way (`_judge`). The two must decide alike for any
text, and the proof must hold only where the walk would find nothing to change.
"""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.policy import GA, PREVIEW, Dialect, Forward, Refuse, Rewrite
from app.policy.client import plain_append
from tests.policy.factories import make_policy

FAST = settings(max_examples=400, deadline=None, derandomize=True, database=None)
AUDIO = base64.b64encode(bytes(range(256)) * 4).decode()
COMPACT = '{"type":"input_audio_buffer.append","audio":"'
SPACED = '{"type": "input_audio_buffer.append", "audio": "'
HEADS = st.sampled_from([COMPACT, SPACED, '{"type":"input_audio_buffer.append", "audio":"'])
TAILS = st.sampled_from(['"}', '" }', '","event_id":"e1"}', '"}\n', '"', "}", '"}}'])


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        (COMPACT + AUDIO + '"}', True),  # a browser's, the JS SDK's
        (json.dumps({"type": "input_audio_buffer.append", "audio": AUDIO}), True),  # Python SDK's
        (COMPACT + '"}', True),  # empty audio: still exactly the two keys
        (COMPACT + AUDIO + '","event_id":"e1"}', False),  # another key: the walk checks it
        (COMPACT + 'ab"cd"}', False),  # a quote in the audio ends the string early
        (COMPACT + 'ab\\u0041"}', False),  # an escape: its canonical form is sent instead
        (COMPACT + "}", False),  # no closing quote of its own
        ('{"audio":"' + AUDIO + '","type":"input_audio_buffer.append"}', False),  # other order
        ('{"type":"input_audio_buffer.commit"}', False),
    ],
)
def test_only_the_plain_forms_of_an_append_are_proven(text: str, plain: bool) -> None:
    assert plain_append(text) is plain


@pytest.mark.parametrize("dialect", [GA, PREVIEW], ids=["ga", "preview"])
def test_a_plain_append_is_forwarded_as_it_came(dialect: Dialect) -> None:
    policy = make_policy(dialect)
    for text in (COMPACT + AUDIO + '"}', SPACED + AUDIO + '"}'):
        decision = policy.decide(text)
        assert decision == Forward("input_audio_buffer.append")
        assert decision is policy._judge(text, None, None)  # the same shared decision


def test_a_control_character_in_a_plain_append_is_refused_as_not_json() -> None:
    decision = make_policy(GA).decide(COMPACT + "AAAA\nAAAA" + '"}')
    assert decision == Refuse("invalid_event", "The frame is not valid JSON.")


def test_a_plain_append_is_refused_where_appends_are_not_allowed() -> None:
    policy = make_policy(GA, allowed_events=["session.update"])
    decision = policy.decide(COMPACT + AUDIO + '"}')
    assert type(decision) is Refuse
    assert decision.code == "event_not_allowed"


def test_an_escaped_append_still_goes_out_in_its_canonical_form() -> None:
    decision = make_policy(GA).decide(COMPACT + 'AB\\u0043D"}')
    assert decision == Rewrite(
        "input_audio_buffer.append", '{"type":"input_audio_buffer.append","audio":"ABCD"}'
    )


@FAST
@given(
    head=HEADS,
    audio=st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
    | st.text(alphabet='AB+/="\\{}[]: \n\x00\x7f', max_size=12),
    tail=TAILS,
    allowed=st.booleans(),
)
def test_the_proof_decides_as_the_walk_does(
    head: str, audio: str, tail: str, allowed: bool
) -> None:
    events = ["input_audio_buffer.append", "session.update"] if allowed else ["session.update"]
    policy = make_policy(GA, allowed_events=events)
    text = head + audio + tail
    assert policy.decide(text) == policy._judge(text, None, None)
