"""Names this project writes into MLflow: tags on runs, logged models and versions; aliases.

One place, so the steps, the tests and the docs agree on every key.
"""

from __future__ import annotations

# Aliases: production and pre-production. Never MLflow's deprecated stages.
CHAMPION = "champion"
STAGING = "staging"
ALIASES = (STAGING, CHAMPION)

# The training data's profile, logged with each run: what `check-data` compares a new
# candidate's data with and `monitor` compares fresh data with.
PROFILE_ARTIFACT = "data_profile.json"

TAG_PREFIX = "pipelines."
# Provenance, on every run, logged model and version.
TAG_GIT_SHA = "pipelines.git_sha"
TAG_PR = "pipelines.pr_number"
TAG_SPEC_SHA = "pipelines.spec_sha256"
TAG_DATA_SHA = "pipelines.data_sha256"
TAG_CONTENT = "pipelines.content_hash"
TAG_HOLDOUT = "pipelines.holdout_fingerprint"
TAG_VERSION = "pipelines.version"
# The verdict of one evaluation, on its run and on the version registered from it.
TAG_GATE = "pipelines.gate"
# The champion version the verdict was reached against ("none" when there was none).
TAG_COMPARED_WITH = "pipelines.compared_with"
TAG_MODEL_URI = "pipelines.model_uri"
# The logged model's files as stored: `{path: sha256}` (JSON) and one sha256 over that map.
# On a release run and, written with the release credential, on every registered version.
TAG_DIGESTS = "pipelines.digests"
TAG_DIGEST = "pipelines.digest"
# On a version: the champion it replaced, and (JSON) the rollback that took it down.
TAG_PREVIOUS_CHAMPION = "pipelines.previous_champion"
TAG_ROLLED_BACK = "pipelines.rolled_back"
# On the registered model: the newest rollback, and one `pipelines.rollback.<UTC time>`
# tag per rollback (JSON: from, to, by, at, run), so the whole history is kept.
TAG_LAST_ROLLBACK = "pipelines.last_rollback"
TAG_ROLLBACK_PREFIX = "pipelines.rollback."
# On a promotion lock (a registered model of its own): who holds it and until when.
TAG_LOCK_HOLDER = "pipelines.lock.holder"

# Experiments: the release's (`<prefix><model>`: only the release user writes there, and
# only what is there can be registered) and the pull requests' (`<prefix><model>` +
# this suffix, where the repository's credential writes). Spec names never hold a dot.
PULL_REQUEST_EXPERIMENT_SUFFIX = ".pull-requests"

NO_CHAMPION = "none"
GATE_PASSED = "passed"
GATE_FAILED = "failed"


def registered_model_name(model_name: str, prefix: str = "") -> str:
    """The name MLflow registers a spec's model under: `[tool.pipelines] model_prefix` + the
    spec name, so two projects can share one tracking server (default: no prefix)."""
    return f"{prefix}{model_name}"


def spec_model_name(registered: str, prefix: str = "") -> str:
    """The spec name of a registered model name (the inverse of `registered_model_name`)."""
    return registered[len(prefix) :] if prefix and registered.startswith(prefix) else registered


def lock_model_name(model_name: str) -> str:
    """The registered model whose existence is the promotion lock of `model_name`.

    Spec names match `[a-z0-9-]+`, so a name with a dot never collides with a model.
    """
    return f"{model_name}.promotion-lock"


def takeover_model_name(model_name: str, token: str) -> str:
    """The registered model that elects the one process allowed to remove an expired lock."""
    return f"{model_name}.promotion-lock.takeover.{token}"


def experiment_name(prefix: str, model_name: str, *, release: bool) -> str:
    """The MLflow experiment of a model's release runs, or of its pull-request runs."""
    return f"{prefix}{model_name}" + ("" if release else PULL_REQUEST_EXPERIMENT_SUFFIX)
