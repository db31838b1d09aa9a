"""`dh-keyparty`: a key party of the aggregation committee, run by its organisation on its own host.

It enrolls with a one-time code (cli.py), then pulls its work from the portal's REST API (service.py): it makes
its key share at home for a key ceremony and posts only its commitment and public contribution, and for each
decryption job it fetches the ciphertexts itself and runs its part of the MPC (crypto.keyparty) directly with
the other parties, over TLS with certificates the committee agreed on. Its share never leaves its home.
No Django, Celery or Redis here: only the portal's REST API (protocol.transport).
"""
