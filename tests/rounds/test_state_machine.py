import pytest

from events.models import AuditEvent
from rounds.models import Round
from rounds.services import lifecycle
from rounds.state_machine import TRANSITIONS, IllegalTransition, check_transition
from web.errors import InvalidInput

pytestmark = [pytest.mark.unit]

S = Round.State
HAPPY_PATH = [S.DRAFT, S.APPROVED, S.OPEN, S.COLLECTING, S.AGGREGATING, S.COMPLETED]


def test_every_illegal_transition_is_refused_with_the_allowed_ones_named():
    for current in S.values:
        for target in S.values:
            if target in TRANSITIONS[current]:
                check_transition(current, target)
                continue
            with pytest.raises(IllegalTransition) as refused:
                check_transition(current, target)
            assert f"state {current} cannot become {target}" in str(refused.value)


def test_happy_path_is_allowed_and_terminal_states_are_final():
    for current, target in zip(HAPPY_PATH, HAPPY_PATH[1:], strict=False):
        assert target in TRANSITIONS[current]
    for terminal in (S.COMPLETED, S.FAILED, S.CANCELLED):
        assert TRANSITIONS[terminal] == set()


def test_transitions_are_logged_in_order(consortium):
    round_ = consortium.plan_round()
    for target in HAPPY_PATH[1:4]:
        lifecycle.transition(round_, target, "test")
    events = list(AuditEvent.objects.filter(round=round_, kind="state").values_list("from_state", "to_state"))
    assert events == [(S.DRAFT, S.APPROVED), (S.APPROVED, S.OPEN), (S.OPEN, S.COLLECTING)]


def test_illegal_transition_leaves_the_round_and_log_unchanged(consortium):
    round_ = consortium.plan_round()
    with pytest.raises(IllegalTransition):
        lifecycle.transition(round_, S.COMPLETED, "test")
    round_.refresh_from_db()
    assert round_.state == S.DRAFT
    assert not AuditEvent.objects.filter(round=round_, kind="state").exists()


def test_failing_or_cancelling_needs_a_reason(consortium):
    round_ = consortium.plan_round()
    with pytest.raises(InvalidInput, match="reason is required"):
        lifecycle.transition(round_, S.CANCELLED, "test")
    lifecycle.cancel_round(consortium.coordinator, round_, "wrong participants")
    round_.refresh_from_db()
    assert (round_.state, round_.reason) == (S.CANCELLED, "wrong participants")


def test_api_refuses_approving_twice_with_409(consortium):
    round_ = consortium.plan_round()
    lifecycle.transition(round_, S.APPROVED, "test")
    response = consortium.client("coordinator").post(f"/api/rounds/{round_.pk}/approve/")
    assert response.status_code == 409
    assert response.json()["error"] == "illegal_transition"
    assert "APPROVED cannot become APPROVED" in response.json()["detail"]


def test_audit_events_are_append_only(consortium):
    round_ = consortium.plan_round()
    event = AuditEvent.objects.filter(round=round_).first()
    event.kind = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
