"""The demo: a whole consortium on one machine (`python -m demo`, or `manage.py demo`), and the embedded portal
server and worker it runs on, which the browser and reliability tests reuse."""
