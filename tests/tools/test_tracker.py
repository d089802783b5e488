"""Playbooks for the server tools' tracker: scripted upstream events, the exact commands out.

Each test feeds the pure session core (with its `ToolTracker`) the upstream
events of a scripted session and checks what the client would see and what
the shell is told to do. No sockets, no tasks.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.policy import GA, PREVIEW
from app.relay.core import SessionCore
from app.relay.limits import SessionLimits
from app.tools.tracker import WATCHED, CallTool, SendUpstream, ToolTracker
from tests.policy.factories import make_policy
from tests.tools.playbook import (
    PREFIX,
    call_events,
    call_item,
    frame,
    message_added,
    response_done,
)

LIMITS = SessionLimits(
    events_per_second=100.0,
    events_burst=100,
    max_session_seconds=100.0,
    idle_timeout_seconds=30.0,
    backpressure_timeout_seconds=8.0,
    tool_max_concurrent_calls=2,
)
CREATED = frame("response.created", response={"id": "resp_1", "output": []})
DELTA = frame("response.output_audio.delta", response_id="resp_1", item_id="item_msg", delta="AAAA")


class Session:
    """The pure core with server tools `lookup_order` and `book_slot`."""

    def __init__(self, dialect: str = "ga") -> None:
        self.tracker = ToolTracker(frozenset({"lookup_order", "book_slot"}), 2, PREFIX)
        policy = make_policy(GA if dialect == "ga" else PREVIEW)
        self.core = SessionCore(policy, LIMITS, "rs_test", 0.0, self.tracker)

    def feed(self, *frames: str) -> list[str | bytes]:
        """What the client sees of `frames`."""
        return [out for f in frames if (out := self.core.upstream_frame(f)) is not None]

    def commands(self) -> list[CallTool | SendUpstream]:
        taken = list(self.tracker.commands)
        self.tracker.commands.clear()
        return taken

    def sent(self) -> list[dict[str, Any]]:
        """The events the shell is told to send upstream (calls left in the list)."""
        out = [orjson.loads(c.text) for c in self.tracker.commands if type(c) is SendUpstream]
        self.tracker.commands[:] = [c for c in self.tracker.commands if type(c) is CallTool]
        return out

    def calls(self) -> list[CallTool]:
        out = [c for c in self.tracker.commands if type(c) is CallTool]
        self.tracker.commands[:] = [c for c in self.tracker.commands if type(c) is SendUpstream]
        return out


def output_item(call_id: str, output: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }


def without_ids(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for event in events:
        assert str(event.pop("event_id")).startswith(PREFIX)
    return events


def output_added(item_id: str, call_id: str, previous: str | None, kind: str = "added") -> str:
    item = {"id": item_id, "type": "function_call_output", "call_id": call_id, "output": "x"}
    return frame(f"conversation.item.{kind}", previous_item_id=previous, item=item)


# -- one call ---------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["ga", "preview"])
def test_every_event_of_a_server_call_is_hidden_and_the_tool_is_called_once(dialect: str) -> None:
    """The call's item, argument and conversation events reach nobody; one CallTool results."""
    session = Session(dialect)
    visible = session.feed(
        CREATED, *call_events("resp_1", "item_fc", "call_1", "lookup_order", dialect=dialect)
    )
    assert visible == [CREATED]
    assert session.commands() == [CallTool("call_1", "lookup_order", {"id": "42"})]
    assert session.tracker.hidden.items == {"item_fc"}
    assert session.tracker.hidden.calls == {"call_1"}


def test_the_output_is_sent_then_one_response_create_once_the_response_is_done() -> None:
    """Output before `response.done`: the item goes up at once, `response.create` after the done."""
    session = Session()
    session.feed(CREATED, *call_events("resp_1", "item_fc", "call_1", "lookup_order"))
    session.calls()
    session.tracker.tool_done("call_1", '{"status":"shipped"}')
    assert without_ids(session.sent()) == [output_item("call_1", '{"status":"shipped"}')]
    session.feed(
        response_done("resp_1", call_item("item_fc", "call_1", "lookup_order", "{}", "completed"))
    )
    assert without_ids(session.sent()) == [{"type": "response.create"}]


def test_a_response_done_first_waits_for_the_output_before_creating_a_response() -> None:
    """`response.done` before the output: nothing is sent until the output exists."""
    session = Session()
    session.feed(CREATED, *call_events("resp_1", "item_fc", "call_1", "lookup_order"))
    session.calls()
    session.feed(response_done("resp_1"))
    assert session.sent() == []
    session.tracker.tool_done("call_1", "ok")
    assert [e["type"] for e in session.sent()] == ["conversation.item.create", "response.create"]


def test_response_done_lists_everything_but_the_hidden_items() -> None:
    """The call's item leaves `response.output`; the spoken message in the same response stays."""
    session = Session()
    session.feed(CREATED, *call_events("resp_1", "item_fc", "call_1", "lookup_order"))
    message = {"id": "item_msg", "type": "message", "role": "assistant", "content": []}
    call = call_item("item_fc", "call_1", "lookup_order", "{}", "completed")
    [done] = session.feed(response_done("resp_1", call, message))
    assert orjson.loads(done)["response"]["output"] == [message]


def test_events_of_other_items_in_the_same_response_pass_byte_for_byte() -> None:
    """An audio delta and a message's item events are forwarded as the very same text."""
    session = Session()
    session.feed(CREATED, *call_events("resp_1", "item_fc", "call_1", "lookup_order"))
    added = frame(
        "response.output_item.added",
        response_id="resp_1",
        output_index=1,
        item={"id": "item_msg", "type": "message", "role": "assistant", "content": []},
    )
    out = [session.core.upstream_frame(f) for f in (DELTA, added)]
    assert out[0] is DELTA
    assert out[1] is added


def test_a_client_tools_call_passes_unchanged_and_is_not_run() -> None:
    """A call to a tool not in the tools file is the client's: every event passes as it came."""
    session = Session()
    events = call_events("resp_1", "item_fc", "call_9", "client_side_tool")
    assert session.feed(*events) == events
    assert session.commands() == []
    [done] = session.feed(
        response_done(
            "resp_1", call_item("item_fc", "call_9", "client_side_tool", "{}", "completed")
        )
    )
    assert len(orjson.loads(done)["response"]["output"]) == 1


def test_arguments_that_are_not_an_object_give_a_call_without_arguments() -> None:
    """Unparseable or non-object arguments: CallTool with None (the shell never sends them)."""
    for arguments in ('{"id": ', "[1, 2]", '"text"'):
        session = Session()
        session.feed(*call_events("resp_1", "item_fc", "call_1", "lookup_order", arguments))
        assert session.commands() == [CallTool("call_1", "lookup_order", None)]


# -- several calls ----------------------------------------------------------------------


def test_two_calls_in_one_response_send_both_outputs_then_exactly_one_response_create() -> None:
    """Both outputs go up as they finish; one `response.create` follows the last."""
    session = Session()
    session.feed(
        CREATED,
        *call_events("resp_1", "item_a", "call_a", "lookup_order"),
        *call_events("resp_1", "item_b", "call_b", "book_slot", index=1, previous="item_a"),
        response_done("resp_1"),
    )
    assert [c.call_id for c in session.calls()] == ["call_a", "call_b"]
    session.tracker.tool_done("call_b", "b")
    assert [e["type"] for e in session.sent()] == ["conversation.item.create"]
    session.tracker.tool_done("call_a", "a")
    assert [e["type"] for e in session.sent()] == ["conversation.item.create", "response.create"]
    session.tracker.tool_done("call_a", "again")  # a second answer for a call is ignored
    assert session.sent() == []


def test_calls_beyond_the_concurrency_limit_wait_in_order() -> None:
    """With a limit of 2, the third call starts only when one of the first two ends."""
    session = Session()
    session.feed(
        *call_events("resp_1", "item_a", "call_a", "lookup_order"),
        *call_events("resp_1", "item_b", "call_b", "lookup_order", index=1),
        *call_events("resp_1", "item_c", "call_c", "lookup_order", index=2),
    )
    assert [c.call_id for c in session.calls()] == ["call_a", "call_b"]
    session.tracker.tool_done("call_b", "b")
    assert [c.call_id for c in session.calls()] == ["call_c"]


def test_a_response_in_flight_delays_the_response_create_until_its_done() -> None:
    """Outputs ready while another response runs: `response.create` waits for its `response.done`."""
    session = Session()
    session.feed(CREATED, *call_events("resp_1", "item_fc", "call_1", "lookup_order"))
    session.feed(response_done("resp_1"))
    session.feed(frame("response.created", response={"id": "resp_2", "output": []}))
    session.tracker.tool_done("call_1", "ok")
    assert [e["type"] for e in session.sent()] == ["conversation.item.create"]
    session.feed(response_done("resp_2"))
    assert [e["type"] for e in session.sent()] == ["response.create"]


def test_a_refused_response_create_is_hidden_and_asked_again_after_the_next_done() -> None:
    """The upstream's error for the relay's own `response.create` is hidden; it is retried."""
    session = Session()
    session.feed(CREATED, *call_events("resp_1", "item_fc", "call_1", "lookup_order"))
    session.calls()
    session.tracker.tool_done("call_1", "ok")
    session.feed(response_done("resp_1"))
    create = session.sent()[-1]
    assert create["type"] == "response.create"
    error = frame(
        "error",
        error={
            "type": "invalid_request_error",
            "code": "conversation_already_has_active_response",
            "message": "busy",
            "param": None,
            "event_id": create["event_id"],
        },
    )
    client_response = frame("response.created", response={"id": "resp_2", "output": []})
    assert session.feed(client_response, error) == [client_response]
    assert session.sent() == []
    session.feed(response_done("resp_2"))
    assert [e["type"] for e in session.sent()] == ["response.create"]


def test_an_error_answering_a_client_event_passes_unchanged() -> None:
    """Errors for the client's own events, or naming an id without the secret prefix, pass."""
    session = Session()
    for answered in ("evt_client", "relay_tool_guess_1"):
        error = frame("error", error={"code": "x", "message": "m", "event_id": answered})
        assert session.feed(error) == [error]


# -- the conversation as the client sees it ---------------------------------------------


def test_the_relays_output_item_is_hidden_in_every_conversation_event() -> None:
    """`conversation.item.created/added/done` of the relay's `function_call_output` reach nobody."""
    session = Session()
    session.feed(*call_events("resp_1", "item_fc", "call_1", "lookup_order"))
    events = [
        output_added("item_out", "call_1", "item_fc", kind) for kind in ("created", "added", "done")
    ]
    assert session.feed(*events) == []
    assert "item_out" in session.tracker.hidden.items


def test_the_next_visible_item_names_the_last_visible_item_before_the_hidden_ones() -> None:
    """An assistant message after the call and its output names the user's message as previous."""
    session = Session()
    session.feed(*call_events("resp_1", "item_fc", "call_1", "lookup_order", previous="item_user"))
    session.feed(output_added("item_out", "call_1", "item_fc"))
    [added] = session.feed(message_added("item_answer", "item_out"))
    assert orjson.loads(added)["previous_item_id"] == "item_user"
    committed = frame(
        "input_audio_buffer.committed", previous_item_id="item_out", item_id="item_u2"
    )
    [seen] = session.feed(committed)
    assert orjson.loads(seen)["previous_item_id"] == "item_user"


def test_a_hidden_item_at_the_start_of_the_conversation_leaves_no_previous_item() -> None:
    """With nothing visible before the hidden items, `previous_item_id` becomes null."""
    session = Session()
    session.feed(*call_events("resp_1", "item_fc", "call_1", "lookup_order", previous=None))
    [added] = session.feed(message_added("item_answer", "item_fc"))
    assert orjson.loads(added)["previous_item_id"] is None


def test_conversation_events_are_not_parsed_before_anything_is_hidden() -> None:
    """Until a server call exists, a conversation event without a call passes as the same text."""
    session = Session()
    added = message_added("item_a", "item_user")
    assert session.core.upstream_frame(added) is added


# -- robustness -------------------------------------------------------------------------


def test_only_function_call_event_types_are_watched() -> None:
    """Audio, text and transcript deltas never reach the tracker."""
    deltas = {t for t in WATCHED if t.endswith(".delta")}
    assert deltas == {"response.function_call_arguments.delta"}
    assert "response.done" not in WATCHED  # the core parses it once for usage and tools


junk = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda event_type, body: orjson.dumps({"type": event_type, **body}).decode(),
        st.sampled_from(sorted(WATCHED | {"response.done"})),
        st.dictionaries(
            st.sampled_from(
                [
                    "item",
                    "item_id",
                    "call_id",
                    "name",
                    "arguments",
                    "previous_item_id",
                    "response",
                    "error",
                    "response_id",
                ]
            ),
            st.recursive(
                st.one_of(
                    st.none(),
                    st.integers(-(2**40), 2**40),
                    st.text(max_size=8),
                    st.sampled_from(["lookup_order", "function_call", "call_1", "item_fc"]),
                ),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(
                        st.sampled_from(["type", "id", "call_id", "name", "arguments", "output"]),
                        inner,
                        max_size=4,
                    )
                ),
                max_leaves=8,
            ),
            max_size=5,
        ),
    ),
)


@given(st.lists(junk, max_size=12))
def test_the_tracker_never_raises_on_any_upstream_frame(frames: list[str]) -> None:
    """Malformed, mistyped or surprising frames give a decision, never an exception."""
    session = Session()
    session.feed(*call_events("resp_1", "item_fc", "call_1", "lookup_order"))
    for text in frames:
        session.core.upstream_frame(text)
    session.tracker.tool_done("call_1", "ok")


# -- orders the upstream may choose -------------------------------------------------------


def test_a_call_first_seen_in_a_conversation_event_still_gets_its_response_create() -> None:
    """`conversation.item.added` before `response.output_item.added`: still one follow-up."""
    session = Session()
    events = call_events("resp_1", "item_fc", "call_1", "lookup_order")
    added = [e for e in events if '"conversation.item.added"' in e]
    rest = [e for e in events if e not in added]
    assert session.feed(CREATED, *added, *rest) == [CREATED]
    session.calls()
    session.tracker.tool_done("call_1", "ok")
    session.feed(response_done("resp_1"))
    assert [e["type"] for e in session.sent()] == ["conversation.item.create", "response.create"]


def test_a_call_known_only_from_its_arguments_done_is_run_and_hidden() -> None:
    """GA's `arguments.done` names the tool: enough to recognise and run the call."""
    session = Session()
    done = frame(
        "response.function_call_arguments.done",
        response_id="resp_1",
        item_id="item_fc",
        output_index=0,
        call_id="call_1",
        name="lookup_order",
        arguments='{"id":"7"}',
    )
    assert session.feed(CREATED, done) == [CREATED]
    assert session.commands() == [CallTool("call_1", "lookup_order", {"id": "7"})]


def test_a_call_listed_only_in_response_done_is_run_with_its_arguments() -> None:
    """A call whose argument events never came is started from `response.output`."""
    session = Session()
    call = call_item("item_fc", "call_1", "lookup_order", '{"id":"9"}', "completed")
    [done] = session.feed(CREATED, response_done("resp_1", call))[1:]
    assert orjson.loads(done)["response"]["output"] == []
    assert session.commands() == [CallTool("call_1", "lookup_order", {"id": "9"})]


def test_another_item_id_for_a_known_call_is_hidden_too() -> None:
    """An event naming a server call's `call_id` under an unknown item id hides that item."""
    session = Session()
    session.feed(*call_events("resp_1", "item_fc", "call_1", "lookup_order"))
    other = call_item("item_other", "call_1", "lookup_order", "{}", "completed")
    assert session.feed(frame("conversation.item.added", previous_item_id=None, item=other)) == []
    assert "item_other" in session.tracker.hidden.items
    delta = frame("response.function_call_arguments.delta", item_id="item_x", call_id="call_1")
    assert session.feed(delta) == []


@pytest.mark.parametrize(
    "event_type",
    sorted(WATCHED - {"response.created"}),
)
def test_an_unreadable_watched_frame_is_left_to_the_policy(event_type: str) -> None:
    """A frame the tracker cannot read is not its business: it passes as it came."""
    session = Session()
    session.feed(*call_events("resp_1", "item_fc", "call_1", "lookup_order"))
    broken = f'{{"type":"{event_type}","function_call","relay_tool_secret_1"'
    assert session.tracker.upstream(event_type, broken) == broken


def test_a_committed_buffer_before_any_call_is_not_parsed() -> None:
    committed = frame("input_audio_buffer.committed", previous_item_id="a", item_id="b")
    assert Session().tracker.upstream("input_audio_buffer.committed", committed) is committed


def test_an_error_naming_the_prefix_without_an_error_object_passes() -> None:
    text = frame("error", error="relay_tool_secret_1")
    assert Session().feed(text) == [text]


def test_an_unreadable_response_done_still_ends_the_response_in_flight() -> None:
    """`response.done` that is not a readable object: passed on, and a waiting create goes."""
    session = Session()
    session.feed(CREATED, *call_events("resp_1", "item_fc", "call_1", "lookup_order"))
    session.feed(response_done("resp_1"), frame("response.created", response={"id": "r2"}))
    session.calls()
    session.tracker.tool_done("call_1", "ok")
    assert [e["type"] for e in session.sent()] == ["conversation.item.create"]
    broken = '{"type":"response.done","response":"gone"}'
    assert session.feed(broken) == [broken]
    assert [e["type"] for e in session.sent()] == ["response.create"]
