"""The hospital side: runs where the hospital's data is, talks to the portal only through the REST API, in the
messages of protocol/ (a task of a protocol version it does not speak is refused, asking for an update).

Nothing here imports Django or the portal's apps, so a hospital can run it on its own machine with its node token
and data path; the portal starts it only through hospitals.tasks (Celery, on the hospital's own queue).
"""
