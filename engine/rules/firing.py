"""Firing policy: given what happened before and whether the condition holds now, fire or not.

Pure. The backend keeps one FiringState per (rule, order) and records each firing under the
unique key (rule key, order id, episode): two workers, or a crash and a rerun of the same scan,
compute the same episode and so cannot store a second firing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict

from engine.calendar import BusinessCalendar
from engine.rules.definition import FiringPolicy

__all__ = ["FiringDecision", "FiringState", "decide_firing", "is_quiet"]


class FiringState(BaseModel):
    """What we remember per (rule, order). Round-trips through JSON."""

    model_config = ConfigDict(frozen=True)

    episode: int = 0  # number of the last firing's episode (0: never fired)
    active: bool = False  # the condition held at the last evaluation (and was acted on)
    last_fired_at: datetime | None = None
    fired_count: int = 0


@dataclass(frozen=True)
class FiringDecision:
    fire: bool
    state: FiringState
    episode: int  # the episode a firing belongs to (the unique key's third part)
    reason: str  # fired / condition_false / already_fired / same_episode / too_soon / quiet_hours


def is_quiet(now: datetime, calendar: BusinessCalendar) -> bool:
    """True outside the calendar's working time (nights, weekends, holidays)."""
    local_day = now.astimezone(calendar.zone).date()
    moment = now.astimezone(UTC)
    return not any(lo <= moment < hi for lo, hi in calendar.working_intervals(local_day))


def decide_firing(
    policy: FiringPolicy,
    previous: FiringState | None,
    condition_now: bool,
    now: datetime,
    calendar: BusinessCalendar | None = None,
) -> FiringDecision:
    """Fire or not, and the new state. `calendar` is needed only for quiet hours."""
    state = previous or FiringState()
    if not condition_now:
        return FiringDecision(
            False, state.model_copy(update={"active": False}), state.episode, "condition_false"
        )
    if policy.quiet_hours and calendar is not None and is_quiet(now, calendar):
        # Wait: leave the state alone, so the first working moment still sees a fresh episode.
        return FiringDecision(False, state, state.episode, "quiet_hours")
    if policy.mode == "once_per_order":
        if state.fired_count > 0:
            return FiringDecision(
                False, state.model_copy(update={"active": True}), state.episode, "already_fired"
            )
    elif policy.mode == "once_per_episode":
        if state.active:
            return FiringDecision(False, state, state.episode, "same_episode")
    elif policy.mode == "every_time":
        pass  # each event is its own episode
    else:
        every = timedelta(hours=policy.every_hours or 0)
        if state.last_fired_at is not None and now - state.last_fired_at < every:
            return FiringDecision(False, state.model_copy(update={"active": True}), state.episode, "too_soon")
    episode = state.episode + 1
    new_state = FiringState(
        episode=episode, active=True, last_fired_at=now, fired_count=state.fired_count + 1
    )
    return FiringDecision(True, new_state, episode, "fired")
