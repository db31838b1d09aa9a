"""Hospital tasks, each on its hospital's own queue ("hospital.<slug>"): a worker there needs only the node
configuration (portal URL, node token, data path) and talks to the portal through the REST API."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from node.client import PortalClient
from node.config import read_node_config
from node.pipeline import run_round


def hospital_queue(slug: str) -> str:
    return f"hospital.{slug}"


@shared_task(name="hospitals.run_node_round", acks_late=True)
def run_node_round(round_id: int, hospital_slug: str) -> dict:
    config = read_node_config(settings.DH_NODE_CONFIG_DIR, hospital_slug)
    return run_round(
        PortalClient(config.portal_url, config.token),
        round_id,
        config.data_path,
        config.seed,
        config.chain_rpc_url,
        config.chain_key_file,
        config.allow_plaintext,
    )


def dispatch_node_round(round_id: int, hospital_slug: str) -> None:
    run_node_round.apply_async((round_id, hospital_slug), queue=hospital_queue(hospital_slug))
