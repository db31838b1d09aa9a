from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from committee import api as committee_api
from hospitals import api as hospitals_api
from proofs import api as proofs_api
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
    path("hospitals/<int:hospital_id>/enrollment-code/", hospitals_api.EnrollmentCodeView.as_view()),
    path("hospitals/<int:hospital_id>/submissions/", rounds_api.HospitalSubmissionsView.as_view()),
    path("architectures/", registry_api.ArchitectureListView.as_view()),
    path("models/", registry_api.ModelListView.as_view()),
    path("models/<int:model_id>/weights/", registry_api.ModelWeightsView.as_view()),
    path("models/<int:model_id>/torchscript/", registry_api.ModelTorchScriptView.as_view()),
    path("committees/", committee_api.CommitteeListView.as_view()),
    path("committees/<int:committee_id>/", committee_api.CommitteeDetailView.as_view()),
    path("committees/<int:committee_id>/public-context/", committee_api.CommitteePublicContextView.as_view()),
    path("committees/<int:committee_id>/contributions/", committee_api.CommitteeContributionsView.as_view()),
    path("keyparties/", committee_api.KeyPartyListView.as_view()),
    path("keyparties/<int:party_id>/enrollment-code/", committee_api.KeyPartyEnrollmentCodeView.as_view()),
    path("keyparty/enroll/", committee_api.KeyPartyEnrollView.as_view()),
    path("keyparty/work/", committee_api.KeyPartyWorkView.as_view()),
    path("keyparty/keygen/<int:committee_id>/commitment/", committee_api.KeygenCommitmentView.as_view()),
    path("keyparty/keygen/<int:committee_id>/contribution/", committee_api.KeygenContributionView.as_view()),
    path("keyparty/jobs/<int:job_id>/", committee_api.JobView.as_view()),
    path("keyparty/jobs/<int:job_id>/blobs/<int:number>/", committee_api.JobBlobView.as_view()),
    path("keyparty/jobs/<int:job_id>/context/", committee_api.JobContextView.as_view()),
    path("keyparty/jobs/<int:job_id>/result/", committee_api.JobResultView.as_view()),
    path("keyparty/jobs/<int:job_id>/failed/", committee_api.JobFailedView.as_view()),
    path("rounds/", rounds_api.RoundListView.as_view()),
    path("campaigns/", rounds_api.CampaignListView.as_view()),
    path("campaigns/<int:campaign_id>/", rounds_api.CampaignDetailView.as_view()),
    path("campaigns/<int:campaign_id>/approve/", rounds_api.CampaignApproveView.as_view()),
    path("campaigns/<int:campaign_id>/stop/", rounds_api.CampaignStopView.as_view()),
    path("rounds/plan-options/", rounds_api.RoundPlanOptionsView.as_view()),
    path("rounds/<int:round_id>/", rounds_api.RoundDetailView.as_view()),
    path("rounds/<int:round_id>/approve/", rounds_api.RoundApproveView.as_view()),
    path("rounds/<int:round_id>/cancel/", rounds_api.RoundCancelView.as_view()),
    path("rounds/<int:round_id>/aggregate/", rounds_api.RoundAggregateView.as_view()),
    path("rounds/<int:round_id>/participation/", rounds_api.RoundParticipationView.as_view()),
    path("rounds/<int:round_id>/submissions/", rounds_api.RoundSubmissionsView.as_view()),
    path("rounds/<int:round_id>/events/", rounds_api.RoundEventsView.as_view()),
    path("rounds/<int:round_id>/audit/", rounds_api.RoundAuditView.as_view()),
    path("rounds/<int:round_id>/proofs/", rounds_api.RoundProofsView.as_view()),
    path("events/", rounds_api.AuditTrailView.as_view()),
    path("node/enroll/", hospitals_api.NodeEnrollView.as_view()),
    path("node/heartbeat/", hospitals_api.NodeHeartbeatView.as_view()),
    path("node/work/", node_api.NodeWorkView.as_view()),
    path("node/rounds/<int:round_id>/", node_api.NodeRoundTaskView.as_view()),
    path("node/rounds/<int:round_id>/submission/", node_api.NodeSubmissionView.as_view()),
    path("node/rounds/<int:round_id>/proof/commitment/", node_api.NodeProofCommitmentView.as_view()),
    path("node/rounds/<int:round_id>/proof/<str:kind>/", node_api.NodeProofFileView.as_view()),
    path("node/ceremonies/<int:ceremony_id>/", proofs_api.NodeCeremonyView.as_view()),
    path("node/ceremonies/<int:ceremony_id>/zkey/", proofs_api.NodeCeremonyZkeyView.as_view()),
    path(
        "node/ceremonies/<int:ceremony_id>/contribution/", proofs_api.NodeCeremonyContributionView.as_view()
    ),
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
