"""Websocket consumer: authenticates, checks the user may see the round, joins its group. Events are pushed
only by events.realtime."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from events import realtime
from rounds import selectors
from web.errors import DomainError
from web.json_depth import TooDeeplyNested, check_depth

BAD_FRAME = 4400
UNAUTHENTICATED = 4401
FORBIDDEN = 4403
NOT_FOUND = 4404


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
        self.groups_joined = [group]
        session = self.scope.get("session")
        if session is not None and session.session_key:  # logging out closes the session's sockets
            self.groups_joined.append(realtime.session_group(session.session_key))
        for name in self.groups_joined:
            await self.channel_layer.group_add(name, self.channel_name)
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
        for name in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(name, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Clients only listen; a frame is checked (a deeply nested one would crash the parser) and ignored."""
        try:
            check_depth(text_data or bytes_data or b"")
        except TooDeeplyNested:
            await self.close(code=BAD_FRAME)

    async def session_ended(self, message: dict) -> None:
        await self.close(code=UNAUTHENTICATED)

    async def round_event(self, message: dict) -> None:
        await self.send_json(message["event"])


class UnknownPathConsumer(AsyncJsonWebsocketConsumer):
    """Any other websocket path: closed with 4404 instead of an error in the server's log."""

    async def connect(self) -> None:
        await self.close(code=NOT_FOUND)
