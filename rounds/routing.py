from django.urls import path, re_path

from rounds.consumers import RoundConsumer, UnknownPathConsumer

websocket_urlpatterns = [
    path("ws/rounds/", RoundConsumer.as_asgi()),
    path("ws/rounds/<int:round_id>/", RoundConsumer.as_asgi()),
    re_path(r"", UnknownPathConsumer.as_asgi()),  # last: what no path above matched
]
