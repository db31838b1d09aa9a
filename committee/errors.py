"""What the committee's operations raise."""


class CommitteeError(Exception):
    """The key ceremony or a decryption job failed or has not finished; the message names the party and the
    reason. Worth trying again later (committee.protection maps it to KeyPartiesUnavailable)."""


class DecryptionInProgress(CommitteeError):
    """The job is with the key parties and nothing has failed yet: ask again in `retry_in` seconds."""

    def __init__(self, message: str, retry_in: float):
        super().__init__(message)
        self.retry_in = retry_in


class UploadRefusedByKeyParties(CommitteeError):
    """A key party found upload `upload` of the job not a well-formed encryption: the job failed for good; the
    others may be opened in a new job without it."""

    def __init__(self, message: str, upload: int):
        super().__init__(message)
        self.upload = upload


class DecryptionJobConflict(Exception):
    """A job of that name exists for other ciphertexts, another committee or another length: not retried."""
