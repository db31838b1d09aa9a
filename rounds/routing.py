from django.urls import path

from rounds.consumers import RoundConsumer

websocket_urlpatterns = [
    path("ws/rounds/", RoundConsumer.as_asgi()),
    path("ws/rounds/<int:round_id>/", RoundConsumer.as_asgi()),
]
