"""Issue 2, points 1 and 2: number routing (`enable_ivr`, seed 000 1e) and the IVR interpreter
(prompts, keys, retries, timeouts, notifications of seed 002, hang-up in the IVR)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from engine_harness import CALLER, Harness, center, of_type, offered_agents

from helpline.core import commands as cmd
from helpline.core.events import DigitsPressed, Party, PromptEnded
from helpline.core.model import (
    HANGUP,
    Action,
    ActionKind,
    Agent,
    GroupTier,
    IvrNode,
    IvrTree,
    Number,
    Prompt,
    Queue,
)
from helpline.core.records import Direction, Result
from helpline.core.states import CallState
from helpline.core.timers import TimerKind

IVR_NUMBER = "200"
DIRECT_NUMBER = "300"
MENU_PROMPT = Prompt(text="Hello {caller}, press 1 for sales")
SUB_PROMPT = Prompt(audio="sub-menu.wav")
GOODBYE = Prompt(text="Goodbye")
SEED_002_TIME = 1582575311.0  # 2020-02-24 20:15:11 UTC, the `calldate` of seed 002's example
TO_Q1 = Action(kind=ActionKind.QUEUE, target="q1")


def ivr_harness(
    keys: Mapping[str, Action] | None = None,
    *,
    max_retries: int = 2,
    default: Action = HANGUP,
    invalid_prompt: Prompt | None = None,
    prompt: Prompt = MENU_PROMPT,
    now: float = 0.0,
) -> Harness:
    """Number 200 enters tree "t1" at node "menu"; "sub" is a second node; queue "q1"
    ("Sales") is served by agent a1 (offline at first)."""
    menu = IvrNode(
        id="menu",
        prompt=prompt,
        keys=dict(keys or {}),
        timeout_s=5.0,
        max_retries=max_retries,
        default=default,
        invalid_prompt=invalid_prompt,
    )
    sub = IvrNode(id="sub", prompt=SUB_PROMPT, keys={"1": TO_Q1}, max_retries=1)
    tree = IvrTree(id="t1", root="menu", nodes={"menu": menu, "sub": sub})
    return Harness(
        center(
            [Agent(id="a1", email="a1@example.com")],
            queues=[Queue(id="q1", name="Sales", groups=(GroupTier(group="g1"),))],
            numbers=[Number(number=IVR_NUMBER, enable_ivr=True, ivr_tree="t1")],
            ivr_trees=[tree],
        ),
        now=now,
    )


def prompts(commands: Sequence[cmd.Command]) -> list[cmd.PlayPrompt]:
    return of_type(commands, cmd.PlayPrompt)


# -- point 1: the number decides: IVR or queue --------------------------------------------------


def number_center(enable_ivr: bool) -> Harness:
    tree = IvrTree(id="t1", root="menu", nodes={"menu": IvrNode(id="menu", prompt=MENU_PROMPT)})
    number = Number(number=DIRECT_NUMBER, enable_ivr=enable_ivr, ivr_tree="t1", queue="q1")
    return Harness(center(["a1"], numbers=[number], ivr_trees=[tree]))


@pytest.mark.parametrize(
    ("enable_ivr", "state", "ivr_tree", "queue_id"),
    [
        pytest.param(True, CallState.IVR, "t1", None, id="ivr-enabled-enters-tree"),
        pytest.param(False, CallState.QUEUED, None, "q1", id="ivr-disabled-enters-queue"),
    ],
)
def test_number_routes_by_enable_ivr(
    enable_ivr: bool, state: CallState, ivr_tree: str | None, queue_id: str | None
) -> None:
    h = number_center(enable_ivr)
    out = h.arrive("c1", to=DIRECT_NUMBER)
    call = h.call("c1")
    assert call.state is state
    assert call.ivr_tree == ivr_tree
    assert call.queue_id == queue_id
    assert bool(prompts(out)) is enable_ivr
    assert bool(of_type(out, cmd.PlayQueueAudio)) is not enable_ivr


def test_number_without_ivr_goes_to_a_free_agent_at_once() -> None:
    h = number_center(False)
    h.online("a1")
    out = h.arrive("c1", to=DIRECT_NUMBER)
    assert offered_agents(out) == ["a1"]
    assert h.state("c1") is CallState.OFFERING


def test_unknown_number_fails_with_one_record() -> None:
    h = number_center(False)
    out = h.arrive("c1", to="999")
    assert h.state("c1") is CallState.ENDED
    assert of_type(out, cmd.Hangup)
    record = h.record("c1")
    assert record.result is Result.FAILED
    assert record.end_reason == "unknown_number"


# -- point 2: prompts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "text"),
    [
        pytest.param(Prompt(text="Hola {caller}", language="es"), f"Hola {CALLER}", id="text-es"),
        pytest.param(Prompt(text="Welcome"), "Welcome", id="text-en"),
        pytest.param(Prompt(audio="welcome.wav"), None, id="audio"),
    ],
)
def test_node_plays_its_prompt_and_collects_a_key(prompt: Prompt, text: str | None) -> None:
    h = ivr_harness(prompt=prompt)
    out = h.arrive("c1", to=IVR_NUMBER)
    [played] = prompts(out)
    assert played.prompt == prompt  # language and audio reference go to the telephony as-is
    assert played.text == text
    assert played.collect is True
    assert h.due(TimerKind.IVR_INPUT, "c1") == [5.0]
    assert h.call("c1").ivr_path == ("menu",)


# -- point 2: keys and their actions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "state", "command"),
    [
        pytest.param(Action(kind=ActionKind.NODE, target="sub"), CallState.IVR, cmd.PlayPrompt,
                     id="node"),
        pytest.param(TO_Q1, CallState.QUEUED, cmd.PlayQueueAudio, id="queue"),
        pytest.param(HANGUP, CallState.ENDED, cmd.Hangup, id="hangup"),
        pytest.param(Action(kind=ActionKind.REPEAT), CallState.IVR, cmd.PlayPrompt, id="repeat"),
        pytest.param(Action(kind=ActionKind.EXTERNAL, target="+15559999"), CallState.EXTERNAL,
                     cmd.DialExternal, id="external"),
        pytest.param(Action(kind=ActionKind.VOICEMAIL, target="box"), CallState.VOICEMAIL,
                     cmd.StartVoicemail, id="voicemail"),
        pytest.param(Action(kind=ActionKind.CALLBACK, target="q1"), CallState.ENDED,
                     cmd.WriteCallRecord, id="callback"),
        pytest.param(Action(kind=ActionKind.NOTIFY, target="https://crm.example/n", then=TO_Q1,
                            notify_when="now"), CallState.QUEUED, cmd.Notify, id="notify"),
    ],
)  # fmt: skip
def test_key_runs_its_action(action: Action, state: CallState, command: type) -> None:
    h = ivr_harness({"1": action})
    h.arrive("c1", to=IVR_NUMBER)
    out = h.press("c1", "1", at=2.0)
    assert h.state("c1") is state
    assert of_type(out, command)
    if state is not CallState.IVR:
        assert h.due(TimerKind.IVR_INPUT, "c1") == []  # no key is awaited any more


def test_key_to_node_plays_that_node_and_extends_the_path() -> None:
    h = ivr_harness({"1": Action(kind=ActionKind.NODE, target="sub")})
    h.arrive("c1", to=IVR_NUMBER)
    out = h.press("c1", "1", at=2.0)
    assert [p.prompt for p in prompts(out)] == [SUB_PROMPT]
    assert h.due(TimerKind.IVR_INPUT, "c1") == [7.0]
    h.press("c1", "1", at=3.0)  # sub's key 1 queues the call
    h.hangup("c1", at=4.0)
    record = h.record("c1")
    assert record.ivr_tree == "t1"
    assert record.ivr_path == ("menu", "sub")
    assert record.keys == "11"


def test_repeat_plays_the_node_again() -> None:
    h = ivr_harness({"0": Action(kind=ActionKind.REPEAT)})
    h.arrive("c1", to=IVR_NUMBER)
    out = h.press("c1", "0", at=1.0)
    assert [p.prompt for p in prompts(out)] == [MENU_PROMPT]
    assert h.due(TimerKind.IVR_INPUT, "c1") == [6.0]
    assert h.call("c1").ivr_path == ("menu", "menu")


@pytest.mark.parametrize("priority", [0, 3], ids=["default-priority", "priority-3"])
def test_key_to_queue_carries_its_priority(priority: int) -> None:
    h = ivr_harness({"1": Action(kind=ActionKind.QUEUE, target="q1", priority=priority)})
    h.arrive("c1", to=IVR_NUMBER)
    h.press("c1", "1")
    call = h.call("c1")
    assert (call.queue_id, call.priority) == ("q1", priority)
    assert h.waiting("q1") == {"c1"}
    h.hangup("c1", at=9.0)
    assert h.record("c1").priority == priority


def test_hangup_key_ends_the_call_in_the_ivr_with_its_prompt() -> None:
    h = ivr_harness({"9": Action(kind=ActionKind.HANGUP, prompt=GOODBYE)})
    h.arrive("c1", to=IVR_NUMBER)
    out = h.press("c1", "9", at=3.0)
    [hangup] = of_type(out, cmd.Hangup)
    assert hangup.prompt == GOODBYE
    record = h.record("c1")
    assert record.result is Result.ENDED_IN_IVR
    assert record.disconnected_by == "system"
    assert record.keys == "9"
    assert record.queue_id is None


def test_external_key_dials_out_and_keeps_the_leg() -> None:
    h = ivr_harness({"5": Action(kind=ActionKind.EXTERNAL, target="+15559999")})
    h.arrive("c1", to=IVR_NUMBER)
    out = h.press("c1", "5", at=1.0)
    assert of_type(out, cmd.DialExternal) == [cmd.DialExternal(call_id="c1", number="+15559999")]
    h.hangup("c1", at=61.0)
    record = h.record("c1")
    assert record.result is Result.TRANSFERRED_EXTERNAL
    [leg] = record.legs
    assert leg.external_number == "+15559999"
    assert leg.talk_s == pytest.approx(60.0)


def test_voicemail_key_starts_voicemail() -> None:
    greeting = Prompt(text="Leave a message")
    h = ivr_harness({"2": Action(kind=ActionKind.VOICEMAIL, target="sales-box", prompt=greeting)})
    h.arrive("c1", to=IVR_NUMBER)
    out = h.press("c1", "2", at=1.0)
    assert of_type(out, cmd.StartVoicemail) == [
        cmd.StartVoicemail(call_id="c1", mailbox="sales-box", prompt=greeting)
    ]
    h.hangup("c1", at=30.0)
    assert h.record("c1").result is Result.VOICEMAIL


def test_callback_key_leaves_the_line_and_a_callback_call_waits() -> None:
    h = ivr_harness({"3": Action(kind=ActionKind.CALLBACK, target="q1", priority=2)})
    h.arrive("c1", to=IVR_NUMBER)
    h.press("c1", "3", at=4.0)
    record = h.record("c1")
    assert record.result is Result.CALLBACK_REQUESTED
    callback_id = record.data["callback_call_id"]
    callback = h.call(callback_id)
    assert callback.direction is Direction.CALLBACK
    assert (callback.state, callback.queue_id, callback.priority) == (CallState.QUEUED, "q1", 2)
    assert callback.data["origin_call_id"] == "c1"
    # once an agent takes it, the customer (the original caller) is dialled
    out = h.online("a1", at=10.0)
    assert offered_agents(out, callback_id) == ["a1"]
    out = h.answer(callback_id, "a1", at=12.0)
    [dial] = of_type(out, cmd.DialCustomer)
    assert dial.number == CALLER
    assert h.state(callback_id) is CallState.DIALING_CUSTOMER


# -- point 2: notifications (seed 002) ----------------------------------------------------------


def notify_harness(when: str, then: Action = TO_Q1) -> Harness:
    action = Action(
        kind=ActionKind.NOTIFY, target="https://crm.example/hook", then=then, notify_when=when
    )
    return ivr_harness({"1": action}, now=SEED_002_TIME)


def seed_002_params(**overrides: str | None) -> dict[str, str]:
    """The seed's fields; an override of None leaves the field out."""
    params: dict[str, str | None] = {
        "queuename": "Sales",
        "calldate": "2020-02-24 20:15:11",
        "queueid": "q1",
        "callerid": CALLER,
        "myemail": "",
        "callednum": IVR_NUMBER,
        "event": "call_hangup",
        "callkeyX": "c1",
        "callkey": "c1",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def test_notify_on_hangup_waits_for_the_end_of_the_call() -> None:
    h = notify_harness("hangup")
    h.arrive("c1", to=IVR_NUMBER)
    out = h.press("c1", "1", at=SEED_002_TIME + 3)
    assert of_type(out, cmd.Notify) == []
    assert h.state("c1") is CallState.QUEUED  # `then` ran
    out = h.hangup("c1", at=SEED_002_TIME + 30)
    assert of_type(out, cmd.Notify) == [
        cmd.Notify(call_id="c1", url="https://crm.example/hook", params=seed_002_params())
    ]


def test_notify_on_hangup_after_an_answer_names_the_agent() -> None:
    h = notify_harness("hangup")
    h.online("a1")
    h.arrive("c1", to=IVR_NUMBER)
    h.press("c1", "1", at=SEED_002_TIME + 3)
    h.answer("c1", "a1", at=SEED_002_TIME + 5)
    out = h.hangup("c1", Party.AGENT, at=SEED_002_TIME + 90)
    [notify] = of_type(out, cmd.Notify)
    assert notify.method == "GET"
    assert notify.params == seed_002_params(myemail="a1@example.com")


def test_notify_on_hangup_without_a_queue_leaves_queue_fields_empty() -> None:
    h = notify_harness("hangup", then=HANGUP)
    h.arrive("c1", to=IVR_NUMBER)
    out = h.press("c1", "1", at=SEED_002_TIME + 3)
    [notify] = of_type(out, cmd.Notify)
    assert notify.params == seed_002_params(queuename=None, queueid=None)
    assert h.record("c1").result is Result.ENDED_IN_IVR


def test_notify_now_is_sent_at_once_and_not_again_at_hangup() -> None:
    h = notify_harness("now")
    h.arrive("c1", to=IVR_NUMBER)
    out = h.press("c1", "1", at=SEED_002_TIME + 3)
    [notify] = of_type(out, cmd.Notify)
    assert notify.url == "https://crm.example/hook"
    # the call is still in the IVR when notified: no queue yet
    assert notify.params == seed_002_params(queuename=None, queueid=None, event="incoming_call")
    assert h.state("c1") is CallState.QUEUED
    out = h.hangup("c1", at=SEED_002_TIME + 30)
    assert of_type(out, cmd.Notify) == []


# -- point 2: invalid or missing input ----------------------------------------------------------

TIMEOUT = "timeout"


@pytest.mark.parametrize(
    ("max_retries", "inputs", "replays", "defaulted"),
    [
        pytest.param(2, ["9", "9", "9"], 2, True, id="invalid-keys-exhaust-retries"),
        pytest.param(2, [TIMEOUT, TIMEOUT, TIMEOUT], 2, True, id="timeouts-exhaust-retries"),
        pytest.param(2, ["9", TIMEOUT, "7"], 2, True, id="mixed-exhaust-retries"),
        pytest.param(2, ["9", "9"], 2, False, id="retries-left"),
        pytest.param(2, [TIMEOUT], 1, False, id="one-timeout"),
        pytest.param(0, ["9"], 0, True, id="no-retries-invalid"),
        pytest.param(0, [TIMEOUT], 0, True, id="no-retries-timeout"),
        pytest.param(1, ["9", "1"], 1, False, id="valid-key-after-retry"),
    ],
)
def test_invalid_or_missing_input_replays_then_takes_the_default(
    max_retries: int, inputs: list[str], replays: int, defaulted: bool
) -> None:
    h = ivr_harness(
        {"1": Action(kind=ActionKind.NODE, target="sub")}, max_retries=max_retries, default=TO_Q1
    )
    out = h.arrive("c1", to=IVR_NUMBER)
    for item in inputs:
        if item == TIMEOUT:
            out += h.fire_next(TimerKind.IVR_INPUT, "c1")
        else:
            out += h.press("c1", item, at=h.now + 1)
    menu_plays = [p for p in prompts(out) if p.prompt == MENU_PROMPT]
    assert len(menu_plays) == 1 + replays
    if defaulted:
        assert h.state("c1") is CallState.QUEUED
        assert h.call("c1").queue_id == "q1"
    else:
        assert h.state("c1") is CallState.IVR
    assert h.call("c1").keys == "".join(i for i in inputs if i != TIMEOUT)


def test_default_hangup_after_retries_is_ended_in_ivr() -> None:
    h = ivr_harness(max_retries=1)
    h.arrive("c1", to=IVR_NUMBER)
    h.fire_next(TimerKind.IVR_INPUT, "c1")  # 5 s: replay
    assert h.state("c1") is CallState.IVR
    h.fire_next(TimerKind.IVR_INPUT, "c1")  # 10 s: default
    record = h.record("c1")
    assert record.result is Result.ENDED_IN_IVR
    assert record.ended_at == 10.0
    assert record.keys == ""


def test_replay_plays_the_invalid_prompt_first() -> None:
    sorry = Prompt(text="Sorry, that is not an option")
    h = ivr_harness(invalid_prompt=sorry)
    h.arrive("c1", to=IVR_NUMBER)
    out = h.press("c1", "8", at=1.0)
    assert [(p.prompt, p.collect) for p in prompts(out)] == [(sorry, False), (MENU_PROMPT, True)]
    assert h.call("c1").ivr_path == ("menu",)  # a retry is not a new step of the path


def test_each_node_counts_its_own_retries() -> None:
    h = ivr_harness({"1": Action(kind=ActionKind.NODE, target="sub")}, max_retries=2)
    h.arrive("c1", to=IVR_NUMBER)
    h.press("c1", "9", at=1.0)
    h.press("c1", "9", at=2.0)  # two retries used on menu
    h.press("c1", "1", at=3.0)  # to sub (max_retries 1)
    h.press("c1", "9", at=4.0)  # sub's first retry: still in the IVR
    assert h.state("c1") is CallState.IVR
    assert h.call("c1").node is not None and h.call("c1").node.id == "sub"  # type: ignore[union-attr]
    h.press("c1", "9", at=5.0)  # sub's retries used up: default hang-up
    assert h.record("c1").result is Result.ENDED_IN_IVR


def test_prompt_ended_restarts_the_key_timeout() -> None:
    h = ivr_harness(max_retries=0, default=TO_Q1)
    h.arrive("c1", to=IVR_NUMBER)
    assert h.due(TimerKind.IVR_INPUT, "c1") == [5.0]
    h.send(PromptEnded(call_id="c1"), at=4.0)
    assert h.due(TimerKind.IVR_INPUT, "c1") == [9.0]
    h.fire_due_timers(8.9)  # the first timer was cancelled: nothing happens at 5 s
    assert h.state("c1") is CallState.IVR
    h.fire_due_timers(9.0)
    assert h.state("c1") is CallState.QUEUED


def test_prompt_ended_outside_the_ivr_changes_nothing() -> None:
    h = ivr_harness({"1": TO_Q1})
    h.arrive("c1", to=IVR_NUMBER)
    h.press("c1", "1", at=1.0)
    out = h.send(PromptEnded(call_id="c1"), at=2.0)
    assert of_type(out, cmd.StartTimer) == []
    assert h.state("c1") is CallState.QUEUED


# -- point 2: hang-up in the IVR ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("party", "result"),
    [
        pytest.param(Party.CUSTOMER, Result.ABANDONED_IN_IVR, id="caller-abandons"),
        pytest.param(Party.SYSTEM, Result.FAILED, id="system-ends"),
    ],
)
def test_hangup_in_the_ivr_is_recorded_as_such(party: Party, result: Result) -> None:
    h = ivr_harness({"1": Action(kind=ActionKind.NODE, target="sub")})
    h.arrive("c1", to=IVR_NUMBER)
    h.press("c1", "1", at=2.0)
    out = h.hangup("c1", party, at=3.5)
    assert of_type(out, cmd.CancelTimer)  # the key timeout is dropped
    assert h.timers == {}
    record = h.record("c1")
    assert record.result is result
    assert record.disconnected_by == party.value
    assert (record.ivr_path, record.keys) == (("menu", "sub"), "1")
    assert (record.created_at, record.ended_at) == (0.0, 3.5)
    assert record.queued_at is None


def test_late_events_after_an_ivr_hangup_are_ignored() -> None:
    h = ivr_harness({"1": TO_Q1})
    h.arrive("c1", to=IVR_NUMBER)
    h.hangup("c1", at=1.0)
    assert h.press("c1", "1", at=2.0) == []
    assert h.send(PromptEnded(call_id="c1"), at=2.0) == []
    assert len(h.records) == 1


def test_keys_typed_ahead_carry_into_the_next_node() -> None:
    """Two keys in one event: the first picks the node, the second acts in that node."""
    tree = IvrTree(
        id="t",
        root="lang",
        nodes={
            "lang": IvrNode(
                id="lang",
                prompt=Prompt(text="1 English"),
                keys={"1": Action(kind=ActionKind.NODE, target="menu")},
            ),
            "menu": IvrNode(
                id="menu",
                prompt=Prompt(text="2 support"),
                keys={"2": Action(kind=ActionKind.QUEUE, target="q1")},
            ),
        },
    )
    h = Harness(
        center(numbers=[Number(number="100", enable_ivr=True, ivr_tree="t")], ivr_trees=[tree])
    )
    h.arrive("c1")
    h.send(DigitsPressed(call_id="c1", digits="12"))
    assert h.state("c1") is CallState.QUEUED
    assert h.call("c1").ivr_path == ("lang", "menu")
    assert h.call("c1").keys == "12"
