"""`dh-keyparty serve`: the key party's long-running loop. It pulls its work from the portal's REST API (no broker,
the portal never calls it): key-ceremony steps and decryption jobs; does each; and polls again, backing off
while the portal does not answer.

Key ceremony: the share is made here (crypto.keygen.generate_share, in <home>/committees/<id>/, mode 0600) and
never leaves; only the commitment, then the public contribution, are posted.

Decryption: the party fetches the job's description, the committee's public context and the ciphertexts
itself (each checked against the digest the description gives), lays out MPyC's TLS files for this attempt
(crypto.partytls: a run certificate issued by its identity, a CA bundle of the committee's identities only),
and runs `python -m crypto.keyparty decrypt` as a fresh process (MPyC parses sys.argv when it is imported and
runs its own loop) with the peers' advertised addresses in index order. MPyC retries connecting to a peer for
ever, so the process is bounded by the attempt's deadline, and stopped early when the portal has moved the job
on (another attempt, done, failed). Then it posts the opened vector, or the reason it failed.

A first SIGTERM or Ctrl-C stops the loop between steps (a running MPC is stopped and reported as failed); a
second one stops it at once. What the loop is doing is kept in <home>/status.json for `dh-keyparty status`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests

import crypto
from crypto import decryption_job, keygen, keyparty, partytls
from keyparty.client import KeyPartyClient
from keyparty.config import (
    COMMITTEES_DIR,
    IDENTITY_CERT_FILE,
    IDENTITY_KEY_FILE,
    JOBS_DIR,
    STATUS_FILE,
    TRUSTED_CHAIN_FILE,
    TRUSTED_HOSPITALS_FILE,
    KeyPartyConfig,
    read_config,
    write_private,
)
from protocol.transport import PortalError

log = logging.getLogger(__name__)
MIN_PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 60.0  # the longest pause between two polls while the portal does not answer
CHECK_SECONDS = 3.0  # how often a running attempt asks the portal whether the job has moved on
DEADLINE_MARGIN_SECONDS = 2.0  # stop the MPC this long before the attempt's deadline, to report in time
LOG_TAIL_LINES = 4
CRYPTO_ROOT = Path(crypto.__file__).resolve().parent.parent  # where `python -m crypto.keyparty` is found


@dataclass
class KeyPartyStatus:
    """What the loop is doing, as `dh-keyparty status` shows it."""

    state: str = "starting"  # starting, idle, keygen, decrypting, waiting (portal unreachable), stopped
    detail: str = ""
    pid: int = field(default_factory=os.getpid)
    since: float = field(default_factory=time.time)
    jobs_done: list[int] = field(default_factory=list)
    last_error: str = ""


def committee_dir(home: Path, committee: int) -> Path:
    return Path(home) / COMMITTEES_DIR / str(int(committee))


def shares_held(home: Path) -> list[int]:
    """The committees this home holds a key share of."""
    root = Path(home) / COMMITTEES_DIR
    if not root.is_dir():
        return []
    return sorted(
        int(path.name)
        for path in root.iterdir()
        if path.name.isdigit() and (path / keygen.SECRET_SHARE_FILE).exists()
    )


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    kept = [line for line in text if "gmpy2" not in line][-lines:]
    return " | ".join(kept)[-400:] or "(no output)"


class KeyPartyService:
    def __init__(self, home: Path, config: KeyPartyConfig | None = None):
        self.home = Path(home)
        self.config = config or read_config(self.home)
        self.client = KeyPartyClient(self.config.portal_url, self.config.token, self.config.ca_file)
        self.status = KeyPartyStatus()
        self.stopping = threading.Event()

    # --- status -------------------------------------------------------------------------------------------

    def set_status(self, state: str, detail: str = "", error: str = "") -> None:
        self.status.state, self.status.detail, self.status.since = state, detail, time.time()
        if error:
            self.status.last_error = error
        write_private(self.home / STATUS_FILE, json.dumps(self.status.__dict__, indent=2) + "\n")
        if detail:
            log.info("%s: %s", state, detail)

    # --- signals ------------------------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        def stop(signum: int, frame: Any) -> None:
            if self.stopping.is_set():
                raise SystemExit(f"stopped by signal {signum}")
            log.warning("stopping after the current step (send the signal again to stop at once)")
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    # --- the loop -----------------------------------------------------------------------------------------

    def run(self, once: bool = False) -> None:
        """Polls and works until stopped, or after one poll with once=True. A refused token (401/403) ends the
        loop with PortalError: it will not work on a second try."""
        failures = 0
        self.set_status("idle", f"polling {self.config.portal_url} as key party {self.config.name}")
        while not self.stopping.is_set():
            try:
                work = self.client.work()
                did_work = self.work_once(work)
                failures = 0
                pause = MIN_PAUSE_SECONDS if did_work else float(work.get("poll_seconds", 5))
                if self.status.state != "idle":
                    self.set_status("idle", "")
            except (requests.RequestException, PortalError) as exc:
                if isinstance(exc, PortalError) and exc.status in (401, 403):
                    self.set_status("stopped", error=f"the portal refused this key party: {exc.detail}")
                    raise
                failures += 1
                pause = min(MAX_PAUSE_SECONDS, 2.0**failures)
                problem = (
                    str(exc) if isinstance(exc, PortalError) else f"portal unreachable ({type(exc).__name__})"
                )
                log.warning("%s; polling again in %.0f s", problem, pause)
                self.set_status("waiting", f"{problem}; polling again in {pause:.0f} s", error=problem)
            if once:
                break
            self.stopping.wait(pause)
        self.set_status("stopped", "")

    def work_once(self, work: dict[str, Any]) -> bool:
        """The key-ceremony steps and decryption jobs one poll listed, until stopped; True if any was done."""
        did_work = False
        for step in work.get("keygen", []):
            if self.stopping.is_set():
                return did_work
            try:
                self.keygen_step(step)
            except PortalError as exc:
                if exc.status in (401, 403):
                    raise
                log.error("key ceremony of committee %s: %s", step.get("committee"), exc)
                self.set_status("idle", error=f"committee {step.get('committee')}: {exc}")
            except (keygen.KeyGenError, OSError, ValueError, KeyError) as exc:
                log.error("key ceremony of committee %s: %s", step.get("committee"), exc)
                self.set_status("idle", error=f"committee {step.get('committee')}: {exc}")
            did_work = True
        for item in work.get("decryptions", []):
            if self.stopping.is_set():
                return did_work
            self.decrypt(item)
            did_work = True
        return did_work

    # --- key ceremony -------------------------------------------------------------------------------------

    def keygen_step(self, step: dict[str, Any]) -> None:
        committee = int(step["committee"])
        folder = committee_dir(self.home, committee)
        if step["step"] == "commit":
            self.set_status("keygen", f"committee {committee}: making this party's key share and commitment")
            seed = bytes.fromhex(step["seed"])
            if (folder / keygen.SECRET_SHARE_FILE).exists():  # made before a restart: post the same again
                recorded = json.loads((folder / keygen.COMMITMENT_FILE).read_text())
                if recorded["seed"] != seed.hex():
                    raise keygen.KeyGenError(f"{folder} holds a share for another seed")
                commitment = recorded["commitment"]
            else:
                commitment = keygen.generate_share(folder, seed)
            self.client.commit(committee, commitment)
            log.info("committee %s: committed to contribution %s...", committee, commitment[:16])
        elif step["step"] == "reveal":
            self.set_status("keygen", f"committee {committee}: revealing this party's public contribution")
            contribution = (folder / keygen.CONTRIBUTION_FILE).read_bytes()
            answer = self.client.contribute(committee, contribution)
            log.info("committee %s: contribution revealed; committee %s", committee, answer.get("state"))

    # --- decryption ---------------------------------------------------------------------------------------

    def decrypt(self, item: dict[str, Any]) -> None:
        job_id, attempt = int(item["job"]), int(item["attempt"])
        description: dict[str, Any] = {}
        try:
            description = self.client.job(job_id)
            if description["state"] != "pending" or description["attempt"] != attempt:
                return
            if description["starts_in"] > 0:
                return
            self.set_status("decrypting", f"job {job_id} ({description['name']}), attempt {attempt}")
            reason = self._run_attempt(description)
        except (requests.ConnectionError, requests.Timeout, PortalError) as exc:
            if isinstance(exc, PortalError) and exc.status in (401, 403):
                raise
            log.error("job %s attempt %s: %s", job_id, attempt, exc)
            self.set_status("idle", error=f"job {job_id}: {exc}")
            return
        # This host's trouble (disk, files, a broken answer): the portal hears of it. (requests' errors are
        # OSErrors too: those not caught above end up here.)
        except (OSError, ValueError, KeyError) as exc:
            reason = f"this key party failed locally: {type(exc).__name__}: {exc}"
        if reason:
            log.error("job %s attempt %s failed here: %s", job_id, attempt, reason)
            self.set_status("idle", error=f"job {job_id}: {reason}")
            self._report_failure(job_id, attempt, reason, self._refused_upload(job_id, description))

    def _refused_upload(self, job_id: int, description: dict[str, Any]) -> int | None:
        """The upload the attempt's MPC process refused as not well formed, if it did."""
        try:
            path = (
                self.home / JOBS_DIR / str(job_id) / keyparty.refused_upload_file(int(description["index"]))
            )
            return int(json.loads(path.read_text())["upload"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _report_failure(
        self, job_id: int, attempt: int, reason: str, refused_upload: int | None = None
    ) -> None:
        try:
            self.client.post_failure(job_id, attempt, reason, refused_upload)
        except PortalError as exc:  # the attempt moved on meanwhile (another party reported first): fine
            log.info("job %s attempt %s: failure not recorded: %s", job_id, attempt, exc.detail)
        except requests.RequestException as exc:
            log.warning("job %s: could not report the failure (%s); the attempt's deadline will", job_id, exc)

    def _fetch_job(self, description: dict[str, Any], job_dir: Path) -> None:
        """The job's context and ciphertexts in job_dir (crypto.decryption_job's layout), each blob checked
        against the description's digest; kept from an earlier attempt when they match."""
        job_file = job_dir / decryption_job.JOB_FILE
        if job_file.exists():
            known = json.loads(job_file.read_text())
            names = known.get("blobs", [])
            if (
                known.get("format") == decryption_job.JOB_FORMAT
                and known.get("sum_digest") == description["sum_digest"]
                and decryption_job.JobTerms.from_json(known) == decryption_job.JobTerms.from_json(description)
                and known.get("vector_length") == description["vector_length"]
                and known.get("digests") == description["blobs"]
                and all((job_dir / name).exists() for name in names)
            ):
                return
        job_id = description["id"]
        context = self.client.job_context(job_id)
        blobs = []
        for number, digest in enumerate(description["blobs"]):
            blob = self.client.job_blob(job_id, number)
            if hashlib.sha256(blob).hexdigest() != digest:
                raise decryption_job.KeyPartyRefusal(f"blob {number} does not have the digest the job names")
            blobs.append(blob)
        decryption_job.write_job(
            job_dir,
            context,
            blobs,
            description["vector_length"],
            description["sum_digest"],
            decryption_job.JobTerms.from_json(description),
        )
        known = json.loads(job_file.read_text())
        write_private(job_file, json.dumps({**known, "digests": description["blobs"]}, indent=2) + "\n")

    def _identity(self) -> tuple[bytes, bytes]:
        return (self.home / IDENTITY_KEY_FILE).read_bytes(), (self.home / IDENTITY_CERT_FILE).read_bytes()

    def _run_attempt(self, description: dict[str, Any]) -> str:
        """Runs this party's part of the attempt; posts the opened vector and returns "" on success, else
        returns the reason it failed here (or "" when the portal moved the job on meanwhile)."""
        job_id, attempt, index = description["id"], description["attempt"], description["index"]
        shares = committee_dir(self.home, description["committee"])
        if not (shares / keygen.SECRET_SHARE_FILE).exists():
            return f"this key party holds no key share of committee {description['committee']} (in {shares})"
        job_dir = self.home / JOBS_DIR / str(job_id)
        job_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            self._fetch_job(description, job_dir)
        except decryption_job.KeyPartyRefusal as exc:
            return f"refused: {exc}"
        run_dir = job_dir / f"attempt-{attempt}"
        shutil.rmtree(run_dir, ignore_errors=True)
        try:
            partytls.write_mpyc_config(
                run_dir, index, *self._identity(), [peer["certificate"] for peer in description["peers"]]
            )
        except (partytls.CertificateError, OSError) as exc:
            return f"TLS set-up refused: {exc}"
        peers = ",".join(peer["address"] for peer in description["peers"])
        command = [
            sys.executable, "-m", "crypto.keyparty", "decrypt",
            "--job", str(job_dir), "--dir", str(shares), "--index", str(index), "--peers", peers,
            "--tls", str(run_dir), "--listen", self.config.listen,
        ]  # fmt: skip
        if (self.home / TRUSTED_HOSPITALS_FILE).exists():
            command += ["--trusted-hospitals", str(self.home / TRUSTED_HOSPITALS_FILE)]
        if (self.home / TRUSTED_CHAIN_FILE).exists():
            command += ["--trusted-chain", str(self.home / TRUSTED_CHAIN_FILE)]
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(CRYPTO_ROOT), os.environ.get("PYTHONPATH")])
        )
        log_path = job_dir / f"attempt-{attempt}.log"
        result_path = job_dir / f"result-party{index}.npy"
        result_path.unlink(missing_ok=True)
        (job_dir / keyparty.refused_upload_file(index)).unlink(missing_ok=True)
        seconds = max(1.0, float(description["seconds_left"]) - DEADLINE_MARGIN_SECONDS)
        log.info(
            "job %s attempt %s: MPC as party %s of %s with %s (TLS), at most %.0f s",
            job_id, attempt, index, description["parties"], peers, seconds,
        )  # fmt: skip
        with open(log_path, "wb") as output:
            process = subprocess.Popen(
                command,
                cwd=job_dir,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            outcome = self._watch(process, job_id, attempt, time.monotonic() + seconds)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
            self._drop_run_key(run_dir, index)
        if outcome == "moved on":
            log.info("job %s: attempt %s ended at the portal; stopped this party's MPC", job_id, attempt)
            return ""
        if outcome == "stopping":
            return "the key party was stopped by its operator during the attempt"
        if outcome == "deadline":
            return f"the MPC did not finish within {seconds:.0f} s (a peer down or unreachable?): {_tail(log_path)}"
        code = process.returncode
        if code == keyparty.EXIT_REFUSED:
            return _tail(log_path, 1)
        if code != 0 or not result_path.exists():
            return f"the MPC process failed (exit {code}): {_tail(log_path)}"
        vector = np.load(result_path, allow_pickle=False)
        report_path = job_dir / f"report-party{index}.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
        try:
            answer = self.client.post_result(job_id, attempt, vector, report)
        except PortalError as exc:
            if exc.status == 409:  # refused: results differ, or the attempt is over; the portal says which
                log.warning("job %s attempt %s: result refused: %s", job_id, attempt, exc.detail)
                return ""
            raise
        log.info(
            "job %s attempt %s: opened sum posted (%.1f s, %d bytes sent over TLS); job %s",
            job_id, attempt, report.get("total_s", 0.0), report.get("mpc_bytes_sent", 0), answer.get("state"),
        )  # fmt: skip
        self.status.jobs_done.append(job_id)
        self._tidy(job_dir)
        return ""

    def _watch(self, process: subprocess.Popen, job_id: int, attempt: int, deadline: float) -> str:
        """Waits for the MPC process: "exited", or "deadline", "stopping", "moved on" (process still running)."""
        next_check = time.monotonic() + CHECK_SECONDS
        while process.poll() is None:
            if self.stopping.is_set():
                return "stopping"
            now = time.monotonic()
            if now > deadline:
                return "deadline"
            if now >= next_check:
                next_check = now + CHECK_SECONDS
                try:
                    current = self.client.job(job_id)
                    if current["state"] != "pending" or current["attempt"] != attempt:
                        return "moved on"
                except (requests.ConnectionError, requests.Timeout, PortalError) as exc:
                    log.warning("job %s: could not check the attempt at the portal (%s)", job_id, exc)
            self.stopping.wait(0.2)
        return "exited"

    @staticmethod
    def _drop_run_key(run_dir: Path, index: int) -> None:
        """The run certificate's key is for one attempt only."""
        (run_dir / partytls.MPYC_CONFIG_DIR / f"party_{index}.key").unlink(missing_ok=True)

    @staticmethod
    def _tidy(job_dir: Path) -> None:
        """After the result is posted: the ciphertexts, the context and the opened vector go; the job
        description, reports and logs stay."""
        for pattern in ("blob-*.bin", "public_context.bin", "result-party*.npy"):
            for path in job_dir.glob(pattern):
                path.unlink(missing_ok=True)
        for run_dir in job_dir.glob("attempt-*"):
            if run_dir.is_dir():
                shutil.rmtree(run_dir, ignore_errors=True)
