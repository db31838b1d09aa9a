from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from committee import api as committee_api
from hospitals import api as hospitals_api
from registry import api as registry_api
from rounds import api as rounds_api
from rounds import metrics as rounds_metrics
from rounds import node_api
from web import api_errors, health, spa

api = [
    path("auth/login/", hospitals_api.LoginView.as_view()),
    path("auth/logout/", hospitals_api.LogoutView.as_view()),
    path("auth/token/", hospitals_api.ApiTokenView.as_view()),
    path("me/", hospitals_api.MeView.as_view()),
    path("hospitals/", hospitals_api.HospitalListView.as_view()),
    path("hospitals/<int:hospital_id>/", hospitals_api.HospitalDetailView.as_view()),
    path("hospitals/<int:hospital_id>/node-token/", hospitals_api.NodeTokenView.as_view()),
    path("hospitals/<int:hospital_id>/chain-address/", hospitals_api.HospitalChainAddressView.as_view()),
    path("hospitals/<int:hospital_id>/submissions/", rounds_api.HospitalSubmissionsView.as_view()),
    path("architectures/", registry_api.ArchitectureListView.as_view()),
    path("models/", registry_api.ModelListView.as_view()),
    path("models/<int:model_id>/weights/", registry_api.ModelWeightsView.as_view()),
    path("models/<int:model_id>/torchscript/", registry_api.ModelTorchScriptView.as_view()),
    path("committees/<int:committee_id>/public-context/", committee_api.CommitteePublicContextView.as_view()),
    path("rounds/", rounds_api.RoundListView.as_view()),
    path("rounds/plan-options/", rounds_api.RoundPlanOptionsView.as_view()),
    path("rounds/<int:round_id>/", rounds_api.RoundDetailView.as_view()),
    path("rounds/<int:round_id>/approve/", rounds_api.RoundApproveView.as_view()),
    path("rounds/<int:round_id>/cancel/", rounds_api.RoundCancelView.as_view()),
    path("rounds/<int:round_id>/aggregate/", rounds_api.RoundAggregateView.as_view()),
    path("rounds/<int:round_id>/participation/", rounds_api.RoundParticipationView.as_view()),
    path("rounds/<int:round_id>/submissions/", rounds_api.RoundSubmissionsView.as_view()),
    path("rounds/<int:round_id>/events/", rounds_api.RoundEventsView.as_view()),
    path("rounds/<int:round_id>/audit/", rounds_api.RoundAuditView.as_view()),
    path("events/", rounds_api.AuditTrailView.as_view()),
    path("node/heartbeat/", hospitals_api.NodeHeartbeatView.as_view()),
    path("node/rounds/<int:round_id>/", node_api.NodeRoundTaskView.as_view()),
    path("node/rounds/<int:round_id>/submission/", node_api.NodeSubmissionView.as_view()),
    path("node/rounds/<int:round_id>/proof/commitment/", node_api.NodeProofCommitmentView.as_view()),
    path("node/rounds/<int:round_id>/proof/<str:kind>/", node_api.NodeProofFileView.as_view()),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Its start-up script from /api/docs/?script, not inline: the content security policy allows no inline script.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    re_path(r"", api_errors.api_not_found),  # last: what no endpoint above matched
]

urlpatterns = [
    path("api/", include(api)),
    path("admin/", admin.site.urls),
    # Probes: no authentication, no session; readiness names only its checks and up/down (web/health.py).
    path("health/live/", health.live),
    path("health/ready/", health.ready),
    # Prometheus: a bearer token from DH_METRICS_TOKEN, else 404 (rounds/metrics.py).
    re_path(r"^metrics/?$", rounds_metrics.metrics_view),
    re_path(r"^(?!api/|admin/|ws/).*$", spa.index),
]
