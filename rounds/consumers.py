"""Websocket consumer: authenticates, checks the user may see the round, joins its group. Events are pushed
only by rounds.realtime."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dhportal.errors import DomainError
from rounds import realtime, selectors

UNAUTHENTICATED = 4401
FORBIDDEN = 4403


class RoundConsumer(AsyncJsonWebsocketConsumer):
    """/ws/rounds/ (all rounds the user may see: coordinator only) or /ws/rounds/<id>/ (one round)."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED)
            return
        round_id = self.scope["url_route"]["kwargs"].get("round_id")
        group = await self._group_for(user, round_id)
        if group is None:
            await self.close(code=FORBIDDEN)
            return
        self.group = group
        await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    @database_sync_to_async
    def _group_for(self, user, round_id: int | None) -> str | None:
        if round_id is None:
            return realtime.ROUNDS_GROUP if user.is_coordinator else None
        try:
            selectors.visible_round(user, int(round_id))
        except DomainError:
            return None
        return realtime.round_group(int(round_id))

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def round_event(self, message: dict) -> None:
        await self.send_json(message["event"])
