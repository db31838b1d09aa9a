"""What the committee's operations raise."""


class CommitteeError(Exception):
    """The key ceremony or a decryption job failed; the message names the party and the reason."""
