"""The demo's options, one definition for `python -m demo` and `manage.py demo` (its --help); no Django."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from fl.models import DEFAULT_NORMALISATION, FEATURE_DIM, HEAD_FEATURE_WIDTHS, MODEL_FAMILIES, NORMALISATIONS
from fl.strategy import DEFAULT_SERVER_STRATEGY, SERVER_PARAMETERS, ServerConfig


class DemoError(Exception):
    """Something the user can fix; the message says how."""


@dataclass
class DemoOptions:
    hospitals: int = 3
    rounds: int = 5
    data: str | None = None
    model_family: str = "cnn"  # fl.models.MODEL_FAMILIES: the body for the data's image shape
    head_features: int = FEATURE_DIM  # the body's output width, the proven head's input
    normalisation: str = (
        DEFAULT_NORMALISATION  # fl.models.NORMALISATIONS: what the body does to each image first
    )
    partition: str = "iid"
    alpha: float = 0.5
    seed: int = 0
    port: int = 0
    protection: str | None = None
    json_out: str | None = None
    plot_out: str | None = None
    round_timeout: float = 1800.0
    serve: bool = False  # keep the portal (API, web interface, worker, chain) up after the rounds
    config: dict[str, Any] = field(default_factory=dict)
    server_strategy: dict[str, Any] | None = None  # fl.strategy.ServerConfig as a dict; None: FedAvg
    campaign: bool = False  # the rounds as one campaign: planned and approved once, run by the portal
    target_auc: float | None = None  # the campaign's stopping rule
    dp_noise_multiplier: float | None = None  # DP: the key parties' noise, in multiples of the norm bound
    update_norm_bound: float | None = None  # the plan's bound on each weighted update (DP's clipping norm)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hospitals", type=int, default=3)
    # 3 rounds, every step proven: about 9 minutes here (5 took 13 min 50 s, proving about 95 s a round).
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--data",
        help="a MedMNIST-format .npz of any size and colour, or a folder of images with one subfolder per class "
        "(default: ../shared/datasets/pneumoniamnist.npz)",
    )
    parser.add_argument(
        "--model",
        choices=MODEL_FAMILIES,
        default="cnn",
        help="the model body for the data's image shape: the small CNN (about 30k parameters), ResNet-18 "
        "(11M: its encrypted updates need DH_MAX_UPLOAD_BYTES of about 1.1 GB) or ResNet-18 at a quarter width "
        "(0.7M)",
    )
    parser.add_argument(
        "--head-features",
        type=int,
        choices=HEAD_FEATURE_WIDTHS,
        default=FEATURE_DIM,
        help="the features the body hands the proven head (default 16; 32 makes the head's circuit larger)",
    )
    parser.add_argument(
        "--normalise",
        choices=NORMALISATIONS,
        default=DEFAULT_NORMALISATION,
        help="what the model does to each image first: 'image' standardises it (zero mean, unit variance; the "
        "default, chosen on validation data), 'none' takes the pixels in [0, 1] as they are",
    )
    parser.add_argument("--partition", choices=["iid", "dirichlet"], default="iid")
    parser.add_argument("--alpha", type=float, default=0.5, help="Dirichlet concentration (label skew)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=0, help="portal port (default: a free one)")
    parser.add_argument("--protection", choices=["ckks", "plaintext"], help="default: DH_PROTECTION")
    parser.add_argument("--local-epochs", type=int, help="override the round default")
    parser.add_argument(
        "--strategy",
        choices=sorted(SERVER_PARAMETERS),
        default=DEFAULT_SERVER_STRATEGY,
        help="the server strategy on the opened sum (default fedavg)",
    )
    parser.add_argument(
        "--server-lr",
        type=float,
        help="the server learning rate: eta of fedadam, fedyogi and fedadagrad, server_lr of fedavgm",
    )
    parser.add_argument(
        "--campaign",
        action="store_true",
        help="plan the rounds as one campaign, approved once; the portal runs them one after another",
    )
    parser.add_argument(
        "--target-auc", type=float, help="with --campaign: stop once the model's validation AUC reaches this"
    )
    parser.add_argument(
        "--dp-noise",
        type=float,
        help="differential privacy: the key parties add Gaussian noise of this many times the update norm bound "
        "to each opened sum (needs ckks); the demo prints the epsilon the rounds spend",
    )
    parser.add_argument(
        "--norm-bound",
        type=float,
        help="the plan's update_norm_bound on each hospital's n_h x update (the portal's default: 1e5); with "
        "--dp-noise, the norm each node clips to and the noise is sized for",
    )
    parser.add_argument(
        "--spot-checks",
        action="store_true",
        help="prove 4 spot-checked segments of each hospital's run instead of every head step (the default: "
        "about 30 s a round for each hospital with the native prover)",
    )
    parser.add_argument("--json", dest="json_out", help="write a machine-readable summary here")
    parser.add_argument("--plot", dest="plot_out", help="write accuracy over rounds as a PNG here")
    parser.add_argument("--reset", action="store_true", help="erase the portal database first")
    parser.add_argument(
        "--serve", action="store_true", help="keep serving the portal and its web interface afterwards"
    )


def _server_strategy(name: str, server_lr: float | None) -> dict[str, Any] | None:
    if name == DEFAULT_SERVER_STRATEGY:
        if server_lr is not None:
            raise DemoError(
                "--server-lr needs a --strategy with a server learning rate (fedavgm, fedadam, ...)"
            )
        return None
    strategy: dict[str, Any] = {"name": name}
    if server_lr is not None:
        strategy["server_lr" if name == "fedavgm" else "eta"] = server_lr
    try:
        return ServerConfig.from_dict(strategy).as_dict()
    except ValueError as exc:
        raise DemoError(f"--strategy {name}: {exc}") from None


def demo_options(arguments: argparse.Namespace) -> DemoOptions:
    if arguments.hospitals < 1 or arguments.rounds < 1:
        raise DemoError("--hospitals and --rounds must be at least 1")
    if arguments.target_auc is not None and not (arguments.campaign and 0 < arguments.target_auc <= 1):
        raise DemoError("--target-auc is a campaign's stopping rule: give --campaign and a value in (0, 1]")
    if arguments.dp_noise is not None and not 0 < arguments.dp_noise <= 100:
        raise DemoError("--dp-noise is a noise multiplier in (0, 100]")
    return DemoOptions(
        hospitals=arguments.hospitals,
        rounds=arguments.rounds,
        data=arguments.data,
        model_family=arguments.model,
        head_features=arguments.head_features,
        normalisation=arguments.normalise,
        partition=arguments.partition,
        alpha=arguments.alpha,
        seed=arguments.seed,
        port=arguments.port,
        protection=arguments.protection,
        json_out=arguments.json_out,
        plot_out=arguments.plot_out,
        config={
            **({"local_epochs": arguments.local_epochs} if arguments.local_epochs else {}),
            **({} if arguments.spot_checks else {"prove_every_step": True}),
        },
        server_strategy=_server_strategy(arguments.strategy, arguments.server_lr),
        serve=arguments.serve,
        campaign=arguments.campaign,
        target_auc=arguments.target_auc,
        dp_noise_multiplier=arguments.dp_noise,
        update_norm_bound=arguments.norm_bound,
    )
