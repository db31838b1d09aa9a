"""Portal tasks: thin, take ids, call one service, safe to run twice (acks_late redelivers after a crash)."""

from celery import shared_task

from rounds import services


@shared_task(name="rounds.open_round", acks_late=True)
def open_round(round_id: int) -> None:
    services.open_round(round_id)


@shared_task(name="rounds.aggregate_round", acks_late=True)
def aggregate_round(round_id: int) -> None:
    services.aggregate_round(round_id)


@shared_task(name="rounds.sweep_deadlines")
def sweep_deadlines() -> list[int]:
    return services.sweep_deadlines()
