"""The hospital side: runs where the hospital's data is, talks to the portal only through the REST API.

Nothing here imports Django, so a hospital can run it on its own machine with its node token and data path.
"""
