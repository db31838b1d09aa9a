"""The hospital side: runs where the hospital's data is, talks to the portal only through the REST API, in the
messages of protocol/ (a task of a protocol version it does not speak is refused, asking for an update).

Nothing here imports Django, Celery or a Redis client: a hospital installs requirements/node.txt alone and runs
`dh-node` (node/cli.py) on its own machine; the node pulls its work from the portal (node/service.py).
"""
