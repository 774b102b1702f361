"""Random but valid event histories, for tests that compare with the reference."""

from __future__ import annotations

import random
from typing import Any

from events.times import wall_clock_ms
from tests.builders import (
    HOUR_MS,
    at,
    canceled,
    completed,
    eap_linked,
    eap_unlinked,
    leader,
    registration_canceled,
    registration_created,
    scheduled,
    token_issued,
    updated,
)

ORGANIZATIONS = [1, 2, 3]
HPC_ORGANIZATIONS = [900, 901]
SERIES = [None, 11, 12]


def random_history(
    rng: random.Random,
    meetings: int,
    events: int,
    token: str,
    earliest_start_h: int = -2,
    link_share: float = 0.08,
) -> tuple[list[dict[str, Any]], list[int]]:
    """``events`` events about ``meetings`` meetings, shuffled; and the organizations.

    ``link_share`` of the events link or unlink EAP organizations: each link
    copies an HPC organization's whole list, so realistic histories have few.
    """
    now = wall_clock_ms()
    owners = ORGANIZATIONS + HPC_ORGANIZATIONS
    history: list[dict[str, Any]] = []
    versions = {meeting_id: 0 for meeting_id in range(1, meetings + 1)}
    link_versions: dict[tuple[int, int], int] = {}
    registrations: list[tuple[int, int]] = []  # (meeting, user) by registration id - 1
    while len(history) < events:
        meeting_id = rng.randint(1, meetings)
        roll = rng.random()
        if roll < 0.35:
            versions[meeting_id] += rng.randint(1, 2)
            start = (
                now + rng.randint(earliest_start_h, 72) * HOUR_MS + rng.choice([0, 0, 30]) * 60_000
            )
            build = scheduled if versions[meeting_id] == 1 else updated
            history.append(
                build(
                    meeting_id=meeting_id,
                    version=versions[meeting_id],
                    organization_id=rng.choice(owners),
                    meeting_series_id=rng.choice(SERIES),
                    start_time=at(start),
                    end_time=at(start + rng.choice([30, 60, 90]) * 60_000),
                    group_leader=leader(id=rng.randint(1, 5)),
                    co_leader_ids=rng.sample(range(1, 8), rng.randint(0, 2)),
                )
            )
        elif roll < 0.75:
            registrations.append((meeting_id, rng.randint(1, 30)))
            history.append(
                registration_created(
                    registration_id=len(registrations),
                    meeting_id=meeting_id,
                    user_id=registrations[-1][1],
                )
            )
        elif roll < 0.88 and registrations:
            registration_id = rng.randint(1, len(registrations))
            registered_for, user_id = registrations[registration_id - 1]
            history.append(
                registration_canceled(
                    registration_id=registration_id, meeting_id=registered_for, user_id=user_id
                )
            )
        elif roll < 1 - link_share:
            versions[meeting_id] += 1
            end = rng.choice([canceled, completed])
            history.append(
                end(meeting_id=meeting_id, organization_id=1, version=versions[meeting_id])
            )
        else:
            pair = (rng.choice(ORGANIZATIONS), rng.choice(HPC_ORGANIZATIONS))
            link_versions[pair] = link_versions.get(pair, 0) + 1
            link = eap_linked if rng.random() < 0.6 else eap_unlinked
            history.append(
                link(
                    organization_id=pair[0],
                    hpc_organization_id=pair[1],
                    version=link_versions[pair],
                )
            )
    history += [token_issued(organization_id=org, token=token) for org in owners]
    rng.shuffle(history)
    duplicates = rng.sample(history, k=len(history) // 10)
    return history + duplicates, owners
